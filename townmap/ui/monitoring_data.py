"""Cached monitoring, loads and management analyses behind the Water quality, Dischargers,
Loads, Cleaner production and EMS pages, keyed by the workspace version (``Stamp``)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from townmap.monitoring.quality import (
    ROMAN,
    class_text,
    classify,
    classify_periods,
    exceedances,
    load_standard,
    workspace_reading,
)
from townmap.store import Workspace, open_workspace
from townmap.ui import common, map_data


def _ws(stamp: map_data.Stamp) -> Workspace:
    return open_workspace(stamp.location, catalog=common.catalog())


@st.cache_data(show_spinner=False, max_entries=4)
def _reading(stamp: map_data.Stamp) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    frame, reading = workspace_reading(_ws(stamp))
    if reading is None:
        return frame, pd.DataFrame(), pd.DataFrame()
    return frame, reading.refused, reading.ignored


def samples(stamp: map_data.Stamp) -> pd.DataFrame:
    """Surface-water samples, long: station, water_type, time, parameter code, value
    (the parameter's unit; below-detection values at half the limit), detection_limit,
    below_detection, qualifier."""
    return _reading(stamp)[0]


@st.cache_data(show_spinner=False, max_entries=4)
def source_water(stamp: map_data.Stamp) -> pd.DataFrame:
    """Results over GB 3838 Table 2's limits at drinking-water source stations."""
    from townmap.monitoring.quality import source_water_exceedances

    frame = samples(stamp)
    return frame if frame.empty else source_water_exceedances(frame, load_standard())


def unread(stamp: map_data.Stamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The results that could not be used: refused rows (with a reason code) and rows of
    parameters Townmap does not know (with their sample)."""
    _, refused, ignored = _reading(stamp)
    return refused, ignored


@st.cache_data(show_spinner=False, max_entries=4)
def classes(stamp: map_data.Stamp) -> dict[str, pd.DataFrame]:
    """Classes per sampling (station, time), month and year."""
    frame = samples(stamp)
    if frame.empty:
        return {"sample": pd.DataFrame(), "month": pd.DataFrame(), "year": pd.DataFrame()}
    std = load_standard()
    targets = map_data.layers(stamp)["monitoring_stations"].set_index("station_id")["target_class"]
    out = {"sample": classify(frame, std)}
    for name, freq in (("month", "M"), ("year", "Y")):
        table = classify_periods(frame, std, freq)
        period = frame["time"].dt.to_period(freq).astype(str)
        means = (
            frame.assign(period=period)
            .groupby(["station", "water_type", "period", "parameter"], as_index=False)["value"]
            .mean()
        )
        over = exceedances(means, std, targets, keys=("station", "period"))
        out[name] = table.merge(over, on=["station", "period"], how="left")
    for table in out.values():
        table["class_label"] = table["class"].map(ROMAN)  # language-neutral: map colours
        bound = table["class_bound"].fillna(False).astype(bool)
        for lang in ("zh", "en"):
            for column in ("class", "class_with_tn", "tn_class", "fecal_coliform_class"):
                name = "class_label" if column == "class" else f"{column}_label"
                flag = bound if column == "class" else [False] * len(table)
                table[f"{name}_{lang}"] = [
                    class_text(c, b, lang) for c, b in zip(table[column], flag, strict=True)
                ]
    return out


@st.cache_data(show_spinner=False, max_entries=4)
def compliance(stamp: map_data.Stamp):
    from townmap.monitoring.compliance import workspace_compliance

    ws = _ws(stamp)
    if not (ws.has_layer("discharge_points") and ws.has_table("effluent_samples")):
        return None
    return workspace_compliance(ws)


@st.cache_data(show_spinner=False, max_entries=8)
def loads(stamp: map_data.Stamp, method: str, year: int | None):
    from townmap.monitoring.loads import source_loads

    ws = _ws(stamp)
    layers = {
        n: ws.read_layer(n)
        for n in ("enterprises", "discharge_points", "catchments", "villages")
        if ws.has_layer(n)
    }
    effluent = ws.read_table("effluent_samples") if ws.has_table("effluent_samples") else None
    return source_loads(layers, effluent, method=method, year=year)


@st.cache_data(show_spinner=False, max_entries=4)
def programme(stamp: map_data.Stamp) -> dict[str, pd.DataFrame]:
    from townmap.management.cleaner import workspace_programme

    ws = _ws(stamp)
    if not ws.has_layer("enterprises"):
        return {}
    out = workspace_programme(ws, compliance(stamp))
    out.pop("geometry", None)
    return out


@st.cache_data(show_spinner=False, max_entries=4)
def indicators(stamp: map_data.Stamp) -> pd.DataFrame:
    from townmap.management.register import indicators as compute
    from townmap.ui import conflicts_data

    ws = _ws(stamp)
    findings, _ = conflicts_data.conflicts(stamp)
    return compute(ws, compliance(stamp), pd.DataFrame(findings))
