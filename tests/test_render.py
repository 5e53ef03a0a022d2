"""Map rendering: compact layers, escaped titles, no CDN, catalog styles, classed legends."""

from __future__ import annotations

import base64
import gzip
import json
import re

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import Point

from townmap.render.assets import ASSET_DIR, LEAFLET, LEAFLET_DRAW, asset_files, offline_links
from townmap.render.classes import quantile_classes
from townmap.render.escape import escape_text
from townmap.render.mapview import Basemaps, build_map, layer_title, prepare_layer
from townmap.render.points import PointStyle, decode_points
from townmap.render.publish import publish

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


def _decoded(layer) -> dict:
    return decode_points(layer.payload, layer.details)


def test_point_payload_round_trips_coordinates_ids_and_fields(demo_ws, catalog):
    tve = _hostile_enterprises(demo_ws)
    layer = prepare_layer(catalog["enterprises"], tve, "zh")
    data = _decoded(layer)
    # the tooltip text travels on its own, fetched when a reader first points at the map
    assert "tooltip" not in decode_points(layer.payload)
    assert HOSTILE[0] not in gzip.decompress(layer.payload).decode()
    assert data["ids"] == list(tve["ent_id"])
    shown = tve.to_crs(4326)
    assert np.allclose(data["lng"], shown.geometry.x, atol=1e-5)
    assert np.allclose(data["lat"], shown.geometry.y, atol=1e-5)
    fields = {f["label"]: f for f in data["tooltip"]}
    # raw text: the browser sets it with textContent, so it can never become markup
    assert fields["企业名称"]["values"][0] == HOSTILE[0]
    sector = fields["行业"]
    assert sector["kind"] == "code"
    assert sector["dict"][sector["codes"][0]] in {
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
    cod = fields["COD排放量"]
    assert cod["unit"] == "t/a" and float(cod["values"][0]) == pytest.approx(
        tve["cod_tpa"].iloc[0], rel=0.01
    )
    palette = catalog["enterprises"].style.categories
    colour = data["palette"][data["cls"][0]]
    assert colour == palette[tve["sector"].iloc[0]]


def test_numeric_colour_and_size_classes_make_a_classed_legend(demo_ws, catalog):
    tve = demo_ws.read_layer("enterprises")
    style = PointStyle(colour_by="cod_tpa", size_by="wastewater_m3d")
    data = _decoded(prepare_layer(catalog["enterprises"], tve, "en", style))
    assert len(set(data["cls"])) == 5
    assert len(set(data["sizes"])) == 5
    labels = [i["label"] for i in data["legend"]["items"]]
    assert sum("t/a" in lab for lab in labels) == 5
    assert sum("m³/d" in lab for lab in labels) == 5
    biggest = int(np.argmax(tve["cod_tpa"].to_numpy()))
    assert data["cls"][biggest] == 4  # the largest emitter is in the top class


def test_shape_payload_has_keys_fills_and_formatted_fields(demo_ws, catalog):
    zones = demo_ws.read_layer("taihu_zones")
    data = json.loads(gzip.decompress(prepare_layer(catalog["taihu_zones"], zones, "en").payload))
    assert data["layer"] == "taihu_zones"
    feats = data["geojson"]["features"]
    assert len(feats) == len(zones)
    assert {f["properties"]["_fill"] for f in feats} == set(
        catalog["taihu_zones"].style.categories.values()
    )
    assert {f["properties"]["_k"] for f in feats} == {"0", "1", "2"}
    lon, lat = feats[0]["geometry"]["coordinates"][0][0][:2]
    assert 119.8 < lon < 120.1 and 31.2 < lat < 31.6
    assert round(lon, 5) == lon  # about a metre of precision is all the browser gets


def test_map_html_uses_only_local_assets(demo_ws, catalog):
    layers = [
        prepare_layer(catalog["enterprises"], _hostile_enterprises(demo_ws), "en"),
        prepare_layer(catalog["rivers"], demo_ws.read_layer("rivers"), "en"),
    ]
    parts = build_map(
        layers,
        "en",
        "../assets/",
        bounds=(119.9, 31.3, 120.0, 31.5),
        basemaps=Basemaps("../c/h.png", "../c/e.png", ((31.3, 119.9), (31.5, 120))),
    )
    html = parts.standalone().get_root().render()
    body = html.split("<body>")[1]
    # the only remote URL is the optional online basemap, added but not shown
    remote = set(re.findall(r"https?://[^\"' )\\]+", body))
    assert remote <= {
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        "https://www.openstreetmap.org/copyright",
    }, remote
    assert parts.base.default_js[0] == ("leaflet", f"../assets/{LEAFLET}/leaflet.js")
    assert all(not url.startswith("http") for _, url in parts.base.default_css)
    assert "<img src=x" not in html and "</script><script>alert" not in html


def test_point_text_is_published_apart_or_inlined(demo_ws, catalog, tmp_path):
    layer = prepare_layer(catalog["enterprises"], _hostile_enterprises(demo_ws), "en")
    served = build_map([layer], "en", "./", point_url=lambda data: "c/" + publish(data, tmp_path))
    html = served.standalone().get_root().render()
    files = sorted(tmp_path.glob("layer-*.json.gz"))
    assert {f.read_bytes() for f in files} == {layer.payload, layer.details}
    for f in files:  # both are named in the map, the text as the layer's "details"
        assert f'"c/{f.name}"' in html
    assert re.search(r'"details":\s*\{"url":\s*"c/layer-', html)
    inline = build_map([layer], "en", "./").standalone().get_root().render()
    assert base64.b64encode(layer.details).decode() in inline  # a self-contained map
    assert "c/layer-" not in inline


def test_osm_is_offered_but_not_shown_by_default(catalog, demo_ws):
    parts = build_map([], "en", "./", basemaps=Basemaps("h.png", "e.png", ((0, 0), (1, 1))))
    html = parts.standalone().get_root().render()
    osm = re.search(r"var (tile_layer_\w+) = L\.tileLayer\(\s*\"https://tile", html)
    assert osm, "OpenStreetMap should be offered"
    assert f"{osm.group(1)}.addTo(" not in html  # only added when the user picks it
    assert "OpenStreetMap (online)" in html and "Hillshade (offline)" in html


def test_tianditu_needs_a_well_formed_key():
    bad = build_map([], "en", "./", basemaps=Basemaps(tianditu_key="x'); alert(1);//"))
    assert "tianditu" not in bad.standalone().get_root().render()
    good = build_map([], "en", "./", basemaps=Basemaps(tianditu_key="0123456789abcdef" * 2))
    html = good.standalone().get_root().render()
    assert "tianditu.gov.cn/vec_w/wmts" in html and "Tianditu (online)" in html


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
        f"{LEAFLET_DRAW}/leaflet.draw.js",
        f"{LEAFLET_DRAW}/images/spritesheet.svg",
        "townmap/townmap.js",
        "townmap/townmap.css",
    } <= names
    town_js = (ASSET_DIR / "townmap" / "townmap.js").read_text()
    assert ".innerHTML" not in town_js  # user text only ever goes in as DOM text


def test_empty_layers_still_render(catalog):
    empty = gpd.GeoDataFrame({"ent_id": []}, geometry=gpd.GeoSeries([], crs=4549))
    layer = prepare_layer(catalog["enterprises"], empty, "zh")
    assert _decoded(layer)["ids"] == [] and _decoded(layer)["tooltip"] == []
    parts = build_map([layer], "zh", "./")
    assert "L.townmapLegend" in parts.standalone().get_root().render()


def test_multipoints_are_drawn_once(catalog):
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
    data = _decoded(prepare_layer(catalog["monitoring_stations"], gdf, "en"))
    assert data["tooltip"][-1]["dict"][0] == "III"


def test_quantile_classes_handle_skew_missing_and_constants():
    values = [0.1, 0.2, 0.3, 1, 2, 3, 10, 100, 1000, None]
    classes = quantile_classes(values, k=5)
    assert classes.index[-1] == -1
    assert classes.index[0] == 0 and classes.index[-2] == len(classes.breaks) - 2
    assert len(classes.labels("t/a")) == len(classes.breaks) - 1
    same = quantile_classes([5, 5, 5])
    assert (same.index == 0).all()
    assert quantile_classes([None, None]).breaks == []


def test_publish_is_content_addressed_and_pruned(tmp_path, monkeypatch):
    a = publish(b"one", tmp_path)
    assert publish(b"one", tmp_path) == a
    assert (tmp_path / a).read_bytes() == b"one"
    assert publish(b"two", tmp_path) != a
    monkeypatch.setattr("townmap.render.publish.KEEP", 3)
    for i in range(6):
        publish(f"payload {i}".encode(), tmp_path)
    assert len(list(tmp_path.glob("layer-*.json.gz"))) == 3
    assert not list(tmp_path.glob(".publish-*"))


@pytest.mark.parametrize("crs", [4326, 4490, 4549])
def test_shapes_are_simplified_by_metres_whatever_the_crs(catalog, crs):
    """A 500 m circle keeps its shape in lon/lat frames too (2 degrees made it a triangle)."""
    circle = gpd.GeoSeries([Point(495_000, 3_475_000).buffer(500, quad_segs=32)], crs=4549)
    gdf = gpd.GeoDataFrame(
        {"zone_id": ["Z1"], "level": ["I"], "name_zh": ["一级"], "name_en": ["Level I"]},
        geometry=circle.to_crs(crs),
    )
    data = json.loads(gzip.decompress(prepare_layer(catalog["taihu_zones"], gdf, "en").payload))
    ring = data["geojson"]["features"][0]["geometry"]["coordinates"][0]
    drawn = gpd.GeoSeries([shapely.Polygon(ring)], crs=4326).to_crs(4549).iloc[0]
    assert len(ring) > 40  # 2 m of tolerance keeps most of a 500 m circle's 128 vertices
    area = circle.iloc[0].area
    assert abs(drawn.area - area) / area < 0.005  # a triangle loses 59 %
