"""The siting-conflicts engine: layers and rules in, a table of findings out.

Everything is computed in one metric CRS (the first metric CRS among the inputs, else the
Gauss–Krüger zone of the data), on geometries repaired with ``make_valid``. Each rule is
one spatial-index query (shapely's STRtree, as ``geopandas.sjoin`` uses) followed by
array operations on the matched pairs — no Python loop over features.

Boundary cases, defined here and tested:
- ``inside``: a point on a zone's edge is inside; a polygon or line counts when the part
  inside is at least ``min_overlap_m2`` (m², or m for lines) — a shared edge alone is not.
- ``within_distance``: a distance equal to the limit is a finding (≤, not <).
- ``outside``: the part outside every constraint feature counts (≥ ``min_overlap_m2``);
  a point counts when no constraint feature holds it.
- Multipart features are one feature; empty or missing geometries are never findings.
- A distance row whose attribute is missing for a feature applies (rows are ordered
  strictest first), and the finding says the value was assumed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from townmap.analysis.rules import Conditions, Range, Rule
from townmap.crs import is_metric, metric_crs_for

COLUMNS = [
    "layer",
    "feature_id",
    "rule_id",
    "severity",
    "verification",
    "status",
    "predicate",
    "constraint_layer",
    "constraint_id",
    "distance_m",
    "limit_m",
    "overlap_m2",
    "overlap_pct",
    "assumed",
    "title_zh",
    "title_en",
    "instrument_zh",
    "instrument_en",
    "article",
    "version",
    "valid_from",
    "source",
]


@dataclass
class Prepared:
    """A layer in the analysis CRS with repaired geometry and its feature ids."""

    frame: gpd.GeoDataFrame
    geoms: np.ndarray
    ids: np.ndarray
    kind: str  # "point", "line" or "polygon"


@dataclass
class ConflictResult:
    findings: pd.DataFrame
    crs: CRS
    skipped: list[str] = field(default_factory=list)


def analysis_crs(layers: Iterable[gpd.GeoDataFrame]) -> CRS:
    frames = [g for g in layers if g is not None and g.crs is not None and len(g)]
    for gdf in frames:
        if is_metric(gdf.crs):
            return CRS.from_user_input(gdf.crs)
    if not frames:
        return CRS.from_epsg(4549)
    return metric_crs_for(frames[0])


def _kind(geoms: np.ndarray) -> str:
    types = set(shapely.get_type_id(geoms[~shapely.is_missing(geoms)]).tolist())
    if types <= {0, 4}:
        return "point"
    if types <= {1, 2, 5}:
        return "line"
    return "polygon"


def prepare(gdf: gpd.GeoDataFrame, crs: CRS, key: str | None) -> Prepared:
    """Project, repair and tag one layer (done once per layer, shared by every rule)."""
    if gdf.crs is None:
        raise ValueError("a layer without a CRS cannot be analysed")
    frame = gdf if CRS.from_user_input(gdf.crs) == crs else gdf.to_crs(crs)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    bad = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    if bad.any():
        geoms = geoms.copy()
        geoms[bad] = shapely.make_valid(geoms[bad])
    geoms[shapely.is_empty(geoms)] = None
    if key and key in frame.columns:
        ids = frame[key].astype(str).to_numpy()
    else:
        ids = np.asarray([str(i) for i in frame.index])
    return Prepared(frame, geoms, ids, _kind(geoms))


def condition_mask(
    frame: pd.DataFrame, conditions: Conditions, context: Mapping[str, float], missing_ok: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Rows meeting every condition, and rows where a missing value was let through."""
    ok = np.ones(len(frame), dtype=bool)
    assumed = np.zeros(len(frame), dtype=bool)
    for name, test in conditions.items():
        if name in frame.columns:
            col = frame[name]
        elif name in context:
            col = pd.Series(context[name], index=frame.index)
        else:
            col = pd.Series(np.nan, index=frame.index)
        missing = col.isna().to_numpy()
        if isinstance(test, Range):
            v = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
            hit = np.ones(len(frame), dtype=bool)
            with np.errstate(invalid="ignore"):
                if test.lt is not None:
                    hit &= v < test.lt
                if test.le is not None:
                    hit &= v <= test.le
                if test.gt is not None:
                    hit &= v > test.gt
                if test.ge is not None:
                    hit &= v >= test.ge
        else:
            wanted = {str(x).casefold() for x in test}
            hit = col.astype(str).str.casefold().isin(wanted).to_numpy()
        if missing_ok:
            hit = hit | missing
            assumed |= missing & ok
        ok &= hit
    return ok, assumed & ok


def _limits(rule: Rule, frame: pd.DataFrame, context) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature distance from the first matching row (NaN: no row applies)."""
    limit = np.full(len(frame), np.nan)
    assumed = np.zeros(len(frame), dtype=bool)
    ctx = {**rule.context, **context}
    for row in rule.distance:
        ok, guessed = condition_mask(frame, row.when, ctx, missing_ok=True)
        todo = ok & np.isnan(limit)
        limit[todo] = row.m
        assumed[todo] = guessed[todo]
    return limit, assumed


def _measure(kind: str, geoms: np.ndarray) -> np.ndarray:
    if kind == "polygon":
        return shapely.area(geoms)
    if kind == "line":
        return shapely.length(geoms)
    return np.zeros(len(geoms))


def _pairs_inside(sub: np.ndarray, con: np.ndarray, sub_kind: str, min_m2: float):
    tree = shapely.STRtree(con)
    i, j = tree.query(sub, predicate="intersects")
    if sub_kind == "point" or len(i) == 0:
        return i, j, np.zeros(len(i)), np.zeros(len(i))
    shared = _measure(sub_kind, shapely.intersection(sub[i], con[j]))
    keep = shared >= min_m2
    return i[keep], j[keep], np.zeros(keep.sum()), shared[keep]


def _evaluate(
    rule: Rule, sub: Prepared, smask, con: Prepared, cmask, context, pairs=None
) -> pd.DataFrame:
    s_idx = np.flatnonzero(smask & ~shapely.is_missing(sub.geoms))
    c_idx = np.flatnonzero(cmask & ~shapely.is_missing(con.geoms))
    pred = rule.constraint.predicate
    limit = np.full(len(s_idx), np.nan)
    assumed = np.zeros(len(s_idx), dtype=bool)
    if pred == "within_distance":
        lim_all, ass_all = _limits(rule, sub.frame.iloc[s_idx], context)
        has = ~np.isnan(lim_all)
        s_idx, limit, assumed = s_idx[has], lim_all[has], ass_all[has]
    if len(s_idx) == 0:
        return pd.DataFrame()
    sg, cg = sub.geoms[s_idx], con.geoms[c_idx]
    if pred == "outside":
        return _outside(rule, sub, s_idx, sg, cg)
    if len(c_idx) == 0:
        return pd.DataFrame()
    layers = (rule.subject.layer, rule.constraint.layer)
    if pred == "within_distance":
        found = pairs and pairs.within_distance(layers[0], s_idx, limit, layers[1], c_idx)
        if found:
            i, j, dist = found
        else:
            i, j = shapely.STRtree(cg).query(sg, predicate="dwithin", distance=limit)
            dist = shapely.distance(sg[i], cg[j])
        shared = np.full(len(i), np.nan)
    else:
        min_m2 = rule.constraint.min_overlap_m2
        found = pairs and pairs.inside(layers[0], s_idx, layers[1], c_idx, sub.kind, min_m2)
        if found:  # one row per feature: the largest overlap, the overlaps summed
            i, j, shared = found
            dist = np.zeros(len(i))
        else:
            i, j, dist, shared = _pairs_inside(sg, cg, sub.kind, rule.constraint.min_overlap_m2)
    if len(i) == 0:
        return pd.DataFrame()
    # ties broken by constraint order, so every engine picks the same nearest feature
    pairs = pd.DataFrame({"i": i, "j": j, "distance_m": dist, "overlap_m2": shared}).sort_values(
        ["i", "distance_m", "overlap_m2", "j"], ascending=[True, True, False, True], kind="stable"
    )
    total = pairs.groupby("i", sort=True)["overlap_m2"].sum(min_count=1)
    first = pairs.drop_duplicates("i")  # nearest, or largest overlap
    rows = first["i"].to_numpy()
    whole = _measure(sub.kind, sg[rows])
    overlap = np.minimum(total.loc[rows].to_numpy(), whole) if sub.kind != "point" else None
    return pd.DataFrame(
        {
            "feature_id": sub.ids[s_idx[rows]],
            "constraint_id": con.ids[c_idx[first["j"].to_numpy()]],
            "distance_m": first["distance_m"].to_numpy(),
            "limit_m": limit[rows],
            "overlap_m2": overlap if overlap is not None else np.nan,
            "overlap_pct": 100 * overlap / whole if overlap is not None else np.nan,
            "assumed": assumed[rows],
        }
    )


def _outside(rule: Rule, sub: Prepared, s_idx, sg, cg) -> pd.DataFrame:
    union = shapely.union_all(cg) if len(cg) else shapely.Polygon()
    if sub.kind == "point":
        out = ~shapely.intersects(sg, union)
        part = np.full(len(sg), np.nan)
        pct = np.full(len(sg), np.nan)
    else:
        rest = _measure(sub.kind, shapely.difference(sg, union))
        whole = _measure(sub.kind, sg)
        out = rest >= rule.constraint.min_overlap_m2
        part, pct = rest, 100 * rest / np.where(whole > 0, whole, 1)
    rows = np.flatnonzero(out)
    return pd.DataFrame(
        {
            "feature_id": sub.ids[s_idx[rows]],
            "constraint_id": None,
            "distance_m": np.nan,
            "limit_m": np.nan,
            "overlap_m2": part[rows],
            "overlap_pct": pct[rows],
            "assumed": False,
        }
    )


def _job(rule: Rule, layers, get, context, skipped: list[str]):
    """(rule, subject, subject mask, constraint, constraint mask), or None with the reason
    in ``skipped`` when a layer or attribute the rule names is missing."""
    missing = [lid for lid in (rule.subject.layer, rule.constraint.layer) if lid not in layers]
    if missing:
        skipped.append(f"{rule.id}: no layer {', '.join(missing)}")
        return None
    sub, con = get(rule.subject.layer), get(rule.constraint.layer)
    absent = [
        f"{lid}.{name}"
        for lid, frame, where in (
            (rule.subject.layer, sub.frame, rule.subject.where),
            (rule.constraint.layer, con.frame, rule.constraint.where),
        )
        for name in where
        if name not in frame.columns
    ]
    if rule.subject.sectors and "sector" not in sub.frame.columns:
        absent.append(f"{rule.subject.layer}.sector")
    if absent:
        skipped.append(f"{rule.id}: missing attribute {', '.join(absent)}")
        return None
    smask, _ = condition_mask(sub.frame, rule.subject.where, context, missing_ok=False)
    if rule.subject.sectors:
        smask &= sub.frame["sector"].astype(str).isin(rule.subject.sectors).to_numpy()
    cmask, _ = condition_mask(con.frame, rule.constraint.where, context, missing_ok=False)
    return rule, sub, smask, con, cmask


def find_conflicts(
    layers: Mapping[str, gpd.GeoDataFrame],
    rules: Iterable[Rule],
    *,
    status: str = "existing",
    context: Mapping[str, float] | None = None,
    keys: Mapping[str, str] | None = None,
    crs: CRS | None = None,
    pairs_from=None,
) -> ConflictResult:
    """Check every rule that applies to features of this ``status`` ("existing" for what
    is on record, "new" for a proposed project); one row per feature and rule.

    ``pairs_from(crs)`` may give a pair finder that runs the spatial joins elsewhere
    (PostGIS: ``ws.pair_finder()``, in ``townmap.store.pushdown``); it answers None
    where it cannot."""
    context, keys = dict(context or {}), dict(keys or {})
    crs = crs or analysis_crs(layers.values())
    pairs = pairs_from(crs) if pairs_from is not None else None
    # a finder elsewhere (a database server) can answer several joins at once
    workers = getattr(pairs, "workers", 1)
    pool = ThreadPoolExecutor(workers, "townmap-join") if workers > 1 else None
    prepared: dict[str, Prepared] = {}
    skipped: list[str] = []
    parts, pending = [], []

    def get(layer_id: str) -> Prepared:
        if layer_id not in prepared:
            prepared[layer_id] = prepare(layers[layer_id], crs, keys.get(layer_id))
        return prepared[layer_id]

    try:
        for rule in rules:
            if rule.subject.status not in ("any", status):
                continue
            job = _job(rule, layers, get, context, skipped)
            if job is not None:
                args = (*job, context, pairs)
                pending.append((rule, pool.submit(_evaluate, *args) if pool else _evaluate(*args)))
        done = [(rule, f.result() if isinstance(f, Future) else f) for rule, f in pending]
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        if pairs is not None and hasattr(pairs, "close"):
            pairs.close()
    for rule, found in done:
        if found.empty:
            continue
        basis = rule.legal_basis
        found = found.assign(
            layer=rule.subject.layer,
            rule_id=rule.id,
            severity=rule.severity_for(status),
            verification=rule.verification,
            status=status,
            predicate=rule.constraint.predicate,
            constraint_layer=rule.constraint.layer,
            title_zh=rule.title.zh,
            title_en=rule.title.en,
            instrument_zh=basis.instrument.zh
            + (f"（已被取代：{basis.superseded_by}）" if basis.superseded_by else ""),
            instrument_en=basis.instrument.en
            + (f" (superseded by {basis.superseded_by})" if basis.superseded_by else ""),
            article=basis.article,
            version=basis.version,
            valid_from=basis.valid_from.isoformat() if basis.valid_from else None,
            source=basis.source,
        )
        parts.append(found)
    findings = pd.concat(parts, ignore_index=True)[COLUMNS] if parts else _empty()
    findings["assumed"] = findings["assumed"].astype(bool)
    for col in ("distance_m", "limit_m", "overlap_m2", "overlap_pct"):
        findings[col] = pd.to_numeric(findings[col]).round(2)
    return ConflictResult(findings, crs, skipped)


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
