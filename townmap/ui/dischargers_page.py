"""Dischargers page: every outfall against the limit chosen for it by rule, compliance
per sample and month, repeat offenders on a map and in a list, one discharger's samples
in detail, and a nonconformity raised straight from an exceedance."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from townmap.errors import TownmapError
from townmap.i18n import t, value_label
from townmap.management.editing import raise_nonconformity
from townmap.monitoring.compliance import summarise
from townmap.render.escape import escape_markdown
from townmap.render.mapview import prepare_layer
from townmap.ui import common, conflicts_data, map_data, widgets
from townmap.ui import monitoring_data as data


def _period(result, lang: str):
    years = sorted(pd.to_datetime(result.findings["sampled_at"]).dt.year.unique())
    every = t("all_years", lang)
    year = st.selectbox(
        t("year", lang),
        ["*", *years],
        index=len(years),
        key="dc_year",
        format_func=lambda y: every if y == "*" else str(y),
    )
    findings = result.findings
    if year != "*":
        findings = findings[pd.to_datetime(findings["sampled_at"]).dt.year == year]
    return findings, *summarise(findings)


def _status_layer(stamp, lang: str, result, samples: pd.DataFrame, offenders: pd.DataFrame):
    dps = map_data.layers(stamp)["discharge_points"]
    per_dp = samples.groupby("dp_id").agg(
        samples=("compliant", "size"), failed=("failed", "sum"), worst=("worst_ratio", "max")
    )
    frame = dps.merge(per_dp, left_on="dp_id", right_index=True, how="left")
    owner = frame["ent_id"].where(frame["source_kind"] != "plant", frame["plant_id"])
    frame["owner_id"] = owner
    status = np.where(
        frame["samples"].isna(),
        "no_samples",
        np.where(frame["failed"].fillna(0) > 0, "failed", "compliant"),
    )
    status = np.where(owner.isin(offenders["owner_id"]), "repeat_offender", status)
    frame["status"] = status
    rate = 1 - frame["failed"] / frame["samples"]
    frame["compliance_rate"] = rate.map(lambda v: "—" if pd.isna(v) else f"{v:.0%}")
    frame["worst_ratio"] = frame["worst"].map(lambda v: "—" if pd.isna(v) else f"{v:.2f}×")
    chosen = result.points.drop_duplicates("dp_id").set_index("dp_id")
    frame["standard"] = frame["dp_id"].map(chosen["standard"] + " " + chosen["class"])
    frame["verification"] = (
        frame["dp_id"].map(chosen["choice_verification"]).map(lambda v: value_label(v, lang))
    )
    frame["samples"] = frame["samples"].fillna(0).astype(int)
    frame["failed"] = frame["failed"].fillna(0).astype(int)
    frame["status"] = frame["status"].map(lambda v: v)  # coded: the legend labels it
    spec = conflicts_data.analysis_specs()["discharge_status"]
    cols = [a.name for a in spec.attributes]
    return prepare_layer(spec, frame[[*cols, "geometry"]], lang), frame


def _names(stamp, lang: str) -> pd.Series:
    layers = map_data.layers(stamp)
    names = {}
    if "enterprises" in layers:
        e = layers["enterprises"]
        names.update(dict(zip(e["ent_id"], e[f"name_{lang}"], strict=False)))
    if "treatment_plants" in layers:
        p = layers["treatment_plants"]
        names.update(dict(zip(p["plant_id"], p[f"name_{lang}"], strict=False)))
    return pd.Series(names, dtype=object)


def _detail(ws, stamp, lang: str, findings: pd.DataFrame, names: pd.Series) -> None:
    st.subheader(t("discharger_detail", lang))
    owners = sorted(findings["owner_id"].dropna().unique())
    if not owners:
        return
    owner = st.selectbox(
        t("discharger", lang),
        owners,
        key="dc_owner",
        format_func=lambda o: f"{o} · {names.get(o, '')}",
    )
    mine = findings[findings["owner_id"] == owner].copy()
    mine["basis"] = mine["basis_zh"] if lang == "zh" else mine["basis"]
    mine["verification"] = mine["verification"].map(lambda v: value_label(v, lang))
    cols = [
        "dp_id",
        "sampled_at",
        "parameter",
        "value",
        "limit",
        "ratio",
        "compliant",
        "indicative",
        "standard_id",
        "class",
        "water_temp_c",
        "temperature_assumed",
        "verification",
        "basis",
    ]
    st.dataframe(mine[cols], hide_index=True, width="stretch", height=300)
    failed = mine[mine["compliant"].eq(False) & ~mine["indicative"]]
    if failed.empty:
        return
    with st.form("dc_nc"):
        st.markdown(f"**{t('raise_nc', lang)}**")
        labels = (
            failed["dp_id"]
            + " "
            + failed["sampled_at"].astype(str)
            + " "
            + failed["parameter"]
            + f" {t('ratio', lang)} "
            + failed["ratio"].round(2).astype(str)
            + "×"
        )
        pick = st.selectbox(
            t("exceedance", lang), list(labels.index), format_func=lambda i: labels[i]
        )
        writer = common.name_box(ws, lang, "dc_nc_user")
        if st.form_submit_button(t("raise_nc", lang)):
            row = failed.loc[pick]
            try:
                nc = raise_nonconformity(
                    writer,
                    source_kind="exceedance",
                    source_ref=f"{row['dp_id']} {row['sampled_at']} {row['parameter']}",
                    description=(
                        f"{row['parameter']} {row['value']:g} mg/L > {row['limit']:g} "
                        f"({row['standard_id']} {row['class']})"
                    ),
                    clause="9.1.2",
                )
                st.success(t("nc_raised", lang).format(id=escape_markdown(nc)))
            except TownmapError as exc:
                st.error(escape_markdown(exc))


def _data_problems(lang: str, result) -> None:
    """What in the data stands in the way of a right verdict, said before the verdicts:
    outfalls whose receiving-water id names nothing, results that could not be read."""
    points = result.points.drop_duplicates("dp_id")
    unknown = points[points.get("receiving_unknown", False) == True]  # noqa: E712
    if len(unknown):
        ids = ", ".join(unknown["dp_id"].astype(str).head(20))
        st.error(escape_markdown(t("receiving_unknown", lang).format(n=len(unknown), ids=ids)))
    refused = result.refused
    if refused is not None and len(refused):
        counts = refused["reason"].value_counts()
        listed = t("list_sep", lang).join(
            f"{t(f'lab_reason_{r}', lang)} ({n})" for r, n in counts.items()
        )
        st.warning(t("effluent_refused", lang).format(n=len(refused), reasons=listed))
    ignored = result.ignored
    if ignored is not None and len(ignored):
        names = t("list_sep", lang).join(pd.unique(ignored["parameter"].astype(str))[:10])
        st.caption(escape_markdown(t("unread_ignored", lang).format(names=names)))


def render() -> None:
    lang, ws = common.page_start("dischargers_title")
    if ws is None:
        return
    stamp = map_data.Stamp.of(ws)
    result = data.compliance(stamp)
    if result is None or result.findings.empty:
        st.info(t("no_effluent", lang))
        return
    st.caption(t("dischargers_note", lang))
    _data_problems(lang, result)
    findings, samples, monthly, offenders = _period(result, lang)
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(t("samples", lang), f"{len(samples):,}")
    m2.metric(t("compliant_share", lang), f"{samples['compliant'].mean():.0%}")
    m3.metric(t("repeat_offenders", lang), f"{len(offenders):,}")
    unverified = (findings["verification"] != "verified").mean()
    m4.metric(t("unverified_limits", lang), f"{unverified:.0%}")
    unassessed = int(samples["compliant"].isna().sum())
    if unassessed:  # the share above is of the samples that could be judged
        st.caption(t("samples_not_assessed", lang).format(n=unassessed, total=len(samples)))
    names = _names(stamp, lang)
    section = widgets.sections(lang, ["map", "offenders", "months", "limits"], "dc_section")
    if section == "map":
        layer, _ = _status_layer(stamp, lang, result, samples, offenders)
        widgets.page_map(stamp, lang, set(), [layer], f"dc_map_{lang}")
        _detail(ws, stamp, lang, findings, names)
    elif section == "offenders":
        shown = offenders.assign(name=offenders["owner_id"].map(names))
        st.dataframe(shown, hide_index=True, width="stretch")
        widgets.export_widget(lang, shown, "repeat_offenders", "dc_off_export")
        _detail(ws, stamp, lang, findings, names)
    elif section == "months":
        town = samples.groupby("month", as_index=False)["compliant"].mean()
        town["compliant"] = town["compliant"] * 100
        chart = (
            alt.Chart(town)
            .mark_bar(color="#2c7bb6")
            .encode(
                x=alt.X("month:N", title=t("month", lang)),
                y=alt.Y(
                    "compliant:Q",
                    title=t("compliant_share", lang) + " %",
                    scale=alt.Scale(domain=[0, 100]),
                ),
            )
        )
        st.altair_chart(chart, width="stretch")
        shown = monthly.assign(name=monthly["owner_id"].map(names))
        st.dataframe(shown, hide_index=True, width="stretch", height=360)
        widgets.export_widget(lang, shown, "monthly_compliance", "dc_month_export")
    else:
        points = result.points.copy()
        points["basis"] = points[f"basis_{lang}"]
        points["choice_verification"] = points["choice_verification"].map(
            lambda v: value_label(v, lang)
        )
        cols = [
            "dp_id",
            "owner_kind",
            "owner_id",
            "receiving",
            "receiving_class",
            "receiving_nearest",
            "receiving_unknown",
            "to_sewer",
            "taihu_level",
            "standard",
            "class",
            "screening",
            "choice_verification",
            "basis",
        ]
        st.dataframe(points[cols], hide_index=True, width="stretch", height=420)
        widgets.export_widget(lang, findings, "compliance_findings", "dc_export")


render()
