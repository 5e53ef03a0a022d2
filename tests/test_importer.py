"""Importing consultants' files into catalog layers: checked, repaired, logged, atomic."""

from __future__ import annotations

import hashlib

import geopandas as gpd
import pyogrio
import pytest
from shapely.geometry import Point, Polygon

from tests.helpers import fingerprint
from townmap.crs import DEMO_CRS
from townmap.datums import wgs84_to_gcj02
from townmap.errors import UploadError
from townmap.io.importer import IMPORT_LOG, ImportOptions, commit_import, plan_import
from townmap.store import Actor, Workspace, create_workspace


@pytest.fixture
def ws(new_location, catalog) -> Workspace:
    """An empty workspace on each back end: every import test runs on both."""
    return create_workspace(new_location(), DEMO_CRS, {"name": "import test"}, catalog=catalog)


def _csv(tmp_path, text: str, encoding="utf-8"):
    path = tmp_path / "stations.csv"
    path.write_bytes(text.encode(encoding))
    return path


STATIONS = (
    "断面编号,断面名称,英文名,所在水体,水体类型,目标水质,经度,纬度\n"
    "S1,甲河上游,Jia upstream,R1,river,III,119.95,31.40\n"
    "S2,甲河入湖口,Jia mouth,R1,river,III,119.99,31.41\n"
    "S3,坏行,Bad row,R1,river,III,abc,31.42\n"
)


def test_gbk_csv_with_chinese_headers_becomes_a_layer(tmp_path, catalog, ws):
    path = _csv(tmp_path, STATIONS, "gbk")
    plan = plan_import(path, ImportOptions("monitoring_stations"), catalog)
    assert plan.ok, plan.blocking
    assert plan.mapping["station_id"] == "断面编号" and plan.mapping["name_zh"] == "断面名称"
    assert len(plan.frame) == 2 and plan.dropped == 1
    assert any("row 4" in p for p in plan.problems)
    assert any("WGS 84" in n for n in plan.notes)
    record = commit_import(ws.as_actor(Actor("tester")), plan)
    stored = ws.read_layer("monitoring_stations")
    assert list(stored["name_zh"]) == ["甲河上游", "甲河入湖口"]
    assert stored.crs.to_epsg() == 4549
    log = ws.read_table(IMPORT_LOG)
    assert log["sha256"].iloc[-1] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert log["user"].iloc[-1] == "tester" and record["features"] == 2


def test_gcj02_points_are_corrected(tmp_path, catalog):
    glon, glat = wgs84_to_gcj02([119.95], [31.40])
    text = STATIONS.splitlines()[0] + f"\nS1,甲,A,R1,river,III,{glon[0]},{glat[0]}\n"
    plan = plan_import(
        _csv(tmp_path, text), ImportOptions("monitoring_stations", datum="gcj02"), catalog
    )
    p = plan.frame.to_crs(4326).geometry.iloc[0]
    assert p.x == pytest.approx(119.95, abs=1e-6) and p.y == pytest.approx(31.40, abs=1e-6)
    assert any("GCJ02" in n for n in plan.notes)


def test_invalid_polygons_are_repaired_and_counted(tmp_path, catalog):
    bowtie = Polygon(
        [(495_000, 3_475_000), (495_100, 3_475_100), (495_100, 3_475_000), (495_000, 3_475_100)]
    )
    gdf = gpd.GeoDataFrame(
        {"parcel_id": ["a", "b", "b"], "area_ha": [1.0, 2.0, 3.0]},
        geometry=[bowtie, bowtie.buffer(0).convex_hull, None],
        crs=4549,
    )
    path = tmp_path / "farm.gpkg"
    pyogrio.write_dataframe(gdf, path)
    plan = plan_import(path, ImportOptions("basic_farmland"), catalog)
    assert plan.repaired == 1 and plan.dropped == 1
    assert plan.frame.is_valid.all()
    assert any("duplicate parcel_id: b" in p for p in plan.problems) is False  # b kept once
    assert plan.ok


def test_projected_table_without_crs_needs_a_choice(tmp_path, catalog):
    text = (
        "station_id,name_zh,name_en,water_body,water_type,target_class,X,Y\n"
        "S1,甲,A,R1,river,III,495000,3475000\n"
    )
    path = _csv(tmp_path, text)
    with pytest.raises(UploadError, match="--crs"):
        plan_import(path, ImportOptions("monitoring_stations"), catalog)
    with pytest.raises(UploadError, match=r"candidates: EPSG:4549 \(3-degree"):
        plan_import(path, ImportOptions("monitoring_stations"), catalog, hint_lon=119.95)
    chosen = plan_import(path, ImportOptions("monitoring_stations", crs="EPSG:4549"), catalog)
    assert chosen.frame.crs.to_epsg() == 4549


def test_missing_required_attributes_block_the_commit_and_change_nothing(tmp_path, catalog, ws):
    # a lab table without the parameter: no result can be classified without it (a
    # missing unit is refused when read, row by row: pH has none)
    path = _csv(tmp_path, "断面编号,采样时间,监测值,单位\nS1,2024-05-01,12,mg/L\n")
    plan = plan_import(path, ImportOptions("water_samples"), catalog)
    assert not plan.ok and any("'parameter'" in b for b in plan.blocking)
    before = fingerprint(ws)
    with pytest.raises(UploadError, match="cannot be committed"):
        commit_import(ws, plan)
    assert fingerprint(ws) == before


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (ImportOptions("no_such_layer"), "no layer"),
        (ImportOptions("dem"), "raster"),
        (ImportOptions("monitoring_stations", crs="EPSG:99999999"), "not a coordinate system"),
        (ImportOptions("monitoring_stations", mapping={"station_id": "nope"}), "does not have"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, catalog, options, words):
    path = _csv(tmp_path, STATIONS)
    with pytest.raises(UploadError, match=words):
        plan_import(path, options, catalog)


def test_duplicate_ids_are_reported(tmp_path, catalog):
    text = STATIONS.replace("S2,", "S1,")
    plan = plan_import(_csv(tmp_path, text), ImportOptions("monitoring_stations"), catalog)
    assert any("duplicate station_id: S1" in p for p in plan.problems)


def test_point_geojson_in_wgs84(tmp_path, catalog):
    gdf = gpd.GeoDataFrame(
        {
            "receptor_id": ["R1"],
            "name_zh": ["小学"],
            "name_en": ["School"],
            "kind": ["school"],
            "population": ["300"],
        },
        geometry=[Point(119.95, 31.40)],
        crs=4326,
    )
    path = tmp_path / "r.geojson"
    pyogrio.write_dataframe(gdf, path)
    plan = plan_import(path, ImportOptions("sensitive_receptors"), catalog)
    assert plan.ok and plan.frame["population"].iloc[0] == 300


def test_every_import_can_be_undone_in_turn(tmp_path, catalog, ws):
    from townmap.io.importer import undo_last_import

    first = _csv(tmp_path, STATIONS)
    commit_import(ws, plan_import(first, ImportOptions("monitoring_stations"), catalog))
    after_first = ws.read_layer("monitoring_stations")
    head = STATIONS.splitlines()[0]
    second = tmp_path / "more.csv"
    second.write_text(head + "\nS9,新断面,New,R1,river,II,119.9,31.35\n")
    third = tmp_path / "third.csv"
    third.write_text(head + "\nS7,又一断面,Another,R1,river,II,119.91,31.36\n")
    replace = ImportOptions("monitoring_stations", mode="replace")
    commit_import(ws, plan_import(second, replace, catalog, ws=ws))
    commit_import(ws, plan_import(third, replace, catalog, ws=ws))
    assert list(ws.read_layer("monitoring_stations")["station_id"]) == ["S7"]
    assert not any(n.startswith("townmap_prev") for n in ws.layer_names())
    assert undo_last_import(ws)["file_name"] == "third.csv"
    assert list(ws.read_layer("monitoring_stations")["station_id"]) == ["S9"]
    assert undo_last_import(ws)["file_name"] == "more.csv"  # the third undo used to fail
    restored = ws.read_layer("monitoring_stations")
    assert list(restored["station_id"]) == list(after_first["station_id"])
    undo_last_import(ws)  # the first import created the layer: undo removes it
    assert "monitoring_stations" not in ws.layer_names()
    with pytest.raises(UploadError, match="no import to undo"):
        undo_last_import(ws)
    log = ws.read_table(IMPORT_LOG)
    assert list(log["undone"]) == ["true", "true", "true"]
    assert not any(n.startswith("townmap_prev") for n in ws.stored_names())


def test_a_populated_layer_needs_a_mode_and_the_dry_run_says_so(tmp_path, catalog, ws):
    commit_import(
        ws, plan_import(_csv(tmp_path, STATIONS), ImportOptions("monitoring_stations"), catalog)
    )
    again = plan_import(
        _csv(tmp_path, STATIONS), ImportOptions("monitoring_stations"), catalog, ws=ws
    )
    assert not again.ok and any("--mode" in b for b in again.blocking)
    before = fingerprint(ws)
    with pytest.raises(UploadError, match="--mode"):
        commit_import(ws, again)
    assert fingerprint(ws) == before


def test_a_million_vertex_polygon_is_refused_with_a_clear_message(tmp_path, catalog):
    import numpy as np

    angles = np.linspace(0, 2 * np.pi, 1_000_000, endpoint=False)
    ring = np.column_stack([495_000 + 500 * np.cos(angles), 3_475_000 + 500 * np.sin(angles)])
    gdf = gpd.GeoDataFrame(
        {"parcel_id": ["huge"], "area_ha": [78.5]}, geometry=[Polygon(ring)], crs=4549
    )
    path = tmp_path / "huge.gpkg"
    pyogrio.write_dataframe(gdf, path)
    with pytest.raises(UploadError, match=r"1,000,001 vertices; the limit is 500,000"):
        plan_import(path, ImportOptions("basic_farmland"), catalog)


def test_an_empty_mapping_leaves_attributes_empty_rather_than_guessing(tmp_path, catalog):
    path = _csv(tmp_path, STATIONS)
    guessed = plan_import(path, ImportOptions("monitoring_stations"), catalog)
    assert guessed.mapping["name_zh"] == "断面名称"
    empty = plan_import(path, ImportOptions("monitoring_stations", mapping={}), catalog)
    assert empty.mapping == {}
    assert empty.frame["name_zh"].isna().all()
    assert "断面名称" in empty.unused_columns  # said in the report, not dropped in silence


def test_the_plan_counts_what_an_update_does(tmp_path, catalog, ws):
    commit_import(
        ws, plan_import(_csv(tmp_path, STATIONS), ImportOptions("monitoring_stations"), catalog)
    )
    more = STATIONS.replace("甲河上游", "甲河上游（新）") + "S9,乙河,Yi,R2,river,II,119.9,31.3\n"
    plan = plan_import(
        _csv(tmp_path, more), ImportOptions("monitoring_stations", mode="update"), catalog, ws=ws
    )
    assert plan.ok, plan.blocking
    assert plan.merge_counts == {"added": 1, "updated": 2, "kept": 0, "replaced": 0}
