"""EMS register page: the town's ISO 14001 records under the clause numbers of the chosen
edition — status per clause, aspects with significance, compliance obligations generated
from ``layers/`` with their evaluation, objectives with progress on computed indicators,
internal audits, nonconformities (raised straight from a conflict), management reviews,
documents, and the change log that is the register's document control."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from townmap.errors import TownmapError
from townmap.i18n import t, value_label
from townmap.management.editing import LOG, raise_nonconformity
from townmap.management.register import (
    clause_status,
    editions,
    objective_progress,
    obligations,
    significance,
)
from townmap.render.escape import escape_markdown
from townmap.ui import common, conflicts_data, editor, map_data, widgets
from townmap.ui import monitoring_data as data

SECTIONS = [
    "status",
    "aspects",
    "obligations",
    "objectives",
    "audits",
    "nonconformities",
    "reviews",
    "records",
    "log",
]
TABLES = {
    "aspects": "ems_aspects",
    "objectives": "ems_objectives",
    "audits": "ems_audits",
    "nonconformities": "ems_nonconformities",
    "reviews": "ems_reviews",
    "records": "ems_records",
}


def _status(ws, lang: str, edition: str) -> None:
    table = clause_status(ws, edition)
    counts = table["status"].value_counts()
    cols = st.columns(4)
    for col, key in zip(cols, ["evidence", "attention", "gap", "not_tracked"], strict=True):
        col.metric(value_label(key, lang), int(counts.get(key, 0)))
    shown = table.assign(
        title=table[f"title_{lang}"], status=table["status"].map(lambda v: value_label(v, lang))
    )
    st.dataframe(
        shown[["clause", "title", "registers", "records", "attention", "status"]],
        hide_index=True,
        width="stretch",
        height=600,
    )


def _obligations(stamp, lang: str) -> None:
    table = obligations()
    findings, _ = conflicts_data.conflicts(stamp)
    per_rule = findings.groupby("rule_id").size() if len(findings) else pd.Series(dtype=int)
    table["evaluation"] = ""
    is_rule = table["obligation"].str.startswith("rule:")
    counts = table.loc[is_rule, "obligation"].str[5:].map(per_rule).fillna(0).astype(int)
    table.loc[is_rule, "evaluation"] = counts.map(lambda n: t("findings_n", lang).format(n=n))
    result = data.compliance(stamp)
    if result is not None:
        rate = result.findings.groupby("standard_id")["compliant"].mean()
        is_std = table["obligation"].str.startswith("standard:")
        ids = table.loc[is_std, "instrument_en"]
        table.loc[is_std, "evaluation"] = ids.map(rate).map(
            lambda v: "" if pd.isna(v) else t("compliant_pct", lang).format(p=100 * v)
        )
    shown = table.assign(
        instrument=table[f"instrument_{lang}"],
        requirement=table[f"requirement_{lang}"],
        verification=table["verification"].map(lambda v: value_label(v, lang)),
    )
    cols = [
        "obligation",
        "kind",
        "instrument",
        "article",
        "version",
        "valid_from",
        "requirement",
        "verification",
        "evaluation",
        "source",
    ]
    st.caption(t("obligations_note", lang))
    st.dataframe(shown[cols], hide_index=True, width="stretch", height=520)
    widgets.export_widget(lang, shown[cols], "compliance_obligations", "ems_ob_export")


def _objectives(ws, stamp, lang: str) -> None:
    current = data.indicators(stamp)
    st.subheader(t("indicators", lang))
    st.dataframe(
        current.assign(label=current[f"label_{lang}"])[
            ["indicator", "label", "value", "unit", "year", "better"]
        ].round(2),
        hide_index=True,
        width="stretch",
    )
    if ws.has_table("ems_objectives"):
        progress = objective_progress(ws.read_table("ems_objectives"), current)
        st.subheader(t("progress", lang))
        bar = st.column_config.ProgressColumn(
            t("progress", lang), min_value=0, max_value=100, format="%.0f%%"
        )
        st.dataframe(
            progress.round(1), hide_index=True, width="stretch", column_config={"progress_pct": bar}
        )
    editor.edit_table(ws, "ems_objectives", lang)


def _raise_from_conflict(ws, stamp, lang: str) -> None:
    findings, _ = conflicts_data.conflicts(stamp)
    serious = findings[findings["severity"].isin(["prohibited", "restricted"])]
    if serious.empty:
        return
    with st.form("ems_nc_conflict"):
        st.markdown(f"**{t('raise_nc_conflict', lang)}**")
        labels = (
            serious["layer"]
            + " "
            + serious["feature_id"].astype(str)
            + " · "
            + serious[f"title_{lang}"]
        )
        pick = st.selectbox(t("finding", lang), list(labels.index), format_func=lambda i: labels[i])
        writer = common.name_box(ws, lang, "ems_nc_user")
        if st.form_submit_button(t("raise_nc", lang)):
            row = serious.loc[pick]
            try:
                nc = raise_nonconformity(
                    writer,
                    source_kind="conflict",
                    source_ref=f"{row['rule_id']} {row['feature_id']}",
                    description=f"{row['title_zh']} / {row['title_en']}",
                    clause="8.1",
                )
                st.success(t("nc_raised", lang).format(id=escape_markdown(nc)))
            except TownmapError as exc:
                st.error(escape_markdown(exc))


def render() -> None:
    lang, ws = common.page_start("ems_title")
    if ws is None:
        return
    stamp = map_data.Stamp.of(ws)
    known = editions()
    c1, c2 = st.columns([1, 3])
    edition = c1.selectbox(
        t("edition", lang), list(known), key="ems_edition", format_func=lambda e: known[e]["name"]
    )
    c2.caption(f"{known[edition]['note']} · {value_label(known[edition]['verification'], lang)}")
    section = widgets.sections(lang, SECTIONS, "ems_section", prefix="ems_")
    if section == "status":
        _status(ws, lang, edition)
    elif section == "obligations":
        _obligations(stamp, lang)
    elif section == "objectives":
        _objectives(ws, stamp, lang)
    elif section == "log":
        log = ws.read_table(LOG) if ws.has_table(LOG) else pd.DataFrame()
        st.caption(t("log_note", lang))
        st.dataframe(log.iloc[::-1], hide_index=True, width="stretch", height=520)
        widgets.export_widget(lang, log, "change_log", "ems_log_export")
    else:
        if section == "aspects" and ws.has_table("ems_aspects"):
            scored = significance(ws.read_table("ems_aspects"))
            st.dataframe(
                scored[["aspect_id", "aspect", "impact", "score", "significant"]],
                hide_index=True,
                width="stretch",
            )
        if section == "nonconformities":
            _raise_from_conflict(ws, stamp, lang)
        editor.edit_table(ws, TABLES[section], lang)


render()
