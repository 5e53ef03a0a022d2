"""The whole workspace as one GeoPackage with QGIS styles (the ``layer_styles`` table)."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET

import numpy as np
import pyogrio
import pytest
import rasterio

from townmap.errors import UploadError
from townmap.io.package import STYLES_TABLE, export_workspace
from townmap.io.qgis_style import layer_qml


@pytest.fixture(scope="module")
def package(tmp_path_factory, demo_ws, catalog):
    return export_workspace(demo_ws, tmp_path_factory.mktemp("pkg") / "town.gpkg", catalog)


def _query(path, sql, *args):
    con = sqlite3.connect(path)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def test_every_layer_and_table_travels_with_the_fiction_flag(package, demo_ws):
    names = {str(n) for n, _ in pyogrio.list_layers(package)}
    vectors = {n for n in demo_ws.layer_names() if demo_ws.layer_info(n).geometry_type != "raster"}
    assert vectors <= names
    assert {"townmap_metadata", "townmap_layers", STYLES_TABLE} <= names
    meta = dict(_query(package, "select key, value from townmap_metadata"))
    assert meta["fictional"] == "true"
    for name in ("enterprises", "water_samples"):
        assert pyogrio.read_info(package, layer=name)["features"] == (
            demo_ws.layer_info(name).features
        )
    assert _query(package, "pragma integrity_check") == [("ok",)]


def test_the_dem_is_a_geopackage_raster_with_the_same_heights(package, demo_ws):
    with rasterio.open(demo_ws.raster_path("dem")) as src:
        expected = src.read(1)
    with rasterio.open(package, table="dem") as dem:
        assert dem.crs.to_epsg() == 4549
        got = dem.read(1)
    assert got.shape == expected.shape
    assert np.allclose(got, expected)


def test_each_catalogued_vector_layer_has_one_default_qgis_style(package, demo_ws, catalog):
    rows = _query(
        package,
        f"select f_table_name, f_geometry_column, styleQML, useAsDefault from {STYLES_TABLE}",
    )
    styled = {r[0] for r in rows}
    expected = {
        n for n in demo_ws.layer_names() if n in catalog.layers and catalog[n].kind == "vector"
    }
    assert styled == expected
    geometry = dict(_query(package, "select table_name, column_name from gpkg_geometry_columns"))
    for table, column, qml, default in rows:
        assert column == geometry[table] and default == 1
        assert ET.fromstring(qml).tag == "qgis"  # well-formed XML
    contents = _query(
        package, "select data_type from gpkg_contents where table_name = ?", STYLES_TABLE
    )
    assert contents == [("attributes",)]


def test_qml_mirrors_the_catalog_style(catalog):
    spec = catalog["enterprises"]
    root = ET.fromstring(layer_qml(spec))
    renderer = root.find("renderer-v2")
    assert renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == "sector"
    cats = renderer.findall("categories/category")
    assert len(cats) == len(spec.style.categories) + 1  # plus "other"
    dyeing = next(c for c in cats if c.get("value") == "printing_dyeing")
    assert "印染" in dyeing.get("label") and "dyeing" in dyeing.get("label").lower()
    symbol = renderer.find(f"symbols/symbol[@name='{dyeing.get('symbol')}']")
    opts = {o.get("name"): o.get("value") for o in symbol.iter("Option") if o.get("name")}
    r, g, b = (int(spec.style.categories["printing_dyeing"][i : i + 2], 16) for i in (1, 3, 5))
    assert opts["color"].startswith(f"{r},{g},{b},")
    assert symbol.get("type") == "marker" and opts["size"] == f"{2 * spec.style.radius:g}"

    town = ET.fromstring(layer_qml(catalog["town"]))
    assert town.find("renderer-v2").get("type") == "singleSymbol"
    fill = {o.get("name"): o.get("value") for o in town.iter("Option") if o.get("name")}
    assert fill["outline_style"] == "dash"


def test_user_text_in_labels_is_escaped_in_the_xml(catalog):
    base = catalog["enterprises"]
    style = base.style.model_copy(update={"categories": {'"><evil a="': "#ff0000"}})
    spec = base.model_copy(update={"style": style})
    root = ET.fromstring(layer_qml(spec))  # still well-formed
    assert root.find("renderer-v2/categories/category").get("value") == '"><evil a="'


def test_bad_targets_are_refused(tmp_path, demo_ws, catalog):
    with pytest.raises(UploadError, match="GeoPackage"):
        export_workspace(demo_ws, tmp_path / "all.zip", catalog)
    with pytest.raises(UploadError, match="workspace itself"):
        export_workspace(demo_ws, demo_ws.gpkg, catalog)
    assert not list(tmp_path.iterdir())
