"""The county-scale demo: fifty fictional towns side by side (100,000 TVEs, ten years of
monitoring, ≈ 5 million samples) — for benchmarks and for trying a bureau's PostGIS.

Each town is the demo generator run with its own seed, moved onto a grid and given ids
prefixed with its number (``T07-E0123``), so keys stay unique and references (enterprise
→ outfall → samples, station → river) still join. The county keeps one EMS register and
one set of public-display views (the bureau's own), and one DEM: the towns' DEMs side by
side at a third of their resolution (60 m), from which the catchments are derived.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rasterio.transform import Affine

from townmap.demo import terrain
from townmap.demo.build import build_layers

#: columns holding another feature's id although their name does not end in "_id"
REFERENCES = ("receiving_water", "water_body")
#: the bureau's own records: kept once, from the first town, not repeated per town
COUNTY_ONCE = (
    "ems_aspects",
    "ems_objectives",
    "ems_audits",
    "ems_nonconformities",
    "ems_reviews",
    "ems_records",
    "public_slides",
    "change_log",
)
DEM_STEP = 3
GAP_M = 1_000.0


def _prefixed(frame: pd.DataFrame, tag: str, known: set[str]) -> pd.DataFrame:
    frame = frame.copy()
    for col in frame.columns:
        if col.endswith("_id"):
            values = frame[col]
            frame[col] = values.where(values.isna(), tag + values.astype(str))
        elif col in REFERENCES:
            values = frame[col].astype(object)
            hit = values.isin(known)
            frame[col] = values.where(~hit, tag + values.astype(str))
    return frame


def county_layers(towns: int = 50, per_town: int = 2_000, seed: int = 20_260) -> dict:
    """Layers, tables and DEM of ``towns`` demo towns on a grid (ten towns a row)."""
    columns = min(10, towns)
    layers: dict[str, list] = {}
    tables: dict[str, list] = {}
    dems: list[tuple[int, int, np.ndarray]] = []
    first = None
    for k in range(towns):
        town = build_layers(seed + k, per_town)
        dem, transform = town["dem"]
        if first is None:
            first = (dem.shape, transform)
        width = dem.shape[1] * transform.a + GAP_M
        height = dem.shape[0] * -transform.e + GAP_M
        row, col = divmod(k, columns)
        dx, dy = col * width, -row * height
        tag = f"T{k + 1:02d}-"
        known = set(town["layers"]["rivers"]["river_id"].astype(str))
        for name, gdf in town["layers"].items():
            gdf = _prefixed(gdf, tag, known)
            gdf = gdf.set_geometry(gdf.geometry.translate(dx, dy))
            if name == "town":
                gdf["name_zh"] = gdf["name_zh"].astype(str) + f"（{k + 1}）"
                gdf["name_en"] = gdf["name_en"].astype(str) + f" ({k + 1})"
            if name == "public_comments" and "area_wkt" in gdf.columns:
                gdf["area_wkt"] = None  # drawn areas stay with their own town's demo
            layers.setdefault(name, []).append(gdf)
        for name, table in town["tables"].items():
            if name in COUNTY_ONCE:
                if k == 0:
                    tables[name] = [table]
                continue
            tables.setdefault(name, []).append(_prefixed(table, tag, known))
        step = dem[::DEM_STEP, ::DEM_STEP]
        dems.append((row, col, step))
    merged_layers = {name: pd.concat(parts, ignore_index=True) for name, parts in layers.items()}
    merged_tables = {name: pd.concat(parts, ignore_index=True) for name, parts in tables.items()}
    return {"layers": merged_layers, "tables": merged_tables, "dem": _mosaic(dems, first, columns)}


def _mosaic(dems, first, columns: int) -> tuple[np.ndarray, Affine]:
    (rows0, cols0), transform = first
    cell = transform.a * DEM_STEP
    town_w = cols0 * transform.a + GAP_M
    town_h = rows0 * -transform.e + GAP_M
    n_rows = max(r for r, _, _ in dems) + 1
    width = int(np.ceil(((columns - 1) * town_w + cols0 * transform.a) / cell))
    height = int(np.ceil(((n_rows - 1) * town_h + rows0 * -transform.e) / cell))
    out = np.full((height, width), terrain.NODATA, dtype="float32")
    for row, col, step in dems:
        r0 = round(row * town_h / cell)
        c0 = round(col * town_w / cell)
        h, w = min(step.shape[0], height - r0), min(step.shape[1], width - c0)
        out[r0 : r0 + h, c0 : c0 + w] = step[:h, :w]
    mosaic = Affine(cell, 0, transform.c, 0, -cell, transform.f)
    return out, mosaic


def build_county(
    out,
    *,
    towns: int = 50,
    per_town: int = 2_000,
    seed: int = 20_260,
    force: bool = False,
    catalog=None,
):
    """Write the county demo workspace to ``out`` (a folder; copy it to PostGIS with
    ``townmap workspace copy``)."""
    from townmap.demo.build import build_demo

    if towns < 1 or per_town < 1:
        raise ValueError("the county needs at least one town with one enterprise")
    data = county_layers(towns, per_town, seed)
    total = towns * per_town
    label = f"示例县（{towns} 个镇，{total:,} 家企业）/ Demo county ({towns} towns, {total:,} TVEs)"
    return build_demo(out, seed=seed, force=force, catalog=catalog, data=data, label=label)
