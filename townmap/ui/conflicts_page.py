"""Conflicts page: siting findings on the map and in a table, planning zones against the
compatibility matrix, and the pre-check of a proposed project.

Every finding shows its verification status beside it; the analyses are cached per
workspace version, so filtering and switching tabs never recompute them.
"""

from __future__ import annotations

import folium
import pandas as pd
import shapely
import streamlit as st

from townmap.analysis.checks import catalog_keys, workspace_context
from townmap.analysis.precheck import precheck
from townmap.analysis.zones import summarise
from townmap.errors import TownmapError
from townmap.i18n import t, value_label
from townmap.render.escape import escape_markdown
from townmap.render.mapview import prepare_layer
from townmap.ui import common, map_data, widgets
from townmap.ui import conflicts_data as data


def _site_mark(lat: float, lon: float) -> folium.FeatureGroup:
    group = folium.FeatureGroup(name="site", control=False)
    folium.CircleMarker(
        (lat, lon),
        radius=10,
        color="#000000",
        weight=3,
        fill=True,
        fill_color="#ffeb3b",
        fill_opacity=0.9,
    ).add_to(group)
    return group


def _filters(lang: str, findings: pd.DataFrame) -> pd.DataFrame:
    c1, c2, c3, c4 = st.columns(4)
    sev = c1.multiselect(
        t("severity", lang),
        ["prohibited", "restricted", "review"],
        default=["prohibited", "restricted", "review"],
        format_func=lambda v: value_label(v, lang),
        key="cf_severity",
    )
    ver = c2.multiselect(
        t("verification", lang),
        ["verified", "partly_verified", "unverified"],
        default=["verified", "partly_verified", "unverified"],
        format_func=lambda v: value_label(v, lang),
        key="cf_verification",
    )
    titles = dict(zip(findings["rule_id"], findings[f"title_{lang}"], strict=False))
    rule = c3.selectbox(
        t("rule", lang),
        ["*", *sorted(titles)],
        format_func=lambda r: titles.get(r, "—"),
        key="cf_rule",
    )
    villages = sorted(findings["village_id"].dropna().unique())
    village = c4.selectbox(
        t("village", lang),
        ["*", *villages],
        key="cf_village",
        format_func=lambda v: "—" if v == "*" else v,
    )
    keep = findings["severity"].isin(sev) & findings["verification"].isin(ver)
    if rule != "*":
        keep &= findings["rule_id"] == rule
    if village != "*":
        keep &= findings["village_id"] == village
    return findings[keep]


def _findings_tab(lang: str, stamp) -> None:
    findings, skipped = data.conflicts(stamp)
    rules = data.rules()
    st.caption(t("verification_note", lang))
    if findings.empty:
        st.success(t("no_findings", lang))
        return
    shown = _filters(lang, findings)
    shown = shown.iloc[data.severity_rank(shown["severity"]).argsort(kind="stable")]
    st.markdown(t("findings_count", lang).format(n=len(shown), rules=shown["rule_id"].nunique()))
    specs = data.analysis_specs()
    layers = [prepare_layer(specs[k], g, lang) for k, g in data.map_frames(shown, lang).items()]
    constraint_ids = {rules[r].constraint.layer for r in shown["rule_id"].unique() if r in rules}
    widgets.page_map(stamp, lang, constraint_ids, layers, f"cf_map_{lang}")
    st.dataframe(data.table(shown, lang), hide_index=True, width="stretch", height=360)
    widgets.export_widget(lang, shown, "conflicts", "cf_export")
    c1, c2 = st.columns(2)
    with c1:
        st.subheader(t("by_rule", lang))
        by_rule = data.counts(shown, f"title_{lang}", lang)
        st.dataframe(by_rule, hide_index=True, width="stretch")
    with c2:
        st.subheader(t("by_village", lang))
        st.dataframe(data.counts(shown, "village_id", lang), hide_index=True, width="stretch")
    st.subheader(t("feature_detail", lang))
    ids = (shown["layer"] + " " + shown["feature_id"].astype(str)).unique()
    pick = st.selectbox(t("choose_feature", lang), ids, key="cf_feature")
    if pick:
        layer_id, feature_id = pick.split(" ", 1)
        mine = findings[(findings["layer"] == layer_id) & (findings["feature_id"] == feature_id)]
        st.dataframe(data.table(mine, lang), hide_index=True, width="stretch")
        attrs = map_data.layers(stamp).get(layer_id)
        key = common.catalog()[layer_id].key if layer_id in common.catalog() else None
        if attrs is not None and key in attrs.columns:
            row = attrs[attrs[key].astype(str) == feature_id].drop(columns="geometry")
            st.dataframe(row.T.astype(str), width="stretch")
    if skipped:
        with st.expander(t("skipped_rules", lang)):
            for note in skipped:
                st.caption(escape_markdown(note))


def _zones_tab(lang: str, stamp) -> None:
    checks = data.zone_checks(stamp)
    if checks.empty:
        st.info(t("no_findings", lang))
        return
    show = checks.assign(
        verdict=checks["verdict"].map(lambda v: value_label(v, lang)),
        verification=checks["verification"].map(lambda v: value_label(v, lang)),
        constraint=checks[f"constraint_{lang}"],
    ).drop(columns=["constraint_zh", "constraint_en"])
    st.dataframe(show, hide_index=True, width="stretch", height=360)
    widgets.export_widget(lang, checks, "zone_checks", "zn_export")
    c1, c2 = st.columns(2)
    with c1:
        st.subheader(t("zones_by_village", lang))
        st.dataframe(summarise(checks, "village_id"), hide_index=True, width="stretch")
    with c2:
        st.subheader(t("zones_by_use", lang))
        by_use = summarise(checks, "land_use")
        by_use["land_use"] = by_use["land_use"].map(lambda v: value_label(v, lang))
        st.dataframe(by_use, hide_index=True, width="stretch")


def _precheck_tab(lang: str, stamp, ws) -> None:
    map_key = f"pc_map_{lang}"
    state = st.session_state.get(map_key) or {}
    clicked = state.get("last_clicked") or {}
    drawn = widgets.drawn_polygon(state.get("all_drawings"))
    layers = map_data.layers(stamp)
    _, bounds = map_data.static_layers(stamp, lang)
    lon0 = clicked.get("lng", (bounds[0] + bounds[2]) / 2 if bounds else 120.0)
    lat0 = clicked.get("lat", (bounds[1] + bounds[3]) / 2 if bounds else 31.3)
    map_col, form = st.columns([3, 2], gap="medium")
    with map_col:
        marks = [] if drawn else [_site_mark(lat0, lon0)]
        returned = ["last_clicked", "all_drawings"]
        widgets.page_map(
            stamp, lang, {"taihu_zones", "water_source_zones"}, [], map_key, returned, marks
        )
    spec = common.catalog().layers.get("enterprises")
    sectors = list(spec.attribute("sector").choices) if spec else ["machinery"]
    with form:
        st.caption(t("precheck_hint", lang))
        c1, c2 = st.columns(2)
        lon = c1.number_input(
            t("lon", lang), value=float(lon0), format="%.6f", key=f"pc_lon_{lon0}"
        )
        lat = c2.number_input(
            t("lat", lang), value=float(lat0), format="%.6f", key=f"pc_lat_{lat0}"
        )
        c3, c4, c5 = st.columns(3)
        sector = c3.selectbox(
            t("sector", lang), sectors, key="pc_sector", format_func=lambda v: value_label(v, lang)
        )
        size = c4.selectbox(
            t("size", lang),
            ["micro", "small", "medium", "large"],
            index=1,
            format_func=lambda v: value_label(v, lang),
            key="pc_size",
        )
        flow = c5.number_input(t("flow", lang), min_value=0.0, value=100.0, key="pc_flow")
        site = drawn or shapely.Point(lon, lat)
        if drawn is not None:
            st.caption(t("precheck_drawn", lang))
        _precheck_result(lang, ws, layers, site, sector, size, flow)


def _precheck_result(lang, ws, layers, site, sector, size, flow) -> None:
    try:
        result = precheck(
            layers,
            data.rules(),
            site,
            sector=sector,
            size=size,
            flow_m3d=flow,
            context=workspace_context(ws),
            keys=catalog_keys(common.catalog()),
        )
    except (TownmapError, ValueError) as exc:
        st.error(escape_markdown(exc))
        return
    if result.findings.empty:
        st.success(t("no_findings", lang))
    else:
        st.dataframe(data.table(result.findings, lang), hide_index=True, width="stretch")
    water = result.receiving
    if water:
        st.markdown(
            f"**{t('receiving_water', lang)}**: "
            + t("precheck_water", lang).format(
                name=escape_markdown(water.get(f"name_{lang}") or water["id"]),
                id=escape_markdown(water["id"]),
                cls=escape_markdown(water["target_class"]),
                basin=escape_markdown(value_label(water["basin"], lang)),
                d=f"{water['distance_m']:g}",
            )
        )
    std = result.standard
    st.markdown(
        f"**{t('discharge_standard', lang)}**: "
        + t("precheck_standard", lang).format(
            std=escape_markdown(std["standard_id"]),
            cls=escape_markdown(std["class"] or "—"),
            route=escape_markdown(value_label(std["route"], lang)),
        )
        + f" · {escape_markdown(value_label(std['verification'], lang))}"
    )
    for note in std["notes"]:
        st.caption(escape_markdown(note[lang]))
    for note in result.notes:  # may name the features found there
        st.caption(escape_markdown(note))


def render() -> None:
    lang, ws = common.page_start("conflicts_title")
    if ws is None:
        return
    stamp = map_data.Stamp.of(ws)
    ruleset = data.rules()
    for err in [*ruleset.errors, *ruleset.skipped]:
        st.warning(escape_markdown(err))
    # one section at a time, not st.tabs: a Leaflet map laid out in a hidden tab has no size
    # and opens zoomed out to the whole world
    section = st.segmented_control(
        t("conflicts_page", lang),
        ["findings", "zones", "precheck"],
        default="findings",
        format_func=lambda k: t(f"tab_{k}", lang),
        key="cf_section",
        label_visibility="collapsed",
    )
    if section == "precheck":
        _precheck_tab(lang, stamp, ws)
    elif section == "zones":
        _zones_tab(lang, stamp)
    else:
        _findings_tab(lang, stamp)


render()
