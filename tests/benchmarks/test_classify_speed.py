"""Classifying 1,000,000 measured values (125,000 samples × 8 parameters) against GB 3838,
vectorised, against the two baselines a developer would write instead, in one run: a
naive per-row loop (the limits looked up row by row, the worst class kept in a dict)
measured on 50,000 rows and scaled — target ≥ 50× — and a plain vectorised pandas/numpy
classifier (merge the limits, compare, group-by max) on all rows — target: no slower.
Both baselines classify as the bulletins do (TN and fecal coliform apart), like Townmap.
Writes tests/artifacts/classify_benchmark.json."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd

from townmap.monitoring.quality import classify, load_standard

ROWS = 1_000_000
NAIVE_ROWS = 50_000
RANGES = {"DO": (1, 10), "CODMn": (1, 20), "COD": (5, 50), "BOD5": (1, 12), "NH3-N": (0.05, 3),
          "TP": (0.005, 0.5), "TN": (0.1, 4), "pH": (5.5, 9.5)}  # fmt: skip


def _samples(n_rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(8)
    n = n_rows // len(RANGES)
    params = np.tile(list(RANGES), n)
    lo = np.array([RANGES[p][0] for p in params])
    hi = np.array([RANGES[p][1] for p in params])
    return pd.DataFrame(
        {
            "station": np.repeat(np.arange(n) % 500, len(RANGES)).astype(str),
            "time": np.repeat(np.arange(n) // 500, len(RANGES)),
            "water_type": np.repeat(np.where(np.arange(n) % 7 == 0, "lake", "river"), len(RANGES)),
            "parameter": params,
            "value": rng.uniform(lo, hi),
        }
    )


def _naive(frame: pd.DataFrame, std) -> dict:
    """The same answers as Townmap's, row by row: the class without TN and fecal coliform
    (with its parameter), and a lake's class with TN and TN's own."""
    table = {(r.parameter, r.water_type): r for r in std.table.itertuples()}
    worst: dict = {}
    with_tn: dict = {}
    tn: dict = {}
    for row in frame.itertuples():
        spec = table.get((row.parameter, row.water_type))
        if spec is None:
            continue
        limits = [spec.l1, spec.l2, spec.l3, spec.l4, spec.l5]
        if spec.direction == "range":
            cls = 1 if spec.l1 <= row.value <= spec.l2 else 6
        elif spec.direction == "min":
            cls = next((i + 1 for i, lim in enumerate(limits) if row.value >= lim), 6)
        else:
            cls = next((i + 1 for i, lim in enumerate(limits) if row.value <= lim), 6)
        key = (row.station, row.time)
        if row.parameter == "fecal_coliform":
            continue
        with_tn[key] = max(with_tn.get(key, 0), cls)
        if row.parameter == "TN":  # reported apart, as the bulletins do
            tn[key] = max(tn.get(key, 0), cls)
            continue
        if cls > worst.get(key, (0, None))[0]:
            worst[key] = (cls, row.parameter)
    return worst


def _plain_vectorised(frame: pd.DataFrame, std) -> pd.DataFrame:
    """What a pandas user writes: join each value to its limits, count the limits it
    exceeds (or falls short of), the worst class per sample."""
    table = std.table[~std.table["parameter"].isin(["TN", "fecal_coliform"])]
    rows = frame.merge(table, on=["parameter", "water_type"], how="inner")
    limits = rows[["l1", "l2", "l3", "l4", "l5"]].to_numpy(dtype=float)
    v = rows["value"].to_numpy(dtype=float)[:, None]
    direction = rows["direction"].to_numpy()
    cls = np.where(
        direction == "max",
        1 + (v > limits).sum(axis=1),
        np.where(
            direction == "min",
            1 + (v < limits).sum(axis=1),
            np.where((v[:, 0] >= limits[:, 0]) & (v[:, 0] <= limits[:, 1]), 1, 6),
        ),
    )
    rows["class"] = cls
    return rows.groupby(["station", "time"], as_index=False)["class"].max()


def test_vectorised_classification_against_a_naive_loop(artifacts):
    std = load_standard()
    frame = _samples(ROWS)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        result = classify(frame, std)
        times.append(time.perf_counter() - t)
    part = frame.iloc[:NAIVE_ROWS]
    t = time.perf_counter()
    naive = _naive(part, std)
    naive_s = time.perf_counter() - t
    check = classify(part, std).set_index(["station", "time"])
    assert len(check) == len(naive)
    for (station, when), (cls, _param) in list(naive.items())[:2000]:
        assert check.loc[(station, when), "class"] == cls
    vec = float(np.median(times))
    plain_times = []
    for _ in range(3):
        t = time.perf_counter()
        plain = _plain_vectorised(frame, std)
        plain_times.append(time.perf_counter() - t)
    plain_s = float(np.median(plain_times))
    both = plain.merge(result, on=["station", "time"], suffixes=("_plain", ""))
    assert len(both) == len(result) and (both["class_plain"] == both["class"]).all()
    report = {
        "rows": ROWS, "samples": len(result), "vectorised_s": vec,
        "naive_rows": NAIVE_ROWS, "naive_s": naive_s,
        "naive_scaled_s": naive_s * ROWS / NAIVE_ROWS,
        "speedup": naive_s * ROWS / NAIVE_ROWS / vec,
        "plain_vectorised_s": plain_s, "vs_plain_vectorised": plain_s / vec,
    }  # fmt: skip
    (artifacts / "classify_benchmark.json").write_text(json.dumps(report, indent=2))
    print("\n" + json.dumps(report, indent=2))
    assert report["speedup"] >= 50
    assert report["vs_plain_vectorised"] >= 1.0  # no slower than the plain way
