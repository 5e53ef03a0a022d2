"""Classing numeric attributes for colour or size on the map (quantile breaks).

Quantiles suit skewed pollution loads (many small emitters, a few large ones) better than
equal intervals, which would put nearly every enterprise in the lowest class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Colour-blind-safe sequential palette (ColorBrewer YlOrRd, 5 classes).
SEQUENTIAL = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"]
SIZES = [3.0, 4.5, 6.0, 8.0, 10.5]
NO_DATA_COLOUR = "#bdbdbd"


@dataclass(frozen=True)
class Classes:
    """Class index per value (−1 for missing) and the class boundaries."""

    index: np.ndarray
    breaks: list[float]

    def labels(self, unit: str = "") -> list[str]:
        suffix = f" {unit}" if unit else ""
        return [
            f"{_fmt(a)} – {_fmt(b)}{suffix}"
            for a, b in zip(self.breaks, self.breaks[1:], strict=False)
        ]


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def quantile_classes(values: pd.Series | np.ndarray, k: int = 5) -> Classes:
    """At most ``k`` classes with (nearly) equal counts; fewer when values repeat."""
    arr = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    ok = ~np.isnan(arr)
    if not ok.any():
        return Classes(np.full(len(arr), -1), [])
    breaks = np.unique(np.quantile(arr[ok], np.linspace(0, 1, k + 1)))
    if len(breaks) == 1:
        breaks = np.array([breaks[0], breaks[0]])
    idx = np.clip(np.searchsorted(breaks, arr, side="right") - 1, 0, len(breaks) - 2)
    idx = np.where(ok, idx, -1)
    return Classes(idx.astype(int), [float(b) for b in breaks])
