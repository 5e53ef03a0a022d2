"""Shared treatment page: catchments, plans with 1…N plants side by side (cost against
load removed), one plan on the map against the current situation, named scenarios saved
in the workspace.

Each plan is solved once per workspace version and setting (cached); a run over several
plans shows its progress and stops when the user presses Stop or changes an option
(Streamlit interrupts the script on the next interaction).
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import rasterio
import streamlit as st
from streamlit_folium import st_folium

from townmap.analysis.scenarios import list_scenarios, load_scenario, save_scenario
from townmap.analysis.siting import SitingResult, load_effluent, plan
from townmap.analysis.suitability import suitability
from townmap.crs import DISPLAY_CRS
from townmap.errors import TownmapError
from townmap.i18n import t, value_label
from townmap.render.escape import escape_markdown
from townmap.render.mapview import build_map, prepare_layer
from townmap.store import Workspace, open_workspace
from townmap.ui import common, map_data
from townmap.ui.conflicts_data import analysis_specs

STANDARDS = ["gb18918_1a", "db32_1072_table1", "db32_1072_table2"]
CONTEXT = ("town", "villages", "rivers", "lake", "treatment_plants", "sewer_trunk", "catchments")


def _dem(ws: Workspace):
    if "dem" not in ws.layer_names():
        return None
    with rasterio.open(ws.raster_path("dem")) as src:
        return src.read(1), src.transform, src.crs, src.nodata


@st.cache_data(show_spinner=False, max_entries=4)
def candidate_sites(stamp: map_data.Stamp):
    ws = open_workspace(stamp.location)
    return suitability(map_data.layers(stamp), ws.crs, dem=_dem(ws)).candidates


@st.cache_data(show_spinner=False, max_entries=64)
def plan_for(stamp: map_data.Stamp, k: int, capacity: float, standard: str, limit: float):
    ws = open_workspace(stamp.location)
    return plan(
        map_data.layers(stamp),
        candidate_sites(stamp),
        k,
        dem=_dem(ws),
        capacity_m3d=capacity or None,
        effluent=load_effluent(standard),
        time_limit=limit,
    )


def _proof(summary: dict, lang: str) -> str:
    if summary["proven_optimal"]:
        return t("proven", lang)
    return t("not_proven", lang).format(gap=f"{100 * summary['gap']:.2g} %")


def _capacity_label(capacity: float, lang: str) -> str:
    return f"{capacity:g} m³/d" if capacity else t("no_limit", lang)


def _parse_capacities(text: str) -> list[float]:
    """'', '5000', '5000, 10000' → [0.0] / [5000.0] / [5000.0, 10000.0] (0 = no limit)."""
    values = []
    for part in text.replace("，", ",").split(","):
        part = part.strip()
        if not part:
            continue
        value = float(part)
        if value < 0 or not value < 1e7:
            raise ValueError(part)
        values.append(value)
    return sorted(set(values)) or [0.0]


def _table(results: dict[tuple, SitingResult], lang: str) -> pd.DataFrame:
    rows = []
    for (k, capacity), res in sorted(results.items()):
        s = res.summary
        rows.append(
            {
                t("plants_k", lang): k,
                t("capacity", lang): _capacity_label(capacity, lang),
                t("cost_wan", lang): (
                    round(s["total_cost_cny"] / 1e4) if np.isfinite(s["total_cost_cny"]) else None
                ),
                t("sewer_km", lang): round(s["sewer_length_m"] / 1000, 1),
                t("connected", lang): s["factories_connected"],
                **{f"{p} (t/a)": v for p, v in s["load_removed_tpa"].items()},
                t("proof", lang): _proof(s, lang),
            }
        )
    return pd.DataFrame(rows)


def _chart(table: pd.DataFrame, lang: str):
    cost, k, cap = t("cost_wan", lang), t("plants_k", lang), t("capacity", lang)
    base = alt.Chart(table).encode(
        x=alt.X(f"{cost}:Q", title=cost),
        y=alt.Y("COD (t/a):Q", title="COD (t/a)"),
        color=alt.Color(f"{cap}:N", title=cap),
    )
    return base.mark_line(point=True) + base.mark_text(dy=-10).encode(text=f"{k}:Q")


def _map(stamp, lang: str, shown: dict, key: str) -> None:
    static, bounds = map_data.static_layers(stamp, lang)
    layers = [x for x in static if x.spec.id in CONTEXT]
    layers = [x.shown() if x.spec.id == "catchments" else x for x in layers]
    specs = analysis_specs()
    for layer_id, frame in shown.items():
        if frame is not None and len(frame):
            layers.append(prepare_layer(specs[layer_id], frame.to_crs(DISPLAY_CRS), lang))
    parts = build_map(layers, lang, common.asset_base(), bounds)
    st_folium(
        parts.base,
        layer_control=parts.control,
        height=560,
        use_container_width=True,
        returned_objects=[],
        key=key,
    )


def _catchments(stamp, lang: str) -> None:
    sheds = map_data.layers(stamp).get("catchments")
    if sheds is None or sheds.empty:
        return
    with st.expander(t("catchments_title", lang)):
        table = pd.DataFrame(sheds.drop(columns="geometry"))
        table["drains_to"] = table["drains_to"].map(lambda v: value_label(v, lang))
        st.dataframe(table, hide_index=True, width="stretch")


def render() -> None:
    lang, ws = common.page_start("treatment_title")
    if ws is None:
        return
    stamp = map_data.Stamp.of(ws)
    st.caption(t("assumptions_note", lang))
    _catchments(stamp, lang)
    c1, c2, c3, c4 = st.columns(4)
    kmax = c1.slider(t("kmax", lang), 1, 10, 5, key="tr_kmax")
    cap_text = c2.text_input(t("capacity_opt", lang), "", key="tr_cap", placeholder="5000, 10000")
    standard = c3.selectbox(
        t("effluent_std", lang),
        STANDARDS,
        key="tr_std",
        format_func=lambda s: load_effluent(s)["name"],
    )
    limit = c4.number_input(t("time_limit", lang), 1.0, 300.0, 20.0, key="tr_limit")
    try:
        capacities = _parse_capacities(cap_text)
    except ValueError:
        st.error(t("bad_capacities", lang))
        return
    effluent = load_effluent(standard)
    st.caption(
        f"{effluent['name']} · {value_label(effluent['verification'], lang)} · {effluent['note']}"
    )
    settings = (tuple(capacities), standard, limit)
    runs = [(k, cap) for cap in capacities for k in range(1, kmax + 1)]
    if st.button(t("compare_k", lang), type="primary", key="tr_go"):
        st.caption(t("cancel_hint", lang))
        bar = st.progress(0.0)
        try:
            for i, (k, cap) in enumerate(runs):
                bar.progress(i / len(runs), text=t("running_k", lang).format(k=k))
                plan_for(stamp, k, cap, standard, limit)
            bar.progress(1.0)
        except (TownmapError, ValueError) as exc:
            st.error(escape_markdown(exc))
        st.session_state["tr_results"] = {"settings": settings, "runs": runs}
    state = st.session_state.get("tr_results")
    if state and state["settings"] == settings:
        results = {run: plan_for(stamp, *run, standard, limit) for run in state["runs"]}
        table = _table(results, lang)
        st.dataframe(table, hide_index=True, width="stretch")
        st.altair_chart(
            _chart(table, lang).properties(title=t("cost_vs_load", lang)), width="stretch"
        )
        labels = {run: f"{run[0]} · {_capacity_label(run[1], lang)}" for run in results}
        run = st.selectbox(
            t("show_k", lang),
            list(results),
            index=len(results) - 1,
            format_func=labels.get,
            key="tr_k",
        )
        chosen = results[run]
        shown = {
            "candidate_sites": candidate_sites(stamp),
            "scenario_areas": chosen.service_areas,
            "scenario_sewers": chosen.sewers,
            "scenario_plants": chosen.plants,
        }
        _map(stamp, lang, shown, f"tr_map_{lang}")
        for note in chosen.summary["notes"]:
            st.caption(escape_markdown(note))
        n1, n2 = st.columns([3, 1])
        name = n1.text_input(t("scenario_name", lang), key="tr_name", max_chars=60)
        if n2.button(t("save_scenario", lang), key="tr_save"):
            try:
                params = {"k": run[0], "capacity_m3d": run[1] or None, "standard": standard}
                save_scenario(ws, name, chosen, params)
                st.success(t("scenario_saved", lang).format(name=escape_markdown(name.strip())))
            except TownmapError as exc:
                st.error(escape_markdown(exc))
    saved = list_scenarios(ws)
    if len(saved):
        st.subheader(t("saved_scenarios", lang))
        st.dataframe(saved.drop(columns=["params", "summary"]), hide_index=True, width="stretch")
        pick = st.selectbox(t("show_k", lang), list(saved["scenario"]), key="tr_saved")
        if pick:
            sc = load_scenario(ws, pick)
            shown = {
                "scenario_areas": sc["areas"],
                "scenario_sewers": sc["sewers"],
                "scenario_plants": sc["plants"],
            }
            _map(stamp, lang, shown, f"tr_saved_map_{lang}")


render()
