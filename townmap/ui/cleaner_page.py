"""Cleaner production page: the programme as the town and county report it (audits
required vs completed per year, coverage, continuing audits, reasons cited), every
enterprise's audit through the seven phases and whether it is mandatory (computed), and
the audit and option records, edited here with a change log."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from townmap.i18n import t, value_label
from townmap.management.cleaner import PHASE_COLUMNS, load_programme
from townmap.render.escape import escape_markdown
from townmap.ui import common, editor, map_data, widgets
from townmap.ui import monitoring_data as data


def _programme(result: dict, lang: str) -> None:
    per_year = result["per_year"]
    if per_year.empty:
        st.info(t("no_data", lang))
        return
    long = per_year.melt(
        id_vars="year",
        value_vars=["required", "started", "completed"],
        var_name="what",
        value_name="n",
    )
    long["what"] = long["what"].map(lambda w: t(f"cp_{w}", lang))
    chart = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("year:O", title=t("year", lang)),
            xOffset="what:N",
            y=alt.Y("n:Q", title=t("enterprises", lang)),
            color=alt.Color("what:N", legend=alt.Legend(title=None)),
        )
    )
    st.altair_chart(chart, width="stretch")
    shown = per_year.assign(coverage=(per_year["coverage"] * 100).round(1))
    st.dataframe(shown, hide_index=True, width="stretch")
    st.subheader(t("reasons_cited", lang))
    reasons = result["reasons"].copy()
    labels = load_programme()["reasons"]
    reasons["reason"] = reasons["reason"].map(lambda r: labels.get(r, {}).get(lang, r))
    st.dataframe(reasons, hide_index=True, width="stretch")
    triggers = load_programme()["triggers"]
    with st.expander(t("mandatory_triggers", lang)):
        for spec in triggers.values():
            st.caption(
                f"{spec['label'][lang]} — {spec['computed_from']} "
                f"({value_label(spec['verification'], lang)})"
            )


def _enterprises(ws, result: dict, lang: str) -> None:
    view = result["enterprises"].copy()
    phases = {p["code"]: p["label"][lang] for p in load_programme()["phases"]}
    c1, c2, c3 = st.columns(3)
    statuses = ["not_started", "in_progress", "implemented", "accepted", "continuing"]
    pick = c1.multiselect(
        t("cp_status", lang),
        statuses,
        default=statuses,
        key="cp_status",
        format_func=lambda s: value_label(s, lang),
    )
    only_mandatory = c2.checkbox(t("only_mandatory", lang), key="cp_mand")
    only_missing = c3.checkbox(t("only_missing", lang), key="cp_missing")
    keep = view["status"].isin(pick)
    if only_mandatory and "mandatory" in view:
        keep &= view["mandatory"]
    if only_missing and "missing_audit" in view:
        keep &= view["missing_audit"]
    shown = (
        view[keep]
        .assign(
            name=view[f"name_{lang}"],
            sector=view["sector"].map(lambda s: value_label(s, lang)),
            phase_name=view["phase_code"].map(phases),
            status=view["status"].map(lambda s: value_label(s, lang)),
        )
        .drop(columns=["name_zh", "name_en"])
    )
    st.dataframe(shown, hide_index=True, width="stretch", height=360)
    widgets.export_widget(lang, shown, "cleaner_production", "cp_export")
    ids = list(shown["ent_id"])
    if not ids:
        return
    names = dict(zip(shown["ent_id"], shown["name"], strict=False))
    ent = st.selectbox(
        t("enterprise", lang), ids, key="cp_ent", format_func=lambda e: f"{e} · {names.get(e, '')}"
    )
    audits = ws.read_table("cp_audits") if ws.has_table("cp_audits") else pd.DataFrame()
    mine = audits[audits["ent_id"] == ent] if len(audits) else audits
    for _, audit in mine.iterrows():
        st.markdown(
            f"**{t('round', lang)} {int(audit['round'])}** · "
            + escape_markdown(value_label(audit["kind"], lang))
        )
        steps = pd.DataFrame(
            {
                t("phase", lang): list(phases.values()),
                t("done_on", lang): [audit.get(c) or "—" for c in PHASE_COLUMNS],
            }
        )
        st.dataframe(steps, hide_index=True, width="stretch")
    options = ws.read_table("cp_options") if ws.has_table("cp_options") else pd.DataFrame()
    if len(options):
        st.dataframe(options[options["ent_id"] == ent], hide_index=True, width="stretch")


def render() -> None:
    lang, ws = common.page_start("cleaner_title")
    if ws is None:
        return
    stamp = map_data.Stamp.of(ws)
    result = data.programme(stamp)
    if not result:
        st.info(t("no_data", lang))
        return
    view = result["enterprises"]
    m1, m2, m3, m4 = st.columns(4)
    if "mandatory" in view:
        m1.metric(t("cp_mandatory", lang), int(view["mandatory"].sum()))
        m2.metric(t("cp_missing", lang), int(view["missing_audit"].sum()))
    per_year = result["per_year"]
    if len(per_year) and per_year["coverage"].notna().any():
        m3.metric(t("cp_coverage", lang), f"{per_year['coverage'].dropna().iloc[-1]:.0%}")
    m4.metric(t("cp_continuing", lang), int(view["status"].eq("continuing").sum()))
    st.caption(t("cleaner_note", lang))
    section = widgets.sections(lang, ["programme", "enterprises", "records"], "cp_section")
    if section == "enterprises":
        _enterprises(ws, result, lang)
    elif section == "records":
        st.subheader(t("cp_audits", lang))
        editor.edit_table(ws, "cp_audits", lang, keys=["ent_id", "round"])
        st.subheader(t("cp_options", lang))
        editor.edit_table(ws, "cp_options", lang)
    else:
        _programme(result, lang)


render()
