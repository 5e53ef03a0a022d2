"""Build the town's folium map from catalog specs and workspace layers.

The map has two parts, so Streamlit never has to rebuild it for a change of filter:
the *base* (lines and polygons as GeoJSON, fixed point layers, basemaps, controls), which
stays the same from one rerun to the next, and *dynamic* groups (the filtered enterprises)
that streamlit-folium swaps in place. Point layers are compact canvas arrays
(``townmap.render.points``); lines and polygons are simplified to ~2 m and rounded to
~1 m. Every text shown passes through ``escape_text`` or is set as DOM text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import folium
import geopandas as gpd
from branca.element import MacroElement
from folium.plugins import Draw
from jinja2 import Template

from townmap.catalog import LayerSpec
from townmap.i18n import group_label, t, value_label
from townmap.render.assets import draw_links, offline_links
from townmap.render.escape import escape_text
from townmap.render.points import PointStyle, ServedLayer, encode_points, served_source
from townmap.render.shapes import encode_shapes, shape_style

_GEOMETRY_ORDER = {"Polygon": 0, "LineString": 1, "Point": 2}
_TIANDITU_KEY = re.compile(r"^[0-9a-fA-F]{32}$")


@dataclass(frozen=True)
class MapLayer:
    """A layer ready for the map: its spec and its compressed data (``points``/``shapes``)."""

    spec: LayerSpec
    payload: bytes
    count: int = 0
    details: bytes | None = None  # a point layer's tooltip text, fetched on demand

    def shown(self) -> MapLayer:
        """The same layer, switched on when the map opens."""
        return replace(self, spec=self.spec.model_copy(update={"visible": True}))


@dataclass(frozen=True)
class Basemaps:
    """Background choices. Only the offline ones are shown unless the user picks another."""

    hillshade_url: str | None = None
    elevation_url: str | None = None
    bounds: tuple | None = None  # ((south, west), (north, east))
    tianditu_key: str | None = None


@dataclass
class MapParts:
    """What ``st_folium`` needs: the stable base map, swappable groups, the layer control."""

    base: folium.Map
    dynamic: list[folium.FeatureGroup] = field(default_factory=list)
    control: folium.LayerControl | None = None

    def standalone(self) -> folium.Map:
        """Everything on one map (for HTML export and tests)."""
        for group in self.dynamic:
            group.add_to(self.base)
        if self.control is not None:
            self.control.add_to(self.base)
        return self.base


def prepare_layer(
    spec: LayerSpec, gdf: gpd.GeoDataFrame, lang: str, style: PointStyle | None = None
) -> MapLayer:
    """A layer as compressed data for the browser: canvas points, or GeoJSON shapes."""
    if spec.geometry == "Point":
        encoded = encode_points(spec, gdf, lang, style or PointStyle())
        return MapLayer(spec, encoded.points, count=len(gdf), details=encoded.details)
    return MapLayer(spec, payload=encode_shapes(spec, gdf, lang), count=len(gdf))


def layer_title(spec: LayerSpec, lang: str) -> str:
    """Name in the layer control: group and layer (escaped: Leaflet uses innerHTML)."""
    return escape_text(f"{group_label(spec.group, lang)} · {spec.label.get(lang)}")


def _legend_items(spec: LayerSpec, lang: str) -> list[dict[str, str]]:
    s = spec.style
    shape = spec.geometry or "Polygon"
    if s.by and s.categories:
        return [
            {"color": c, "label": value_label(v, lang), "shape": shape}
            for v, c in s.categories.items()
        ]
    colour = s.color if shape == "LineString" else (s.fill_color or s.color)
    return [{"color": colour, "label": spec.label.get(lang), "shape": shape}]


def _layer_group(layer: MapLayer, lang: str, point_url) -> folium.FeatureGroup:
    spec = layer.spec
    group = folium.FeatureGroup(name=layer_title(spec, lang), show=spec.visible)
    source = served_source(layer.payload, point_url)
    if spec.geometry == "Point":
        options: dict = {"legend": True}
        if layer.details is not None:
            options["details"] = served_source(layer.details, point_url)
        ServedLayer("townmapPoints", source, options).add_to(group)
    else:
        ServedLayer("townmapShapes", source, shape_style(spec)).add_to(group)
    return group


class TownmapControls(MacroElement):
    """Legend of visible layers, cursor coordinates and the click reporter (townmap.js)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        L.townmapLegend({{ this.entries }}, {title: {{ this.title|tojson }}})
            .addTo({{ this._parent.get_name() }});
        L.townmapCoords({{ this.coords|tojson }}).addTo({{ this._parent.get_name() }});
        L.control.scale({metric: true, imperial: false, maxWidth: 160})
            .addTo({{ this._parent.get_name() }});
        L.townmapClicks().addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, title: str, entries: list[tuple[str, dict]], coords: dict) -> None:
        super().__init__()
        self._name = "TownmapControls"
        self.title = title
        self.coords = coords
        # layer variables are referenced by name: they live in the same script scope
        items = [
            f"{{layer: {var}, title: {json.dumps(e['title'], ensure_ascii=False)}, "
            f"items: {json.dumps(e['items'], ensure_ascii=False)}}}"
            for var, e in entries
        ]
        self.entries = ("[" + ",".join(items) + "]").replace("</", "<\\/")


class ServedImage(MacroElement):
    """An image overlay the app serves by URL (folium's ImageOverlay would inline a file)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        L.imageOverlay({{ this.url|tojson }}, {{ this.bounds|tojson }},
            {opacity: {{ this.opacity }}, zIndex: {{ this.zindex }}, interactive: false}
        ).addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, url: str, bounds, opacity: float, zindex: int) -> None:
        super().__init__()
        self._name = "ServedImage"
        self.url, self.opacity, self.zindex = url, opacity, zindex
        self.bounds = [list(bounds[0]), list(bounds[1])]


def _basemaps(m: folium.Map, basemaps: Basemaps, lang: str) -> None:
    online = t("online", lang)
    none = folium.FeatureGroup(
        name=escape_text(t("basemap_none", lang)),
        overlay=False,
        show=basemaps.hillshade_url is None,
    )
    none.add_to(m)
    if basemaps.hillshade_url and basemaps.bounds:
        shade = folium.FeatureGroup(
            name=escape_text(t("basemap_hillshade", lang)), overlay=False, show=True
        )
        ServedImage(basemaps.hillshade_url, basemaps.bounds, 1.0, 1).add_to(shade)
        shade.add_to(m)
    folium.TileLayer(
        "OpenStreetMap",
        name=escape_text(f"OpenStreetMap ({online})"),
        overlay=False,
        show=False,
        max_zoom=19,
    ).add_to(m)
    key = basemaps.tianditu_key
    if key and _TIANDITU_KEY.match(key):
        url = (
            "http://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
            "&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
            "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=" + key
        )
        group = folium.FeatureGroup(
            name=escape_text(f"{t('tianditu', lang)} ({online})"), overlay=False, show=False
        )
        for layer in ("vec", "cva"):
            folium.TileLayer(
                url.replace("{layer}", layer),
                attr="© 天地图 Tianditu",
                subdomains="01234567",
                max_zoom=18,
            ).add_to(group)
        group.add_to(m)
    if basemaps.elevation_url and basemaps.bounds:
        elev = folium.FeatureGroup(name=escape_text(t("elevation_colours", lang)), show=False)
        ServedImage(basemaps.elevation_url, basemaps.bounds, 0.55, 2).add_to(elev)
        elev.add_to(m)


def build_map(
    layers: list[MapLayer],
    lang: str,
    asset_base: str,
    bounds: tuple[float, float, float, float] | None = None,
    *,
    dynamic: list[MapLayer] = (),
    basemaps: Basemaps = Basemaps(),
    coords: dict | None = None,
    point_url: Callable[[bytes], str] | None = None,
    drawing: bool = True,
) -> MapParts:
    """The base map with static layers and controls, plus dynamic groups and the control.

    ``point_url`` publishes a point layer's compressed data and returns its URL; without
    it the data is inlined (a self-contained map)."""
    m = folium.Map(tiles=None, control_scale=False, prefer_canvas=True, zoom_start=12, max_zoom=19)
    m.default_js, m.default_css = offline_links(asset_base)
    _basemaps(m, basemaps, lang)
    ordered = sorted(
        layers, key=lambda x: (_GEOMETRY_ORDER[x.spec.geometry or "Point"], x.spec.order)
    )
    entries = []
    for layer in ordered:
        group = _layer_group(layer, lang, point_url)
        group.add_to(m)
        if layer.spec.geometry != "Point":
            entries.append(
                (
                    group.get_name(),
                    {"title": layer.spec.label.get(lang), "items": _legend_items(layer.spec, lang)},
                )
            )
    draw = Draw(
        position="topleft",
        draw_options={
            "polyline": {"shapeOptions": {"color": "#e6550d"}},
            "polygon": {
                "allowIntersection": False,
                "showArea": False,
                "shapeOptions": {"color": "#e6550d"},
            },
            "rectangle": {"showArea": False, "shapeOptions": {"color": "#e6550d"}},
            "circle": False,
            "marker": False,
            "circlemarker": False,
        },
        edit_options={"edit": False},
    )
    draw.default_js, draw.default_css = draw_links(asset_base)
    if drawing:  # the public display is read-only: no drawing tools
        draw.add_to(m)
    TownmapControls(
        t("legend", lang),
        list(reversed(entries)),
        coords or {"cm": 120, "falseEasting": 500000, "label": "CGCS2000 GK CM 120°E"},
    ).add_to(m)
    if bounds is not None:
        minx, miny, maxx, maxy = bounds
        m.fit_bounds([[miny, minx], [maxy, maxx]])
    groups = [_layer_group(layer, lang, point_url) for layer in dynamic]
    return MapParts(m, groups, folium.LayerControl(collapsed=True, position="topright"))
