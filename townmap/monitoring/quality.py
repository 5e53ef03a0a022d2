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


def classify_values(samples: pd.DataFrame, std: Standard) -> pd.DataFrame:
    """Per measured value: its class (1–6; NaN when the standard has no row for it)."""
    merged = samples.merge(std.table, on=["parameter", "water_type"], how="left")
    v = merged["value"].to_numpy(dtype=float)
    limits = merged[["l1", "l2", "l3", "l4", "l5"]].to_numpy(dtype=float)
    direction = merged["direction"].to_numpy(dtype=object)
    cls = np.full(len(merged), np.nan)
    is_max, is_min, is_range = direction == "max", direction == "min", direction == "range"
    with np.errstate(invalid="ignore"):
        cls[is_max] = 1 + (v[is_max, None] > limits[is_max]).sum(axis=1)
        cls[is_min] = 1 + (v[is_min, None] < limits[is_min]).sum(axis=1)
        inside = (v >= limits[:, 0]) & (v <= limits[:, 1])
    cls[is_range] = np.where(inside[is_range], 1, WORSE_THAN_V)
    cls[np.isnan(v)] = np.nan
    merged["class"] = cls
    return merged


def classify(samples: pd.DataFrame, std: Standard, keys=("station", "time")) -> pd.DataFrame:
    """One row per ``keys`` group: class (1–6), deciding parameter, parameters used."""
    keys = list(keys)
    valued = classify_values(samples, std)
    valued = valued[valued["class"].notna()]
    if valued.empty:
        return pd.DataFrame(columns=[*keys, "class", "deciding_parameter", "parameters"])
    order = valued.sort_values([*keys, "class"], ascending=[True] * len(keys) + [False],
                               kind="stable")  # fmt: skip
    worst = order.drop_duplicates(keys)
    counts = valued.groupby(keys, sort=False).size().rename("parameters").reset_index()
    out = worst[[*keys, "class", "parameter"]].rename(columns={"parameter": "deciding_parameter"})
    out["class"] = out["class"].astype(int)
    return out.merge(counts, on=keys).reset_index(drop=True)


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
