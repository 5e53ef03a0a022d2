"""GB 3838 single-factor classification of surface-water samples, vectorised.

Each measured value gets the best class whose limit it meets (≤ the maximum; DO ≥ the
minimum; pH within 6–9), class 6 meaning worse than V (劣Ⅴ类); a sample — one station
at one time — takes the worst class of its parameters, and that parameter is the deciding
one. TP uses the lake row for lakes and reservoirs. As the Jiangsu and Taihu bulletins
report it, the class is given without TN (lakes: 不计总氮) and without fecal coliform,
which are reported apart (``tn_class``, ``fecal_coliform_class``); ``class_with_tn`` is
a lake's class with TN counted. A value below its detection limit is classified by the
limit: when the limit is above the class-I limit the class is only a bound ("Ⅲ or
better", ``class_bound``). Periods (month, year) are classified on the mean of each
parameter, below-detection values taken at half their limit (the usual convention, and
flagged). Lab tables are read by ``lab_data`` (units, names, ``0.025L``). Everything is
array arithmetic on a long table: a million samples classify in seconds.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

WORSE_THAN_V = 6
ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V", 6: "劣V"}
#: parameters reported apart from the class, as the bulletins do
REPORTED_APART = ("TN", "fecal_coliform")


@dataclass(frozen=True)
class Standard:
    """A surface-water standard as data: one row per parameter and water type, and the
    single limits of its supplementary items (GB 3838 Table 2, drinking-water sources)."""

    standard_id: str
    version: str
    verification: str
    table: pd.DataFrame  # parameter, water_type, direction, l1..l5
    supplementary: pd.DataFrame | None = None  # parameter, limit


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
    extra = pd.DataFrame(
        [(p["name"], float(p["limit"])) for p in data.get("supplementary", [])],
        columns=["parameter", "limit"],
    )
    return Standard(
        data["standard_id"], data["version"], data["verification"], pd.DataFrame(rows), extra
    )


def parse_values(
    raw: pd.Series, detection_limit: pd.Series | None = None, qualifier: pd.Series | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Numbers from text like '0.31', 'ND', '<0.05', '0.025L'; (values, below-detection
    flags), a below-detection value at half its limit (for means and loads)."""
    from townmap.monitoring.lab_data import parse_column

    number, below, _ = parse_column(raw)
    dl = (
        pd.to_numeric(detection_limit, errors="coerce").to_numpy(dtype=float)
        if detection_limit is not None
        else np.full(len(raw), np.nan)
    )
    if qualifier is not None:
        flagged = qualifier.astype("string").str.lower().eq("below_dl").fillna(False).to_numpy()
        flagged &= ~below & ~np.isnan(number)
        dl = np.where(flagged & np.isnan(dl), number, dl)
        below = below | flagged
    limit = np.where(below & np.isnan(number), dl, np.where(below, number, np.nan))
    return np.where(below, limit / 2, number), below


def workspace_reading(ws, station_ids=None):
    """A workspace's surface-water samples read and ready to classify (station,
    water_type, time, parameter code, value in the parameter's unit, detection limit,
    below_detection), with what could not be read: ``(frame, LabReading)``."""
    from townmap.monitoring.lab_data import read_lab_values

    if not (ws.has_table("water_samples") and ws.has_layer("monitoring_stations")):
        return pd.DataFrame(), None
    raw = ws.read_table("water_samples")
    if station_ids is not None:
        raw = raw[raw["station_id"].isin(list(station_ids))]
    stations = ws.read_layer("monitoring_stations")
    wanted = [c for c in ("station_id", "water_type", "drinking_source") if c in stations]
    frame = raw.merge(stations[wanted], on="station_id", how="left")
    frame = frame.rename(columns={"station_id": "station", "sampled_at": "time"})
    reading = read_lab_values(frame, ["station", "time"])
    out = reading.frame
    out["time"] = pd.to_datetime(out["time"])
    return out, reading


def workspace_samples(ws, station_ids=None) -> pd.DataFrame:
    """The samples of ``workspace_reading`` alone — the one reader the pages, the report
    and the register share. Empty when there are none."""
    return workspace_reading(ws, station_ids)[0]


def normalise(samples: pd.DataFrame) -> pd.DataFrame:
    """Parameter codes and the parameter's unit through the lab vocabulary; a value in a
    unit Townmap does not know, or one that does not measure the parameter, becomes NaN
    (never taken as mg/L). Unknown parameters keep their name and are not classified."""
    from townmap.monitoring.lab_data import load_vocabulary, unit_key

    vocab = load_vocabulary()
    out = samples.copy()
    names = out["parameter"].astype(object)
    codes, uniques = pd.factorize(names, use_na_sentinel=False)
    found = [vocab.parameter(u) for u in uniques]
    mapped = np.array([p.code if p else u for p, u in zip(found, uniques, strict=True)], object)
    out["parameter"] = mapped[codes] if len(out) else mapped[:0]
    if "unit" in out.columns:
        u_codes, u_uniques = pd.factorize(out["unit"].astype(object), use_na_sentinel=False)
        units = [vocab.units.get(unit_key(u)) for u in u_uniques]
        width = len(u_uniques) + 1
        pair, pairs = pd.factorize(codes.astype(np.int64) * width + u_codes)
        per_pair = []
        for combined in pairs:  # one decision per (parameter, unit) pair, not per row
            p, u = found[combined // width], units[combined % width]
            if p is None:  # an unknown parameter: its value is kept as written
                per_pair.append(1.0)
                continue
            fits = u is not None and (u.dimension == p.dimension or u.dimension in p.also)
            per_pair.append(u.factor if fits and u.dimension != "saturation" else np.nan)
        factor = np.array(per_pair, dtype=float)[pair] if len(out) else np.zeros(0)
        out["value"] = pd.to_numeric(out["value"], errors="coerce").to_numpy() * factor
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


def _value_classes(samples: pd.DataFrame, std: Standard):
    """Rows of the standard, class of each value and whether that class is only a bound.
    A below-detection value is classified by its limit ("or better" when the limit is
    above the class-I limit); a below-detection DO or pH, which no limit bounds the right
    way, is not classified. DO given as ≥ 90 % saturation meets class I (GB 3838: "饱和率
    90%（或7.5）")."""
    from townmap.monitoring.kernels import value_classes

    rows, table = _lookup(samples, std)
    limits, kinds = _limits(table)
    values = pd.to_numeric(samples["value"], errors="coerce").to_numpy(dtype=float)
    below = _below(samples)
    if below.any():
        dl = (
            pd.to_numeric(samples["detection_limit"], errors="coerce").to_numpy(dtype=float)
            if "detection_limit" in samples
            else np.full(len(values), np.nan)
        )
        use = np.where(below & ~np.isnan(dl), dl, values)
        cls = value_classes(use, rows, kinds, limits)
        kind = np.where(rows >= 0, kinds[np.maximum(rows, 0)], -1)
        cls[below & (kind != 0)] = np.nan
        with np.errstate(invalid="ignore"):
            bound = below & (cls > 1)
    else:  # nothing below detection: every class is certain
        cls = value_classes(values, rows, kinds, limits)
        bound = below.copy()
    if "saturation_pct" in samples:
        sat = pd.to_numeric(samples["saturation_pct"], errors="coerce").to_numpy(dtype=float)
        names = table["parameter"].to_numpy()
        is_do = (rows >= 0) & (names[np.maximum(rows, 0)] == "DO")
        with np.errstate(invalid="ignore"):
            met = is_do & (sat >= 90)
        cls[met] = 1
        bound[met] = False
    return rows, table, cls, bound


def classify_values(samples: pd.DataFrame, std: Standard) -> pd.DataFrame:
    """Per measured value: its class (1–6; NaN when the standard has no row for it) and
    whether the class is only a bound (a detection limit decided it)."""
    _, _, cls, bound = _value_classes(samples, std)
    return samples.assign(**{"class": cls, "class_bound": bound})


def _groups(samples: pd.DataFrame, keys: list[str]):
    """One integer per ``keys`` combination, without building tuples; a direct index when
    the combinations are few enough."""
    codes, labels = [], []
    for key in keys:
        c, u = pd.factorize(samples[key])  # on the column's own (Arrow) storage: fast
        codes.append(c)
        labels.append(u)
    sizes = [len(u) + 1 for u in labels]
    combined = np.zeros(len(samples), dtype=np.int64)
    for c, size in zip(codes, sizes, strict=True):
        combined = combined * size + (c + 1)  # +1: a missing key (−1) gets its own slot
    dense = int(np.prod(sizes, dtype=np.float64)) <= 4 * max(len(samples), 1)
    if dense:
        return combined, int(np.prod(sizes)), None, labels, sizes
    group, uniques = pd.factorize(combined)
    return group, len(uniques), np.asarray(uniques), labels, sizes


CLASS_COLUMNS = [
    "class",
    "class_bound",
    "deciding_parameter",
    "parameters",
    "below_detection",
    "class_with_tn",
    "tn_class",
    "fecal_coliform_class",
]


def classify(samples: pd.DataFrame, std: Standard, keys=("station", "time")) -> pd.DataFrame:
    """One row per ``keys`` group, ordered by key (each key's values in order of first
    appearance): class (1–6) as the bulletins report it — without TN and fecal coliform
    — whether it is only a bound, the deciding parameter (ties: the one listed first in
    the standard), the number of parameters classified, whether a below-detection value
    was among them; a lake's class with TN, TN's and fecal coliform's own classes.
    Groups with nothing classifiable are left out."""
    from townmap.monitoring.kernels import worst_as_reported

    keys = list(keys)
    rows, table, cls, bound = _value_classes(samples, std)
    names = table["parameter"].to_numpy()
    # per standard row: reported apart (1 TN, 2 fecal coliform), a lake row; integers
    # looked up by row number, never a million string comparisons
    apart = np.select([names == "TN", names == "fecal_coliform"], [1, 2], 0).astype(np.int64)
    lake_row = table["water_type"].to_numpy() == "lake"
    group, n_groups, uniques, labels, sizes = _groups(samples, keys)
    best, best_row, count, bounded, with_tn, tn, fc, lake_group = worst_as_reported(
        cls, bound, np.maximum(rows, 0), group, n_groups, apart, lake_row
    )
    below_values = _below(samples)
    found = np.flatnonzero((best > 0) | (tn > 0) | (fc > 0))
    if not len(found):
        return pd.DataFrame(columns=[*keys, *CLASS_COLUMNS])
    if uniques is not None:
        found = found[np.argsort(uniques[found], kind="stable")]
    key_codes = found if uniques is None else uniques[found]
    out = {}
    for key, u, size in reversed(list(zip(keys, labels, sizes, strict=True))):
        code = key_codes % size - 1
        key_codes = key_codes // size
        out[key] = pd.Index(u).take(code, allow_fill=True, fill_value=None)
    frame = pd.DataFrame({key: out[key].array for key in keys})

    def classes(values):
        picked = values[found].astype(float)
        return np.where(picked > 0, picked, np.nan)

    frame["class"] = classes(best)
    frame["class_bound"] = bounded[found] & (best[found] > 0)
    frame["deciding_parameter"] = np.where(
        best_row[found] >= 0, names[np.maximum(best_row[found], 0)], None
    )
    frame["parameters"] = count[found]
    if below_values.any():
        counted = bound | (~np.isnan(cls) & below_values)
        frame["below_detection"] = (
            np.bincount(group, weights=counted, minlength=n_groups)[found] > 0
        )
    else:  # nothing below detection: no pass over the groups
        frame["below_detection"] = False
    lake = lake_group[found]
    frame["class_with_tn"] = np.where(lake, classes(with_tn), frame["class"])
    frame["tn_class"] = classes(tn)
    frame["fecal_coliform_class"] = classes(fc)
    return frame.reset_index(drop=True)


def _below(samples: pd.DataFrame) -> np.ndarray:
    if "below_detection" not in samples:
        return np.zeros(len(samples), dtype=bool)
    return samples["below_detection"].fillna(False).to_numpy(dtype=bool, copy=True)


def class_text(cls: float, bound: bool, lang: str) -> str:
    """A class as a bulletin writes it: Ⅲ, 劣Ⅴ / worse than V, "Ⅲ or better" for a bound;
    "–" when there is none."""
    if cls is None or pd.isna(cls):
        return "–"
    roman = {1: "Ⅰ", 2: "Ⅱ", 3: "Ⅲ", 4: "Ⅳ", 5: "Ⅴ"}
    c = int(cls)
    if c == WORSE_THAN_V:
        return "劣Ⅴ类" if lang == "zh" else "worse than V"
    if lang == "zh":
        return f"{roman[c]}类" + ("或更好" if bound else "")
    return roman[c] + (" or better" if bound else "")


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
    below = _below(samples)
    if "detection_limit" in samples:  # a below-detection value counts at its limit
        dl = pd.to_numeric(samples["detection_limit"], errors="coerce").to_numpy(dtype=float)
        values = np.where(below, dl, values)
    names = table["parameter"].to_numpy()
    apart = np.isin(np.where(rows >= 0, names[np.maximum(rows, 0)], ""), REPORTED_APART)
    ok = (rows >= 0) & ~np.isnan(target) & ~np.isnan(values) & ~apart
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
    # a limit above the target's: the value below it may or may not exceed — not known
    multiple[ok] = np.where(below[ok] & (over > 0), np.nan, np.maximum(over, 0))
    frame = samples[keys].assign(exceedance=multiple, parameter=samples["parameter"].to_numpy())
    frame = frame.dropna(subset=["exceedance"])
    best = frame.sort_values("exceedance", ascending=False, kind="stable")
    best = best.drop_duplicates(keys).rename(columns={"parameter": "exceeding_parameter"})
    best.loc[best["exceedance"] <= 0, "exceeding_parameter"] = None
    return best.reset_index(drop=True)


def classify_periods(samples: pd.DataFrame, std: Standard, freq: str = "M") -> pd.DataFrame:
    """Class per station and month (``freq="M"``) or year (``"Y"``), on the mean
    concentration of each parameter over the period, as periodic assessments are made."""
    return classify(period_means(samples, freq), std, keys=("station", "period"))


def period_means(samples: pd.DataFrame, freq: str = "M") -> pd.DataFrame:
    """Mean of each parameter per station and period; a below-detection value counts at
    half its limit (the usual convention) and the mean says how many did
    (``half_limit_values``). DO's saturation is averaged too."""
    frame = samples.assign(
        period=pd.to_datetime(samples["time"]).dt.to_period(freq).astype(str),
        half_limit_values=_below(samples).astype(int),
    )
    columns = {"value": "mean", "half_limit_values": "sum"}
    if "saturation_pct" in frame:
        columns["saturation_pct"] = "mean"
    means = frame.groupby(
        ["station", "water_type", "period", "parameter"], as_index=False, dropna=False
    ).agg(columns)
    return means.dropna(subset=["station", "period", "parameter"])


def source_water_exceedances(samples: pd.DataFrame, std: Standard) -> pd.DataFrame:
    """Results over a supplementary limit (GB 3838 Table 2: sulfate, chloride, nitrate,
    iron, manganese) at stations that are centralised drinking-water sources
    (``drinking_source``). These limits make no class; a result over one is reported.
    A below-detection value at or under the limit is fine; over it, not known (left out)."""
    extra = std.supplementary
    columns = ["station", "time", "parameter", "value", "limit", "multiple"]
    if extra is None or extra.empty or "drinking_source" not in samples:
        return pd.DataFrame(columns=columns)
    source = samples["drinking_source"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    frame = samples.loc[source].merge(extra, on="parameter", how="inner")
    frame = frame[~_below(frame) & (frame["value"] > frame["limit"])]
    frame = frame.assign(multiple=(frame["value"] - frame["limit"]) / frame["limit"])
    return frame[columns].reset_index(drop=True)


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
