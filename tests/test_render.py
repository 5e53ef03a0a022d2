"""Map rendering: escaped text everywhere, no CDN, catalog styles, legend of visible layers."""

from __future__ import annotations

import re

import geopandas as gpd
import pytest
from shapely.geometry import Point

from townmap.render.assets import ASSET_DIR, LEAFLET, asset_files, offline_links
from townmap.render.escape import escape_text
from townmap.render.mapview import build_map, layer_title, prepare_layer

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "`); alert(1); (`",
    "${alert(1)}",
    '"><script>alert(1)</script>',
    "</script><script>alert(1)</script>",
    "\\u003cscript\\u003e",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_escape_neutralises_html_and_template_strings(text):
    out = escape_text(text)
    assert "<" not in out and ">" not in out and '"' not in out
    assert "`" not in out and "${" not in out and "\\" not in out


def test_escape_keeps_chinese_and_plain_text():
    assert escape_text("湖滨印染有限公司 & Co.") == "湖滨印染有限公司 &amp; Co."
    assert escape_text(None) == ""


def _hostile_enterprises(demo_ws) -> gpd.GeoDataFrame:
    tve = demo_ws.read_layer("enterprises").head(5).copy()
    tve.loc[tve.index[0], "name_zh"] = HOSTILE[0]
    tve.loc[tve.index[1], "name_en"] = HOSTILE[1]
    tve.loc[tve.index[2], "name_en"] = HOSTILE[4]
    return tve


def test_prepared_layer_has_escaped_formatted_fields(demo_ws, catalog):
    layer = prepare_layer(catalog["enterprises"], _hostile_enterprises(demo_ws), "zh")
    frame = layer.frame
    assert frame.crs.to_epsg() == 4326
    assert frame["name_zh"].iloc[0] == "&lt;img src=x onerror=alert(1)&gt;"
    assert "`" not in frame["name_en"].iloc[1]
    assert frame["cod_tpa"].iloc[0].endswith(" t/a")
    assert frame["sector"].iloc[0] in {
        "印染",
        "电镀",
        "化学制浆造纸",
        "制革",
        "酿造",
        "染料",
        "化工",
        "水泥",
        "建材",
        "机械",
        "食品",
        "纺织",
    }
    english = prepare_layer(catalog["enterprises"], _hostile_enterprises(demo_ws), "en")
    assert english.frame["treatment"].iloc[0] in {
        "None",
        "Own treatment plant",
        "Connected to sewer",
    }
    # about a metre of precision is all the browser gets
    x = frame.geometry.iloc[0].x
    assert round(x, 5) == x


def test_map_html_uses_only_local_assets_and_escapes_everything(demo_ws, catalog):
    layers = [
        prepare_layer(catalog["enterprises"], _hostile_enterprises(demo_ws), "en"),
        prepare_layer(catalog["rivers"], demo_ws.read_layer("rivers"), "en"),
    ]
    m = build_map(layers, "en", "../assets/", bounds=(119.9, 31.3, 120.0, 31.5))
    html = m.get_root().render()
    assert not re.search(r"https?://(?!localhost|127\.0\.0\.1)", html.split("<body>")[1])
    assert m.default_js == [("leaflet", f"../assets/{LEAFLET}/leaflet.js")]
    assert all(not url.startswith("http") for _, url in m.default_css)
    assert "<img src=x" not in html and "</script><script>alert" not in html
    assert "Township &amp; village enterprises" in html or "Township & village" in html
    assert "Printing &amp; dyeing" in html  # legend categories, escaped
    assert "Legend" in html


def test_layer_titles_are_escaped(catalog):
    assert "&amp;" in layer_title(catalog["enterprises"], "en")


def test_offline_links_and_vendored_files_exist():
    js, css = offline_links("../x")
    assert js[0][1] == f"../x/{LEAFLET}/leaflet.js"
    assert css[0][1] == f"../x/{LEAFLET}/leaflet.css"
    names = {p.relative_to(ASSET_DIR).as_posix() for p in asset_files()}
    assert {
        f"{LEAFLET}/leaflet.js",
        f"{LEAFLET}/leaflet.css",
        f"{LEAFLET}/images/layers.png",
        f"{LEAFLET}/LICENSE",
    } <= names


def test_empty_layer_still_renders(catalog):
    empty = gpd.GeoDataFrame({"ent_id": []}, geometry=gpd.GeoSeries([], crs=4549))
    layer = prepare_layer(catalog["enterprises"], empty, "zh")
    m = build_map([layer], "zh", "./")
    assert "图例" in m.get_root().render()


def test_point_geometry_round_trip(catalog):
    gdf = gpd.GeoDataFrame(
        {
            "station_id": ["S1"],
            "name_zh": ["甲"],
            "name_en": ["A"],
            "water_body": ["R1"],
            "water_type": ["river"],
            "target_class": ["III"],
        },
        geometry=[Point(495_000, 3_475_000)],
        crs=4549,
    )
    layer = prepare_layer(catalog["monitoring_stations"], gdf, "en")
    assert layer.frame["water_type"].iloc[0] == "River"
