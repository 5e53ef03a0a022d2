"""Coordinate reference systems: one place that decides which CRS is used for what.

Townmap stores each workspace in one CRS, draws maps in WGS 84 and measures lengths and
areas in a metric CGCS2000 Gauss–Krüger zone chosen from the data's longitude. Nothing
in Townmap measures in degrees: callers ask this module for a metric frame instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
from pyproj import CRS

from townmap.errors import CRSError

#: Leaflet and GeoJSON want longitude/latitude on WGS 84.
DISPLAY_CRS = CRS.from_epsg(4326)
#: China Geodetic Coordinate System 2000, geographic (within ~1 m of WGS 84 on land).
CGCS2000 = CRS.from_epsg(4490)
#: The demo town's storage CRS: CGCS2000 / 3-degree Gauss–Krüger CM 120°E.
DEMO_CRS = CRS.from_epsg(4549)

# EPSG code blocks for CGCS2000 Gauss–Krüger zones (checked with pyproj on this stack).
_GK3_CM_FIRST = 4534  # CM 75E .. CM 135E, no zone prefix in the easting
_GK3_ZONE_FIRST = 4513  # zone 25 .. zone 45, zone number prefixed to the easting
_GK6_CM_FIRST = 4502  # CM 75E .. CM 135E
_GK6_ZONE_FIRST = 4491  # zone 13 .. zone 23


def gk3_central_meridian(lon: float) -> int:
    """Central meridian (degrees E) of the 3-degree zone that holds ``lon``."""
    if not -180 <= lon <= 180 or math.isnan(lon):
        raise CRSError(f"longitude {lon!r} is outside -180..180")
    cm = int(round(lon / 3.0) * 3)
    if not 75 <= cm <= 135:
        raise CRSError(
            f"longitude {lon:.3f} is outside China's CGCS2000 Gauss–Krüger zones (73.5–136.5 E)"
        )
    return cm


def gk3_crs(lon: float, *, zone_prefix: bool = False) -> CRS:
    """CGCS2000 3-degree Gauss–Krüger CRS for a longitude (EPSG:4549 at 120°E)."""
    cm = gk3_central_meridian(lon)
    first = _GK3_ZONE_FIRST if zone_prefix else _GK3_CM_FIRST
    return CRS.from_epsg(first + (cm - 75) // 3)


def gk6_crs(lon: float, *, zone_prefix: bool = False) -> CRS:
    """CGCS2000 6-degree Gauss–Krüger CRS for a longitude."""
    if not 72 <= lon <= 138:
        raise CRSError(f"longitude {lon:.3f} is outside China's 6-degree zones (72–138 E)")
    zone = int(lon // 6) + 1
    cm = zone * 6 - 3
    first = _GK6_ZONE_FIRST if zone_prefix else _GK6_CM_FIRST
    return CRS.from_epsg(first + (cm - 75) // 6)


def is_metric(crs: CRS | str | int | None) -> bool:
    """True when the CRS is projected with metre units (safe for lengths and areas)."""
    if crs is None:
        return False
    crs = CRS.from_user_input(crs)
    if not crs.is_projected:
        return False
    units = {axis.unit_name for axis in crs.axis_info}
    return units <= {"metre", "meter", "m"}


def require_crs(gdf: gpd.GeoDataFrame, what: str = "data") -> CRS:
    """Return the frame's CRS or raise a clear error: guessing would corrupt the workspace."""
    if gdf.crs is None:
        raise CRSError(f"{what} has no coordinate reference system; set one before using it")
    return CRS.from_user_input(gdf.crs)


def metric_crs_for(gdf: gpd.GeoDataFrame) -> CRS:
    """A metric CRS for analysing ``gdf``: its own if already metric, else the GK3 zone."""
    crs = require_crs(gdf)
    if is_metric(crs):
        return crs
    if gdf.empty:
        raise CRSError("cannot choose a metric CRS for an empty layer in geographic coordinates")
    lon = gdf.to_crs(DISPLAY_CRS).total_bounds[[0, 2]].mean()
    return gk3_crs(float(lon))


def to_metric(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Reproject to a metric CRS (no copy when already metric)."""
    target = metric_crs_for(gdf)
    return gdf if CRS.from_user_input(gdf.crs) == target else gdf.to_crs(target)


def to_display(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Reproject to WGS 84 longitude/latitude for the web map."""
    crs = require_crs(gdf)
    return gdf if crs == DISPLAY_CRS else gdf.to_crs(DISPLAY_CRS)


def describe(crs: CRS | None) -> str:
    """Short human label such as ``EPSG:4549 CGCS2000 / 3-degree Gauss-Kruger CM 120E``."""
    if crs is None:
        return "no CRS"
    crs = CRS.from_user_input(crs)
    code = crs.to_epsg()
    return f"EPSG:{code} {crs.name}" if code else crs.name


def gauss_kruger_params(crs: CRS | None, lon: float) -> dict[str, float | str]:
    """Central meridian, false easting and name of the Gauss–Krüger frame for the cursor
    readout: the workspace's own when it is a transverse Mercator CRS, else the 3° zone."""
    if crs is not None:
        crs = CRS.from_user_input(crs)
        op = crs.coordinate_operation
        if crs.is_projected and op is not None and "Transverse Mercator" in op.method_name:
            params = {p.name: p.value for p in op.params}
            return {
                "cm": float(params.get("Longitude of natural origin", 0.0)),
                "falseEasting": float(params.get("False easting", 500_000.0)),
                "label": crs.name,
            }
    zone = gk3_crs(lon)
    return gauss_kruger_params(zone, lon)


@dataclass(frozen=True)
class Candidate:
    """A CRS that could explain coordinates found without one, and why."""

    crs: CRS
    reason: str
    #: where the data would lie (WGS 84 bounds), for the user to recognise
    lonlat_bounds: tuple[float, float, float, float]


_CHINA = (73.0, 3.0, 136.0, 54.0)


def _inside_china(bounds: tuple[float, float, float, float]) -> bool:
    minx, miny, maxx, maxy = bounds
    return (_CHINA[0] <= minx <= maxx <= _CHINA[2]) and (_CHINA[1] <= miny <= maxy <= _CHINA[3])


def _lonlat(crs: CRS, bounds) -> tuple[float, float, float, float]:
    from pyproj import Transformer

    t = Transformer.from_crs(crs, DISPLAY_CRS, always_xy=True)
    return tuple(float(v) for v in t.transform_bounds(*bounds))


def propose_crs(
    bounds: tuple[float, float, float, float], hint_lon: float | None = None
) -> list[Candidate]:
    """Candidate CRSs for data without one, judged from its coordinate ranges.

    Geographic degrees give WGS 84 and CGCS2000 (within ~1 m of each other); eastings
    above a million carry a Gauss–Krüger zone prefix that names the zone exactly; plain
    eastings need the longitude of the place (``hint_lon``, e.g. the workspace's) to choose
    the central meridian. Only candidates that put the data inside China are kept.
    """
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    if any(math.isnan(v) for v in (minx, miny, maxx, maxy)):
        raise CRSError("the data has no coordinates to judge a CRS from")
    out: list[Candidate] = []
    if _inside_china((minx, miny, maxx, maxy)):
        return [
            Candidate(crs, f"longitude/latitude in degrees ({name})", (minx, miny, maxx, maxy))
            for crs, name in ((DISPLAY_CRS, "WGS 84"), (CGCS2000, "CGCS2000"))
        ]
    if _inside_china((miny, minx, maxy, maxx)):
        return [
            Candidate(
                DISPLAY_CRS,
                "degrees with latitude and longitude swapped: swap the columns, then WGS 84",
                (miny, minx, maxy, maxx),
            )
        ]
    if -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90:
        return out
    if miny < 0 or maxy > 10_000_000:
        return out
    prefix = int(minx // 1_000_000)
    if prefix == int(maxx // 1_000_000) and prefix >= 13:
        if 13 <= prefix <= 23:
            crs = CRS.from_epsg(_GK6_ZONE_FIRST + prefix - 13)
            reason = f"6-degree Gauss–Krüger with zone prefix {prefix}"
        elif 25 <= prefix <= 45:
            crs = CRS.from_epsg(_GK3_ZONE_FIRST + prefix - 25)
            reason = f"3-degree Gauss–Krüger with zone prefix {prefix}"
        else:
            return out
        ll = _lonlat(crs, bounds)
        return [Candidate(crs, reason, ll)] if _inside_china(ll) else []
    if minx > 0 and maxx < 1_000_000 and hint_lon is not None:
        for crs, kind in ((gk3_crs(hint_lon), "3-degree"), (gk6_crs(hint_lon), "6-degree")):
            ll = _lonlat(crs, bounds)
            if _inside_china(ll):
                cm = gauss_kruger_params(crs, hint_lon)["cm"]
                out.append(
                    Candidate(
                        crs,
                        f"{kind} Gauss–Krüger without zone prefix, "
                        f"central meridian {cm:g}°E (from the workspace)",
                        ll,
                    )
                )
        # the neighbouring 3-degree zones, in case the hint is near a zone edge
        for step in (-3, 3):
            try:
                crs = gk3_crs(hint_lon + step)
            except CRSError:
                continue
            ll = _lonlat(crs, bounds)
            if _inside_china(ll) and all(c.crs != crs for c in out):
                cm = gauss_kruger_params(crs, hint_lon)["cm"]
                out.append(
                    Candidate(
                        crs,
                        f"3-degree Gauss–Krüger without zone prefix, "
                        f"central meridian {cm:g}°E (neighbouring zone)",
                        ll,
                    )
                )
    return out
