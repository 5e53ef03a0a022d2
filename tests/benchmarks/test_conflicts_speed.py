"""Conflicts benchmark: 100,000 TVEs against every constraint layer (≥ 10,000 polygons),
every rule, in one run, against

- the bare ``geopandas.sjoin`` of the same (filtered) inputs, one per rule, with the
  rule's predicate (``dwithin`` at its largest distance) — the least a library user
  must run to get the same pairs, without measuring, aggregating or citing anything;
- a naive per-feature loop (shapely predicate per TVE and constraint feature), run on a
  sample and scaled linearly (it would take hours on all of them).

Each side runs in its own process, so its time and peak memory are its own (the peak
after reading the inputs is reported too: it shows how much the analysis itself adds).
Targets:
engine ≤ 2× the bare sjoin; the whole demo check (reading included) under a second.
Writes tests/artifacts/conflicts_benchmark.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
from shapely.geometry import box

from townmap import PROJECT_ROOT
from townmap.analysis.checks import check_workspace
from townmap.analysis.rules import load_rules

N = int(os.environ.get("TOWNMAP_BENCH_CONFLICTS", "100000"))
NAIVE_SAMPLE = 300
RULES = str(PROJECT_ROOT / "layers" / "rules")

_LOAD = """
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore")
import pyogrio
from townmap.analysis.rules import load_rules
rules = list(load_rules(sys.argv[2]))
layers = {str(n): pyogrio.read_dataframe(sys.argv[1], layer=str(n))
          for n, _ in pyogrio.list_layers(sys.argv[1])}
keys = {"enterprises": "ent_id", "basic_farmland": "parcel_id"}
loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def report(seconds, extra=None):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"s": seconds, "mb": peak, "loaded_mb": loaded, **(extra or {})}))
"""
ENGINE = (
    _LOAD
    + """
from townmap.analysis.conflicts import find_conflicts
t = time.perf_counter()
found = find_conflicts(layers, rules, keys=keys).findings
report(time.perf_counter() - t, {"findings": len(found)})
"""
)
SJOIN = (
    _LOAD
    + """
import geopandas as gpd
def pick(frame, where, sectors=()):
    mask = frame.index == frame.index
    for name, test in where.items():
        if isinstance(test, list):
            mask &= frame[name].astype(str).isin([str(v) for v in test])
        else:
            v = frame[name]
            for op, bound in (("lt", test.lt), ("le", test.le), ("gt", test.gt), ("ge", test.ge)):
                if bound is not None:
                    mask &= getattr(v, op)(bound)
    if sectors:
        mask &= frame["sector"].isin(sectors)
    return frame[mask]
t = time.perf_counter()
pairs = 0
for rule in rules:
    if rule.subject.status == "new":
        continue
    sub = pick(layers[rule.subject.layer], rule.subject.where, rule.subject.sectors)
    con = pick(layers[rule.constraint.layer], rule.constraint.where)
    if rule.constraint.predicate == "within_distance":
        joined = gpd.sjoin(sub, con, predicate="dwithin", distance=max(r.m for r in rule.distance))
    else:
        joined = gpd.sjoin(sub, con, predicate="intersects")
    pairs += len(joined)
report(time.perf_counter() - t, {"pairs": pairs})
"""
)
NAIVE = (
    _LOAD
    + """
n = int(sys.argv[3])
tve = layers["enterprises"].iloc[:n]
t = time.perf_counter()
hits = 0
for rule in rules:
    if rule.subject.layer != "enterprises" or rule.subject.status == "new":
        continue
    cons = list(layers[rule.constraint.layer].geometry)
    limit = max((r.m for r in rule.distance), default=0)
    for _, row in tve.iterrows():
        if rule.subject.sectors and row["sector"] not in rule.subject.sectors:
            continue
        for g in cons:
            if rule.constraint.predicate == "within_distance":
                hit = row.geometry.distance(g) <= limit
            else:
                hit = row.geometry.intersects(g)
            if hit:
                hits += 1
                break
report(time.perf_counter() - t, {"hits": hits})
"""
)


def _inputs(demo_ws, folder: Path) -> Path:
    """The demo's layers, 100,000 TVEs spread over the town and 12,100 farmland parcels."""
    path = folder / "county.gpkg"
    rng = np.random.default_rng(11)
    town = demo_ws.read_layer("town").geometry.union_all()
    minx, miny, maxx, maxy = town.bounds
    x = rng.uniform(minx, maxx, int(N * 1.6))
    y = rng.uniform(miny, maxy, int(N * 1.6))
    inside = gpd.GeoSeries(gpd.points_from_xy(x, y), crs=demo_ws.crs).within(town).to_numpy()
    x, y = x[inside][:N], y[inside][:N]
    tve = demo_ws.read_layer("enterprises")
    sample = tve.drop(columns="geometry").sample(len(x), replace=True, random_state=3)
    sample["ent_id"] = [f"B{i:06d}" for i in range(len(x))]
    big = gpd.GeoDataFrame(
        sample.reset_index(drop=True), geometry=gpd.points_from_xy(x, y), crs=demo_ws.crs
    )
    pyogrio.write_dataframe(big, path, layer="enterprises")
    step, side = (maxx - minx) / 110, (maxx - minx) / 110 * 0.75
    cells = [
        box(minx + i * step, miny + j * step, minx + i * step + side, miny + j * step + side)
        for i in range(110)
        for j in range(110)
    ]
    farmland = gpd.GeoDataFrame(
        {"parcel_id": [f"BF{i:05d}" for i in range(len(cells))], "area_ha": side**2 / 1e4},
        geometry=cells,
        crs=demo_ws.crs,
    )
    pyogrio.write_dataframe(farmland, path, layer="basic_farmland")
    for name in demo_ws.layer_names():
        if name in ("enterprises", "basic_farmland"):
            continue
        info = demo_ws.layer_info(name)
        if info.geometry_type and info.geometry_type != "raster":
            pyogrio.write_dataframe(demo_ws.read_layer(name), path, layer=name)
    return path


def _run(code: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=1800
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_conflicts_against_bare_sjoin_and_a_naive_loop(tmp_path, demo_ws, catalog, artifacts):
    data = _inputs(demo_ws, tmp_path)
    polygons = sum(
        info["features"]
        for name, geom in pyogrio.list_layers(data)
        if geom in ("Polygon", "MultiPolygon")
        for info in [pyogrio.read_info(data, layer=name)]
    )
    assert polygons >= 10_000
    engine = [_run(ENGINE, str(data), RULES) for _ in range(3)]
    sjoin = [_run(SJOIN, str(data), RULES) for _ in range(3)]
    naive = _run(NAIVE, str(data), RULES, str(NAIVE_SAMPLE))

    rules = load_rules(RULES, catalog)
    demo = []
    for _ in range(3):
        t = time.perf_counter()
        check_workspace(demo_ws, catalog, rules)
        demo.append(time.perf_counter() - t)

    med = lambda runs, k: float(np.median([r[k] for r in runs]))  # noqa: E731
    report = {
        "tves": N,
        "constraint_polygons": polygons,
        "rules": len(rules),
        "findings": engine[0]["findings"],
        "sjoin_pairs": sjoin[0]["pairs"],
        "engine_s": med(engine, "s"),
        "sjoin_s": med(sjoin, "s"),
        "time_ratio_vs_sjoin": med(engine, "s") / med(sjoin, "s"),
        "engine_peak_mb": med(engine, "mb"),
        "sjoin_peak_mb": med(sjoin, "mb"),
        "memory_ratio_vs_sjoin": med(engine, "mb") / med(sjoin, "mb"),
        "peak_after_reading_mb": med(engine, "loaded_mb"),
        "naive_sample": NAIVE_SAMPLE,
        "naive_sample_s": naive["s"],
        "naive_scaled_s": naive["s"] * N / NAIVE_SAMPLE,
        "speedup_vs_naive": naive["s"] * N / NAIVE_SAMPLE / med(engine, "s"),
        "demo_check_s": float(np.median(demo)),
    }
    (artifacts / "conflicts_benchmark.json").write_text(json.dumps(report, indent=2))
    print(
        "\n"
        + "\n".join(
            f"{k:>22}: {v:.3f}" if isinstance(v, float) else f"{k:>22}: {v}"
            for k, v in report.items()
        )
    )
    assert report["time_ratio_vs_sjoin"] <= 2.0
    assert report["demo_check_s"] < 1.0
