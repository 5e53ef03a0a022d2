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
    "nh3n": "NH3-N",
    "nh3-n": "NH3-N",
    "nh3_n": "NH3-N",
    "氨氮": "NH3-N",
    "codmn": "CODMn",
    "高锰酸盐指数": "CODMn",
    "cod": "COD",
    "codcr": "COD",
    "化学需氧量": "COD",
    "bod5": "BOD5",
    "bod": "BOD5",
    "五日生化需氧量": "BOD5",
    "do": "DO",
    "溶解氧": "DO",
    "tp": "TP",
    "总磷": "TP",
    "tn": "TN",
    "总氮": "TN",
    "ph": "pH",
}
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


def parse_values(
    raw: pd.Series, detection_limit: pd.Series | None = None, qualifier: pd.Series | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Numbers from text like '0.31', 'ND', '<0.05'; (values, below_detection flags)."""
    if pd.api.types.is_numeric_dtype(raw.dtype):  # already numbers: nothing to parse
        numeric = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        less_value = np.full(len(raw), np.nan)
        nd = np.zeros(len(raw), dtype=bool)
        text = None
    else:
        text = raw.astype("string").str.strip()
        numeric = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
        less_value = np.full(len(text), np.nan)
        nd = np.zeros(len(text), dtype=bool)
        odd = np.flatnonzero(np.isnan(numeric) & text.notna().to_numpy())
        if len(odd):  # only the few non-numbers go through the regular expression
            part = text.iloc[odd]
            less_value[odd] = pd.to_numeric(part.str.extract(_LESS)[0], errors="coerce")
            nd[odd] = part.str.upper().isin(["ND", "N.D.", "未检出", "L"]).fillna(False)
    below = ~np.isnan(less_value) | nd
    dl = (
        pd.to_numeric(detection_limit, errors="coerce").to_numpy(dtype=float)
        if detection_limit is not None
        else np.full(len(raw), np.nan)
    )
    if qualifier is not None:
        flagged = qualifier.astype("string").str.lower().eq("below_dl").fillna(False).to_numpy()
        below |= flagged
        dl = np.where(flagged & np.isnan(dl), numeric, dl)
    limit = np.where(~np.isnan(less_value), less_value, dl)
    values = np.where(below, limit / 2, numeric)
    return values, below


def workspace_samples(ws, station_ids=None) -> pd.DataFrame:
    """A workspace's surface-water samples ready to classify: station, water_type, time,
    parameter, value (mg/L, below-detection at half the limit), below_detection — the one
    reader the pages, the report and the register share. Empty when there are none."""
    if not (ws.has_table("water_samples") and ws.has_layer("monitoring_stations")):
        return pd.DataFrame()
    raw = ws.read_table("water_samples")
    if station_ids is not None:
        raw = raw[raw["station_id"].isin(list(station_ids))]
    stations = ws.read_layer("monitoring_stations")[["station_id", "water_type"]]
    frame = raw.merge(stations, on="station_id", how="left")
    frame = frame.rename(columns={"station_id": "station", "sampled_at": "time"})
    values, below = parse_values(
        frame["value"], frame.get("detection_limit"), frame.get("qualifier")
    )
    frame = normalise(frame.assign(value=values, below_detection=below))
    frame["time"] = pd.to_datetime(frame["time"])
    return frame


def normalise(samples: pd.DataFrame) -> pd.DataFrame:
    """Canonical parameter names and mg/L; unknown parameters are kept but not classified."""
    out = samples.copy()
    names = out["parameter"].astype("string").str.strip()
    out["parameter"] = names.str.lower().map(ALIASES).fillna(names)
    if "unit" in out.columns:
        factor = out["unit"].astype("string").str.strip().str.lower().map(UNIT_FACTORS)
        out["value"] = out["value"] * factor.fillna(1.0).to_numpy()
    return out


def _codes(column: pd.Series, names: list[str]) -> np.ndarray:
    """Index of each value in ``names`` (−1 when absent). Arrow strings are looked up in a
    hash of the few names (pyarrow ``index_in``) — no per-row Python, no full factorise."""
    storage = getattr(column.array, "_pa_array", None)
    if storage is not None:
        import pyarrow as pa
        import pyarrow.compute as pc

        try:
            found = pc.index_in(storage, value_set=pa.array(names, type=storage.type))
            return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        except (pa.ArrowException, TypeError):  # not a string column: the general path
            pass
    codes, uniques = pd.factorize(column)
    at = {name: i for i, name in enumerate(names)}
    mapping = np.array([at.get(u, -1) for u in uniques] + [-1], dtype=np.int64)
    return mapping[codes]  # code −1 (missing) picks the last entry: −1


def _lookup(samples: pd.DataFrame, std: Standard) -> tuple[np.ndarray, pd.DataFrame]:
    """Row of the standard for each value (−1 when it has none), via integer codes: the
    strings are coded once per column, never compared row by row."""
    table = std.table
    p_names = list(dict.fromkeys(table["parameter"]))
    w_names = list(dict.fromkeys(table["water_type"]))
    grid = np.full((len(p_names) + 1, len(w_names) + 1), -1, dtype=np.int64)
    for row, (param, water) in enumerate(zip(table["parameter"], table["water_type"], strict=True)):
        grid[p_names.index(param), w_names.index(water)] = row
    p_codes = _codes(samples["parameter"], p_names)
    w_codes = _codes(samples["water_type"], w_names)
    return grid[p_codes, w_codes], table  # code −1 picks the last row/column: −1


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
    """One row per ``keys`` group, ordered by key (each key's values in order of first
    appearance): class (1–6),
    deciding parameter, number of parameters classified. Ties go to the parameter listed
    first in the standard; groups with nothing classifiable are left out."""
    from townmap.monitoring.kernels import value_classes, worst_per_group

    keys = list(keys)
    columns = [*keys, "class", "deciding_parameter", "parameters"]
    rows, table = _lookup(samples, std)
    values = pd.to_numeric(samples["value"], errors="coerce").to_numpy(dtype=float)
    limits, kinds = _limits(table)
    cls = value_classes(values, rows, kinds, limits)
    codes, labels = [], []
    for key in keys:  # one integer per key combination, without building tuples
        c, u = pd.factorize(samples[key])  # on the column's own (Arrow) storage: fast
        codes.append(c)
        labels.append(u)  # kept in its own storage: taking from it stays cheap
    sizes = [len(u) + 1 for u in labels]
    combined = np.zeros(len(values), dtype=np.int64)
    for c, size in zip(codes, sizes, strict=True):
        combined = combined * size + (c + 1)  # +1: a missing key (−1) gets its own slot
    dense = int(np.prod(sizes, dtype=np.float64)) <= 4 * max(len(values), 1)
    if dense:  # a direct index: no hashing of the combined key
        group, n_groups = combined, int(np.prod(sizes))
    else:
        group, uniques = pd.factorize(combined)
        n_groups = len(uniques)
    best_cls, best_row, count = worst_per_group(cls, rows, group, n_groups, len(table))
    found = np.flatnonzero(best_cls > 0)
    if not len(found):
        return pd.DataFrame(columns=columns)
    if not dense:
        found = found[np.argsort(np.asarray(uniques)[found], kind="stable")]
    key_codes = found if dense else np.asarray(uniques)[found]
    out = {}
    for key, u, size in reversed(list(zip(keys, labels, sizes, strict=True))):
        code = key_codes % size - 1
        key_codes = key_codes // size
        out[key] = pd.Index(u).take(code, allow_fill=True, fill_value=None)
    frame = pd.DataFrame({key: out[key].array for key in keys})
    frame["class"] = best_cls[found]
    frame["deciding_parameter"] = table["parameter"].to_numpy()[best_row[found]]
    frame["parameters"] = count[found]
    return frame.reset_index(drop=True)


def _limits(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    limits = np.ascontiguousarray(table[["l1", "l2", "l3", "l4", "l5"]].to_numpy(dtype=float))
    direction = table["direction"].to_numpy(dtype=object)
    kinds = np.select([direction == "max", direction == "min"], [0, 1], 2).astype(np.int64)
    return limits, kinds


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


def exceedances(
    samples: pd.DataFrame, std: Standard, targets: pd.Series, keys=("station", "time")
) -> pd.DataFrame:
    """Per ``keys`` group: the largest exceedance multiple (超标倍数, (C − Cs) / Cs; for DO
    (Cs − C) / Cs) against the limit of the station's target class, and its parameter.
    ``targets`` maps station → 'III'. Groups meeting every limit get 0 and no parameter."""
    keys = list(keys)
    rows, table = _lookup(samples, std)
    limits, kinds = _limits(table)
    target = samples["station"].map(targets).map(ROMAN_TO_CLASS).to_numpy(dtype=float)
    values = pd.to_numeric(samples["value"], errors="coerce").to_numpy(dtype=float)
    ok = (rows >= 0) & ~np.isnan(target) & ~np.isnan(values)
    multiple = np.full(len(values), np.nan)
    r, col = rows[ok], target[ok].astype(int) - 1
    lim = limits[r, np.clip(col, 0, 4)]
    kind = kinds[r]
    with np.errstate(invalid="ignore", divide="ignore"):
        over = np.where(
            kind == 0,
            (values[ok] - lim) / lim,
            np.where(kind == 1, (lim - values[ok]) / lim, np.nan),
        )
    multiple[ok] = np.maximum(over, 0)
    frame = samples[keys].assign(exceedance=multiple, parameter=samples["parameter"].to_numpy())
    frame = frame.dropna(subset=["exceedance"])
    best = frame.sort_values("exceedance", ascending=False, kind="stable")
    best = best.drop_duplicates(keys).rename(columns={"parameter": "exceeding_parameter"})
    best.loc[best["exceedance"] <= 0, "exceeding_parameter"] = None
    return best.reset_index(drop=True)


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
