"""Compiled loops for classification: one pass over a million values instead of several
array passes (numba is already a dependency through pyflwdir; its cache goes to
Townmap's cache folder). ``tests/test_quality.py`` checks them equal to the numpy path."""

from __future__ import annotations

import os

import numpy as np

from townmap.settings import cache_dir

os.environ.setdefault("NUMBA_CACHE_DIR", str(cache_dir() / "numba"))
import numba  # (after NUMBA_CACHE_DIR: numba reads it on import)

MAX, MIN, RANGE = 0, 1, 2
WORSE_THAN_V = 6


@numba.njit(cache=True)
def value_classes(values, rows, kinds, limits):  # pragma: no cover - compiled
    """Class 1–6 of each value against its standard row (NaN: no row or no value).
    A value equal to a limit meets it; DO-like rows are minima; pH-like rows a range."""
    out = np.empty(values.shape[0])
    for i in range(values.shape[0]):
        r = rows[i]
        v = values[i]
        if r < 0 or np.isnan(v):
            out[i] = np.nan
            continue
        k = kinds[r]
        c = 1
        if k == MAX:
            for j in range(limits.shape[1]):
                if v > limits[r, j]:
                    c += 1
        elif k == MIN:
            for j in range(limits.shape[1]):
                if v < limits[r, j]:
                    c += 1
        else:
            c = 1 if limits[r, 0] <= v <= limits[r, 1] else WORSE_THAN_V
        out[i] = c
    return out


@numba.njit(cache=True)
def worst_as_reported(classes, bound, rows, group, n_groups, apart, lake_row):  # pragma: no cover
    """One pass for every class a sample is reported with: per group the worst class
    without the parameters reported apart (``apart`` 1 = TN, 2 = fecal coliform) with its
    row, count and bound flag; with TN; TN's alone; fecal coliform's alone; and whether
    a lake row was classified in the group."""
    cert = np.full(n_groups, -1, dtype=np.int64)
    cert_row = np.full(n_groups, -1, dtype=np.int64)
    upper = np.full(n_groups, -1, dtype=np.int64)
    upper_row = np.full(n_groups, -1, dtype=np.int64)
    count = np.zeros(n_groups, dtype=np.int64)
    with_tn = np.full(n_groups, -1, dtype=np.int64)
    tn = np.full(n_groups, -1, dtype=np.int64)
    fc = np.full(n_groups, -1, dtype=np.int64)
    lake = np.zeros(n_groups, dtype=np.bool_)
    for i in range(classes.shape[0]):
        c = classes[i]
        if np.isnan(c):
            continue
        g = group[i]
        ci = np.int64(c)
        r = rows[i]
        if lake_row[r]:
            lake[g] = True
        a = apart[r]
        if a == 2:
            if ci > fc[g]:
                fc[g] = ci
            continue
        if ci > with_tn[g]:
            with_tn[g] = ci
        if a == 1:
            if ci > tn[g]:
                tn[g] = ci
            continue
        count[g] += 1
        if bound[i]:
            if ci > upper[g] or (ci == upper[g] and r < upper_row[g]):
                upper[g] = ci
                upper_row[g] = r
        elif ci > cert[g] or (ci == cert[g] and r < cert_row[g]):
            cert[g] = ci
            cert_row[g] = r
    best = np.where(upper > cert, upper, cert)
    best_row = np.where(upper > cert, upper_row, cert_row)
    return best, best_row, count, upper > cert, with_tn, tn, fc, lake
