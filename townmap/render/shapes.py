"""Lines and polygons as compressed GeoJSON the browser fetches from the app.

Served as files, like point layers, so the map Streamlit re-sends on every rerun stays
small. Geometry is simplified to ~2 m and rounded to ~1 m; each feature carries its key
(so a click can be traced back), its fill colour and its display fields, formatted as text
(the browser sets them as DOM text, never as HTML).
"""

from __future__ import annotations

import gzip
import json

import geopandas as gpd
import shapely

from townmap.catalog import LayerSpec
from townmap.crs import is_metric, to_display
from townmap.display import format_value

#: 1e-5 degree is about 1 m at Lake Tai
PRECISION = 1e-5
SIMPLIFY_M = 2.0
#: metres in a degree of latitude; a degree of longitude is shorter, so this errs fine
METRES_PER_DEGREE = 111_320.0
COMPRESS_LEVEL = 3


def encode_shapes(spec: LayerSpec, gdf: gpd.GeoDataFrame, lang: str) -> bytes:
    """gzip-compressed JSON: ``{layer, tooltip, popup, geojson}`` for ``L.townmapShapes``."""
    if not gdf.empty:
        gdf = _simplified(gdf)
    fields = list(dict.fromkeys([*spec.tooltip, *spec.popup]))
    props = {
        name: [format_value(spec, name, v, lang) for v in gdf[name]]
        for name in fields
        if name in gdf.columns
    }
    s = spec.style
    by = gdf[s.by].astype(str) if s.by in gdf.columns else None
    default = s.fill_color or s.color
    fill = [s.categories.get(v, default) for v in by] if by is not None else [default] * len(gdf)
    keys = (
        gdf[spec.key].astype(str).tolist()
        if spec.key in gdf.columns
        else [str(i) for i in range(len(gdf))]
    )
    geometry = shapely.set_precision(gdf.geometry.values, PRECISION, mode="pointwise")
    frame = gpd.GeoDataFrame({"_k": keys, "_fill": fill, **props}, geometry=geometry, crs=gdf.crs)

    def described(names: list[str]) -> list[dict[str, str]]:
        return [
            {"name": n, "label": spec.attribute(n).label.get(lang)} for n in names if n in props
        ]

    head = json.dumps(
        {"layer": spec.id, "tooltip": described(spec.tooltip), "popup": described(spec.popup)},
        ensure_ascii=False,
    )
    body = frame.to_json(drop_id=True, ensure_ascii=False)
    raw = (head[:-1] + ', "geojson": ' + body + "}").encode("utf-8")
    return gzip.compress(raw, compresslevel=COMPRESS_LEVEL, mtime=0)


def _simplified(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Simplify by ~2 m on the ground and return lon/lat.

    The tolerance is in the frame's units: 2 in a lon/lat frame would be 2 degrees and turn
    a town's polygons into triangles, so such frames are simplified in degrees worth 2 m.
    """
    if is_metric(gdf.crs):
        gdf = gdf.set_geometry(gdf.geometry.simplify(SIMPLIFY_M, preserve_topology=True))
        return to_display(gdf)
    gdf = to_display(gdf)
    tolerance = SIMPLIFY_M / METRES_PER_DEGREE
    return gdf.set_geometry(gdf.geometry.simplify(tolerance, preserve_topology=True))


def shape_style(spec: LayerSpec) -> dict:
    """Leaflet path options for ``L.townmapShapes`` from the catalog style."""
    s = spec.style
    return {
        "color": s.color,
        "weight": s.weight,
        "opacity": s.opacity,
        "fillOpacity": s.fill_opacity,
        "dash": s.dash,
        "lineByCategory": spec.geometry == "LineString" and bool(s.by),
    }
