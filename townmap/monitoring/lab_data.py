"""Lab results as labs write them, read into numbers Townmap can classify — or refused
with the reason, never guessed.

A Chinese lab report writes ``0.025L`` (not detected; 0.025 is the detection limit),
``<0.05``, ``ND`` or ``未检出``; units as ``mg/L``, ``µg/L`` or ``μg/L`` (two different
characters), ``MPN/100mL``; parameters as 氨氮, ``NH₃-N`` or "Ammonia nitrogen". The
vocabulary of units and parameters is data (``layers/standards/units.toml`` and
``parameters.toml``). What cannot be read is returned as a refused row naming why (an
unknown unit is never taken as mg/L); a parameter Townmap does not know is returned as
ignored, with its sample, so the page can list it. DO given as % saturation is converted
to mg/L with the same sample's water temperature (APHA / Benson & Krause 1984 solubility
at 1 atm) and refused without one.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from townmap.errors import CatalogError

#: why a row was refused: code -> English text (the pages translate the codes)
REASONS = {
    "no_value": "no value",
    "not_a_number": "the value is not a number",
    "above_range": "above the method's measuring range (a '>' value is not a result)",
    "unknown_unit": "the unit is not one Townmap knows",
    "no_unit": "no unit",
    "wrong_unit": "the unit does not measure this parameter",
    "nd_without_limit": "not detected, with no detection limit to classify by",
    "saturation_without_temperature": (
        "DO in % saturation needs the same sample's water temperature to become mg/L"
    ),
    "negative": "a negative concentration",
}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_PLAIN = re.compile(rf"^{_NUMBER}$")
_THOUSANDS = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d*)?$")
_DL_SUFFIX = re.compile(rf"^({_NUMBER})\s*[Ll]$")
_LESS = re.compile(rf"^(?:<|≤|<=)\s*({_NUMBER})$")
_MORE = re.compile(rf"^(?:>|≥|>=)\s*({_NUMBER})$")
_TIMES_TEN = re.compile(rf"^({_NUMBER})\s*[x×*]\s*10\^?([+-]?\d+)$")
_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_NOT_DETECTED = {"nd", "n.d.", "n.d", "未检出", "未检测出", "<dl", "低于检出限", "bdl", "<lod"}
_EMPTY = {"", "-", "—", "--", "/", "nan", "none", "<na>"}
_BRACKET_NOTE = re.compile(r"\s*\([^()]*\)\s*$")


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def unit_key(text: object) -> str:
    """How a written unit is compared: NFKC (µ U+00B5 → μ U+03BC, ℃ → °C, ％ → %),
    case and spaces ignored."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    return re.sub(r"\s+", "", _nfkc(str(text))).casefold()


def name_key(text: object) -> str:
    """How a written parameter name is compared: NFKC (NH₃-N → NH3-N, Cr⁶⁺ → Cr6+),
    case and spaces ignored."""
    return re.sub(r"\s+", "", _nfkc(str(text))).casefold()


@dataclass(frozen=True)
class Unit:
    dimension: str
    factor: float


@dataclass(frozen=True)
class Parameter:
    code: str
    label_zh: str
    label_en: str
    dimension: str
    also: tuple[str, ...] = ()

    def label(self, lang: str) -> str:
        return self.label_zh if lang == "zh" else self.label_en


@dataclass(frozen=True)
class Vocabulary:
    units: dict[str, Unit]
    parameters: dict[str, Parameter]  # name key -> parameter
    codes: dict[str, Parameter]  # code -> parameter
    dimension_units: dict[str, str]

    def parameter(self, written: object) -> Parameter | None:
        """The parameter a written name means: the whole name first, then without a
        trailing note in brackets ("总磷（以P计）"), so Cr(VI) stays Cr(VI)."""
        if written is None or (isinstance(written, float) and np.isnan(written)):
            return None
        key = name_key(written)
        found = self.parameters.get(key)
        if found is None:
            found = self.parameters.get(name_key(_BRACKET_NOTE.sub("", _nfkc(str(written)))))
        return found


def standards_folder() -> Path:
    from townmap.settings import layers_dir

    return layers_dir() / "standards"


@lru_cache(maxsize=4)
def load_vocabulary(folder: str | None = None) -> Vocabulary:
    """Units and parameters from ``units.toml`` and ``parameters.toml``; two entries that
    read the same (a unit in two dimensions, an alias of two parameters) are an error."""
    base = Path(folder) if folder else standards_folder()
    try:
        units_doc = tomllib.loads((base / "units.toml").read_text(encoding="utf-8"))
        params_doc = tomllib.loads((base / "parameters.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"units or parameters of {base}: {exc}") from None
    dims = {name: d["unit"] for name, d in units_doc["dimensions"].items()}
    units: dict[str, Unit] = {}
    for entry in units_doc["units"]:
        if entry["dimension"] not in dims:
            raise CatalogError(f"units.toml: unknown dimension {entry['dimension']!r}")
        for written in entry["written"]:
            key = unit_key(written)
            unit = Unit(entry["dimension"], float(entry["factor"]))
            if units.get(key, unit) != unit:
                raise CatalogError(f"units.toml: {written!r} is written for two units")
            units[key] = unit
    params: dict[str, Parameter] = {}
    codes: dict[str, Parameter] = {}
    for entry in params_doc["parameters"]:
        p = Parameter(
            entry["code"],
            entry["label"]["zh"],
            entry["label"]["en"],
            entry["dimension"],
            tuple(entry.get("also", ())),
        )
        if p.dimension not in dims or any(d not in dims for d in p.also):
            raise CatalogError(f"parameters.toml: {p.code}: unknown dimension")
        codes[p.code] = p
        for written in {p.code, p.label_zh, p.label_en, *entry.get("aliases", [])}:
            key = name_key(written)
            if params.get(key, p) != p:
                raise CatalogError(
                    f"parameters.toml: {written!r} names both {params[key].code} and {p.code}"
                )
            params[key] = p
    return Vocabulary(units, params, codes, dims)


# ------------------------------------------------------------------------------ values


@dataclass(frozen=True)
class Parsed:
    number: float  # the value, or the detection limit of a below-detection value
    below: bool
    problem: str | None = None


def parse_value(text: object) -> Parsed:
    """One cell of a lab sheet: ``0.31``, ``0.025L``, ``<0.05``, ``ND``, ``1,200``,
    ``2.4×10³``; anything else is a problem, never a guess."""
    if isinstance(text, (int, float, np.integer, np.floating)) and not isinstance(text, bool):
        number = float(text)
        return Parsed(np.nan, False, "no_value") if np.isnan(number) else Parsed(number, False)
    raw = "" if text is None else str(text)
    s = _nfkc(raw.translate(_SUPERSCRIPT))
    low = s.casefold()
    if low in _EMPTY:
        return Parsed(np.nan, False, "no_value")
    if _PLAIN.match(s):
        return Parsed(float(s), False)
    if _THOUSANDS.match(s):
        return Parsed(float(s.replace(",", "")), False)
    if m := _DL_SUFFIX.match(s):
        return Parsed(float(m.group(1)), True)
    if m := _LESS.match(s):
        return Parsed(float(m.group(1)), True)
    if low in _NOT_DETECTED:
        return Parsed(np.nan, True)
    if m := _TIMES_TEN.match(s):
        return Parsed(float(m.group(1)) * 10.0 ** int(m.group(2)), False)
    if _MORE.match(s):
        return Parsed(np.nan, False, "above_range")
    if s.startswith("-") and _PLAIN.match(s[1:]):
        return Parsed(np.nan, False, "negative")
    return Parsed(np.nan, False, "not_a_number")


def parse_column(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numbers, below-detection flags and problem codes for a column, each distinct text
    parsed once (a county's table repeats few non-numeric texts)."""
    n = len(values)
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        number = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        problem = np.where(np.isnan(number), "no_value", None).astype(object)
        problem[number < 0] = "negative"
        number = np.where(number < 0, np.nan, number)
        return number, np.zeros(n, dtype=bool), problem
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=False)
    parsed = [parse_value(u) for u in uniques]
    number = np.array([p.number for p in parsed], dtype=float)[codes] if n else np.zeros(0)
    below = np.array([p.below for p in parsed], dtype=bool)[codes] if n else np.zeros(0, bool)
    problem = np.array([p.problem for p in parsed], dtype=object)[codes] if n else np.zeros(0)
    return number, below, problem


# --------------------------------------------------------------------------- reading


@dataclass
class LabReading:
    """What a table of lab results holds, read: ``frame`` the rows Townmap can use
    (parameter codes, values in the parameter's unit), ``refused`` the rows it cannot
    with a reason code, ``ignored`` the rows of parameters it does not know."""

    frame: pd.DataFrame
    refused: pd.DataFrame
    ignored: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _column(frame: pd.DataFrame, name: str | None) -> pd.Series | None:
    return frame[name] if name and name in frame.columns else None


def oxygen_saturation_mg_l(temperature_c: np.ndarray) -> np.ndarray:
    """DO at 100 % saturation, fresh water at 1 atm (mg/L): APHA Standard Methods
    4500-O / Benson & Krause (1984), as quoted in the SWAT+ theory documentation
    (layers/references.md §12). About 9.09 mg/L at 20 °C."""
    t = np.asarray(temperature_c, dtype=float) + 273.15
    return np.exp(
        -139.34411 + 1.575701e5 / t - 6.642308e7 / t**2 + 1.243800e10 / t**3 - 8.621949e11 / t**4
    )


def read_lab_values(
    frame: pd.DataFrame,
    keys: list[str],
    *,
    parameter: str = "parameter",
    value: str = "value",
    unit: str = "unit",
    detection_limit: str = "detection_limit",
    qualifier: str = "qualifier",
    vocabulary: Vocabulary | None = None,
) -> LabReading:
    """Read a long table of results (one row per sample and parameter; ``keys`` name a
    sample, e.g. station and time). A detection limit given in its own column is in the
    row's unit. Below-detection values keep their limit (``detection_limit``) and carry
    half of it as ``value``, the convention for means only; the classifier uses the limit
    itself and reports the class as a bound."""
    vocab = vocabulary or load_vocabulary()
    n = len(frame)
    names = frame[parameter] if parameter in frame.columns else pd.Series([None] * n)
    p_codes, p_uniques = pd.factorize(names.astype(object), use_na_sentinel=False)
    found = [vocab.parameter(u) for u in p_uniques]
    code = np.array([p.code if p else None for p in found], dtype=object)[p_codes]
    number, below, problem = parse_column(frame[value])
    units = _column(frame, unit)
    u_written = units if units is not None else pd.Series([""] * n, index=frame.index)
    u_codes, u_uniques = pd.factorize(u_written.astype(object), use_na_sentinel=False)
    u_found = [vocab.units.get(unit_key(u)) for u in u_uniques]
    u_dim = np.array([u.dimension if u else None for u in u_found], dtype=object)[u_codes]
    factor = np.array([u.factor if u else np.nan for u in u_found], dtype=float)[u_codes]
    u_empty = np.array([unit_key(u) == "" for u in u_uniques], dtype=bool)[u_codes]

    dl_col = _column(frame, detection_limit)
    dl = (
        pd.to_numeric(dl_col, errors="coerce").to_numpy(dtype=float)
        if dl_col is not None
        else np.full(n, np.nan)
    )
    qual = _column(frame, qualifier)
    if qual is not None:
        flagged = qual.astype("string").str.strip().str.lower().eq("below_dl").fillna(False)
        flagged = flagged.to_numpy(dtype=bool) & ~below & ~np.isnan(number)
        dl = np.where(flagged & np.isnan(dl), number, dl)
        below = below | flagged
    limit = np.where(below & np.isnan(number), dl, np.where(below, number, np.nan))

    known = code != None  # noqa: E711 - element-wise on an object array
    reason = problem.copy()
    # does the unit measure the parameter? decided once per (parameter, unit) pair
    pair, pairs = pd.factorize(p_codes.astype(np.int64) * (len(u_uniques) + 1) + u_codes)
    pair_fits = []
    for combined in pairs:
        p, u = found[combined // (len(u_uniques) + 1)], u_found[combined % (len(u_uniques) + 1)]
        pair_fits.append(bool(p and u and (u.dimension == p.dimension or u.dimension in p.also)))
    fits = np.array(pair_fits, dtype=bool)[pair] if n else np.zeros(0, dtype=bool)
    unknown_or_wrong = np.where(u_dim == None, "unknown_unit", "wrong_unit")  # noqa: E711
    unit_problem = np.where(u_empty, "no_unit", unknown_or_wrong)
    reason = np.where(pd.isna(reason) & ~fits, unit_problem, reason)
    reason = np.where(pd.isna(reason) & below & np.isnan(limit), "nd_without_limit", reason)
    reason = np.where(known, reason, None)

    value_out = np.where(below, limit / 2, number) * factor
    limit_out = limit * factor
    saturation = np.full(n, np.nan)
    is_sat = known & (u_dim == "saturation") & pd.isna(reason)
    if is_sat.any():
        temps = pd.Series(np.where(code == "WT", number * factor, np.nan), index=frame.index)
        sample = frame[keys].astype(str).agg("\x1f".join, axis=1) if keys else None
        t_by_sample = temps.groupby(sample.to_numpy()).mean() if sample is not None else None
        t_here = (
            sample.map(t_by_sample).to_numpy(dtype=float)
            if t_by_sample is not None
            else np.full(n, np.nan)
        )
        missing_t = is_sat & np.isnan(t_here)
        reason = np.where(missing_t, "saturation_without_temperature", reason)
        ok = is_sat & ~missing_t
        saturation[ok] = number[ok]
        mg = number * oxygen_saturation_mg_l(np.where(ok, t_here, 20.0)) / 100
        value_out = np.where(ok, mg, value_out)
    accepted = known & pd.isna(reason)

    data = frame.loc[accepted].copy()
    data["parameter_as_written"] = names[accepted].to_numpy()
    data[parameter] = code[accepted]
    data[value] = value_out[accepted]
    data["detection_limit"] = limit_out[accepted]
    data["below_detection"] = below[accepted]
    data["saturation_pct"] = saturation[accepted]
    data[unit] = [vocab.dimension_units[vocab.codes[c].dimension] for c in code[accepted]]

    refused = pd.DataFrame(
        {
            "row": frame.index[known & ~accepted],
            "parameter": names[known & ~accepted].to_numpy(),
            "value": frame[value][known & ~accepted].to_numpy(),
            "unit": u_written[known & ~accepted].to_numpy(),
            "reason": reason[known & ~accepted],
        }
    )
    ignored = frame.loc[~known, [k for k in keys if k in frame.columns]].copy()
    ignored["parameter"] = names[~known].to_numpy()
    notes = []
    if len(refused):
        counts = refused["reason"].value_counts()
        notes.append(
            f"{len(refused)} result(s) refused: "
            + "; ".join(f"{REASONS[r]} ({c})" for r, c in counts.items())
        )
    if len(ignored):
        listed = ", ".join(map(str, pd.unique(ignored["parameter"].astype(str))[:10]))
        notes.append(f"{len(ignored)} result(s) of parameters Townmap does not know: {listed}")
    return LabReading(data, refused.reset_index(drop=True), ignored.reset_index(drop=True), notes)
