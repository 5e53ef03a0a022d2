"""The workspace on both back ends (GeoPackage folder and PostGIS schema): round trips,
one CRS, and failed writes that change nothing. GeoPackage-only checks (byte-identical
files, QGIS compatibility) say so in their names."""

from __future__ import annotations

import hashlib
import sqlite3

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import LineString, Point

from tests.helpers import fingerprint
from townmap.crs import DEMO_CRS
from townmap.errors import CRSError, DataValidationError, WorkspaceError
from townmap.store import GPKG_NAME, Workspace, create_workspace, is_postgis, open_workspace


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rivers(crs=4549) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "river_id": ["R1", "R2"],
            "name_zh": ["甲河", "乙河"],
            "name_en": ["A", "B"],
            "kind": ["river", "canal"],
            "target_class": ["III", "IV"],
            "basin": ["taihu", "yangtze"],
            "flows_into_lake": [True, False],
            "length_km": [1.0, 2.5],
        },
        geometry=[
            LineString([(495_000, 3_475_000), (496_000, 3_475_000)]),
            LineString([(495_000, 3_476_000), (495_000, 3_478_500)]),
        ],
        crs=crs,
    )


def _road() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"road_id": ["X"], "name_zh": ["路"], "name_en": ["Rd"], "road_class": ["town"]},
        geometry=[LineString([(0, 0), (1, 1)])],
        crs=4549,
    )


@pytest.fixture
def ws(new_location, catalog) -> Workspace:
    return create_workspace(new_location(), DEMO_CRS, {"name": "test"}, catalog=catalog)


@pytest.fixture
def gpkg_ws(tmp_path, catalog) -> Workspace:
    return create_workspace(tmp_path / "ws", DEMO_CRS, {"name": "test"}, catalog=catalog)


def test_create_and_reopen(ws, catalog):
    again = open_workspace(ws.location, catalog=catalog)
    assert again.crs.to_epsg() == 4549
    assert again.metadata()["name"] == "test"
    assert again.layer_names() == []
    assert not again.is_fictional


def test_create_refuses_to_overwrite(ws):
    with pytest.raises(WorkspaceError, match="already exists"):
        create_workspace(ws.location, DEMO_CRS)


def test_opening_a_missing_workspace_says_what_to_do(new_location, backend):
    hint = "townmap demo" if backend == "gpkg" else "workspace copy"
    with pytest.raises(WorkspaceError, match=hint):
        open_workspace(new_location("none"))


def test_layer_table_and_raster_round_trip(ws):
    samples = pd.DataFrame(
        {
            "station_id": ["S1", "S1"],
            "sampled_at": pd.to_datetime(["2024-01-05 09:00", "2024-02-05 10:30"]),
            "parameter": ["TP", "NH3N"],
            "value": [0.12, 0.025],
            "unit": ["mg/L", "mg/L"],
            "qualifier": ["", "below_dl"],
            "detection_limit": [0.01, 0.025],
        }
    )
    grid = np.arange(12, dtype="float32").reshape(3, 4)

    def write_tif(path):
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            height=3,
            width=4,
            count=1,
            dtype="float32",
            crs=DEMO_CRS.to_wkt(),
            transform=from_origin(495_000, 3_476_000, 10, 10),
        ) as dst:
            dst.write(grid, 1)

    with ws.transaction() as tx:
        tx.write_layer("rivers", _rivers(), fictional=True)
        tx.write_table("water_samples", samples)
        tx.write_raster("dem", write_tif)
        tx.set_metadata(fictional="true")
    back = ws.read_layer("rivers")
    assert list(back["name_zh"]) == ["甲河", "乙河"]
    assert back.crs.to_epsg() == 4549
    assert back.geometry.iloc[1].length == pytest.approx(2_500)
    assert list(back["flows_into_lake"]) == [True, False]
    table = ws.read_table("water_samples")
    assert list(table["qualifier"]) == ["", "below_dl"]
    assert table["sampled_at"].iloc[0] == pd.Timestamp("2024-01-05 09:00")
    with rasterio.open(ws.raster_path("dem")) as src:
        assert (src.read(1) == grid).all()
    assert ws.is_fictional
    assert set(ws.layer_names()) == {"rivers", "water_samples", "dem"}
    reg = ws.layer_register().set_index("layer_id")
    assert reg.loc["rivers", "fictional"] == "true" and reg.loc["water_samples", "kind"] == "table"
    assert "FICTIONAL" in reg.loc["rivers", "description"]
    info = ws.layer_info("rivers")
    assert (info.features, info.crs, info.geometry_type) == (2, "EPSG:4549", "LineString")
    if not is_postgis(ws.location):
        with sqlite3.connect(ws.gpkg) as con:
            desc = dict(con.execute("select table_name, description from gpkg_contents"))
        assert "FICTIONAL" in desc["rivers"]
        assert not list(ws.folder.glob(".*.tx-*")) and not list(ws.raster_folder.glob(".*"))


def test_layers_in_another_crs_are_converted(ws):
    wgs = _rivers().to_crs(4326)
    with ws.transaction() as tx:
        tx.write_layer("rivers", wgs)
    back = ws.read_layer("rivers")
    assert back.crs.to_epsg() == 4549
    start = back.geometry.iloc[0].coords[0]
    assert start == pytest.approx((495_000, 3_475_000), abs=0.01)


def test_layers_without_crs_are_refused_and_nothing_changes(ws):
    before = fingerprint(ws)
    with pytest.raises(CRSError, match="no coordinate reference system"), ws.transaction() as tx:
        tx.write_layer("rivers", _rivers().set_crs(None, allow_override=True))
    assert fingerprint(ws) == before


def test_invalid_layer_aborts_whole_transaction_byte_for_byte(ws):
    with ws.transaction() as tx:
        tx.write_layer("rivers", _rivers())
    before, revision = fingerprint(ws), ws.revision()
    bad = _rivers()
    bad.loc[0, "target_class"] = "VII"
    with pytest.raises(DataValidationError, match="target_class") as info, ws.transaction() as tx:
        tx.write_layer("roads", _road())
        tx.write_layer("rivers", bad)
    assert info.value.problems
    assert fingerprint(ws) == before and ws.revision() == revision
    assert "roads" not in ws.layer_names()
    if not is_postgis(ws.location):
        assert not list(ws.folder.glob(".*.tx-*"))


def test_gpkg_invalid_layer_leaves_the_file_byte_for_byte(gpkg_ws):
    ws = gpkg_ws
    with ws.transaction() as tx:
        tx.write_layer("rivers", _rivers())
    before = _sha(ws.gpkg)
    bad = _rivers()
    bad.loc[0, "target_class"] = "VII"
    with pytest.raises(DataValidationError), ws.transaction() as tx:
        tx.write_layer("roads", _road())
        tx.write_layer("rivers", bad)
    assert _sha(ws.gpkg) == before


def test_crash_in_the_middle_of_a_write_leaves_the_workspace_as_it_was(ws, monkeypatch):
    from townmap.store import pg_frames

    with ws.transaction() as tx:
        tx.write_layer("rivers", _rivers())
    before = fingerprint(ws)
    owner, attr = (pyogrio, "write_dataframe") if not is_postgis(ws.location) else (
        pg_frames, "create_table")  # fmt: skip
    real = getattr(owner, attr)
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full (simulated)")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, attr, flaky)
    with pytest.raises(OSError, match="simulated"), ws.transaction() as tx:
        tx.write_layer("rivers", _rivers().iloc[:1])
        tx.write_layer("roads", _road())
    monkeypatch.undo()
    assert fingerprint(ws) == before
    assert len(ws.read_layer("rivers")) == 2


def test_failed_raster_write_leaves_no_file(ws):
    def broken(path):
        path.write_bytes(b"partial")
        raise OSError("raster writer failed")

    with pytest.raises(OSError, match="raster writer failed"), ws.transaction() as tx:
        tx.write_raster("dem", broken)
    with pytest.raises(WorkspaceError):
        ws.raster_path("dem")
    assert ws.raster_names() == [] and not ws.has_raster("dem")
    if not is_postgis(ws.location):
        assert not any(ws.raster_folder.iterdir())


def test_reserved_and_unknown_names(ws):
    with pytest.raises(WorkspaceError, match="reserved"), ws.transaction() as tx:
        tx.write_table("townmap_metadata", pd.DataFrame({"a": [1]}))
    with pytest.raises(WorkspaceError, match="no layer 'nope'"):
        ws.read_layer("nope")
    with pytest.raises(WorkspaceError, match="CRS is fixed"), ws.transaction() as tx:
        tx.set_metadata(crs="EPSG:4326")


def test_uncatalogued_layers_are_stored_without_schema_checks(ws):
    extra = gpd.GeoDataFrame({"anything": ["x"]}, geometry=[Point(495_000, 3_475_000)], crs=4549)
    with ws.transaction() as tx:
        tx.write_layer("consultant_notes", extra)
    assert ws.layer_info("consultant_notes").features == 1


@pytest.mark.parametrize("content", [b"", b"not a geopackage at all", b"SQLite format 3\x00junk"])
def test_a_corrupt_file_is_refused_with_one_clear_error(tmp_path, content):
    (tmp_path / GPKG_NAME).write_bytes(content)
    with pytest.raises(WorkspaceError, match="not a Townmap workspace"):
        open_workspace(tmp_path)


def test_a_plain_geopackage_without_townmap_metadata_is_refused(tmp_path):
    gpd.GeoDataFrame({"a": [1]}, geometry=[Point(0, 0)], crs=4326).to_file(tmp_path / GPKG_NAME)
    with pytest.raises(WorkspaceError, match="not a Townmap workspace"):
        open_workspace(tmp_path)


def test_workspace_is_a_standard_geopackage_qgis_can_open(gpkg_ws):
    ws = gpkg_ws
    with ws.transaction() as tx:
        tx.write_layer("rivers", _rivers())
    with sqlite3.connect(ws.gpkg) as con:
        assert con.execute("pragma application_id").fetchone()[0] == 0x47504B47  # 'GPKG'
        assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
        srs = dict(con.execute("select table_name, srs_id from gpkg_geometry_columns"))
        assert srs["rivers"] == 4549
        tables = {r[0] for r in con.execute("select name from sqlite_master")}
        assert "rtree_rivers_geom" in tables  # spatial index
        kinds = dict(con.execute("select table_name, data_type from gpkg_contents"))
        assert kinds["townmap_metadata"] == "attributes"


def test_concurrent_transactions_are_serialised_and_both_land(ws):
    import threading

    entered = threading.Event()
    release = threading.Event()

    def first():
        with ws.transaction() as tx:
            entered.set()
            release.wait(10)
            tx.write_layer("rivers", _rivers())

    t = threading.Thread(target=first)
    t.start()
    entered.wait(10)
    done = []

    def second():
        with ws.transaction() as tx:
            tx.write_table(
                "water_samples",
                pd.DataFrame(
                    {
                        "station_id": ["S1"],
                        "sampled_at": [pd.Timestamp("2024-01-01 10:00")],
                        "parameter": ["TP"],
                        "value": [0.1],
                        "unit": ["mg/L"],
                        "qualifier": [""],
                        "detection_limit": [0.01],
                    }
                ),
            )
        done.append(True)

    t2 = threading.Thread(target=second)
    t2.start()
    t2.join(0.5)
    assert not done, "the second writer must wait for the first"
    release.set()
    t.join(10)
    t2.join(10)
    assert done
    assert {"rivers", "water_samples"} <= set(ws.layer_names())


def test_deleting_a_layer_keeps_a_valid_geopackage(ws):
    with ws.transaction() as tx:
        tx.write_layer("rivers", _rivers())
        tx.write_layer("roads", _road())
    with ws.transaction() as tx:
        tx.delete_layer("rivers")
    assert "rivers" not in ws.layer_names() and "roads" in ws.layer_names()
    assert len(ws.read_layer("roads")) == 1
    if not is_postgis(ws.location):
        with sqlite3.connect(ws.gpkg) as con:
            assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
            names = {r[0] for r in con.execute("select name from sqlite_master")}
            contents = {r[0] for r in con.execute("select table_name from gpkg_contents")}
        assert not any("rivers" in n for n in names) and "rivers" not in contents
        assert "rtree_roads_geom" in names
    assert "rivers" not in set(ws.layer_register()["layer_id"])
    with pytest.raises(WorkspaceError, match="no layer"), ws.transaction() as tx:
        tx.delete_layer("rivers")
    with pytest.raises(WorkspaceError, match="reserved"), ws.transaction() as tx:
        tx.delete_layer("townmap_metadata")


def test_townmap_tables_are_kept_out_of_the_layer_list(ws):
    with ws.transaction() as tx:
        tx.write_table("townmap_imports", pd.DataFrame({"a": [1]}))
    assert "townmap_imports" not in ws.layer_names()
    assert ws.has_table("townmap_imports") and len(ws.read_table("townmap_imports")) == 1
