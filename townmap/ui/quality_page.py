"""Water quality page: stations on the map coloured by their latest GB 3838 class, the
class of every period with its deciding parameter, attainment of each water body's target,
and the trend of one parameter at one station against the class bands with a seasonal
Mann–Kendall test."""

from __future__ import annotations

import altair as alt
import geopandas as gpd
import numpy as np
import pandas as pd
import streamlit as st

from townmap.i18n import t, value_label
from townmap.monitoring.quality import ROMAN_TO_CLASS, load_standard, seasonal_mann_kendall
from townmap.render.escape import escape_markdown
from townmap.render.mapview import prepare_layer
from townmap.ui import common, conflicts_data, map_data, widgets
from townmap.ui import monitoring_data as data


def _station_table(stamp, lang: str, freq: str) -> gpd.GeoDataFrame:
    """Latest period's class per station, with its target and whether it was met."""
    stations = map_data.layers(stamp)["monitoring_stations"]
    table = data.classes(stamp)["year" if freq == "Y" else "month"]
    latest = table.sort_values("period").groupby("station").tail(1)
    out = stations.merge(latest, left_on="station_id", right_on="station", how="left")
    target = out["target_class"].map(ROMAN_TO_CLASS)
    out["attained"] = np.where(out["class"] <= target, t("yes", lang), t("no", lang))
    out.loc[out["class"].isna(), "attained"] = "—"
    bound = out["class_bound"].fillna(False).astype(bool) & (out["class"] > target)
    out.loc[bound, "attained"] = t("attained_unknown", lang)  # "IV or better" vs III
    out["name"] = out[f"name_{lang}"]
    out["station"] = out["station_id"]
    for shown, label in (
        ("class_shown", "class_label"),
        ("tn_shown", "tn_class_label"),
        ("fecal_coliform_shown", "fecal_coliform_class_label"),
    ):
        out[shown] = out[f"{label}_{lang}"].fillna("–")
    return out


def _stations(stamp, lang: str) -> None:
    freq = st.radio(
        t("period", lang),
        ["Y", "M"],
        horizontal=True,
        key="wq_freq",
        format_func=lambda f: t(f"period_{f}", lang),
    )
    table = _station_table(stamp, lang, freq)
    spec = conflicts_data.analysis_specs()["station_classes"]
    shown = table.dropna(subset=["class"])
    layer = prepare_layer(spec, shown[[*(a.name for a in spec.attributes), "geometry"]], lang)
    widgets.page_map(stamp, lang, set(), [layer], f"wq_map_{lang}")
    cols = [
        "station_id",
        "name",
        "water_body",
        "water_type",
        "target_class",
        "period",
        "class_shown",
        "deciding_parameter",
        "tn_shown",
        "fecal_coliform_shown",
        "attained",
        "exceedance",
        "exceeding_parameter",
    ]
    st.dataframe(pd.DataFrame(table[cols]), hide_index=True, width="stretch")
    widgets.export_widget(lang, table[[*cols, "geometry"]], "station_classes", "wq_export")
    over = data.source_water(stamp)
    if len(over):
        st.warning(t("source_water_over", lang).format(n=len(over)))
        names = over["parameter"].map(lambda p: _parameter_label(p, lang))
        st.dataframe(over.assign(parameter=names), hide_index=True, width="stretch")


def _axis_title(series: pd.DataFrame, parameter: str, lang: str) -> str:
    """The parameter and the unit its values are in (mg/L, 个/L, °C; none for pH)."""
    unit = str(series["unit"].iloc[0]) if "unit" in series and len(series) else ""
    name = _parameter_label(parameter, lang)
    return f"{name} ({unit})" if unit else name


def _parameter_label(code: str, lang: str) -> str:
    from townmap.monitoring.lab_data import load_vocabulary

    found = load_vocabulary().codes.get(code)
    return found.label(lang) if found else code


def _attainment(stamp, lang: str) -> None:
    years = data.classes(stamp)["year"]
    stations = map_data.layers(stamp)["monitoring_stations"].set_index("station_id")
    target = years["station"].map(stations["target_class"]).map(ROMAN_TO_CLASS)
    years = years.assign(attained=years["class"] <= target)
    share = years.groupby("period")["attained"].mean().mul(100).round(1)
    c1, c2 = st.columns([2, 3])
    with c1:
        st.subheader(t("attainment_by_year", lang))
        st.dataframe(
            share.rename(t("attained_pct", lang)).reset_index(), hide_index=True, width="stretch"
        )
    with c2:
        st.subheader(t("class_by_year", lang))
        grid = years.pivot(index="station", columns="period", values=f"class_label_{lang}")
        st.dataframe(grid, width="stretch")
    detail = years.assign(target=years["station"].map(stations["target_class"]))
    st.dataframe(detail, hide_index=True, width="stretch", height=300)


def _bands(parameter: str, water_type: str) -> pd.DataFrame:
    """The class limits of one parameter as bands (low, high, class) for the chart."""
    std = load_standard().table
    row = std[(std["parameter"] == parameter) & (std["water_type"] == water_type)]
    if row.empty or row.iloc[0]["direction"] == "range":
        return pd.DataFrame(columns=["low", "high", "class"])
    r = row.iloc[0]
    limits = [float(r[f"l{i}"]) for i in range(1, 6)]
    names = ["I", "II", "III", "IV", "V", "劣V"]
    if r["direction"] == "min":  # DO: higher is better
        edges = [np.inf, *limits, 0.0]
        rows = [(edges[i + 1], edges[i], names[i]) for i in range(6)]
    else:
        edges = [0.0, *limits, np.inf]
        rows = [(edges[i], edges[i + 1], names[i]) for i in range(6)]
    bands = pd.DataFrame(rows, columns=["low", "high", "class"])
    return bands[bands["low"] < bands["high"]]


def _trend(stamp, lang: str) -> None:
    frame = data.samples(stamp)
    stations = sorted(frame["station"].dropna().unique())
    c1, c2 = st.columns(2)
    station = c1.selectbox(t("station", lang), stations, key="wq_station")
    params = sorted(frame.loc[frame["station"] == station, "parameter"].unique())
    parameter = c2.selectbox(
        t("parameter", lang),
        params,
        key="wq_param",
        index=params.index("NH3-N") if "NH3-N" in params else 0,
        format_func=lambda p: _parameter_label(p, lang),
    )
    series = frame[(frame["station"] == station) & (frame["parameter"] == parameter)]
    series = series.dropna(subset=["value"]).sort_values("time")
    if series.empty:
        st.info(t("no_data", lang))
        return
    water = str(series["water_type"].iloc[0])
    top = float(series["value"].max()) * 1.15
    bands = _bands(parameter, water)
    bands = bands.assign(high=bands["high"].clip(upper=max(top, 1e-9)))
    bands = bands[bands["low"] < top]
    base = alt.Chart(series).encode(
        x=alt.X("time:T", title=t("time", lang), axis=alt.Axis(format="%Y-%m"))
    )
    layers = []
    if len(bands):
        colours = conflicts_data.analysis_specs()["station_classes"].style.categories
        layers.append(
            alt.Chart(bands)
            .mark_rect(opacity=0.18)
            .encode(
                y=alt.Y("low:Q"),
                y2="high:Q",
                color=alt.Color(
                    "class:N",
                    scale=alt.Scale(domain=list(colours), range=list(colours.values())),
                    legend=alt.Legend(title=t("class", lang)),
                ),
            )
        )
    line = base.mark_line(point=True, color="#222222").encode(
        y=alt.Y("value:Q", title=_axis_title(series, parameter, lang)),
        tooltip=["time:T", "value:Q", "below_detection:N"],
    )
    st.altair_chart(alt.layer(*layers, line), width="stretch")
    test = seasonal_mann_kendall(series["time"], series["value"])
    m1, m2, m3 = st.columns(3)
    m1.metric(t("trend", lang), value_label(test["trend"], lang))
    m2.metric("p", f"{test['p']:.3f}")
    unit = str(series["unit"].iloc[0]) if "unit" in series else ""
    m3.metric(t("sen_slope", lang), f"{test['slope_per_year']:.3g} {unit}/a".replace(" /a", "/a"))
    st.caption(t("mk_note", lang))
    estimated = series.get("qualifier", pd.Series(dtype=str)).astype(str).eq("estimated")
    if estimated.any():
        st.caption(t("estimated_note", lang).format(n=int(estimated.sum())))
    if series["below_detection"].any():
        st.caption(t("below_dl_note", lang).format(n=int(series["below_detection"].sum())))


def _unread(stamp, lang: str) -> None:
    """Results the classification could not use, with the reason, never left out
    silently: refused rows (unit, value) and parameters Townmap does not know."""
    refused, ignored = data.unread(stamp)
    if refused.empty and ignored.empty:
        return
    title = t("unread_results", lang).format(refused=len(refused), ignored=len(ignored))
    with st.expander(title):
        if len(refused):
            shown = refused.assign(
                reason=refused["reason"].map(lambda r: t(f"lab_reason_{r}", lang)),
                row=refused["row"] + 1,
            ).astype(str)
            shown.columns = [t(f"unread_{c}", lang) for c in shown.columns]
            st.dataframe(shown, hide_index=True, width="stretch")
        if len(ignored):
            counts = ignored["parameter"].astype(str).value_counts()
            names = t("list_sep", lang).join(f"{n} ({c})" for n, c in counts.items())
            st.caption(escape_markdown(t("unread_ignored", lang).format(names=names)))


def render() -> None:
    lang, ws = common.page_start("quality_title")
    if ws is None:
        return
    stamp = map_data.Stamp.of(ws)
    if data.samples(stamp).empty:
        st.info(t("no_water_samples", lang))
        return
    st.caption(t("quality_note", lang))
    _unread(stamp, lang)
    section = widgets.sections(lang, ["stations", "attainment", "trend"], "wq_section")
    if section == "trend":
        _trend(stamp, lang)
    elif section == "attainment":
        _attainment(stamp, lang)
    else:
        _stations(stamp, lang)


render()
