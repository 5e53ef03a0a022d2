"""What the planner clicked or drew: feature details, what lies at a place, area queries.

Every distance, length and area here is computed in the workspace's metric CRS (a
Gauss–Krüger zone), never in degrees; drawings arrive from the browser in WGS 84.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from townmap.catalog import LayerSpec
from townmap.crs import DISPLAY_CRS, is_metric
from townmap.display import format_value
from townmap.errors import CRSError
from townmap.explore.filters import totals
from townmap.i18n import t

#: tolerance for "clicked on this line", metres
LINE_TOLERANCE_M = 30.0


@dataclass(frozen=True)
class Clicked:
    """A click reported by the map: a feature (layer and key) or a place."""

    layer: str | None
    key: str | None
    lat: float
    lon: float


def parse_click(result: dict | None) -> Clicked | None:
    """Read streamlit-folium's click report (``townmap:<layer>:<key>`` or ``townmap:@``)."""
    if not result:
        return None
    where, tag = result.get("last_object_clicked"), result.get("last_object_clicked_tooltip")
    if not where or not isinstance(tag, str) or not tag.startswith("townmap:"):
        return None
    try:
        lat, lon = float(where["lat"]), float(where["lng"])
    except (KeyError, TypeError, ValueError):
        return None
    rest = tag.removeprefix("townmap:")
    if rest == "@" or ":" not in rest:
        return Clicked(None, None, lat, lon)
    layer, key = rest.split(":", 1)
    return Clicked(layer, key, lat, lon)


def feature_rows(spec: LayerSpec, row: pd.Series, lang: str) -> pd.DataFrame:
    """Every catalog attribute of one feature, labelled and formatted (units included)."""
    rows = [
        (a.label.get(lang), format_value(spec, a.name, row.get(a.name), lang))
        for a in spec.attributes
        if a.name in row.index
    ]
    return pd.DataFrame(rows, columns=[t("attribute", lang), t("value", lang)])


def find_feature(gdf: gpd.GeoDataFrame, spec: LayerSpec, key: str) -> pd.Series | None:
    if spec.key is None or spec.key not in gdf.columns:
        return None
    match = gdf[gdf[spec.key].astype(str) == str(key)]
    return None if match.empty else match.iloc[0]


def _metric_point(lat: float, lon: float, crs: CRS) -> Point:
    if not is_metric(crs):
        raise CRSError("the workspace CRS is not metric; distances would be wrong")
    pt = gpd.GeoSeries([Point(lon, lat)], crs=DISPLAY_CRS).to_crs(crs)
    return pt.iloc[0]


def nearest(gdf: gpd.GeoDataFrame, geom: BaseGeometry) -> tuple[pd.Series | None, float]:
    """The feature of ``gdf`` nearest to ``geom`` and its distance in CRS units (metres)."""
    if gdf.empty:
        return None, float("nan")
    idx = gdf.sindex.nearest(geom, return_all=False)[1][0]
    row = gdf.iloc[idx]
    return row, float(row.geometry.distance(geom))


def enterprise_links(ent: pd.Series, layers: dict[str, gpd.GeoDataFrame]) -> dict:
    """An enterprise's outfalls and its nearest monitoring station (metric distance)."""
    dps = layers.get("discharge_points")
    own = dps[dps["ent_id"].astype(str) == str(ent["ent_id"])] if dps is not None else None
    stations = layers.get("monitoring_stations")
    station, dist = nearest(stations, ent.geometry) if stations is not None else (None, np.nan)
    return {"discharge_points": own, "station": station, "station_distance_m": dist}


def identify(
    layers: dict[str, gpd.GeoDataFrame],
    specs: dict[str, LayerSpec],
    lat: float,
    lon: float,
    crs: CRS,
) -> list[tuple[LayerSpec, pd.Series]]:
    """Polygons containing the place and lines within 30 m of it, top layers first."""
    here = _metric_point(lat, lon, crs)
    found = []
    for layer_id, gdf in layers.items():
        spec = specs.get(layer_id)
        if spec is None or spec.geometry not in ("Polygon", "LineString") or gdf.empty:
            continue
        if spec.geometry == "Polygon":
            hits = gdf.iloc[gdf.sindex.query(here, predicate="intersects")]
        else:
            hits = gdf.iloc[gdf.sindex.query(here, predicate="dwithin", distance=LINE_TOLERANCE_M)]
        found.extend((spec, row) for _, row in hits.iterrows())
    return sorted(found, key=lambda f: (f[0].geometry != "LineString", f[0].group, f[0].order))


def drawn_geometry(feature: dict, crs: CRS) -> BaseGeometry:
    """A drawing from the map (GeoJSON in WGS 84) in the workspace's metric CRS."""
    if not is_metric(crs):
        raise CRSError("the workspace CRS is not metric; lengths and areas would be wrong")
    geom = shape(feature["geometry"])
    return gpd.GeoSeries([geom], crs=DISPLAY_CRS).to_crs(crs).iloc[0]


def area_summary(
    area: BaseGeometry,
    layers: dict[str, gpd.GeoDataFrame],
    specs: dict[str, LayerSpec],
    enterprises: gpd.GeoDataFrame,
) -> dict:
    """Enterprises, loads and environmental constraints inside a drawn polygon."""
    if enterprises is None:
        enterprises = gpd.GeoDataFrame(geometry=gpd.GeoSeries([]))
    inside = enterprises.iloc[enterprises.sindex.query(area, predicate="intersects")]
    constraints = []
    for layer_id, gdf in layers.items():
        spec = specs.get(layer_id)
        if spec is None or spec.group != "environmental_constraints" or gdf.empty:
            continue
        hits = gdf.iloc[gdf.sindex.query(area, predicate="intersects")]
        if hits.empty:
            continue
        overlap = (
            float(hits.geometry.intersection(area).area.sum())
            if spec.geometry == ("Polygon")
            else 0.0
        )
        constraints.append(
            {"layer": spec, "features": len(hits), "overlap_m2": overlap, "rows": hits}
        )
    return {
        "area_m2": float(area.area),
        "enterprises": inside,
        "totals": totals(inside),
        "constraints": constraints,
    }


def measure(geom: BaseGeometry) -> dict[str, float]:
    """Length (m) of a line, or area (m²) and perimeter (m) of a polygon, in metres."""
    if geom.geom_type in ("LineString", "MultiLineString"):
        return {"length_m": float(geom.length)}
    return {"area_m2": float(geom.area), "perimeter_m": float(geom.length)}
