"""Loads page: annual COD, NH3-N, TP and TN loads by catchment, village and sector,
against each catchment's cap (edited here, logged), and the effect of a saved
shared-treatment scenario on every catchment's gap."""

from __future__ import annotations

import json

import altair as alt
import pandas as pd
import streamlit as st

from townmap.analysis.scenarios import list_scenarios, load_scenario
from townmap.analysis.siting import load_effluent
from townmap.errors import TownmapError
from townmap.i18n import t, value_label
from townmap.monitoring.loads import (
    PARAMETERS,
    against_caps,
    scenario_effect,
    scenario_loads,
    totals,
)
from townmap.render.escape import escape_markdown
from townmap.ui import common, editor, map_data, widgets
from townmap.ui import monitoring_data as data

GROUPS = {"catchment_id": "by_catchment", "village_id": "by_village", "sector": "by_sector"}


def _controls(stamp, lang: str):
    c1, c2, c3 = st.columns(3)
    method = c1.radio(
        t("load_method", lang),
        ["reported", "measured"],
        horizontal=True,
        key="ld_method",
        format_func=lambda m: t(f"load_{m}", lang),
    )
    year = None
    if method == "measured":
        effluent = data.compliance(stamp)
        years = (
            sorted(pd.to_datetime(effluent.findings["sampled_at"]).dt.year.unique())
            if effluent is not None
            else []
        )
        year = c2.selectbox(
            t("year", lang), years, index=len(years) - 1 if years else None, key="ld_year"
        )
    parameter = c3.selectbox(t("parameter", lang), list(PARAMETERS), key="ld_param")
    return method, year, parameter


def _totals(loads: pd.DataFrame, lang: str, parameter: str) -> None:
    by = st.radio(
        t("group_by", lang),
        list(GROUPS),
        horizontal=True,
        key="ld_group",
        format_func=lambda g: t(GROUPS[g], lang),
    )
    table = totals(loads, by)
    if by == "sector":
        table["sector"] = table["sector"].map(lambda v: value_label(v, lang))
    chart = (
        alt.Chart(table.head(25))
        .mark_bar(color="#8c510a")
        .encode(
            x=alt.X(f"{parameter}:Q", title=f"{parameter} (t/a)"),
            y=alt.Y(f"{by}:N", sort="-x", title=t(GROUPS[by], lang)),
        )
    )
    st.altair_chart(chart, width="stretch")
    st.dataframe(table.round(3), hide_index=True, width="stretch")
    sources = loads["source"].value_counts()
    st.caption(
        " · ".join(f"{escape_markdown(value_label(k, lang))}: {v}" for k, v in sources.items())
    )
    widgets.export_widget(lang, table, f"loads_{by}", "ld_export")


def _caps(ws, loads: pd.DataFrame, lang: str, parameter: str, year: int | None) -> None:
    caps = ws.read_table("load_caps") if ws.has_table("load_caps") else None
    status = against_caps(loads, caps, year)  # that year's caps (or each one's latest)
    mine = status[status["parameter"] == parameter]
    chart_data = mine.dropna(subset=["cap_tpa"]).melt(
        id_vars=["catchment_id"],
        value_vars=["load_tpa", "cap_tpa"],
        var_name="what",
        value_name="tpa",
    )
    chart_data["what"] = chart_data["what"].map(
        {"load_tpa": t("load", lang), "cap_tpa": t("cap", lang)}
    )
    if len(chart_data):
        chart = (
            alt.Chart(chart_data)
            .mark_bar()
            .encode(
                x=alt.X("catchment_id:N", title=t("by_catchment", lang)),
                xOffset="what:N",
                y=alt.Y("tpa:Q", title=f"{parameter} (t/a)"),
                color=alt.Color(
                    "what:N",
                    scale=alt.Scale(range=["#b2182b", "#4d4d4d"]),
                    legend=alt.Legend(title=None),
                ),
            )
        )
        st.altair_chart(chart, width="stretch")
    shown = status.assign(status=status["status"].map(lambda v: value_label(v, lang)))
    st.dataframe(shown.round(3), hide_index=True, width="stretch", height=320)
    over = status[(status["status"] == "over")]
    st.caption(t("caps_over", lang).format(n=over["catchment_id"].nunique()))
    with st.expander(t("edit_caps", lang)):
        editor.edit_table(ws, "load_caps", lang, keys=["catchment_id", "parameter", "year"])


def _scenario(ws, stamp, loads: pd.DataFrame, lang: str, year: int | None) -> None:
    saved = list_scenarios(ws)
    if saved.empty:
        st.info(t("no_scenarios", lang))
        return
    name = st.selectbox(t("scenario", lang), list(saved["scenario"]), key="ld_scenario")
    try:
        scenario = load_scenario(ws, name)
    except TownmapError as exc:
        st.error(escape_markdown(exc))
        return
    params = saved.loc[saved["scenario"] == name, "params"].iloc[0]
    standard = json.loads(params or "{}").get("standard")
    effluent = load_effluent(standard or "gb18918_1a")
    catchments = map_data.layers(stamp).get("catchments")
    after = scenario_loads(
        loads, scenario["sewers"], scenario["plants"], effluent["limits_mg_l"], catchments
    )
    caps = ws.read_table("load_caps") if ws.has_table("load_caps") else None
    effect = scenario_effect(loads, after, caps, year)
    st.caption(
        t("scenario_note", lang).format(std=effluent["name"])
        + " · "
        + value_label(effluent["verification"], lang)
    )
    for col in ("status", "status_after"):
        effect[col] = effect[col].map(lambda v: value_label(v, lang) if isinstance(v, str) else v)
    st.dataframe(effect.round(3), hide_index=True, width="stretch", height=360)
    widgets.export_widget(lang, effect, "scenario_effect", "ld_sc_export")


def render() -> None:
    lang, ws = common.page_start("loads_title")
    if ws is None:
        return
    if not ws.has_layer("enterprises"):
        st.info(t("no_data", lang))
        return
    stamp = map_data.Stamp.of(ws)
    st.caption(t("loads_note", lang))
    method, year, parameter = _controls(stamp, lang)
    loads = data.loads(stamp, method, year)
    section = widgets.sections(lang, ["totals", "caps", "scenario"], "ld_section")
    if section == "caps":
        _caps(ws, loads, lang, parameter, year)
    elif section == "scenario":
        _scenario(ws, stamp, loads, lang, year)
    else:
        _totals(loads, lang, parameter)


render()
