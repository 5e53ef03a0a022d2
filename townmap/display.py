"""Attribute values as people read them: labels for codes, units, yes/no, no noise.

One formatter for the map, the detail panel and (later) reports, so a value reads the
same everywhere. The result is plain text: callers escape it or set it as DOM text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from townmap.catalog import LayerSpec
from townmap.i18n import t, value_label


def format_value(spec: LayerSpec, name: str, value: object, lang: str) -> str:
    attr = spec.attribute(name)
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if attr.type == "bool":
        return t("yes" if bool(value) else "no", lang)
    if attr.type in ("int", "float"):
        number = float(value)
        if attr.type == "int" and not attr.unit:
            return str(int(number))  # years, counts without unit: no thousands separator
        text = f"{number:,.0f}" if attr.type == "int" or abs(number) >= 1000 else f"{number:,.4g}"
        return f"{text} {attr.unit}".strip()
    if attr.choices is not None:
        return value_label(value, lang)
    return str(value)
