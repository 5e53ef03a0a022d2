"""Filtering enterprises and adding up what the filtered set emits."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import pandas as pd

#: numeric attributes offered for load ranges, colour and size, with their totals
LOAD_FIELDS = (
    "cod_tpa",
    "nh3n_tpa",
    "tp_tpa",
    "tn_tpa",
    "wastewater_m3d",
    "so2_tpa",
    "dust_tpa",
    "solid_waste_tpa",
)
CHOICE_FIELDS = ("sector", "size", "treatment", "cp_audit_phase", "iso14001")


@dataclass(frozen=True)
class EnterpriseFilter:
    """What the planner asked for; an empty selection means "any"."""

    sector: tuple[str, ...] = ()
    size: tuple[str, ...] = ()
    treatment: tuple[str, ...] = ()
    cp_audit_phase: tuple[str, ...] = ()
    iso14001: tuple[str, ...] = ()
    load_field: str = "cod_tpa"
    load_min: float | None = None
    load_max: float | None = None

    def __post_init__(self) -> None:
        if self.load_field not in LOAD_FIELDS:
            raise ValueError(f"load_field must be one of {LOAD_FIELDS}, not {self.load_field!r}")
        if (
            self.load_min is not None
            and self.load_max is not None
            and self.load_min > self.load_max
        ):
            raise ValueError(f"load range is empty: {self.load_min} > {self.load_max}")

    @property
    def is_active(self) -> bool:
        return any(getattr(self, f) for f in CHOICE_FIELDS) or (
            self.load_min is not None or self.load_max is not None
        )


def apply_filter(tve: gpd.GeoDataFrame, flt: EnterpriseFilter) -> gpd.GeoDataFrame:
    """The enterprises that match every part of the filter (original order kept)."""
    mask = pd.Series(True, index=tve.index)
    for name in CHOICE_FIELDS:
        chosen = getattr(flt, name)
        if chosen and name in tve.columns:
            mask &= tve[name].astype(str).isin(chosen)
    values = pd.to_numeric(tve[flt.load_field], errors="coerce")
    if flt.load_min is not None:
        mask &= values >= flt.load_min
    if flt.load_max is not None:
        mask &= values <= flt.load_max
    return tve[mask]


def totals(tve: pd.DataFrame) -> dict[str, float]:
    """Count and summed loads of a set of enterprises (missing values count as 0)."""
    out: dict[str, float] = {"count": float(len(tve))}
    for name in LOAD_FIELDS:
        if name in tve.columns:
            out[name] = float(pd.to_numeric(tve[name], errors="coerce").fillna(0).sum())
    return out
