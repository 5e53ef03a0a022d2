"""Attribute values as people read them: labels for codes, units, yes/no, no noise.

One formatter for the map, the detail panel and (later) reports, so a value reads the
same everywhere. The result is plain text: callers escape it or set it as DOM text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from townmap.catalog import LayerSpec
from townmap.i18n import t, unit_label, value_label

#: how a missing value reads once it has passed through text (a column stored as text)
_MISSING_TEXT = {"", "nan", "NaN", "None", "<NA>", "NaT"}


def is_missing(value: object) -> bool:
    """None, NaN, pd.NA, NaT (a date column's gap) and their text forms: shown as "–",
    never as "<NA>" or "NaT"."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, str):
        return value.strip() in _MISSING_TEXT
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    if isinstance(value, np.datetime64):
        return bool(np.isnat(value))
    return False


def format_value(spec: LayerSpec, name: str, value: object, lang: str) -> str:
    attr = spec.attribute(name)
    if is_missing(value):
        return "–"
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        stamp = pd.Timestamp(value)
        return stamp.strftime("%Y-%m-%d" if stamp == stamp.normalize() else "%Y-%m-%d %H:%M")
    if attr.type == "bool":
        return t("yes" if bool(value) else "no", lang)
    if attr.type in ("int", "float"):
        number = float(value)
        if attr.type == "int" and not attr.unit:
            return str(int(number))  # years, counts without unit: no thousands separator
        text = f"{number:,.0f}" if attr.type == "int" or abs(number) >= 1000 else f"{number:,.4g}"
        unit = unit_label(attr.unit, lang) if attr.unit else ""
        return f"{text} {unit}".strip()
    if attr.choices is not None:
        return value_label(value, lang)
    return str(value)
