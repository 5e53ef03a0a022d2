"""GB 3838 single-factor classification of surface-water samples, vectorised.

Each measured value gets the best class whose limit it meets (≤ the maximum; DO ≥ the
minimum; pH within 6–9), class 6 meaning worse than V (劣Ⅴ类); a sample — one station
at one time — takes the worst class of its parameters, and that parameter is the deciding
one. TP uses the lake row for lakes and reservoirs, TN counts for lakes only. A value below
the detection limit ("ND", "<0.05", or the ``below_dl`` qualifier) is taken as half the
detection limit, the usual convention, and flagged. Periods (month, year) are classified
on the mean concentration of each parameter. Everything is array arithmetic on a long
table: a million samples classify in seconds.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

WORSE_THAN_V = 6
ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V", 6: "劣V"}
ALIASES = {
    "nh3n": "NH3-N", "nh3-n": "NH3-N", "nh3_n": "NH3-N", "氨氮": "NH3-N",
    "codmn": "CODMn", "高锰酸盐指数": "CODMn", "cod": "COD", "codcr": "COD", "化学需氧量": "COD",
    "bod5": "BOD5", "bod": "BOD5", "五日生化需氧量": "BOD5", "do": "DO", "溶解氧": "DO",
    "tp": "TP", "总磷": "TP", "tn": "TN", "总氮": "TN", "ph": "pH",
}  # fmt: skip
UNIT_FACTORS = {"mg/l": 1.0, "μg/l": 1e-3, "ug/l": 1e-3, "g/m3": 1.0, "ph": 1.0, "ph units": 1.0}
_LESS = re.compile(r"^\s*<\s*([0-9.eE+-]+)\s*$")


@dataclass(frozen=True)
class Standard:
    """A surface-water standard as data: one row per parameter and water type."""

    standard_id: str
    version: str
    verification: str
    table: pd.DataFrame  # parameter, water_type, direction, l1..l5


def standard_path() -> Path:
    from townmap.settings import layers_dir

    return layers_dir() / "standards" / "gb3838_2002.toml"


def load_standard(path: Path | None = None) -> Standard:
    data = tomllib.loads(Path(path or standard_path()).read_text(encoding="utf-8"))
    rows = []
    for p in data["parameters"]:
        limits = list(p["limits"])
        if p["direction"] == "range":
            limits = limits + [np.nan] * 3
        for water in p["water_types"]:
            named = {f"l{i + 1}": v for i, v in enumerate(limits)}
            rows.append(
                {"parameter": p["name"], "water_type": water, "direction": p["direction"], **named}
            )
    return Standard(data["standard_id"], data["version"], data["verification"], pd.DataFrame(rows))


def parse_values(raw: pd.Series, detection_limit: pd.Series | None = None,
                 qualifier: pd.Series | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Numbers from text like '0.31', 'ND', '<0.05'; (values, below_detection flags)."""
    text = raw.astype("string").str.strip()
    numeric = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    less = text.str.extract(_LESS)[0]
    less_value = pd.to_numeric(less, errors="coerce").to_numpy(dtype=float)
    nd = text.str.upper().isin(["ND", "N.D.", "未检出", "L"]).fillna(False).to_numpy()
    below = ~np.isnan(less_value) | nd
    dl = (
        pd.to_numeric(detection_limit, errors="coerce").to_numpy(dtype=float)
        if detection_limit is not None else np.full(len(text), np.nan)
    )  # fmt: skip
    if qualifier is not None:
        flagged = qualifier.astype("string").str.lower().eq("below_dl").fillna(False).to_numpy()
        below |= flagged
        dl = np.where(flagged & np.isnan(dl), numeric, dl)
    limit = np.where(~np.isnan(less_value), less_value, dl)
    values = np.where(below, limit / 2, numeric)
    return values, below


def normalise(samples: pd.DataFrame) -> pd.DataFrame:
    """Canonical parameter names and mg/L; unknown parameters are kept but not classified."""
    out = samples.copy()
    names = out["parameter"].astype("string").str.strip()
    out["parameter"] = names.str.lower().map(ALIASES).fillna(names)
    if "unit" in out.columns:
        factor = out["unit"].astype("string").str.strip().str.lower().map(UNIT_FACTORS)
        out["value"] = out["value"] * factor.fillna(1.0).to_numpy()
    return out


def _lookup(samples: pd.DataFrame, std: Standard) -> tuple[np.ndarray, pd.DataFrame]:
    """Row of the standard for each value (−1 when it has none), via integer codes: the
    strings are factorised once per column, never compared row by row."""
    table = std.table
    p_codes, p_names = pd.factorize(samples["parameter"])
    w_codes, w_names = pd.factorize(samples["water_type"])
    grid = np.full((len(p_names) + 1, len(w_names) + 1), -1, dtype=np.int64)
    p_at = {name: i for i, name in enumerate(p_names)}
    w_at = {name: i for i, name in enumerate(w_names)}
    for row, (param, water) in enumerate(zip(table["parameter"], table["water_type"], strict=True)):
        if param in p_at and water in w_at:
            grid[p_at[param], w_at[water]] = row
    return grid[p_codes, w_codes], table  # code −1 (missing) picks the last row/col: −1


def _classes(values: np.ndarray, rows: np.ndarray, table: pd.DataFrame) -> np.ndarray:
    limits = table[["l1", "l2", "l3", "l4", "l5"]].to_numpy(dtype=float)
    direction = table["direction"].to_numpy(dtype=object)
    kind = np.select([direction == "max", direction == "min"], [0, 1], 2)
    cls = np.full(len(values), np.nan)
    known = rows >= 0
    kinds = np.where(known, kind[np.where(known, rows, 0)], -1)
    with np.errstate(invalid="ignore"):
        for k in (0, 1, 2):  # each value is compared with its own row's limits only
            pick = np.flatnonzero(kinds == k)
            if not len(pick):
                continue
            v, lim = values[pick], limits[rows[pick]]
            if k == 0:
                cls[pick] = 1 + (v[:, None] > lim).sum(axis=1)
            elif k == 1:
                cls[pick] = 1 + (v[:, None] < lim).sum(axis=1)
            else:
                cls[pick] = np.where((v >= lim[:, 0]) & (v <= lim[:, 1]), 1, WORSE_THAN_V)
    cls[np.isnan(values)] = np.nan
    return cls


def classify_values(samples: pd.DataFrame, std: Standard) -> pd.DataFrame:
    """Per measured value: its class (1–6; NaN when the standard has no row for it)."""
    rows, table = _lookup(samples, std)
    values = pd.to_numeric(samples["value"], errors="coerce").to_numpy(dtype=float)
    return samples.assign(**{"class": _classes(values, rows, table)})


def classify(samples: pd.DataFrame, std: Standard, keys=("station", "time")) -> pd.DataFrame:
    """One row per ``keys`` group: class (1–6), deciding parameter, parameters used.
    Ties go to the parameter listed first in the standard."""
    keys = list(keys)
    rows, table = _lookup(samples, std)
    values = pd.to_numeric(samples["value"], errors="coerce").to_numpy(dtype=float)
    cls = _classes(values, rows, table)
    ok = ~np.isnan(cls)
    columns = [*keys, "class", "deciding_parameter", "parameters"]
    if not ok.any():
        return pd.DataFrame(columns=columns)
    codes, labels = [], []
    for key in keys:  # one integer per key combination, without building tuples
        c, u = pd.factorize(samples[key])  # on the column's own (Arrow) storage: fast
        codes.append(c[ok])
        labels.append(np.asarray(u))
    combined = np.zeros(int(ok.sum()), dtype=np.int64)
    for c, u in zip(codes, labels, strict=True):
        combined = combined * (len(u) + 1) + c
    group, _ = pd.factorize(combined)
    first = pd.Series(np.arange(len(group))).groupby(group).first().to_numpy()
    uniques = [u[c[first]] for c, u in zip(codes, labels, strict=True)]
    n_rows = len(table)
    score = cls[ok].astype(np.int64) * (n_rows + 1) + (n_rows - rows[ok])  # class, then order
    best = pd.Series(score).groupby(group).max().to_numpy()
    out_cls = best // (n_rows + 1)
    out_row = n_rows - best % (n_rows + 1)
    out = pd.DataFrame(dict(zip(keys, uniques, strict=True)))
    out["class"] = out_cls.astype(int)
    out["deciding_parameter"] = table["parameter"].to_numpy()[out_row]
    out["parameters"] = np.bincount(group, minlength=len(first))
    return out


def exceedance(value, parameter, water_type, target: int, std: Standard) -> float:
    """How many times over the target class's limit (0 when it is met)."""
    row = std.table[(std.table["parameter"] == parameter) & (std.table["water_type"] == water_type)]
    if row.empty or not 1 <= target <= 5:
        return float("nan")
    limit = float(row.iloc[0][f"l{target}"])
    direction = row.iloc[0]["direction"]
    if direction == "max":
        return max(0.0, (value - limit) / limit)
    if direction == "min":
        return max(0.0, (limit - value) / limit)
    return 0.0 if 6 <= value <= 9 else float("nan")


ROMAN_TO_CLASS = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5}


def classify_periods(samples: pd.DataFrame, std: Standard, freq: str = "M") -> pd.DataFrame:
    """Class per station and month (``freq="M"``) or year (``"Y"``), on the mean
    concentration of each parameter over the period, as periodic assessments are made."""
    frame = samples.assign(period=pd.to_datetime(samples["time"]).dt.to_period(freq).astype(str))
    means = frame.groupby(["station", "water_type", "period", "parameter"], as_index=False)[
        "value"
    ].mean()
    return classify(means, std, keys=("station", "period"))


def attainment(classes: pd.DataFrame, targets: pd.Series) -> pd.DataFrame:
    """Whether each station met its water body's target class (targets: station → 'III')."""
    target = classes["station"].map(targets).map(ROMAN_TO_CLASS)
    return classes.assign(target=target, attained=classes["class"] <= target)


def seasonal_mann_kendall(times: pd.Series, values: pd.Series) -> dict:
    """Seasonal Kendall trend test (Hirsch et al.): Kendall's S within each calendar month
    across years, summed; normal approximation with the tie-corrected variance. Returns the
    statistic S, Z, the two-sided p-value and the Sen slope (per year)."""
    from scipy.stats import norm

    frame = pd.DataFrame({"t": pd.to_datetime(times), "v": pd.to_numeric(values, errors="coerce")})
    frame = frame.dropna()
    s_total, var_total, slopes = 0.0, 0.0, []
    for _, season in frame.groupby(frame["t"].dt.month):
        v = season.sort_values("t")["v"].to_numpy()
        years = season.sort_values("t")["t"].dt.year.to_numpy().astype(float)
        n = len(v)
        if n < 2:
            continue
        i, j = np.triu_indices(n, k=1)
        diff = v[j] - v[i]
        s_total += float(np.sign(diff).sum())
        _, ties = np.unique(v, return_counts=True)
        var_total += (n * (n - 1) * (2 * n + 5) - (ties * (ties - 1) * (2 * ties + 5)).sum()) / 18
        dt = years[j] - years[i]
        slopes.extend((diff[dt > 0] / dt[dt > 0]).tolist())
    if var_total == 0:
        return {"S": s_total, "Z": 0.0, "p": 1.0, "slope_per_year": float("nan"), "trend": "none"}
    z = (s_total - np.sign(s_total)) / np.sqrt(var_total) if s_total else 0.0
    p = float(2 * (1 - norm.cdf(abs(z))))
    slope = float(np.median(slopes)) if slopes else float("nan")
    trend = "none" if p >= 0.05 else ("increasing" if z > 0 else "decreasing")
    return {"S": s_total, "Z": float(z), "p": p, "slope_per_year": slope, "trend": trend}
