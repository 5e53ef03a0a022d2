"""Running the conflicts and zone checks on a workspace (the glue the page and CLI share).

The engines are pure functions of frames; this module reads the workspace's catalogued
vector layers once, takes feature keys from the catalog and numeric context values (such
as ``wind_speed_ms``) from the workspace metadata, and adds the village of each finding.
"""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from townmap.analysis.conflicts import ConflictResult, find_conflicts, prepare
from townmap.analysis.rules import RuleSet
from townmap.catalog import Catalog
from townmap.store import Workspace

#: workspace metadata keys a rule's distance table may use
CONTEXT_KEYS = ("wind_speed_ms",)


def workspace_layers(ws: Workspace, catalog: Catalog) -> dict[str, gpd.GeoDataFrame]:
    present = set(ws.layer_names())
    return {s.id: ws.read_layer(s.id) for s in catalog.by_kind("vector") if s.id in present}


def catalog_keys(catalog: Catalog) -> dict[str, str]:
    return {s.id: s.key for s in catalog if s.key}


def workspace_context(ws: Workspace) -> dict[str, float]:
    """Numeric context — the town's 5-year mean wind speed — from the town layer's
    attribute (a planner enters it there), else from the workspace metadata; a value that
    is not a number is ignored, and a rule then takes its strictest distance."""
    meta = ws.metadata()
    town = ws.read_layer("town") if ws.has_layer("town") else None
    out = {}
    for key in CONTEXT_KEYS:
        values = []
        if town is not None and key in town.columns:
            values = pd.to_numeric(town[key], errors="coerce").dropna().tolist()
        try:
            out[key] = float(values[0]) if values else float(meta[key])
        except (KeyError, ValueError):
            continue
    return out


def subject_geometries(
    findings: pd.DataFrame, layers: Mapping[str, gpd.GeoDataFrame], keys: Mapping[str, str], crs
) -> gpd.GeoSeries:
    """The geometry of each finding's feature, aligned with ``findings``."""
    out = np.full(len(findings), None, dtype=object)
    for layer_id, rows in findings.groupby("layer").groups.items():
        if layer_id not in layers:
            continue
        prep = prepare(layers[layer_id], crs, keys.get(layer_id))
        lookup = pd.Series(np.arange(len(prep.ids)), index=prep.ids)
        lookup = lookup[~lookup.index.duplicated()]
        pos = findings.index.get_indexer(rows)
        where = lookup.reindex(findings.loc[rows, "feature_id"].astype(str)).to_numpy()
        ok = ~np.isnan(where)
        out[pos[ok]] = prep.geoms[where[ok].astype(int)]
    return gpd.GeoSeries(out, index=findings.index, crs=crs)


def add_villages(
    findings: pd.DataFrame, geoms: gpd.GeoSeries, villages: gpd.GeoDataFrame | None
) -> pd.DataFrame:
    """The village holding each finding's feature (its representative point)."""
    findings = findings.copy()
    findings["village_id"] = None
    if villages is None or villages.empty or findings.empty:
        return findings
    vil = prepare(villages, geoms.crs, "village_id")
    points = shapely.point_on_surface(geoms.to_numpy())
    has = ~shapely.is_missing(points)
    i, j = shapely.STRtree(vil.geoms).query(points[has], predicate="intersects")
    first = pd.DataFrame({"i": i, "j": j}).drop_duplicates("i")
    idx = np.flatnonzero(has)[first["i"].to_numpy()]
    findings.iloc[idx, findings.columns.get_loc("village_id")] = vil.ids[first["j"].to_numpy()]
    return findings


def pair_finder(ws: Workspace, push_down: bool = True):
    """Where the conflicts engine's spatial joins run: pushed down where the workspace
    offers it (PostGIS: GiST indexes, only matched pairs come back), else in memory."""
    return ws.pair_finder() if push_down else None


def check_workspace(
    ws: Workspace, catalog: Catalog, rules: RuleSet, *, push_down: bool = True
) -> tuple[ConflictResult, gpd.GeoSeries]:
    """Every rule on what the workspace holds; findings with village, and their geometry."""
    layers = workspace_layers(ws, catalog)
    keys = catalog_keys(catalog)
    result = find_conflicts(
        layers,
        rules,
        context=workspace_context(ws),
        keys=keys,
        pairs_from=pair_finder(ws, push_down),
    )
    geoms = subject_geometries(result.findings, layers, keys, result.crs)
    result.findings = add_villages(result.findings, geoms, layers.get("villages"))
    return result, geoms
