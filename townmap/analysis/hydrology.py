"""Which way the land drains: conditioned DEM, D8 flow, accumulation, catchments, outlets.

Built on pyflwdir (MIT, Deltares; numba) — chosen for speed, licence and catchments that
match other libraries (measured in ``tests/benchmarks/test_hydrology_speed.py``) — and its
traps:

- its ``from_dem`` direction is the priority-flood order, not the steepest descent, so on
  a tilted plane every cell wanders along the edge to one pit. We fill depressions with
  pyflwdir and then take the **steepest descent** on the filled DEM, keeping pyflwdir's
  fill direction only where the filled surface is flat (there is no descent to take);
- on the flat Lake Tai plain the mapped rivers and canals are **burnt** into the DEM so
  water follows them, and the lake is masked as nodata so shore cells become outlets;
- numba compiles on first use (seconds); its cache goes to Townmap's cache folder.

Every cell drains to an outlet; an outlet next to the lake drains to Lake Tai, one at a
mapped river or canal takes that river's basin (Lake Tai or the Yangtze), any other leaves
the DEM ("outside").
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import shapely
from affine import Affine
from pyproj import CRS

from townmap.settings import cache_dir

os.environ.setdefault("NUMBA_CACHE_DIR", str(cache_dir() / "numba"))
import numba  # (after NUMBA_CACHE_DIR: numba reads it on import)
import pyflwdir
import pyflwdir.dem

#: pyflwdir's D8 codes, clockwise from east, with (row, col) steps
D8 = np.array([1, 2, 4, 8, 16, 32, 64, 128], dtype=np.uint8)
STEPS = [(0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1)]
PIT, NODATA_D8 = np.uint8(0), np.uint8(247)
BURN_M = 5.0
LAKE, YANGTZE, OUTSIDE = "taihu", "yangtze", "outside"
RIVER_SNAP_M = 60.0


@dataclass
class Drainage:
    """Flow directions over a DEM, and what can be asked of them."""

    flw: pyflwdir.FlwdirRaster
    filled: np.ndarray  # conditioned and filled elevations (nan outside the data)
    transform: Affine
    crs: CRS
    lake: np.ndarray  # cells masked as lake
    rivers: gpd.GeoDataFrame | None

    @property
    def shape(self) -> tuple[int, int]:
        return self.filled.shape

    @property
    def cell_m(self) -> float:
        return abs(self.transform.a)

    def cells(self, x, y) -> np.ndarray:
        """Flat cell indices of points (−1 outside the grid or on nodata)."""
        rows, cols = rasterio.transform.rowcol(self.transform, np.atleast_1d(x), np.atleast_1d(y))
        rows, cols = np.asarray(rows), np.asarray(cols)
        ok = (rows >= 0) & (rows < self.shape[0]) & (cols >= 0) & (cols < self.shape[1])
        idx = np.full(len(rows), -1, dtype=np.int64)
        idx[ok] = rows[ok] * self.shape[1] + cols[ok]
        valid = np.isfinite(self.filled.ravel())
        idx[ok] = np.where(valid[idx[ok]], idx[ok], -1)
        return idx

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """Left, bottom, right, top of the grid in the DEM's CRS."""
        return tuple(float(v) for v in rasterio.transform.array_bounds(*self.shape, self.transform))

    def why_no_catchment(self, x: float, y: float, snap_m: float = 0.0) -> str | None:
        """Why (x, y) has no catchment, in words (None when it has one): it lies off the
        DEM, or only on cells without elevation (the masked lake, nodata)."""
        if not (np.isfinite(x) and np.isfinite(y)):
            return "has no finite coordinates"
        if self.snap(x, y, snap_m) >= 0:
            return None
        left, bottom, right, top = self.bounds
        if not (left <= x <= right and bottom <= y <= top):
            return "lies outside the DEM"
        within = f" within {snap_m:g} m" if snap_m > 0 else ""
        return f"lies on DEM cells without elevation (the lake or nodata){within}"

    def accumulation_km2(self) -> np.ndarray:
        cells = self.flw.upstream_area(unit="cell").astype("float64")
        cells[cells < 0] = np.nan
        return cells * (self.cell_m**2) / 1e6

    def snap(self, x: float, y: float, radius_m: float) -> int:
        """The cell with the largest upstream area within ``radius_m`` (a mouth or an
        outfall mapped a cell off the burnt river still gets the river's catchment)."""
        idx = int(self.cells(x, y)[0])
        if not radius_m > 0:  # zero, negative or NaN: no snapping
            return idx
        r = int(np.ceil(radius_m / self.cell_m))
        row, col = (
            divmod(idx, self.shape[1])
            if idx >= 0
            else rasterio.transform.rowcol(self.transform, x, y)
        )
        r0, r1 = max(row - r, 0), min(row + r + 1, self.shape[0])
        c0, c1 = max(col - r, 0), min(col + r + 1, self.shape[1])
        if r0 >= r1 or c0 >= c1:  # the whole search window lies off the grid
            return -1
        acc = self.flw.upstream_area(unit="cell")[r0:r1, c0:c1].astype("float64")
        acc[~np.isfinite(self.filled[r0:r1, c0:c1])] = -1
        if acc.max() < 0:
            return -1
        rr, cc = np.unravel_index(int(np.argmax(acc)), acc.shape)
        return (r0 + rr) * self.shape[1] + (c0 + cc)

    def catchment(self, x: float, y: float, *, snap_m: float = 0.0) -> shapely.Geometry:
        """The area draining to (x, y) as a polygon in the DEM's CRS (empty if off the DEM)."""
        idx = self.snap(x, y, snap_m)
        if idx < 0:
            return shapely.Polygon()
        mask = self.flw.basins(idxs=np.array([idx])) > 0
        return _polygonise(mask.astype(np.uint8), mask, self.transform)

    def outlet_of(self, x, y) -> np.ndarray:
        """Flat index of the outlet each point drains to (−1 off the DEM)."""
        idx = self.cells(x, y)
        pits = self.flw.idxs_pit
        ids = self.flw.basins(idxs=pits).ravel()  # basin id k+1 ↔ pits[k]
        out = np.full(len(idx), -1, dtype=np.int64)
        ok = idx >= 0
        basin = np.zeros(len(idx), dtype=np.int64)
        basin[ok] = ids[idx[ok]].astype(np.int64)
        ok &= basin > 0  # a point on a nodata cell drains nowhere known
        out[ok] = pits[basin[ok] - 1]
        return out

    def drains_to(self, outlets: np.ndarray) -> np.ndarray:
        """Lake Tai, the Yangtze or outside, for outlet cell indices."""
        out = np.full(len(outlets), OUTSIDE, dtype=object)
        ok = outlets >= 0
        rows, cols = np.divmod(outlets[ok], self.shape[1])
        near_lake = np.zeros(len(rows), dtype=bool)
        lake = np.pad(self.lake, 1)
        for dr, dc in [(0, 0), *STEPS]:
            near_lake |= lake[rows + 1 + dr, cols + 1 + dc]
        basin = np.full(len(rows), OUTSIDE, dtype=object)
        if self.rivers is not None and len(self.rivers) and "basin" in self.rivers.columns:
            xs, ys = rasterio.transform.xy(self.transform, rows, cols)
            pts = shapely.points(np.asarray(xs), np.asarray(ys))
            tree = shapely.STRtree(self.rivers.geometry.values)
            i, j = tree.query(pts, predicate="dwithin", distance=RIVER_SNAP_M + self.cell_m)
            first = pd.DataFrame({"i": i, "j": j}).drop_duplicates("i")
            basin[first["i"].to_numpy()] = (
                self.rivers["basin"].astype(str).to_numpy()[first["j"].to_numpy()]
            )
        basin[near_lake] = LAKE
        out[ok] = basin
        return out

    def catchments(self, min_area_km2: float = 0.5) -> gpd.GeoDataFrame:
        """One polygon per outlet draining at least ``min_area_km2``, with where it drains."""
        pits = self.flw.idxs_pit
        acc = self.flw.upstream_area(unit="cell").ravel()[pits] * self.cell_m**2 / 1e6
        big = pits[acc >= min_area_km2]
        if len(big) == 0:
            return gpd.GeoDataFrame(
                {"catchment_id": [], "drains_to": [], "area_km2": []},
                geometry=[],
                crs=self.crs,
            )
        ids = self.flw.basins(idxs=big)
        shapes = rasterio.features.shapes(
            ids.astype(np.int32), mask=ids > 0, transform=self.transform, connectivity=8
        )
        geoms, values = [], []
        for geom, value in shapes:
            geoms.append(shapely.geometry.shape(geom))
            values.append(int(value))
        frame = gpd.GeoDataFrame({"k": values}, geometry=geoms, crs=self.crs).dissolve("k")
        k = frame.index.to_numpy() - 1
        xs, ys = rasterio.transform.xy(self.transform, *np.divmod(big[k], self.shape[1]))
        order = np.argsort(-acc[acc >= min_area_km2][k], kind="stable")
        out = gpd.GeoDataFrame(
            {
                "drains_to": self.drains_to(big[k]),
                "area_km2": (frame.geometry.area / 1e6).round(3).to_numpy(),
                "outlet_x": np.round(xs, 1),
                "outlet_y": np.round(ys, 1),
            },
            geometry=shapely.make_valid(frame.geometry.values),
            crs=self.crs,
        ).iloc[order]
        out.insert(0, "catchment_id", [f"C{i + 1:03d}" for i in range(len(out))])
        return out.reset_index(drop=True)

    def streams(self, min_area_km2: float = 1.0) -> gpd.GeoDataFrame:
        """The stream network: cells draining at least ``min_area_km2``, as lines."""
        mask = self.accumulation_km2() >= min_area_km2
        feats = self.flw.streams(mask=mask)
        return gpd.GeoDataFrame.from_features(feats, crs=self.crs)


def _polygonise(values: np.ndarray, mask: np.ndarray, transform: Affine) -> shapely.Geometry:
    parts = [
        shapely.geometry.shape(g)
        for g, _ in rasterio.features.shapes(values, mask=mask, transform=transform)
    ]
    return shapely.union_all(parts) if parts else shapely.Polygon()


@numba.njit(cache=True)
def _steepest_d8_numba(filled, fill_d8, cell, codes, drs, dcs):  # pragma: no cover - numba
    rows, cols = filled.shape
    out = np.empty((rows, cols), dtype=np.uint8)
    diag = cell * np.sqrt(2.0)
    for r in range(rows):
        for c in range(cols):
            z = filled[r, c]
            if not np.isfinite(z):
                out[r, c] = 247
                continue
            best, code, edge = 0.0, 0, False
            for k in range(8):
                rr, cc = r + drs[k], c + dcs[k]
                if rr < 0 or rr >= rows or cc < 0 or cc >= cols:
                    edge = True
                    continue
                zn = filled[rr, cc]
                if not np.isfinite(zn):
                    edge = True
                    continue
                slope = (z - zn) / (diag if drs[k] != 0 and dcs[k] != 0 else cell)
                if slope > best:
                    best, code = slope, codes[k]
            if best > 0:
                out[r, c] = code
            elif edge:
                out[r, c] = 0
            else:
                out[r, c] = fill_d8[r, c]
    return out


def steepest_d8(filled: np.ndarray, fill_d8: np.ndarray, cell: float) -> np.ndarray:
    """D8 by steepest descent (compiled; :func:`steepest_d8_numpy` is the same rule)."""
    drs = np.array([d[0] for d in STEPS], dtype=np.int64)
    dcs = np.array([d[1] for d in STEPS], dtype=np.int64)
    return _steepest_d8_numba(
        np.ascontiguousarray(filled, dtype=np.float64),
        np.ascontiguousarray(fill_d8),
        float(cell),
        D8,
        drs,
        dcs,
    )


def steepest_d8_numpy(filled: np.ndarray, fill_d8: np.ndarray, cell: float) -> np.ndarray:
    """D8 by steepest descent on a filled DEM; an edge cell with no way down is an outlet,
    an inside flat follows pyflwdir's fill direction."""
    z = np.pad(filled, 1, constant_values=np.nan)
    rows, cols = filled.shape
    best = np.zeros(filled.shape)
    d8 = np.full(filled.shape, PIT, dtype=np.uint8)
    for code, (dr, dc) in zip(D8, STEPS, strict=True):
        neighbour = z[1 + dr : 1 + dr + rows, 1 + dc : 1 + dc + cols]
        slope = (filled - neighbour) / (cell * (np.sqrt(2) if dr and dc else 1.0))
        slope = np.where(np.isfinite(slope), slope, -np.inf)
        better = slope > best
        best = np.where(better, slope, best)
        d8 = np.where(better, code, d8)
    edge = np.zeros(filled.shape, dtype=bool)
    for dr, dc in STEPS:
        edge |= np.isnan(z[1 + dr : 1 + dr + rows, 1 + dc : 1 + dc + cols])
    flat = best <= 0
    # no way down: on the edge of the data it is an outlet; inside, a filled flat whose
    # way out pyflwdir's priority flood knows
    d8 = np.where(flat, np.where(edge, PIT, fill_d8), d8)
    return np.where(np.isfinite(filled), d8, NODATA_D8).astype(np.uint8)


def drainage(
    dem: np.ndarray,
    transform: Affine,
    crs,
    *,
    nodata: float | None = None,
    rivers: gpd.GeoDataFrame | None = None,
    lake: gpd.GeoDataFrame | None = None,
    burn_m: float = BURN_M,
) -> Drainage:
    """Condition (burn rivers, mask the lake), fill, and derive D8 flow on a metric DEM."""
    crs = CRS.from_user_input(crs)
    if not crs.is_projected:
        raise ValueError("hydrology needs a DEM in a projected (metric) CRS")
    if abs(abs(transform.a) - abs(transform.e)) > 1e-6 * abs(transform.a):
        raise ValueError("hydrology needs square DEM cells")
    z = dem.astype("float64").copy()
    invalid = ~np.isfinite(z) if nodata is None else (~np.isfinite(z) | (z == nodata))
    lake_mask = np.zeros(z.shape, dtype=bool)
    if lake is not None and len(lake):
        lake_mask = rasterio.features.rasterize(
            lake.to_crs(crs).geometry,
            out_shape=z.shape,
            transform=transform,
            fill=0,
            default_value=1,
            dtype="uint8",
        ).astype(bool)
    if rivers is not None and len(rivers):
        rivers = rivers.to_crs(crs)
        burnt = rasterio.features.rasterize(
            rivers.geometry,
            out_shape=z.shape,
            transform=transform,
            fill=0,
            default_value=1,
            all_touched=True,
            dtype="uint8",
        ).astype(bool)
        z[burnt] -= burn_m
    z[invalid | lake_mask] = np.nan
    nod = -9999.0
    filled, fill_d8 = pyflwdir.dem.fill_depressions(np.where(np.isnan(z), nod, z), nodata=nod)
    filled = np.where(np.isnan(z), np.nan, filled)
    d8 = steepest_d8(filled, fill_d8, abs(transform.a))
    flw = pyflwdir.from_array(d8, ftype="d8", transform=transform, latlon=False, check_ftype=False)
    return Drainage(flw, filled, transform, crs, lake_mask, rivers)


def summarise_catchments(
    catchments: gpd.GeoDataFrame, enterprises: gpd.GeoDataFrame | None, loads: tuple[str, ...]
) -> gpd.GeoDataFrame:
    """TVE count and annual loads per catchment (points in polygons, vectorised)."""
    out = catchments.copy()
    out["tve_count"] = 0
    for col in loads:
        out[col] = 0.0
    if enterprises is None or enterprises.empty or out.empty:
        return out
    pts = enterprises.to_crs(out.crs)
    i, j = shapely.STRtree(out.geometry.values).query(pts.geometry.values, predicate="within")
    first = pd.DataFrame({"i": i, "j": j}).drop_duplicates("i")
    out["tve_count"] = np.bincount(first["j"], minlength=len(out))
    for col in loads:
        if col in pts.columns:
            values = pd.to_numeric(pts[col], errors="coerce").fillna(0).to_numpy()[first["i"]]
            out[col] = np.bincount(first["j"], weights=values, minlength=len(out)).round(3)
    return out
