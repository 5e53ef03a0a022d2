"""Export then import gives back the same features and attributes, Chinese intact."""

from __future__ import annotations

import pandas as pd
import pytest

from townmap.errors import UploadError
from townmap.io.encoding import shapefile_encoding
from townmap.io.export import export_layer
from townmap.io.readers import read_file
from townmap.store import open_workspace


@pytest.mark.parametrize("name", ["st.gpkg", "st.geojson", "st.shp", "st.zip", "st.kml", "st.csv"])
def test_round_trip_keeps_features_and_chinese_names(tmp_path, demo_ws, name):
    stations = demo_ws.read_layer("monitoring_stations")
    out = export_layer(demo_ws, "monitoring_stations", tmp_path / name)
    back = read_file(out).frame
    assert len(back) == len(stations)
    col = "name_zh" if "name_zh" in back.columns else "Name"
    if col == "Name":  # KML keeps only a name field: the first text column
        assert set(back[col]) <= set(stations["station_id"]) | set(stations["name_zh"])
    else:
        assert list(back["name_zh"]) == list(stations["name_zh"])
    if name == "st.csv":
        assert {"lon", "lat"} <= set(back.columns)
        ll = stations.to_crs(4326)
        assert pd.to_numeric(back["lon"]).to_numpy() == pytest.approx(ll.geometry.x, abs=1e-6)
    else:
        assert back.crs is not None
        moved = back.to_crs(4549).geometry.distance(stations.geometry.reset_index(drop=True))
        assert moved.max() < 0.01


def test_gbk_shapefile_on_request(tmp_path, demo_ws):
    out = export_layer(demo_ws, "villages", tmp_path / "v.shp", encoding="gbk")
    assert shapefile_encoding(out).encoding == "gbk"
    back = read_file(out).frame
    assert list(back["name_zh"]) == list(demo_ws.read_layer("villages")["name_zh"])


def test_tables_export_as_csv_with_bom(tmp_path, demo_ws):
    out = export_layer(demo_ws, "water_samples", tmp_path / "samples.csv")
    assert out.read_bytes()[:3] == b"\xef\xbb\xbf"
    assert (
        len(pd.read_csv(out, encoding="utf-8-sig")) == demo_ws.layer_info("water_samples").features
    )


@pytest.mark.parametrize(
    ("layer", "name", "words"),
    [
        ("water_samples", "s.shp", "without geometry"),
        ("dem", "d.gpkg", "raster"),
        ("nope", "n.gpkg", "no layer"),
        ("villages", "v.dwg", "cannot export"),
    ],
)
def test_bad_exports_are_one_line_errors_and_leave_nothing(tmp_path, demo_ws, layer, name, words):
    with pytest.raises(UploadError, match=words):
        export_layer(demo_ws, layer, tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_shapefile_round_trip_recognises_shortened_field_names(tmp_path, demo_ws, catalog):
    from townmap.io.importer import ImportOptions, plan_import

    out = export_layer(demo_ws, "monitoring_stations", tmp_path / "st.zip")
    plan = plan_import(out, ImportOptions("monitoring_stations"), catalog)
    assert plan.mapping["target_class"] == "target_cla"
    assert plan.ok, plan.blocking
    assert list(plan.frame["target_class"]) == list(
        demo_ws.read_layer("monitoring_stations")["target_class"]
    )


def test_xlsx_round_trip_through_the_importer(tmp_path, demo_ws, catalog):
    from townmap.io.importer import ImportOptions, plan_import

    out = export_layer(demo_ws, "enterprises", tmp_path / "ent.xlsx")
    plan = plan_import(out, ImportOptions("enterprises"), catalog)
    assert plan.ok, plan.blocking
    original = demo_ws.read_layer("enterprises")
    assert list(plan.frame["name_zh"]) == list(original["name_zh"])
    assert plan.frame["cod_tpa"].to_numpy() == pytest.approx(original["cod_tpa"].to_numpy())
    moved = plan.frame.to_crs(4549).geometry.distance(original.geometry.reset_index(drop=True))
    assert moved.max() < 0.05  # lon/lat rounded to 1e-7 degrees


def test_tables_export_to_xlsx_with_dates_and_numbers(tmp_path, demo_ws):
    out = export_layer(demo_ws, "water_samples", tmp_path / "samples.xlsx")
    back = pd.read_excel(out)
    samples = demo_ws.read_table("water_samples")
    assert len(back) == len(samples)
    assert back["value"].to_numpy() == pytest.approx(samples["value"].to_numpy())
    assert str(back["sampled_at"].dtype).startswith("datetime64")


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_formula_like_text_stays_text(tmp_path, demo_ws, catalog, suffix):
    import shutil

    from openpyxl import load_workbook

    folder = tmp_path / "ws"
    shutil.copytree(demo_ws.folder, folder)
    ws = open_workspace(folder, catalog=catalog)
    villages = ws.read_layer("villages")
    evil = ['=HYPERLINK("http://x.invalid","click")', "+1+1", "@SUM(A1)", "-2+3"]
    villages.loc[villages.index[:4], "name_en"] = evil
    with ws.transaction() as tx:
        tx.write_layer("villages", villages)
    out = export_layer(ws, "villages", tmp_path / f"v{suffix}")
    if suffix == ".xlsx":
        sheet = load_workbook(out).active
        header = [c.value for c in sheet[1]]
        col = header.index("name_en")
        cells = [sheet.cell(row=i + 2, column=col + 1) for i in range(4)]
        assert all(c.data_type == "s" for c in cells)  # not "f": no live formula
        assert [c.value for c in cells] == evil
    else:
        raw = out.read_text(encoding="utf-8-sig")
        assert "'=HYPERLINK" in raw and "\n=" not in raw and ",=" not in raw
        assert list(read_file(out).frame["name_en"][:4]) == evil  # the importer unguards


def test_text_too_long_for_excel_is_refused(tmp_path, demo_ws, monkeypatch):
    from townmap.io import export_tables

    monkeypatch.setattr(export_tables, "XLSX_MAX_CELL", 10)
    with pytest.raises(UploadError, match="longer than Excel allows"):
        export_layer(demo_ws, "town", tmp_path / "t.xlsx")
    assert list(tmp_path.iterdir()) == []
