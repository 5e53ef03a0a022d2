"""Point layers as compact, compressed arrays drawn on one canvas in the browser.

Fifty thousand folium markers take minutes to build and megabytes to send; here a layer is
delta-encoded integer coordinates (1e-5 degree, about a metre) and a class index per
point, gzip-compressed. ``townmap.js`` inflates it with the browser's DecompressionStream
and draws it on a canvas. Every point is drawn: nothing is aggregated or dropped.

The tooltip text travels separately (``EncodedPoints.details``): at county scale it is over
half the bytes, and only a reader who hovers over or clicks a point needs it, so the browser
fetches it the first time the cursor enters the map (or on the first tap).
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import MacroElement
from jinja2 import Template

from townmap.catalog import LayerSpec
from townmap.crs import to_display
from townmap.i18n import t, value_label
from townmap.render.classes import NO_DATA_COLOUR, SEQUENTIAL, SIZES, quantile_classes

#: zlib level: 3 is about 4x faster than 6 on these arrays for a few per cent more bytes
COMPRESS_LEVEL = 3


@dataclass(frozen=True)
class PointStyle:
    """How to colour and size points: by the catalog category, or classed by a number."""

    colour_by: str | None = None  # a numeric attribute; None = the catalog's style
    size_by: str | None = None  # a numeric attribute; None = the catalog's radius


def _finite(values: pd.Series) -> list:
    """Numbers to 3 significant digits as short strings ("" for missing): small JSON."""
    arr = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    text = np.char.mod("%.3g", np.nan_to_num(arr))
    return np.where(np.isnan(arr), "", text).tolist()


def _tooltip_fields(spec: LayerSpec, frame: pd.DataFrame, lang: str) -> list[dict]:
    fields = []
    for name in spec.tooltip:
        if name not in frame.columns:
            continue
        attr = spec.attribute(name)
        field = {"label": attr.label.get(lang), "unit": attr.unit}
        col = frame[name]
        if attr.choices is not None or attr.type == "bool":
            codes, uniques = pd.factorize(col.astype("object"), use_na_sentinel=True)
            if attr.type == "bool":
                labels = [t("yes" if bool(u) else "no", lang) for u in uniques]
            else:
                labels = [value_label(u, lang) for u in uniques]
            field |= {"kind": "code", "codes": codes.tolist(), "dict": [*labels, "–"]}
            field["codes"] = [c if c >= 0 else len(labels) for c in field["codes"]]
        elif attr.type in ("int", "float"):
            field |= {"kind": "num", "values": _finite(col)}
        else:
            field |= {
                "kind": "text",
                "values": col.astype(object).where(col.notna(), "").astype(str).tolist(),
            }
        fields.append(field)
    return fields


def _colours(spec: LayerSpec, frame: pd.DataFrame, style: PointStyle, lang: str):
    """(class per point, palette, legend items)."""
    s = spec.style
    if style.colour_by:
        attr = spec.attribute(style.colour_by)
        classes = quantile_classes(frame[style.colour_by])
        n = max(len(classes.breaks) - 1, 1)
        palette = SEQUENTIAL[-n:] if n < len(SEQUENTIAL) else SEQUENTIAL
        cls = np.where(classes.index < 0, n, classes.index)
        items = [
            {"color": c, "label": lab, "shape": "Point"}
            for c, lab in zip(palette, classes.labels(attr.unit), strict=False)
        ]
        if (classes.index < 0).any():
            items.append({"color": NO_DATA_COLOUR, "label": "–", "shape": "Point"})
        return cls.tolist(), [*palette, NO_DATA_COLOUR], items
    if s.by and s.categories and s.by in frame.columns:
        cats = list(s.categories)
        lookup = {c: i for i, c in enumerate(cats)}
        cls = frame[s.by].astype(str).map(lookup).fillna(len(cats)).astype(int).tolist()
        palette = [*s.categories.values(), s.fill_color or s.color]
        present = set(cls)
        items = [
            {"color": s.categories[c], "label": value_label(c, lang), "shape": "Point"}
            for i, c in enumerate(cats)
            if i in present
        ]
        return cls, palette, items
    colour = s.fill_color or s.color
    return None, [colour], [{"color": colour, "label": spec.label.get(lang), "shape": "Point"}]


def _sizes(spec: LayerSpec, frame: pd.DataFrame, style: PointStyle) -> tuple[list | None, list]:
    if not style.size_by:
        return None, []
    attr = spec.attribute(style.size_by)
    classes = quantile_classes(frame[style.size_by])
    sizes = [SIZES[i] if i >= 0 else SIZES[0] for i in classes.index]
    items = [
        {"color": "#999999", "label": lab, "shape": "Point", "size": SIZES[i]}
        for i, lab in enumerate(classes.labels(attr.unit))
    ]
    return sizes, items


@dataclass(frozen=True)
class EncodedPoints:
    """A point layer for ``L.townmapPoints``: what is drawn, and the text shown on demand."""

    points: bytes  # gzip of compact JSON: ids, coordinates, classes, style, legend
    details: bytes  # gzip of compact JSON: {"tooltip": fields}


def _gzip(obj: dict) -> bytes:
    raw = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return gzip.compress(raw, compresslevel=COMPRESS_LEVEL, mtime=0)


def encode_points(
    spec: LayerSpec, gdf: gpd.GeoDataFrame, lang: str, style: PointStyle = PointStyle()
) -> EncodedPoints:
    """The layer as two gzip-compressed JSON documents, ready for ``L.townmapPoints``."""
    if spec.geometry != "Point" or spec.key is None:
        raise ValueError(f"layer {spec.id!r} is not a point layer with a key attribute")
    shown = to_display(gdf) if not gdf.empty else gdf
    geoms = shown.geometry
    if len(geoms) and (geoms.geom_type != "Point").any():
        geoms = geoms.representative_point()  # MultiPoint: draw one point per feature
    lat = np.round(geoms.y.to_numpy() * 1e5).astype(np.int64) if len(geoms) else np.array([])
    lng = np.round(geoms.x.to_numpy() * 1e5).astype(np.int64) if len(geoms) else np.array([])
    style = style or PointStyle()
    cls, palette, colour_items = _colours(spec, shown, style, lang)
    sizes, size_items = _sizes(spec, shown, style)
    s = spec.style
    payload = {
        "layer": spec.id,
        "ids": shown[spec.key].astype(str).tolist(),
        "lat": np.diff(lat, prepend=0).tolist(),
        "lng": np.diff(lng, prepend=0).tolist(),
        "cls": cls,
        "palette": palette,
        "sizes": sizes,
        "radius": s.radius,
        "stroke": s.color,
        "weight": s.weight,
        "opacity": s.opacity,
        "legend": {"title": spec.label.get(lang), "items": colour_items + size_items},
    }
    details = {"tooltip": _tooltip_fields(spec, shown, lang)}
    return EncodedPoints(points=_gzip(payload), details=_gzip(details))


def decode_points(points: bytes, details: bytes | None = None) -> dict:
    """The inverse of ``encode_points`` (for tests and benchmarks): one dict, text included."""
    data = json.loads(gzip.decompress(points))
    if details is not None:
        data |= json.loads(gzip.decompress(details))
    data["lat"] = (np.cumsum(data["lat"]) / 1e5).tolist()
    data["lng"] = (np.cumsum(data["lng"]) / 1e5).tolist()
    return data


class ServedLayer(MacroElement):
    """A folium element adding one Townmap layer (``L.townmapPoints``/``L.townmapShapes``).

    With a URL the browser fetches the compressed data from the app (cacheable, and
    Streamlit does not resend it on every rerun); without one it is inlined as base64
    (a self-contained HTML file). A point layer's tooltip text goes the same way, as the
    ``details`` option."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.{{ this.factory }}(
            {{ this.source|tojson }}, {{ this.options|tojson }}
        ).addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, factory: str, source: dict[str, str], options: dict) -> None:
        super().__init__()
        if factory not in ("townmapPoints", "townmapShapes"):
            raise ValueError(f"unknown layer factory {factory!r}")
        self._name = "TownmapLayer"
        self.factory = factory
        self.options = options
        self.source = source  # from ``served_source``


def served_source(payload: bytes, publish: Callable[[bytes], str] | None = None) -> dict[str, str]:
    """Where the browser finds compressed data: a published URL, or inline base64."""
    if publish is not None:
        return {"url": publish(payload)}
    return {"b64": base64.b64encode(payload).decode()}
