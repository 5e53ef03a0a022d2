"""Where imported data lands, checked before it is committed: inside the area the
workspace CRS is made for, near the town, on the right datum, and (for a DEM) at a
resolution and extent that suit the town.

These are the mistakes that pass every format check and are only seen on the map, if at
all: points at 0°/0° or on the wrong continent, Amap or Baidu coordinates taken as WGS 84
(about 500 m off), a DEM of 20 km cells replacing one of 20 m.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from pyproj import CRS, Geod, Transformer

from townmap.crs import DISPLAY_CRS, describe, gk3_crs, is_metric
from townmap.datums import in_china, to_wgs84
from townmap.errors import CRSError

#: beyond a CRS's declared area of use by more than this (degrees) data is refused
AREA_MARGIN_DEG = 1.0
#: features farther than this beyond the town (or the rest of the data) are flagged
FAR_M = 50_000.0
#: features named one by one in a warning; the rest are counted
MAX_NAMED = 10
#: refused rows listed one by one as problems; the rest are counted
MAX_LISTED = 50
_GEOD = Geod(ellps="WGS84")


@dataclass
class PlacementReport:
    """What :func:`check_extent` found. Row numbers are 0-based positions in the frame."""

    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # row-level: the row is refused
    refused_rows: list[int] = field(default_factory=list)  # outside the CRS's area of use
    outside_rows: list[int] = field(default_factory=list)  # kept, but far from the town


def _lonlat(x: np.ndarray, y: np.ndarray, crs: CRS) -> tuple[np.ndarray, np.ndarray]:
    if crs == DISPLAY_CRS:
        return x, y
    return Transformer.from_crs(crs, DISPLAY_CRS, always_xy=True).transform(x, y)


def _where(lon: float, lat: float) -> str:
    """A place as a reader recognises it: 0°/0° is named for what it usually means."""
    if not (np.isfinite(lon) and np.isfinite(lat)):
        return "a place the coordinate system cannot express"
    if abs(lon) < 0.01 and abs(lat) < 0.01:
        return "0°/0° (missing coordinates written as zeros?)"
    ew, ns = ("E" if lon >= 0 else "W"), ("N" if lat >= 0 else "S")
    text = f"{abs(lon):.2f}°{ew} {abs(lat):.2f}°{ns}"
    return text if in_china(np.array(lon), np.array(lat)) else f"{text}, outside China"


def _any_per_row(flags: np.ndarray, index: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[np.unique(index[flags])] = True
    return out


def _metric(geoms: np.ndarray, crs: CRS, lon: float) -> tuple[np.ndarray, CRS]:
    """Geometries in a metric CRS for distances (degrees are never measured)."""
    if is_metric(crs):
        return geoms, crs
    try:
        target = gk3_crs(lon)
    except CRSError:
        target = CRS.from_epsg(3857)  # only to tell near from 50 km away
    return np.asarray(gpd.GeoSeries(geoms, crs=crs).to_crs(target).array), target


def check_extent(
    frame_in_ws_crs: gpd.GeoDataFrame,
    ws_crs: CRS | str | int,
    town_area: shapely.Geometry | None,
    row_label: Callable[[int], str],
) -> PlacementReport:
    """Refuse features outside the workspace CRS's area of use; flag those far from town.

    A feature with any vertex more than ``AREA_MARGIN_DEG`` beyond the area of use is
    refused (its coordinates are wrong, or it belongs to another workspace). A feature
    lying wholly more than ``FAR_M`` beyond ``town_area`` (in ``ws_crs``) is kept but
    listed. Without a town area (pass the workspace's data extent when it has one) the
    reference is the layer's own core: the box of the middle half of its features.
    """
    crs = CRS.from_user_input(ws_crs)
    report = PlacementReport()
    geoms = np.asarray(frame_in_ws_crs.geometry.array, dtype=object)
    n = len(geoms)
    if n == 0:
        return report
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    lon, lat = _lonlat(coords[:, 0], coords[:, 1], crs)
    lon, lat = np.asarray(lon), np.asarray(lat)
    refused = np.zeros(n, dtype=bool)
    area = crs.area_of_use
    if area is None:
        report.notes.append(
            f"{describe(crs)} declares no area of use: positions not checked against it"
        )
    else:
        m = AREA_MARGIN_DEG
        west, east = lon >= area.west - m, lon <= area.east + m
        across = area.west > area.east  # an area spanning the antimeridian
        off = ~(((west | east) if across else (west & east)) & (lat >= area.south - m))
        off |= lat > area.north + m
        off |= ~(np.isfinite(lon) & np.isfinite(lat))
        refused = _any_per_row(off, index, n)
        rows, first = np.unique(index[off], return_index=True)
        vertex = np.flatnonzero(off)[first]  # each refused row's first stray vertex
        for i, k in zip(rows[:MAX_LISTED], vertex[:MAX_LISTED], strict=True):
            report.problems.append(
                f"{row_label(int(i))}: at {_where(float(lon[k]), float(lat[k]))}, outside the "
                f"area {describe(crs)} is made for ({area.name.rstrip('.')}, {m:g}° margin); "
                "row refused"
            )
        if len(rows) > MAX_LISTED:
            report.problems.append(
                f"… and {len(rows) - MAX_LISTED} more row(s) refused: outside the area "
                f"{describe(crs)} is made for"
            )
        report.refused_rows = [int(i) for i in np.flatnonzero(refused)]
    keep = np.flatnonzero(~refused)
    if len(keep) == 0:
        return report
    centre = float(np.nanmedian(lon[np.isin(index, keep)]))
    metric, mcrs = _metric(geoms[keep], crs, centre)
    if town_area is not None and not town_area.is_empty:
        ref = town_area
        if mcrs != crs:
            ref = gpd.GeoSeries([town_area], crs=crs).to_crs(mcrs).iloc[0]
        what = "the town"
    elif len(keep) >= 4:
        points = bool((shapely.get_type_id(metric) == shapely.GeometryType.POINT).all())
        pts = shapely.get_coordinates(metric if points else shapely.point_on_surface(metric))
        lo, hi = np.percentile(pts, 25, axis=0), np.percentile(pts, 75, axis=0)
        ref = shapely.box(lo[0], lo[1], hi[0], hi[1])
        what = "the rest of the data"
    else:
        return report
    shapely.prepare(ref)
    far = keep[~shapely.dwithin(metric, ref, FAR_M)]
    if len(far):
        report.outside_rows = [int(i) for i in far]
        rep = shapely.get_coordinates(shapely.point_on_surface(geoms[far]))
        rlon, rlat = _lonlat(rep[:, 0], rep[:, 1], crs)
        named = [
            f"{row_label(int(i))} at {_where(float(a), float(b))}"
            for i, a, b in zip(far[:MAX_NAMED], rlon[:MAX_NAMED], rlat[:MAX_NAMED], strict=True)
        ]
        more = f", … and {len(far) - MAX_NAMED} more" if len(far) > MAX_NAMED else ""
        report.warnings.append(
            f"{len(far)} feature(s) lie far outside {what} (more than {FAR_M / 1000:g} km "
            f"beyond it): {'; '.join(named)}{more}"
        )
    return report


# ------------------------------------------------------------------ web-map datums

#: column names that Amap / Baidu exports and DataV boundaries carry
_WEB_COLUMNS = {"adcode", "citycode", "pname", "cityname", "adname", "pcode", "typecode"}
_WEB_PREFIX = re.compile(r"^(gd|bd|amap|baidu|gcj|gaode)(_|\d|$)")
_WEB_TEXT = re.compile(r"amap|gaode|高德|baidu|百度|gcj[-_ ]?0?2|bd[-_ ]?0?9|火星|tencent|腾讯")
_BAIDU = re.compile(r"baidu|百度|bd[-_ ]?0?9|^bd_")


def _in_china_lonlat(frame_lonlat: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    if frame_lonlat is None or len(frame_lonlat) == 0:
        return None
    frame = frame_lonlat
    if frame.crs is not None and CRS.from_user_input(frame.crs) != DISPLAY_CRS:
        frame = frame.to_crs(DISPLAY_CRS)
    geoms = np.asarray(frame.geometry.array, dtype=object)
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    if len(geoms) > 1000:  # the shift varies slowly: a sample tells its size
        geoms = geoms[np.linspace(0, len(geoms) - 1, 1000).astype(int)]
    pts = shapely.get_coordinates(shapely.point_on_surface(geoms))
    ok = np.isfinite(pts).all(axis=1)
    lon, lat = pts[ok, 0], pts[ok, 1]
    inside = in_china(lon, lat)
    if not inside.any():
        return None
    return lon[inside], lat[inside]


def datum_offset_m(frame_lonlat: gpd.GeoDataFrame, datum: str = "gcj02") -> float | None:
    """Median distance, metres, by which ``datum`` coordinates here miss WGS 84 (None
    outside mainland China, where web maps apply no shift)."""
    found = _in_china_lonlat(frame_lonlat)
    if found is None:
        return None
    lon, lat = found
    wlon, wlat = to_wgs84(lon, lat, datum)
    _, _, dist = _GEOD.inv(lon, lat, wlon, wlat)
    return float(np.median(dist))


def web_map_hint(
    columns: list[str], source_text: str, frame_lonlat: gpd.GeoDataFrame
) -> str | None:
    """A one-line hint when the data looks copied from a Chinese web map, else None.

    Signs: Amap/Baidu field names (``adcode``, ``citycode``, ``pname``, ``gd_…``,
    ``bd_…``, ``amap…``) or the source text (notes, description, file name) naming Amap,
    Baidu, Tencent, GCJ-02 or BD-09 — and the data lying in mainland China."""
    lowered = [str(c).strip().casefold() for c in columns]
    signs = [c for c in lowered if c in _WEB_COLUMNS or _WEB_PREFIX.search(c)]
    signs += [c for c in lowered if _WEB_TEXT.search(c) and c not in signs]
    text = (source_text or "").casefold()
    text_sign = _WEB_TEXT.search(text)
    if not signs and not text_sign:
        return None
    baidu = bool(_BAIDU.search(text)) or any(_BAIDU.search(c) for c in signs)
    datum = "bd09" if baidu else "gcj02"
    offset = datum_offset_m(frame_lonlat, datum)
    if offset is None:
        return None
    name = "BD-09" if baidu else "GCJ-02"
    why = (
        f"column(s) {', '.join(repr(c) for c in signs[:3])}"
        if signs
        else f"the source mentions {text_sign.group(0)!r}"
    )
    return (
        f"this looks like data from a Chinese web map ({why}): its coordinates are "
        f"probably {name} and would land about {offset:,.0f} m off; correct them with "
        f"--datum {datum} (on the Import page: web-map datum correction '{name}')"
    )


# ----------------------------------------------------------------------------- DEM


@dataclass(frozen=True)
class RasterFootprint:
    """Where a raster lies and how fine it is, in the workspace CRS."""

    resolution_m: float  # the coarser side of a cell, on the ground
    outline: shapely.Polygon  # the raster's edge, densified, in ``crs``
    crs: CRS
    cells: int
    area_km2: float  # on the ellipsoid (a bounding box in the workspace CRS would inflate it)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return tuple(float(v) for v in self.outline.bounds)


def _outline(bounds, src: CRS, dst: CRS) -> shapely.Polygon:
    edge = shapely.box(*bounds)
    edge = shapely.segmentize(edge, max(bounds[2] - bounds[0], bounds[3] - bounds[1]) / 64)
    if src == dst:
        return edge
    return gpd.GeoSeries([edge], crs=src).to_crs(dst).iloc[0]


def _geodesic_km2(polygon: shapely.Geometry, crs: CRS) -> float:
    """Area on the ellipsoid, km² (a planar area in a CRS far from its zone inflates)."""
    if crs != DISPLAY_CRS:
        minx, miny, maxx, maxy = polygon.bounds
        dense = shapely.segmentize(polygon, max(maxx - minx, maxy - miny) / 64)
        polygon = gpd.GeoSeries([dense], crs=crs).to_crs(DISPLAY_CRS).iloc[0]
    return abs(_GEOD.geometry_area_perimeter(polygon)[0]) / 1e6


def raster_footprint(
    path: str | Path, ws_crs: CRS | str | int, src_crs: CRS | None = None
) -> RasterFootprint:
    """Read a GeoTIFF's extent and cell size (header only) into the workspace CRS.
    ``src_crs`` overrides the file's own (the import plan's choice)."""
    ws = CRS.from_user_input(ws_crs)
    with rasterio.open(path) as src:
        crs = CRS.from_user_input(src_crs or src.crs.to_wkt())
        b = src.bounds
        res_x, res_y = abs(src.transform.a), abs(src.transform.e)
        cells = src.width * src.height
    if crs.is_projected:
        res = max(res_x, res_y) * crs.axis_info[0].unit_conversion_factor
    else:
        lat = float(np.clip((b.bottom + b.top) / 2, -89, 89))
        res = max(res_x * 111_320 * np.cos(np.radians(lat)), res_y * 110_574)
    bounds = (b.left, b.bottom, b.right, b.top)
    area = _geodesic_km2(shapely.box(*bounds), crs)
    return RasterFootprint(float(res), _outline(bounds, crs, ws), ws, int(cells), area)


def _size(m: float) -> str:
    return f"{m / 1000:.3g} km" if m >= 1000 else f"{m:.3g} m"


def check_dem(
    new: RasterFootprint,
    current_dem: RasterFootprint | None,
    town_bounds: tuple[float, float, float, float] | shapely.Geometry | None,
) -> list[str]:
    """Warnings about a DEM about to be imported: much coarser than the current one, too
    coarse for the town, missing the town, or vastly larger than it. The town (its
    bounds, or its boundary) is in the workspace CRS, ``new.crs``."""
    out: list[str] = []
    if current_dem is not None and new.resolution_m > 4 * current_dem.resolution_m:
        ratio = new.resolution_m / current_dem.resolution_m
        out.append(
            f"the new DEM's cells are {_size(new.resolution_m)}, the current DEM's "
            f"{_size(current_dem.resolution_m)} ({ratio:,.0f}× coarser): slopes, flow "
            "and catchments would lose their detail; keep the current DEM or find a finer one"
        )
    if town_bounds is None:
        return out
    town = town_bounds if isinstance(town_bounds, shapely.Geometry) else shapely.box(*town_bounds)
    if town.is_empty or town.area == 0:
        return out
    metric = is_metric(new.crs)
    town_km2 = town.area / 1e6 if metric else _geodesic_km2(town, new.crs)
    covered = town.intersection(new.outline).area / town.area
    if covered == 0:
        gap = shapely.distance(town, new.outline)
        away = f", {gap / 1000:,.0f} km away" if metric else ""
        out.append(f"the new DEM does not cover the town at all (it lies elsewhere{away})")
    elif covered < 0.95:
        out.append(f"the new DEM covers only {100 * covered:.0f} % of the town")
    minx, miny, maxx, maxy = town.bounds
    span = min(maxx - minx, maxy - miny)
    if metric and covered > 0 and span / new.resolution_m < 50:
        out.append(
            f"cells of {_size(new.resolution_m)} are too coarse for the town: it is "
            f"only {span / new.resolution_m:.1f} cells across"
        )
    if new.area_km2 > 100 * town_km2:
        over = 100 * min(covered * town_km2 / new.area_km2, 1)
        out.append(
            f"the new DEM covers {new.area_km2:,.0f} km², {new.area_km2 / town_km2:,.0f}× the "
            f"town's {town_km2:,.0f} km²: the import warps and stores all {new.cells:,} "
            f"cells, of which {over:.2g} % lie over the town; clip it to the town first"
        )
    return out
