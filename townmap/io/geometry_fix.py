"""Making an imported file's geometries fit a workspace layer: 2D, in the workspace CRS,
valid, of the layer's kind, with every part kept.

Order matters. Geometries are reprojected into the workspace CRS *before* they are checked
and repaired, because the workspace stores them there: a check in the source CRS could
pass a dry run that the commit then refuses. Repairs keep every part of the layer's kind
(a repaired bow-tie is two triangles, so a district becomes a MultiPolygon rather than
losing half of itself); only parts of another dimension are dropped, and counted.

The common case — every geometry already fine — costs a handful of vectorised shapely
calls; the per-feature path runs only for the rows that need it.

Curved geometries (CurvePolygon, CompoundCurve, MultiSurface… from QGIS, ArcGIS or FME
GeoPackages) never reach shapely, which cannot hold them: pyogrio's Arrow reader raises
``NotImplementedError`` on them, and its plain reader has GDAL linearise them. Readers
catch that case with :func:`is_curve_error` and read again with :func:`read_linearised`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from pyproj import CRS

from townmap.crs import describe, require_crs

KINDS = ("Point", "LineString", "Polygon")
#: shapely type ids accepted as each kind (single and multi)
_ACCEPTED = {"Point": (0, 4), "LineString": (1, 5), "Polygon": (3, 6)}
_DIMENSION = {"Point": 0, "LineString": 1, "Polygon": 2}
_MULTI = {"Point": shapely.MultiPoint, "LineString": shapely.MultiLineString}
#: row problems listed one by one per reason; the rest are counted in one line
MAX_LISTED = 50
CURVE_NOTE = (
    "curved geometries (arcs) were converted to straight segments by GDAL "
    "(within a fraction of a metre at town scale)"
)


@dataclass
class FitResult:
    """The fitted frame and what happened on the way.

    ``frame`` keeps the input's index; ``kept`` holds the 0-based input positions of its
    rows, so a later check can name rows the same way (``row_label(kept[i])``)."""

    frame: gpd.GeoDataFrame
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # row-level: the row is skipped
    blocking: list[str] = field(default_factory=list)  # the commit must be refused
    repaired: int = 0
    dropped: int = 0
    kept: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def is_curve_error(exc: BaseException) -> bool:
    """True when reading failed because shapely met a curved geometry type."""
    return isinstance(exc, NotImplementedError) and "onlinear" in str(exc)


def read_linearised(
    path: str | Path, layer: str | None = None, encoding: str | None = None
) -> gpd.GeoDataFrame:
    """Read a vector file with GDAL linearising curves (pyogrio without Arrow does)."""
    return pyogrio.read_dataframe(path, layer=layer, encoding=encoding, use_arrow=False)


def _zm_note(geoms: np.ndarray) -> str:
    """What dropping Z/M loses: nothing when every Z is 0 (a KML's or a CAD export's
    placeholder), else the range of heights; measures are named apart."""
    n = len(geoms)
    with_m = int(shapely.has_m(geoms).sum())
    parts = []
    z = shapely.get_coordinates(geoms[shapely.has_z(geoms)], include_z=True)[:, 2]
    z = z[np.isfinite(z)]
    if len(z) and np.any(z != 0):
        parts.append(f"heights (Z, {z.min():,.1f} to {z.max():,.1f}) dropped")
    elif shapely.has_z(geoms).any():
        parts.append("a Z coordinate that is 0 everywhere (no heights; nothing is lost)")
    if with_m:
        parts.append(f"measures (M) on {with_m} of them dropped")
    return f"{n} feature(s) had " + "; ".join(parts) + ": the workspace stores 2-D geometries"


def _non_finite(geoms: np.ndarray) -> np.ndarray:
    """Rows with any NaN or infinite coordinate (missing geometries are not flagged)."""
    out = np.zeros(len(geoms), dtype=bool)
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    bad = ~np.isfinite(coords).all(axis=1)
    if bad.any():
        out[np.unique(index[bad])] = True
    return out


def _reproject(geoms: np.ndarray, source: CRS, target: CRS) -> np.ndarray:
    if len(geoms) == 0:
        return geoms
    return np.asarray(gpd.GeoSeries(geoms, crs=source).to_crs(target).array, dtype=object)


def _flatten(geom) -> list:
    """Single geometries inside ``geom`` (collections and multi-parts taken apart)."""
    if geom is None or geom.is_empty:
        return []
    if shapely.get_type_id(geom) in (4, 5, 6, 7):
        return [p for part in shapely.get_parts(geom) for p in _flatten(part)]
    if shapely.get_type_id(geom) == 2:  # a LinearRing is a closed line
        return [shapely.LineString(geom.coords)]
    return [geom]


def _assemble(parts: list, kind: str):
    """One geometry of ``kind`` from its parts; overlapping polygons are dissolved."""
    if len(parts) == 1:
        return parts[0]
    if kind == "Polygon":
        multi = shapely.MultiPolygon(parts)
        return multi if multi.is_valid else shapely.union_all(parts)
    return _MULTI[kind](parts)


def _describe_type(geom) -> str:
    return "missing or empty" if geom is None or geom.is_empty else f"it is a {geom.geom_type}"


def fit_geometries(
    gdf: gpd.GeoDataFrame,
    kind: str,
    target_crs: CRS | str | int,
    row_label: Callable[[int], str],
) -> FitResult:
    """Force 2D, reproject into ``target_crs``, repair and keep every part of ``kind``.

    Rows whose geometry is missing, non-finite (NaN, ±infinity, or not placeable in
    ``target_crs``) or has no part of ``kind`` are skipped as row problems, named by
    ``row_label(i)`` for their 0-based position ``i`` in ``gdf``. A geometry still
    invalid after repair stays in the frame and is listed in ``blocking``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    source = require_crs(gdf, "the file")
    target = CRS.from_user_input(target_crs)
    geoms = np.array(gdf.geometry.array, dtype=object)
    n = len(geoms)
    notes: list[str] = []
    skip: dict[str, list[int]] = {}  # reason -> positions

    def skip_rows(mask: np.ndarray, reason: str) -> None:
        rows = np.flatnonzero(mask)
        if len(rows):
            skip.setdefault(reason, []).extend(int(i) for i in rows)

    alive = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    skip_rows(~alive, f"no {kind} geometry (missing or empty)")

    zm = alive & (shapely.has_z(geoms) | shapely.has_m(geoms))
    if zm.any():
        notes.append(_zm_note(geoms[zm]))
        geoms[zm] = shapely.force_2d(geoms[zm])

    bad = alive & _non_finite(geoms)
    skip_rows(bad, "coordinates are not finite numbers (NaN or infinity)")
    alive &= ~bad

    if source != target:
        geoms[alive] = _reproject(geoms[alive], source, target)
        bad = alive & _non_finite(geoms)
        skip_rows(bad, f"cannot be placed in the workspace's {describe(target)}")
        alive &= ~bad
        notes.append(
            f"reprojected from {describe(source)} to the workspace's {describe(target)} "
            "before checking and repairing"
        )

    valid = np.ones(n, dtype=bool)
    valid[alive] = shapely.is_valid(geoms[alive])
    types = shapely.get_type_id(geoms)
    right_kind = np.isin(types, _ACCEPTED[kind])
    collections = int((alive & (types == 7)).sum())
    invalid = alive & ~valid
    parts_before = shapely.get_num_geometries(geoms)
    if invalid.any():
        geoms[invalid] = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=True)

    stray_parts = stray_rows = split = 0
    slow = np.flatnonzero(alive & ~(valid & right_kind))
    for i in slow:  # the per-feature path: repaired, wrong-kind or collection rows only
        parts = _flatten(geoms[i])
        same = [p for p in parts if shapely.get_dimensions(p) == _DIMENSION[kind]]
        others = len(parts) - len(same)
        if not same:
            was = "after repair nothing of that kind is left" if invalid[i] else ""
            skip.setdefault(
                f"no {kind} geometry ({was or _describe_type(gdf.geometry.iat[i])})", []
            ).append(int(i))
            alive[i] = False
            continue
        if others:
            stray_parts += others
            stray_rows += 1
        if invalid[i] and len(same) > parts_before[i]:
            split += 1
        geoms[i] = _assemble(same, kind)

    repaired_rows = np.flatnonzero(invalid & alive)
    blocking: list[str] = []
    if len(repaired_rows):
        still = repaired_rows[~shapely.is_valid(geoms[repaired_rows])]
        for i in still[:MAX_LISTED]:
            blocking.append(
                f"{row_label(int(i))}: still invalid after repair "
                f"({shapely.is_valid_reason(geoms[i])}); fix it in the source file"
            )
        if len(still) > MAX_LISTED:
            blocking.append(f"… and {len(still) - MAX_LISTED} more invalid geometries")
        repaired = len(repaired_rows) - len(still)
        if repaired:
            apart = f" ({split} came apart into more parts: all kept, as Multi{kind})"
            notes.append(
                f"{repaired} invalid geometr{'y' if repaired == 1 else 'ies'} repaired with "
                "make_valid in "
                f"{describe(target)}, every {kind} part kept" + (apart if split else "")
            )
    else:
        repaired = 0
    if collections:
        notes.append(f"{collections} GeometryCollection(s) taken apart: their {kind} parts kept")
    if stray_parts:
        notes.append(
            f"{stray_parts} part(s) that are not {kind}s (stray lines or points left by "
            f"repairs, or members of a collection) dropped from {stray_rows} feature(s)"
        )

    problems: list[str] = []
    for reason, rows in skip.items():
        rows.sort()
        problems.extend(f"{row_label(i)}: {reason}; row skipped" for i in rows[:MAX_LISTED])
        if len(rows) > MAX_LISTED:
            problems.append(f"… and {len(rows) - MAX_LISTED} more row(s) skipped: {reason}")

    kept = np.flatnonzero(alive)
    frame = gdf if len(kept) == n else gdf.iloc[kept]
    frame = frame.set_geometry(gpd.GeoSeries(geoms[kept], index=frame.index, crs=target))
    return FitResult(
        frame=frame,
        notes=notes,
        problems=problems,
        blocking=blocking,
        repaired=repaired,
        dropped=n - len(kept),
        kept=kept,
    )
