"""Shared wastewater treatment: which plants, where, serving whom, at what cost, removing
how much — from the workspace's factories, candidate sites and DEM.

Costs come from ``layers/siting/costs.toml`` (planning assumptions, flagged unverified):
a factory joining plant j pays its trunk sewer (straight line × detour factor × unit
cost), a lift station per metre the plant lies above it (from the DEM), and the plant's
cost per m³/d of its design flow; each open plant adds a fixed part, which is what makes
big plants cheaper per m³; a factory may instead upgrade its own treatment. Factories
already on the town sewer are left out; those beyond ``max_connection_m`` keep their own.
The effluent standard (GB 18918 class 1A, or the stricter Taihu values) gives the load
removed: what a factory discharges now minus what its flow carries at the standard.
"""

from __future__ import annotations

import datetime
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely

from townmap.analysis.location import Problem, Solution, solve

LOADS = {"cod_tpa": "COD", "nh3n_tpa": "NH3-N", "tp_tpa": "TP", "tn_tpa": "TN"}
CONNECTED = ("sewer",)  # treatment values meaning "already on the town sewer"


def _data_path(*parts: str) -> Path:
    from townmap.settings import layers_dir

    return layers_dir().joinpath(*parts)


def load_costs(path: Path | None = None) -> dict:
    return tomllib.loads(Path(path or _data_path("siting", "costs.toml")).read_text("utf-8"))


def load_effluent(standard: str = "gb18918_1a", path: Path | None = None) -> dict:
    """Effluent concentrations (mg/L) by parameter with their verification, read from the
    standard files (``effluent_limits.toml`` only names which standard and class)."""
    from townmap.monitoring.standards import limit_of, load_discharge_standards

    data = tomllib.loads(
        Path(path or _data_path("standards", "effluent_limits.toml")).read_text("utf-8")
    )
    if standard not in data:
        raise ValueError(f"no effluent standard {standard!r}; known: {', '.join(data)}")
    ref = data[standard]
    std = load_discharge_standards()[ref["standard"]]
    limits, verification = {}, {}
    new_plant = datetime.date(2006, 1, 1)  # a shared plant planned now is built after 2006
    for name in LOADS.values():
        value, trust = limit_of(std, ref["class"], name, built=new_plant)
        if value is not None:
            limits[name], verification[name] = value, trust
    return {
        "name": ref["name"],
        "standard_id": std.standard_id,
        "version": std.version,
        "verification": std.verification,
        "source": std.source,
        "note": "NH3-N/TN: the value for water > 12 °C; TP: plants built from 2006-01-01",
        "limits_mg_l": limits,
        "value_verification": verification,
    }


@dataclass
class SitingResult:
    solution: Solution
    plants: gpd.GeoDataFrame
    sewers: gpd.GeoDataFrame
    service_areas: gpd.GeoDataFrame
    factories: gpd.GeoDataFrame  # every factory considered, with its choice
    summary: dict = field(default_factory=dict)


def _heights(points: gpd.GeoSeries, dem) -> np.ndarray:
    if dem is None:
        return np.zeros(len(points))
    data, transform, crs, nodata = dem
    pts = points.to_crs(crs)
    rows, cols = rasterio.transform.rowcol(transform, pts.x.values, pts.y.values)
    rows = np.clip(np.asarray(rows), 0, data.shape[0] - 1)
    cols = np.clip(np.asarray(cols), 0, data.shape[1] - 1)
    z = data[rows, cols].astype(float)
    if nodata is not None:
        z[z == nodata] = np.nan
    return np.nan_to_num(z, nan=np.nanmean(z) if np.isfinite(z).any() else 0.0)


def build_problem(
    factories: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    k: int,
    costs: dict,
    *,
    dem=None,
    capacity_m3d: float | None = None,
) -> Problem:
    """The cost matrix and options for :func:`townmap.analysis.location.solve`."""
    fx, fy = factories.geometry.x.to_numpy(), factories.geometry.y.to_numpy()
    sx, sy = sites.geometry.x.to_numpy(), sites.geometry.y.to_numpy()
    dist = np.hypot(fx[:, None] - sx[None], fy[:, None] - sy[None])
    flow = factories["wastewater_m3d"].fillna(0).to_numpy(dtype=float)
    rise = np.maximum(
        _heights(sites.geometry, dem)[None] - _heights(factories.geometry, dem)[:, None], 0
    )
    cost = (
        dist * float(costs["detour_factor"]) * float(costs["sewer_cny_per_m"])
        + rise * float(costs["lift_cny_per_m_rise"])
        + (flow * float(costs["design_factor"]) * float(costs["plant_cny_per_m3d"]))[:, None]
    )
    cost[dist > float(costs["max_connection_m"])] = np.inf
    own = float(costs["own_fixed_cny"]) + flow * float(costs["own_cny_per_m3d"])
    fixed = np.full(len(sites), float(costs["plant_fixed_cny"]))
    demand = capacity = None
    if capacity_m3d is not None:
        demand = flow * float(costs["design_factor"])
        capacity = np.full(len(sites), float(capacity_m3d))
    return Problem(cost, own, fixed, k, demand=demand, capacity=capacity)


def plan(
    layers: Mapping[str, gpd.GeoDataFrame],
    sites: gpd.GeoDataFrame,
    k: int,
    *,
    dem=None,
    costs: dict | None = None,
    effluent: dict | None = None,
    capacity_m3d: float | None = None,
    time_limit: float = 30.0,
) -> SitingResult:
    """Choose ``k`` plants among ``sites`` for the factories not yet on the sewer."""
    costs = costs or load_costs()
    effluent = effluent or load_effluent()
    tve = layers["enterprises"]
    if sites.empty:
        raise ValueError("there are no candidate sites (see the suitability settings)")
    sites = sites.to_crs(tve.crs).reset_index(drop=True)
    considered = tve[~tve.get("treatment", pd.Series("", index=tve.index)).isin(CONNECTED)]
    considered = considered.reset_index(drop=True)
    if considered.empty:
        raise ValueError("every factory is already on the town sewer")
    k = min(k, len(sites))
    problem = build_problem(considered, sites, k, costs, dem=dem, capacity_m3d=capacity_m3d)
    solution = solve(problem, time_limit=time_limit)
    return _result(considered, sites, problem, solution, costs, effluent)


def _result(tve, sites, problem, solution, costs, effluent) -> SitingResult:
    assign = solution.assign
    joined = assign >= 0
    flow = tve["wastewater_m3d"].fillna(0).to_numpy(dtype=float)
    factories = tve.assign(
        plant=np.where(joined, sites["site_id"].to_numpy()[np.maximum(assign, 0)], None),
        choice=np.where(joined, "shared", "own"),
    )
    lines = (
        shapely.linestrings(
            np.stack(
                [
                    np.column_stack([tve.geometry.x, tve.geometry.y])[joined],
                    np.column_stack([sites.geometry.x, sites.geometry.y])[assign[joined]],
                ],
                axis=1,
            )
        )
        if joined.any()
        else np.array([], dtype=object)
    )
    length = shapely.length(lines) * float(costs["detour_factor"]) if joined.any() else np.array([])
    sewers = gpd.GeoDataFrame(
        {
            "ent_id": tve.loc[joined, "ent_id"].to_numpy() if "ent_id" in tve else None,
            "plant": factories.loc[joined, "plant"].to_numpy(),
            "length_m": np.round(length, 1),
            "flow_m3d": flow[joined],
        },
        geometry=list(lines),
        crs=tve.crs,
    )
    removed = _removed(tve, joined, flow, effluent)
    rows = []
    areas = []
    for j in solution.open:  # one row per open plant (k of them)
        mine = assign == j
        q = float(flow[mine].sum())
        rows.append(
            {
                "site_id": sites.loc[j, "site_id"],
                "score": sites.loc[j, "score"] if "score" in sites else None,
                "factories": int(mine.sum()),
                "flow_m3d": round(q, 1),
                "design_m3d": round(q * float(costs["design_factor"]), 1),
                **{f"{col}_removed": round(float(removed[col][mine].sum()), 3) for col in removed},
            }
        )
        members = [*tve.geometry[mine], sites.geometry[j]]
        areas.append(shapely.convex_hull(shapely.multipoints(members)).buffer(150))
    plants = gpd.GeoDataFrame(rows, geometry=list(sites.geometry[solution.open]), crs=tve.crs)
    service = gpd.GeoDataFrame(
        {"site_id": plants["site_id"] if len(plants) else []}, geometry=areas, crs=tve.crs
    )
    summary = {
        "k": len(solution.open),
        "status": solution.status,
        "proven_optimal": solution.proven_optimal,
        "gap": solution.gap,
        "method": solution.method,
        "seconds": round(solution.seconds, 3),
        "total_cost_cny": round(solution.objective, 0),
        "lower_bound_cny": round(solution.lower_bound, 0),
        "sewer_length_m": round(float(length.sum()), 0) if joined.any() else 0.0,
        "factories_connected": int(joined.sum()),
        "factories_own": int((~joined).sum()),
        "flow_connected_m3d": round(float(flow[joined].sum()), 1),
        "load_removed_tpa": {
            LOADS[c]: round(float(v[joined].sum()), 3) for c, v in removed.items()
        },
        "effluent_standard": effluent.get("name"),
        "effluent_verification": effluent.get("verification"),
        "cost_verification": costs.get("verification"),
        "notes": list(solution.notes),
    }
    return SitingResult(solution, plants, sewers, service, factories, summary)


def _removed(tve, joined, flow, effluent) -> dict[str, np.ndarray]:
    """t/a each factory stops discharging when its flow leaves at the standard."""
    out = {}
    for col, name in LOADS.items():
        limit = effluent.get("limits_mg_l", {}).get(name)
        if col not in tve.columns or limit is None:
            continue
        now = pd.to_numeric(tve[col], errors="coerce").fillna(0).to_numpy(dtype=float)
        after = flow * float(limit) * 365 / 1e6
        out[col] = np.where(joined, np.maximum(now - after, 0), 0.0)
    return out
