"""Where a shared sewage plant may go: exclusions, weighted criteria, candidate sites.

A grid over the town (``cell_m``, default 100 m) carries six criteria scored 0–1 —
low ground relative to the town, gentle slope, a short outfall into class III–V water,
distance from drinking-water intakes, closeness to the factories' flow, planned
industrial or infrastructure land — combined with the weights in
``layers/siting/suitability.toml``. Cells inside excluded layers (red line, farmland,
water-source zones, flood areas, the lake) or within the receptor setback score nothing.
Candidate sites are the best cells at least ``candidate_spacing_m`` apart, each with its
score and the criteria that make it good. Distances are Euclidean distance transforms on
the grid (scipy), so the whole town is scored at once.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio.features
import rasterio.transform
import rasterio.warp
from affine import Affine
from pyproj import CRS
from scipy import ndimage

CRITERIA = (
    "low_ground",
    "gentle_slope",
    "near_receiving_water",
    "far_from_intakes",
    "near_factories",
    "planned_land",
)


def settings_path() -> Path:
    from townmap.settings import layers_dir

    return layers_dir() / "siting" / "suitability.toml"


def load_settings(path: Path | None = None) -> dict:
    data = tomllib.loads(Path(path or settings_path()).read_text(encoding="utf-8"))
    missing = set(CRITERIA) - set(data.get("weights", {}))
    if missing:
        raise ValueError(f"suitability.toml: key 'weights' lacks {sorted(missing)}")
    return data


@dataclass
class Suitability:
    score: np.ndarray  # 0–1, nan outside the town or excluded
    criteria: dict[str, np.ndarray]
    transform: Affine
    crs: CRS
    candidates: gpd.GeoDataFrame


def _rasterize(gdf, shape, transform) -> np.ndarray:
    if gdf is None or gdf.empty:
        return np.zeros(shape, dtype=bool)
    return rasterio.features.rasterize(
        gdf.geometry,
        out_shape=shape,
        transform=transform,
        fill=0,
        default_value=1,
        dtype="uint8",
        all_touched=True,
    ).astype(bool)


def _distance(mask: np.ndarray, cell: float) -> np.ndarray:
    """Metres from every cell to the nearest True cell (inf when there is none)."""
    if not mask.any():
        return np.full(mask.shape, np.inf)
    return ndimage.distance_transform_edt(~mask) * cell


def _ramp(d: np.ndarray, full: float, zero: float) -> np.ndarray:
    """1 at ``full`` metres (or closer, when full < zero), 0 at ``zero``, linear between."""
    return (
        np.clip((zero - d) / (zero - full), 0, 1)
        if zero > full
        else np.clip((d - zero) / (full - zero), 0, 1)
    )


def _dem_on(grid_shape, transform, crs, dem) -> np.ndarray:
    z = np.full(grid_shape, np.nan)
    if dem is None:
        return z
    data, src_transform, src_crs, nodata = dem
    rasterio.warp.reproject(
        data.astype("float64"),
        z,
        src_transform=src_transform,
        src_crs=src_crs,
        src_nodata=nodata,
        dst_transform=transform,
        dst_crs=crs,
        dst_nodata=np.nan,
        resampling=rasterio.warp.Resampling.average,
    )
    return z


def suitability(
    layers: Mapping[str, gpd.GeoDataFrame],
    crs,
    *,
    dem=None,
    settings: dict | None = None,
    flows: str = "wastewater_m3d",
) -> Suitability:
    """Score the town and pick candidate sites. ``dem`` = (array, transform, crs, nodata)."""
    cfg = settings or load_settings()
    crit, weights = cfg["criteria"], cfg["weights"]
    crs = CRS.from_user_input(crs)
    cell = float(cfg["cell_m"])
    town = layers.get("town")
    if town is None or town.empty:
        raise ValueError("suitability needs the town boundary (layer 'town')")
    town = town.to_crs(crs)
    minx, miny, maxx, maxy = town.total_bounds
    width, height = int(np.ceil((maxx - minx) / cell)), int(np.ceil((maxy - miny) / cell))
    transform = Affine(cell, 0, minx, 0, -cell, maxy)
    shape = (height, width)

    def layer(name, where=None):
        g = layers.get(name)
        if g is None or g.empty:
            return None
        g = g.to_crs(crs)
        if where:
            column, values = where
            g = g[g[column].astype(str).isin(values)] if column in g.columns else g.iloc[0:0]
        return g

    inside = _rasterize(town, shape, transform)
    excluded = np.zeros(shape, dtype=bool)
    for name in cfg["exclude_layers"]:
        excluded |= _rasterize(layer(name), shape, transform)
    receptors = _rasterize(layer("sensitive_receptors"), shape, transform)
    excluded |= _distance(receptors, cell) < float(cfg["receptor_setback_m"])

    z = _dem_on(shape, transform, crs, dem)
    scores: dict[str, np.ndarray] = {}
    if np.isfinite(z[inside]).any():
        valid = inside & np.isfinite(z)
        ranks = np.full(shape, np.nan)
        order = z[valid].argsort().argsort()
        ranks[valid] = order / max(len(order) - 1, 1)
        scores["low_ground"] = 1 - ranks
        gy, gx = np.gradient(np.nan_to_num(z, nan=np.nanmean(z)), cell)
        slope_pct = 100 * np.hypot(gx, gy)
        scores["gentle_slope"] = np.clip(1 - slope_pct / float(crit["max_slope_pct"]), 0, 1)
    else:
        scores["low_ground"] = np.full(shape, 0.5)
        scores["gentle_slope"] = np.full(shape, 0.5)
    water = _rasterize(
        layer("rivers", ("target_class", crit["receiving_classes"])), shape, transform
    ) | _rasterize(layer("lake", ("target_class", crit["receiving_classes"])), shape, transform)
    scores["near_receiving_water"] = _ramp(
        _distance(water, cell), float(crit["water_full_score_m"]), float(crit["water_zero_score_m"])
    )
    intakes = _rasterize(layer("water_intakes"), shape, transform)
    scores["far_from_intakes"] = (
        _ramp(
            _distance(intakes, cell),
            float(crit["intake_full_score_m"]),
            float(crit["intake_zero_score_m"]),
        )
        if intakes.any()
        else np.ones(shape)
    )
    scores["near_factories"] = _factory_score(
        layer("enterprises"), flows, shape, transform, cell, float(crit["factory_radius_m"])
    )
    planned = layer("planning_zones", ("land_use", crit["planned_land_uses"]))
    scores["planned_land"] = _rasterize(planned, shape, transform).astype(float)

    total = sum(float(weights[name]) for name in CRITERIA)
    score = sum(float(weights[name]) * np.nan_to_num(scores[name]) for name in CRITERIA) / total
    score = np.where(inside & ~excluded, score, np.nan)
    candidates = _candidates(score, scores, transform, crs, cfg)
    return Suitability(score, scores, transform, crs, candidates)


def _factory_score(tve, flows, shape, transform, cell, radius) -> np.ndarray:
    if tve is None or tve.empty:
        return np.zeros(shape)
    rows, cols = rasterio.transform.rowcol(transform, tve.geometry.x.values, tve.geometry.y.values)
    rows, cols = np.asarray(rows), np.asarray(cols)
    ok = (rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
    weight = (
        np.nan_to_num(tve[flows].to_numpy(dtype=float))
        if flows in tve.columns
        else np.ones(len(tve))
    )
    grid = np.zeros(shape)
    np.add.at(grid, (rows[ok], cols[ok]), weight[ok])
    density = ndimage.gaussian_filter(grid, sigma=radius / cell / 2)
    top = density.max()
    return density / top if top > 0 else density


def _candidates(score, scores, transform, crs, cfg) -> gpd.GeoDataFrame:
    """The best cells, greedily, no two closer than the spacing."""
    valid = np.flatnonzero(np.isfinite(score.ravel()))
    order = valid[np.argsort(-score.ravel()[valid], kind="stable")]
    rows, cols = np.divmod(order, score.shape[1])
    xs, ys = rasterio.transform.xy(transform, rows, cols)
    xs, ys = np.asarray(xs), np.asarray(ys)
    spacing = float(cfg["candidate_spacing_m"])
    limit = int(cfg["max_candidates"])
    taken: list[int] = []
    px, py = np.empty(0), np.empty(0)
    for i in range(len(order)):  # stops after max_candidates picks
        if len(taken) >= limit:
            break
        if px.size and (np.hypot(px - xs[i], py - ys[i]) < spacing).any():
            continue
        taken.append(i)
        px, py = np.append(px, xs[i]), np.append(py, ys[i])
    idx = np.array(taken, dtype=int)
    weights = cfg["weights"]
    parts = {
        name: scores[name].ravel()[order[idx]] if len(idx) else np.array([]) for name in CRITERIA
    }
    reasons = [
        ", ".join(
            sorted(CRITERIA, key=lambda c, k=k: -float(weights[c]) * np.nan_to_num(parts[c][k]))[:3]
        )
        for k in range(len(idx))
    ]
    frame = gpd.GeoDataFrame(
        {
            "site_id": [f"S{k + 1:03d}" for k in range(len(idx))],
            "score": np.round(score.ravel()[order[idx]], 3) if len(idx) else [],
            **{name: np.round(np.nan_to_num(v), 3) for name, v in parts.items()},
            "reasons": reasons,
        },
        geometry=gpd.points_from_xy(xs[idx], ys[idx]) if len(idx) else [],
        crs=crs,
    )
    return frame
