"""Discharge standards as data: ``layers/standards/*.toml`` files with ``kind =
"discharge"`` (GB 8978-1996, GB 18918-2002, DB32/1072-2018, …).

Every limit keeps its standard id, version, valid-from, source and verification, so a
compliance finding can say how far its limit is to be trusted. A revised standard is a
new file with a new version; ``current`` picks the version in force on a date, so old
findings stay reproducible. Rows may depend on the water temperature (``cold_values``,
applying at ≤ ``cold_at_or_below_c`` °C) and on when the plant was built
(``built_from`` / ``built_until``), which is how GB 18918's NH3-N bracket and TP split
are expressed.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import Field, model_validator

from townmap.analysis.rules import Verification
from townmap.catalog import Label, Strict, read_model_file
from townmap.errors import CatalogError

COLUMNS = [
    "standard",
    "standard_id",
    "version",
    "valid_from",
    "class",
    "parameter",
    "measured_by",
    "unit",
    "kind",
    "limit",
    "cold_limit",
    "low",
    "high",
    "built_from",
    "built_until",
    "sectors",
    "verification",
    "note",
]


class LimitRow(Strict):
    parameter: str
    unit: str = "mg/L"
    kind: Literal["max", "range"] = "max"
    values: dict[str, float] = Field(default_factory=dict)
    cold_values: dict[str, float] = Field(default_factory=dict)
    range: tuple[float, float] | None = None
    #: what is actually measured when the limit is for a fraction (phosphate ← TP)
    measured_by: str | None = None
    built_from: dt.date | None = None
    built_until: dt.date | None = None
    #: a row for these enterprise sectors only (GB 8978's dyestuff row); it takes the
    #: place of the row without sectors ("other units") for them
    sectors: list[str] = Field(default_factory=list)
    verification: Verification
    class_verification: dict[str, Verification] = Field(default_factory=dict)
    note: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> LimitRow:
        if self.kind == "range" and (self.range is None or self.range[0] > self.range[1]):
            raise ValueError("a range limit needs range = [low, high] with low ≤ high")
        if self.kind == "max" and not self.values:
            raise ValueError(f"{self.parameter}: values by class are missing")
        if extra := set(self.cold_values) - set(self.values):
            raise ValueError(f"{self.parameter}: cold_values for classes without values: {extra}")
        if any(v <= 0 for v in [*self.values.values(), *self.cold_values.values()]):
            raise ValueError(f"{self.parameter}: limits must be positive")
        return self


class DischargeStandard(Strict):
    kind: Literal["discharge"]
    id: str
    standard_id: str
    version: str
    valid_from: dt.date | Literal[""] = ""
    title: Label
    applies_to: Literal["plant", "enterprise"]
    classes: list[str]
    built_from: dt.date | None = None
    source: str
    verification: Verification
    cold_at_or_below_c: float | None = None
    note: str = ""
    limits: list[LimitRow]

    @model_validator(mode="after")
    def _classes_known(self) -> DischargeStandard:
        for row in self.limits:
            unknown = set(row.values) - set(self.classes)
            if unknown:
                raise ValueError(f"{row.parameter}: unknown class(es) {sorted(unknown)}")
            if row.cold_values and self.cold_at_or_below_c is None:
                raise ValueError(f"{row.parameter}: cold_values need cold_at_or_below_c")
        return self

    @property
    def label(self) -> str:
        return f"{self.standard_id} ({self.version})"


def standards_dir() -> Path:
    from townmap.settings import layers_dir

    return layers_dir() / "standards"


def load_discharge_standards(folder: Path | None = None) -> dict[str, DischargeStandard]:
    """Every discharge standard file in ``folder`` by its id; a broken file is an error
    naming the file and key (a wrong limit must never pass silently)."""
    out: dict[str, DischargeStandard] = {}
    for path in sorted(Path(folder or standards_dir()).glob("*.toml")):
        try:
            kind = tomllib.loads(path.read_text(encoding="utf-8")).get("kind")
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise CatalogError(f"{path.name}: not valid TOML: {exc}") from None
        if kind == "discharge":
            out[path.stem] = read_model_file(path, DischargeStandard)
    return out


def current(
    standards: dict[str, DischargeStandard], standard_id: str, on: dt.date | None = None
) -> DischargeStandard:
    """The version of ``standard_id`` in force on ``on`` (today when None): the latest
    valid-from not after it; a version without valid-from counts as always in force."""
    on = on or dt.date.today()
    versions = [
        s
        for s in standards.values()
        if s.standard_id == standard_id and (s.valid_from == "" or s.valid_from <= on)
    ]
    if not versions:
        raise KeyError(f"no version of {standard_id} in force on {on}")
    return max(versions, key=lambda s: (s.valid_from or dt.date.min, s.version))


def limits_table(standards: dict[str, DischargeStandard]) -> pd.DataFrame:
    """One row per standard, version, class and parameter (and construction period)."""
    rows = []
    for std in standards.values():
        for row in std.limits:
            classes = std.classes if row.kind == "range" else list(row.values)
            for cls in classes:
                rows.append(
                    {
                        "standard": std.id,
                        "standard_id": std.standard_id,
                        "version": std.version,
                        "valid_from": std.valid_from or None,
                        "class": cls,
                        "parameter": row.parameter,
                        "measured_by": row.measured_by or row.parameter,
                        "unit": row.unit,
                        "kind": row.kind,
                        "limit": row.values.get(cls),
                        "cold_limit": row.cold_values.get(cls),
                        "low": row.range[0] if row.range else None,
                        "high": row.range[1] if row.range else None,
                        "built_from": row.built_from or std.built_from,
                        "built_until": row.built_until,
                        "sectors": ",".join(row.sectors),
                        "verification": row.class_verification.get(cls, row.verification),
                        "note": row.note,
                    }
                )
    return pd.DataFrame(rows, columns=COLUMNS)


def limit_of(
    std: DischargeStandard,
    cls: str,
    parameter: str,
    *,
    built: dt.date | None = None,
    water_temp_c: float | None = None,
) -> tuple[float | None, str]:
    """The limit (mg/L) of one parameter for a class, and its verification. A unit built
    before a row's period (or a missing date) gets the stricter of the candidate rows."""
    rows = [r for r in std.limits if r.parameter == parameter and cls in r.values]
    if built is not None:
        dated = [
            r
            for r in rows
            if (r.built_from is None or built >= r.built_from)
            and (r.built_until is None or built <= r.built_until)
        ]
        rows = dated or rows
    if not rows:
        return None, "unverified"
    cold = std.cold_at_or_below_c
    picks = []
    for r in rows:
        value = r.values[cls]
        if cold is not None and water_temp_c is not None and water_temp_c <= cold:
            value = r.cold_values.get(cls, value)
        picks.append((value, r.class_verification.get(cls, r.verification)))
    return min(picks)
