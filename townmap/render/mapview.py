"""Build the town's folium map from catalog specs and workspace layers.

Layers are converted to WGS 84 and rounded to about a metre before they reach the
browser; every text shown (names, labels, values) passes through ``escape_text``; styles,
tooltips and popups come from each layer's catalog entry; the default map has no tiles
at all, so it works without internet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from jinja2 import Template

from townmap.catalog import LayerSpec
from townmap.crs import to_display
from townmap.i18n import group_label, t, value_label
from townmap.render.assets import offline_links
from townmap.render.escape import escape_text

_GEOMETRY_ORDER = {"Polygon": 0, "LineString": 1, "Point": 2}
#: display precision: 1e-5 degree is about 1 m at Lake Tai
_PRECISION = 1e-5
_SIMPLIFY_M = 2.0


@dataclass(frozen=True)
class MapLayer:
    """A layer ready for the map: its spec and WGS 84 features with display properties."""

    spec: LayerSpec
    frame: gpd.GeoDataFrame


def _format(spec: LayerSpec, name: str, value: object, lang: str) -> str:
    attr = spec.attribute(name)
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return "–"
    if attr.type == "bool":
        return t("yes" if bool(value) else "no", lang)
    if attr.type in ("int", "float"):
        number = float(value)
        text = f"{number:,.0f}" if attr.type == "int" or abs(number) >= 1000 else f"{number:,.3g}"
        return f"{text} {attr.unit}".strip()
    if attr.choices is not None:
        return value_label(value, lang)
    return str(value)


def prepare_layer(spec: LayerSpec, gdf: gpd.GeoDataFrame, lang: str) -> MapLayer:
    """WGS 84, simplified and rounded geometry plus escaped, formatted display fields."""
    if spec.geometry != "Point" and not gdf.empty:
        metric = gdf.geometry.simplify(_SIMPLIFY_M, preserve_topology=True)
        gdf = gdf.set_geometry(metric)
    shown = gdf if gdf.empty else to_display(gdf)
    fields = list(dict.fromkeys([*spec.tooltip, *spec.popup]))
    props = {
        name: [escape_text(_format(spec, name, v, lang)) for v in shown[name]]
        for name in fields
        if name in shown.columns
    }
    style = spec.style
    fill = [
        style.categories.get(str(v), style.fill_color or style.color)
        for v in (shown[style.by] if style.by in shown.columns else [None] * len(shown))
    ]
    geometry = shapely.set_precision(shown.geometry.values, _PRECISION, mode="pointwise")
    frame = gpd.GeoDataFrame({**props, "_fill": fill}, geometry=geometry, crs=shown.crs)
    return MapLayer(spec, frame)


def _style(spec: LayerSpec):
    s = spec.style

    def style(feature: dict) -> dict:
        out = {
            "color": s.color,
            "weight": s.weight,
            "opacity": s.opacity,
            "fillColor": feature["properties"]["_fill"],
            "fillOpacity": s.fill_opacity,
        }
        if spec.geometry == "LineString" and s.by:
            out["color"] = feature["properties"]["_fill"]
        if s.dash:
            out["dashArray"] = s.dash
        return out

    return style


def _labels(spec: LayerSpec, names: list[str], lang: str) -> list[str]:
    return [escape_text(spec.attribute(n).label.get(lang)) for n in names]


def layer_title(spec: LayerSpec, lang: str) -> str:
    """Name shown in the layer control: group and layer (escaped; Leaflet uses innerHTML)."""
    return escape_text(f"{group_label(spec.group, lang)} · {spec.label.get(lang)}")


def _legend_entries(spec: LayerSpec, lang: str) -> str:
    s = spec.style
    if spec.geometry == "Point":
        shape = "border-radius:50%;width:10px;height:10px;"
    elif spec.geometry == "LineString":
        shape = "width:16px;height:0;border-top-width:3px;border-top-style:solid;"
    else:
        shape = "width:14px;height:10px;"

    def swatch(color: str) -> str:
        if spec.geometry == "LineString":
            return f'<i style="{shape}border-top-color:{color};"></i>'
        return f'<i style="{shape}background:{color};border:1px solid {s.color};"></i>'

    title = escape_text(spec.label.get(lang))
    if s.by and s.categories:
        rows = "".join(
            f"<div>{swatch(c)} {escape_text(value_label(v, lang))}</div>"
            for v, c in s.categories.items()
        )
        return f"<b>{title}</b>{rows}"
    return f"<div>{swatch(s.fill_color or s.color)} {title}</div>"


class Legend(MacroElement):
    """A legend control that lists only the layers currently shown on the map."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function() {
            var map = {{ this._parent.get_name() }};
            var entries = {{ this.entries }};
            var control = L.control({position: "bottomright"});
            control.onAdd = function () {
                var div = L.DomUtil.create("div", "townmap-legend");
                div.style.cssText = "background:rgba(255,255,255,.92);padding:6px 9px;" +
                    "font:13px/1.45 sans-serif;max-height:45vh;overflow:auto;" +
                    "border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3)";
                L.DomEvent.disableScrollPropagation(div);
                return div;
            };
            control.addTo(map);
            function refresh() {
                var html = "<div style='font-weight:bold'>{{ this.title }}</div>";
                entries.forEach(function (e) {
                    if (map.hasLayer(e.layer)) { html += "<div>" + e.html + "</div>"; }
                });
                control.getContainer().innerHTML = html;
                control.getContainer().querySelectorAll("i").forEach(function (i) {
                    i.style.display = "inline-block"; i.style.marginRight = "4px";
                    i.style.verticalAlign = "middle";
                });
            }
            map.on("overlayadd overlayremove", refresh);
            refresh();
        })();
        {% endmacro %}
        """
    )

    def __init__(self, title: str, entries: list[dict[str, str]]) -> None:
        super().__init__()
        self._name = "Legend"
        self.title = escape_text(title)
        # layer variables are referenced by name: they live in the same script scope
        items = [
            f"{{layer: {e['layer']}, html: {json.dumps(e['html'], ensure_ascii=False)}}}"
            for e in entries
        ]
        self.entries = ("[" + ",".join(items) + "]").replace("</", "<\\/")


class MetricScale(MacroElement):
    """A metric-only scale bar (Chinese planning works in metres and kilometres)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        L.control.scale({metric: true, imperial: false, maxWidth: 160})
            .addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )


def build_map(
    layers: list[MapLayer],
    lang: str,
    asset_base: str,
    bounds: tuple[float, float, float, float] | None = None,
) -> folium.Map:
    """A folium map with one toggleable group per layer, styled from the catalog."""
    m = folium.Map(tiles=None, control_scale=False, prefer_canvas=True, zoom_start=12)
    m.default_js, m.default_css = offline_links(asset_base)
    folium.Element(
        "<style>.leaflet-container{background:#eef1ec}</style>",
    ).add_to(m.get_root().header)
    ordered = sorted(
        layers, key=lambda x: (_GEOMETRY_ORDER[x.spec.geometry or "Point"], x.spec.order)
    )
    legend: list[tuple[int, dict[str, str]]] = []
    for layer in ordered:
        spec = layer.spec
        group = folium.FeatureGroup(name=layer_title(spec, lang), show=spec.visible)
        if not layer.frame.empty:
            s = spec.style
            tip = [n for n in spec.tooltip if n in layer.frame.columns]
            pop = [n for n in spec.popup if n in layer.frame.columns]
            marker = None
            if spec.geometry == "Point":
                marker = folium.CircleMarker(radius=s.radius, weight=s.weight, fill=True)
            folium.GeoJson(
                layer.frame.to_json(drop_id=True),
                name=spec.id,
                style_function=_style(spec),
                marker=marker,
                tooltip=folium.GeoJsonTooltip(tip, aliases=_labels(spec, tip, lang))
                if tip
                else None,
                popup=folium.GeoJsonPopup(pop, aliases=_labels(spec, pop, lang)) if pop else None,
                smooth_factor=1.0,
            ).add_to(group)
        group.add_to(m)
        rank = (list(_GEOMETRY_ORDER).index(spec.geometry or "Point"), spec.order)
        legend.append((rank, {"layer": group.get_name(), "html": _legend_entries(spec, lang)}))
    MetricScale().add_to(m)
    folium.LayerControl(collapsed=True, position="topright").add_to(m)
    entries = [e for _, e in sorted(legend, key=lambda x: x[0], reverse=True)]
    Legend(t("legend", lang), entries).add_to(m)
    if bounds is not None:
        minx, miny, maxx, maxy = bounds
        m.fit_bounds([[miny, minx], [maxy, maxx]])
    return m
