"""Exports change nothing silently: text GBK cannot hold is refused with the list of values,
the DEM keeps its no-data value, styles travel with single layers, a chosen CRS (web-map
offsets included) is applied and said, GeoPackages are version 1.2, and every GDAL warning
that means data changed stops the export."""

from __future__ import annotations

import shutil
import sqlite3
import xml.etree.ElementTree as ET
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
from pyproj import Geod

from townmap.catalog import Style
from townmap.datums import gcj02_to_wgs84, wgs84_to_bd09, wgs84_to_gcj02
from townmap.errors import UploadError
from townmap.io.export import (
    GPKG_APPLICATION_ID,
    GPKG_USER_VERSION,
    export_crs,
    export_frame,
    export_layer,
)
from townmap.io.package import STYLES_TABLE, export_workspace
from townmap.io.readers import read_file
from townmap.own_layers import infer_spec
from townmap.store import open_workspace

from .test_cli import _run

KML = "{http://www.opengis.net/kml/2.2}"
GEOD = Geod(ellps="WGS84")
#: GBK (the Shapefile encoding older Chinese software wants) holds neither character
RARE = {"E00001": "䶮记化工", "E00002": "𠮷野家"}
NODATA_ROWS = 40  # the DEM's top rows are left without data (outside the survey)


@pytest.fixture(scope="module")
def ws(demo_ws, catalog, tmp_path_factory):
    """The demo town with two enterprises renamed to characters outside GBK (as a
    consultant's register writes them) and a DEM with no-data cells."""
    folder = tmp_path_factory.mktemp("faithful") / "ws"
    shutil.copytree(demo_ws.folder, folder)
    ws = open_workspace(folder, catalog=catalog)
    tve = ws.read_layer("enterprises")
    for key, name in RARE.items():
        tve.loc[tve["ent_id"] == key, "name_zh"] = name
    with rasterio.open(ws.raster_path("dem")) as src:
        profile, heights = src.profile, src.read(1)
    assert profile["nodata"] == -9999
    heights[:NODATA_ROWS, :] = -9999

    def write_dem(path):
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(heights, 1)

    with ws.transaction() as tx:
        tx.write_layer("enterprises", tve, fictional=True)
        tx.write_raster("dem", write_dem, fictional=True)
    return ws


def _pragmas(path):
    con = sqlite3.connect(path)
    try:
        return (
            con.execute("pragma application_id").fetchone()[0],
            con.execute("pragma user_version").fetchone()[0],
        )
    finally:
        con.close()


def _query(path, sql, *args):
    con = sqlite3.connect(path)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


# --------------------------------------------------------------------- GBK Shapefiles


@pytest.mark.parametrize("name", ["e.shp", "e.zip"])
def test_gbk_shapefile_refuses_text_gbk_cannot_hold_and_writes_nothing(ws, tmp_path, name):
    with pytest.raises(UploadError) as err:
        export_layer(ws, "enterprises", tmp_path / name, encoding="gbk")
    text = str(err.value)
    for key, value in RARE.items():
        assert f"enterprises.name_zh [ent_id={key}] {value!r}" in text
    assert "(䶮)" in text and "(𠮷)" in text  # which characters
    assert "UTF-8" in text and ".cpg" in text
    assert list(tmp_path.iterdir()) == []  # never a damaged file


def test_utf8_shapefile_keeps_those_names(ws, tmp_path):
    out = export_layer(ws, "enterprises", tmp_path / "e.zip")
    back = read_file(out).frame.set_index("ent_id")
    for key, value in RARE.items():
        assert back.loc[key, "name_zh"] == value
    with zipfile.ZipFile(out) as zf:
        assert zf.read("e.cpg").decode().upper().startswith("UTF")


def test_text_gdal_damages_without_a_word_is_caught_by_reading_it_back(ws, tmp_path, monkeypatch):
    from townmap.io import export_shapefile

    # GDAL warns about unconvertible characters once per process; later it is silent
    monkeypatch.setattr(export_shapefile, "check_shapefile_text", lambda *a, **k: None)
    monkeypatch.setattr(export_shapefile, "judge", lambda messages, what: [])
    with pytest.raises(UploadError, match="did not survive GBK") as err:
        export_layer(ws, "enterprises", tmp_path / "e.zip", encoding="gbk")
    assert "'䶮记化工' came back as '记化工'" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_text_longer_than_a_dbf_field_is_refused(ws, tmp_path):
    villages = ws.read_layer("villages")
    villages.loc[villages.index[2], "name_zh"] = "太湖" * 100  # 600 bytes in UTF-8
    with pytest.raises(UploadError, match="254 bytes") as err:
        export_frame(villages, tmp_path / "v.shp", "villages")
    assert "villages.name_zh [row 3]" in str(err.value) and ".gpkg" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_a_gdal_warning_that_means_data_changed_is_an_error(ws, tmp_path):
    # the test session, like `townmap` main(), ignores pyogrio's RuntimeWarnings globally
    tve = ws.read_layer("enterprises")
    tve.loc[tve.index[0], "cod_tpa"] = 1e300  # does not fit a DBF number field
    with pytest.raises(UploadError, match="GDAL would have changed data") as err:
        export_frame(tve, tmp_path / "e.shp", "enterprises")
    assert "not successfully written" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_datetime_in_a_shapefile_is_a_note_not_silence(ws, tmp_path):
    samples = ws.read_table("water_samples").head(20)
    stations = ws.read_layer("monitoring_stations").iloc[[0]]
    frame = gpd.GeoDataFrame(samples.assign(geometry=stations.geometry.iloc[0]), crs=stations.crs)
    out = export_frame(frame, tmp_path / "s.shp", "samples")
    assert any("DateTime" in n for n in out.notes), out.notes


# ----------------------------------------------------------- own layers, Chinese names


@pytest.fixture(scope="module")
def own(ws):
    """An own layer as a consultant's file defines it: Chinese column names, one with
    XML's special characters, categorised by a Chinese column."""
    tve = ws.read_layer("enterprises").head(30)
    frame = gpd.GeoDataFrame(
        {
            "企业名称": tve["name_zh"].to_numpy(),
            "行业类别&<型": np.where(np.arange(30) % 2, "印染", "化工"),
            "污水排放量吨每日": tve["wastewater_m3d"].to_numpy(),
        },
        geometry=tve.geometry.to_numpy(),
        crs=tve.crs,
    )
    spec, frame, _ = infer_spec("my_firms", frame, label_zh="我的企业")
    style = spec.style.model_copy(
        update={"by": "行业类别&<型", "categories": {"印染": "#d62728", "化工": "#1f77b4"}}
    )
    assert isinstance(style, Style)
    return spec.model_copy(update={"style": style}), frame


def test_own_layer_shapefile_gets_whole_character_field_names_and_a_matching_qml(own, tmp_path):
    spec, frame = own
    out = export_frame(frame, tmp_path / "mine.zip", "my_firms", spec=spec)
    assert any("企业名称" in n and "10 bytes" in n for n in out.notes)
    back = read_file(out).frame  # readable: no name cut in the middle of a character
    assert len(back) == len(frame)
    with zipfile.ZipFile(out) as zf:
        qml = zf.read("mine.qml").decode("utf-8")
    renderer = ET.fromstring(qml).find("renderer-v2")
    assert renderer.get("type") == "categorizedSymbol"
    assert renderer.get("attr") in back.columns  # the shortened field, found by QGIS
    assert {c.get("value") for c in renderer.iter("category")} >= {"印染", "化工"}
    labels = {c.get("value"): c.get("label") for c in renderer.iter("category")}
    assert labels["印染"] == "印染" and labels["化工"] == "化工"  # the file's words, once


def test_own_layer_geopackage_carries_its_style_with_escaped_names(own, tmp_path):
    spec, frame = own
    out = export_frame(frame, tmp_path / "mine.gpkg", "my_firms", spec=spec)
    rows = _query(out, f"select f_table_name, styleQML, useAsDefault from {STYLES_TABLE}")
    assert [(r[0], r[2]) for r in rows] == [("my_firms", 1)]
    assert ET.fromstring(rows[0][1]).find("renderer-v2").get("attr") == "行业类别&<型"
    assert "&amp;&lt;" in rows[0][1]  # escaped in the XML, not dropped
    back = pyogrio.read_dataframe(out, layer="my_firms")
    assert list(back["企业名称"]) == list(frame["企业名称"])


def test_control_characters_in_a_style_are_refused_not_dropped(own, tmp_path):
    spec, frame = own
    style = spec.style.model_copy(update={"categories": {"印\x01染": "#d62728"}})
    bad = spec.model_copy(update={"style": style})
    with pytest.raises(UploadError, match="control characters"):
        export_frame(frame, tmp_path / "m.gpkg", "my_firms", spec=bad)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------ GeoPackages


def test_single_layer_geopackage_is_version_1_2_with_its_qgis_style(ws, tmp_path):
    out = export_layer(ws, "enterprises", tmp_path / "e.gpkg")
    assert _pragmas(out) == (GPKG_APPLICATION_ID, GPKG_USER_VERSION) == (0x47504B47, 10200)
    rows = _query(out, f"select f_table_name, f_geometry_column, styleQML from {STYLES_TABLE}")
    assert len(rows) == 1 and rows[0][0] == "enterprises"
    assert ET.fromstring(rows[0][2]).find("renderer-v2").get("attr") == "sector"
    assert pyogrio.read_info(out, layer="enterprises")["crs"] == "EPSG:4549"


def test_tables_as_geopackage_are_version_1_2(ws, tmp_path):
    out = export_layer(ws, "water_samples", tmp_path / "s.gpkg")
    assert _pragmas(out)[1] == 10200


@pytest.fixture(scope="module")
def package(ws, catalog, tmp_path_factory):
    return export_workspace(ws, tmp_path_factory.mktemp("pkg") / "town.gpkg", catalog)


def test_whole_workspace_geopackage_keeps_the_dem_nodata(package, ws):
    with rasterio.open(ws.raster_path("dem")) as src:
        expected = src.read(1, masked=True)
    with rasterio.open(package, table="dem") as dem:
        assert dem.nodata == -9999
        got = dem.read(1, masked=True)
    assert got.mask[:NODATA_ROWS].all() and not got.mask[NODATA_ROWS:].any()
    assert got.mask.sum() == expected.mask.sum() == NODATA_ROWS * got.shape[1]
    assert np.allclose(got.compressed(), expected.compressed())
    ancillary = _query(
        package,
        "select data_null from gpkg_2d_gridded_coverage_ancillary where tile_matrix_set_name=?",
        "dem",
    )
    assert ancillary == [(-9999.0,)]  # where QGIS reads it


def test_whole_workspace_geopackage_is_version_1_2(package):
    assert _pragmas(package) == (0x47504B47, 10200)
    extensions = {r[0] for r in _query(package, "select extension_name from gpkg_extensions")}
    assert "gpkg_crs_wkt_1_1" not in extensions  # nothing only 1.4 readers know
    assert _query(package, "pragma integrity_check") == [("ok",)]


def test_whole_workspace_geopackage_from_either_back_end(demo_location, catalog, tmp_path):
    source = open_workspace(demo_location, catalog=catalog)
    out = export_workspace(source, tmp_path / "all.gpkg", catalog)
    assert _pragmas(out) == (0x47504B47, 10200)
    with rasterio.open(out, table="dem") as dem:
        assert dem.nodata == -9999


# ------------------------------------------------------------------------ the DEM alone


def test_dem_exports_as_geotiff_with_nodata_and_crs(ws, tmp_path):
    out = export_layer(ws, "dem", tmp_path / "x.tif")
    with rasterio.open(ws.raster_path("dem")) as src, rasterio.open(out) as got:
        assert got.crs == src.crs and got.crs.to_epsg() == 4549
        assert got.nodata == src.nodata == -9999
        assert got.transform == src.transform
        assert np.array_equal(got.read(1), src.read(1))
        assert got.read(1, masked=True).mask.sum() == NODATA_ROWS * got.width


@pytest.mark.parametrize(
    ("layer", "name", "crs", "words"),
    [
        ("villages", "v.tif", None, "vector layer: .tif"),
        ("water_samples", "s.tif", None, "a table: .tif"),
        ("dem", "d.fgb", None, "raster: export it as .tif"),
        ("dem", "d.tif", "wgs84", "resample"),
        ("dem", "d.tif", "gcj02", "resample"),
        ("water_samples", "s.fgb", None, "without geometry"),
        ("water_samples", "s.csv", "wgs84", "no coordinates"),
        ("villages", "v.geojson", "cgcs2000", "WGS 84"),
        ("villages", "v.kml", "EPSG:4549", "WGS 84"),
        ("villages", "v.csv", "workspace", "lon/lat"),
        ("villages", "v.gpkg", "mars", "unknown export CRS"),
        ("villages", "v.gpkg", "EPSG:999999", "not a reference system"),
        ("villages", "v.gpkg", "EPSG:", "unknown export CRS"),
        ("villages", "v.gpkg", "4326", "unknown export CRS"),
    ],
)
def test_bad_requests_are_one_line_errors_and_leave_nothing(ws, tmp_path, layer, name, crs, words):
    with pytest.raises(UploadError, match=words) as err:
        export_layer(ws, layer, tmp_path / name, crs=crs)
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- CRS and web-map offsets


def _first_point_wgs84(ws):
    tve = ws.read_layer("enterprises").to_crs(4326).set_index("ent_id")
    return tve.loc["E00003"].geometry


def test_gcj02_points_match_the_formula_and_come_back_within_half_a_metre(ws, tmp_path):
    out = export_layer(ws, "enterprises", tmp_path / "e.geojson", crs="gcj02")
    back = gpd.read_file(out).set_index("ent_id")
    assert back.crs.to_epsg() == 4326  # web-map offsets are no CRS: the file says WGS 84
    assert set(back["coord_sys"]) == {"GCJ-02"}
    assert any("GCJ-02" in n and "not a real reference system" in n for n in out.notes)
    assert "GCJ-02" in pyogrio.read_info(out)["layer_metadata"]["DESCRIPTION"]
    true = _first_point_wgs84(ws)
    shifted = back.loc["E00003"].geometry
    lon, lat = wgs84_to_gcj02(true.x, true.y)
    assert (shifted.x, shifted.y) == pytest.approx((float(lon), float(lat)), abs=1e-9)
    shift = GEOD.inv(true.x, true.y, shifted.x, shifted.y)[2]
    assert 300 < shift < 800  # the offset near Lake Tai: some 500 m
    wlon, wlat = gcj02_to_wgs84(shifted.x, shifted.y)
    assert GEOD.inv(true.x, true.y, float(wlon), float(wlat))[2] < 0.5


def test_bd09_csv_for_baidu_users(ws, tmp_path):
    out = export_layer(ws, "enterprises", tmp_path / "e.csv", crs="bd09")
    table = pd.read_csv(out, encoding="utf-8-sig").set_index("ent_id")
    assert set(table["coord_sys"]) == {"BD-09"}
    true = _first_point_wgs84(ws)
    lon, lat = wgs84_to_bd09(true.x, true.y)
    row = table.loc["E00003"]
    assert (row["lon"], row["lat"]) == pytest.approx((float(lon), float(lat)), abs=2e-7)


@pytest.mark.parametrize("name", ["e.gpkg", "e.zip", "e.kml", "e.fgb", "e.parquet"])
def test_every_vector_format_says_gcj02(ws, tmp_path, name):
    out = export_layer(ws, "enterprises", tmp_path / name, crs="gcj02")
    if name.endswith(".parquet"):
        back = gpd.read_parquet(out)
    elif name.endswith((".gpkg", ".fgb")):
        back = pyogrio.read_dataframe(out, layer="enterprises")
    else:
        back = read_file(out).frame
    assert back.crs.to_epsg() == 4326 and set(back["coord_sys"]) == {"GCJ-02"}
    if name == "e.zip":
        with zipfile.ZipFile(out) as zf:
            assert "GCJ-02" in zf.read("README.txt").decode("utf-8")


@pytest.mark.parametrize(
    ("crs", "epsg"), [("cgcs2000", 4490), ("wgs84", 4326), ("EPSG:4547", 4547)]
)
def test_a_chosen_crs_is_applied(ws, tmp_path, crs, epsg):
    out = export_layer(ws, "villages", tmp_path / "v.gpkg", crs=crs)
    back = pyogrio.read_dataframe(out, layer="villages")
    assert back.crs.to_epsg() == epsg and "coord_sys" not in back.columns
    again = back.to_crs(4549).geometry.centroid
    moved = again.distance(ws.read_layer("villages").geometry.centroid.reset_index(drop=True))
    assert moved.max() < 0.01
    assert out.notes == ()


def test_export_crs_names():
    assert export_crs(None) is None and export_crs("") is None
    assert export_crs("WORKSPACE").crs is None
    assert export_crs("gcj02").datum == "gcj02" and export_crs("gcj02").crs.to_epsg() == 4326
    assert export_crs("epsg:4549").crs.to_epsg() == 4549


# ---------------------------------------------------------------- FlatGeobuf, GeoParquet


def test_flatgeobuf_and_geoparquet_keep_features_names_and_crs(ws, tmp_path):
    tve = ws.read_layer("enterprises").set_index("ent_id")
    fgb_out = export_layer(ws, "enterprises", tmp_path / "e.fgb")
    assert any("spatial order" in n for n in fgb_out.notes)  # its index sorts features
    fgb = pyogrio.read_dataframe(fgb_out).set_index("ent_id")
    parquet = gpd.read_parquet(export_layer(ws, "enterprises", tmp_path / "e.parquet"))
    assert list(parquet["ent_id"]) == list(tve.index)  # GeoParquet keeps the order
    for back in (fgb, parquet.set_index("ent_id")):
        back = back.loc[tve.index]
        assert back.crs.to_epsg() == 4549 and len(back) == len(tve)
        assert list(back["name_zh"]) == list(tve["name_zh"])
        assert back.geometry.distance(tve.geometry).max() < 1e-6
        assert back["cod_tpa"].to_numpy() == pytest.approx(tve["cod_tpa"].to_numpy())


def test_tables_export_as_plain_parquet(ws, tmp_path):
    out = export_layer(ws, "water_samples", tmp_path / "s.parquet")
    back = pd.read_parquet(out)
    assert len(back) == ws.layer_info("water_samples").features


# ------------------------------------------------------------------------------- KML


@pytest.mark.parametrize(("lang", "field"), [("zh", "name_zh"), ("en", "name_en")])
def test_kml_placemarks_have_names_and_catalog_styles(ws, tmp_path, lang, field):
    out = export_layer(ws, "enterprises", tmp_path / "e.kml", lang=lang)
    root = ET.parse(out).getroot()
    styles = {s.get("id"): s for s in root.iter(f"{KML}Style")}
    marks = list(root.iter(f"{KML}Placemark"))
    tve = ws.read_layer("enterprises")
    assert [m.findtext(f"{KML}name") for m in marks] == list(tve[field])
    first = marks[list(tve["sector"]).index("printing_dyeing")]
    style = styles[first.findtext(f"{KML}styleUrl").lstrip("#")]
    assert style.findtext(f"{KML}IconStyle/{KML}color").endswith("2827d6")  # #d62728 as bgr
    assert root.find(f"{KML}Document/{KML}name").text == ws.catalog["enterprises"].label.get(lang)


def test_kml_names_fall_back_to_the_key(ws, tmp_path):
    out = export_layer(ws, "discharge_points", tmp_path / "d.kml")
    spec = ws.catalog["discharge_points"]
    names = [m.findtext(f"{KML}name") for m in ET.parse(out).getroot().iter(f"{KML}Placemark")]
    frame = ws.read_layer("discharge_points")
    expected = "name_zh" if "name_zh" in frame.columns else spec.key
    assert names == [str(v) for v in frame[expected]]


# ------------------------------------------------------------------------------- CLI


def test_cli_prints_the_gcj02_note(ws, tmp_path):
    out = tmp_path / "e.csv"
    args = ["export", "--workspace", str(ws.folder), "--layer", "enterprises", "--out", str(out)]
    done = _run(*args, "--crs", "gcj02")
    assert done.returncode == 0, done.stderr
    assert "note: coordinates are GCJ-02" in done.stdout and out.is_file()


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--layer", "enterprises", "--out", "e.shp", "--encoding", "gbk"], "䶮记化工"),
        (["--layer", "villages", "--out", "v.gpkg", "--crs", "mars"], "unknown export CRS"),
        (["--layer", "villages", "--out", "v.tif"], ".tif (GeoTIFF) is for rasters"),
        (["--layer", "water_samples", "--out", "s.fgb"], "without geometry"),
        (["--all", "--out", "all.gpkg", "--crs", "wgs84"], "keeps its own CRS"),
    ],
)
def test_cli_refusals_are_one_line_and_write_nothing(ws, tmp_path, extra, words):
    extra = [
        str(tmp_path / a) if a.endswith((".shp", ".gpkg", ".tif", ".fgb")) else a for a in extra
    ]
    done = _run("export", "--workspace", str(ws.folder), *extra)
    assert done.returncode == 2 and words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_cli_exports_the_dem(ws, tmp_path):
    args = ["export", "--workspace", str(ws.folder), "--layer", "dem"]
    done = _run(*args, "--out", str(tmp_path / "dem.tif"))
    assert done.returncode == 0, done.stderr
    with rasterio.open(tmp_path / "dem.tif") as dem:
        assert dem.nodata == -9999


# ------------------------------------------------------------------------ Export page


def test_export_page_offers_the_crs_by_name_and_shows_the_notes(ws, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.helpers import as_read
    from townmap import PROJECT_ROOT

    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(ws.folder))
    at = AppTest.from_file(str(PROJECT_ROOT / "townmap/ui/export_page.py"), default_timeout=60)
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception
    at.selectbox(key="exp_layer").set_value("enterprises").run()
    at.selectbox(key="exp_format_vector").set_value(".csv").run()
    crs = at.selectbox(key="exp_crs_csv")
    assert crs.options == [
        "WGS 84 经纬度",
        "CGCS2000 经纬度（EPSG:4490）",
        "高德/腾讯地图坐标（GCJ-02，网络地图偏移）",
        "百度地图坐标（BD-09，网络地图偏移）",
    ]  # names, not codes
    crs.set_value("gcj02").run()
    at.button(key="exp_go").click().run()
    assert not at.exception and not at.error
    assert any("GCJ-02" in as_read(i.value) for i in at.info)
    assert len(at.get("download_button")) == 1
    at.selectbox(key="exp_format_vector").set_value(".gpkg").run()
    assert "工作空间坐标系（EPSG:4549）" in at.selectbox(key="exp_crs_gpkg").options
    at.selectbox(key="exp_crs_gpkg").set_value("epsg").run()
    # asked for but not given: said on the page, the button waits (no internal codes)
    assert any("请填写 EPSG 代码" in as_read(i.value) for i in at.info)
    assert at.button(key="exp_go").disabled
    at.text_input(key="exp_epsg").set_value("99999x").run()
    at.button(key="exp_go").click().run()
    assert not at.exception and any("unknown export CRS" in as_read(e.value) for e in at.error)
    at.button(key="exp_raster_go").click().run()
    assert not at.exception and not at.error
    labels = [as_read(d.proto.label) for d in at.get("download_button")]
    assert any("dem.tif" in label for label in labels)


@pytest.mark.parametrize(
    "args",
    [
        ["conflicts", "--out", "c.gpkg"],
        ["zones", "--out", "z.xlsx"],
        ["classify", "--out", "q.xlsx"],
        ["compliance", "--out", "f.csv"],
    ],
)
def test_every_command_that_exports_prints_what_the_export_noted(
    tmp_path, demo_ws, capsys, monkeypatch, args
):
    """A note an export makes (a GDAL warning, a renamed field) reaches the shell user."""
    import townmap.io.export as export

    real = export.export_frame

    def noting(frame, out, name, **kw):
        return export.Exported.of(real(frame, out, name, **kw), [f"{name} noted"])

    monkeypatch.setattr(export, "export_frame", noting)
    from townmap.cli import main

    command, flag, out = args
    code = main([command, "--workspace", str(demo_ws.folder), flag, str(tmp_path / out)])
    assert code == 0
    assert "note: " in capsys.readouterr().out
