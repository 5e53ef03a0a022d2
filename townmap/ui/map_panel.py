"""The controls and the panel beside the map: filters, search, details, drawings."""

from __future__ import annotations

import re

import geopandas as gpd
import pandas as pd
import streamlit as st
from pyproj import CRS

from townmap.catalog import LayerSpec
from townmap.explore import inspect
from townmap.explore.filters import CHOICE_FIELDS, LOAD_FIELDS, EnterpriseFilter
from townmap.explore.search import Hit, search
from townmap.i18n import t, value_label
from townmap.render.escape import escape_markdown

_KEY = re.compile(r"^[0-9a-fA-F]{32}$")


def _unit_label(spec: LayerSpec, name: str, lang: str) -> str:
    attr = spec.attribute(name)
    return f"{attr.label.get(lang)} ({attr.unit})" if attr.unit else attr.label.get(lang)


def enterprise_filters(lang: str, tve: gpd.GeoDataFrame, spec: LayerSpec) -> tuple[tuple, tuple]:
    """Sidebar filters; returns (filter fields, style fields) as hashable tuples."""
    sb = st.sidebar
    sb.subheader(t("filters", lang))
    chosen = {}
    for name in CHOICE_FIELDS:
        attr = spec.attribute(name)
        chosen[name] = tuple(
            sb.multiselect(
                attr.label.get(lang),
                attr.choices or [],
                key=f"flt_{name}",
                format_func=lambda v: value_label(v, lang),
                placeholder=t("any", lang),
            )
        )
    fields = [f for f in LOAD_FIELDS if f in tve.columns]
    load_field = sb.selectbox(
        t("load_field", lang),
        fields,
        key="flt_load_field",
        format_func=lambda f: _unit_label(spec, f, lang),
    )
    values = pd.to_numeric(tve[load_field], errors="coerce").dropna()
    lo, hi = (float(values.min()), float(values.max())) if len(values) else (0.0, 0.0)
    low = high = None
    if hi > lo:
        picked = sb.slider(t("load_range", lang), lo, hi, (lo, hi), key=f"flt_range_{load_field}")
        low = picked[0] if picked[0] > lo else None
        high = picked[1] if picked[1] < hi else None
    flt = EnterpriseFilter(load_field=load_field, load_min=low, load_max=high, **chosen)
    colour = sb.selectbox(
        t("colour_by", lang),
        [None, *fields],
        key="style_colour",
        format_func=lambda f: t("by_sector", lang) if f is None else _unit_label(spec, f, lang),
    )
    size = sb.selectbox(
        t("size_by", lang),
        [None, *fields],
        key="style_size",
        format_func=lambda f: t("same_size", lang) if f is None else _unit_label(spec, f, lang),
    )
    flt_tuple = (
        flt.sector,
        flt.size,
        flt.treatment,
        flt.cp_audit_phase,
        flt.iso14001,
        flt.load_field,
        flt.load_min,
        flt.load_max,
    )
    return flt_tuple, (colour, size)


def tianditu_key(lang: str) -> str | None:
    with st.sidebar.expander(t("online_basemaps", lang)):
        key = st.text_input(
            t("tianditu_key", lang),
            type="password",
            key="tianditu_key",
            help=t("tianditu_help", lang),
        ).strip()
        if key and not _KEY.match(key):
            st.error(t("bad_key", lang))
            return None
    return key or None


def search_box(lang: str, index: pd.DataFrame) -> Hit | None:
    """Search field and results; the chosen hit is remembered until the next search."""
    query = st.text_input(t("search", lang), key="search_query")
    if not query.strip():
        return None
    hits = search(index, query)
    if not hits:
        st.caption(t("no_results", lang))
        return None
    return st.selectbox(
        t("search_results", lang), hits, key="search_pick", format_func=lambda h: h.label(lang)
    )


def show_totals(lang: str, spec: LayerSpec, sums: dict[str, float], shown: int, total: int) -> None:
    st.caption(t("shown_of", lang).format(shown=f"{shown:,}", total=f"{total:,}"))
    rows = [
        (spec.attribute(n).label.get(lang), f"{sums[n]:,.2f} {spec.attribute(n).unit}")
        for n in ("cod_tpa", "nh3n_tpa", "tp_tpa", "tn_tpa", "wastewater_m3d")
        if n in sums
    ]
    st.dataframe(
        pd.DataFrame(rows, columns=[t("totals", lang), ""]), hide_index=True, width="stretch"
    )


def show_click(
    lang: str,
    clicked: inspect.Clicked,
    layers: dict[str, gpd.GeoDataFrame],
    specs: dict[str, LayerSpec],
    crs: CRS,
) -> None:
    st.subheader(t("details", lang))
    if clicked.layer is None:
        found = inspect.identify(layers, specs, clicked.lat, clicked.lon, crs)
        st.caption(f"{t('here', lang)} ({clicked.lat:.5f}°N, {clicked.lon:.5f}°E)")
        if not found:
            st.caption(t("nothing_here", lang))
        for spec, row in found:
            with st.expander(spec.label.get(lang)):
                st.dataframe(
                    inspect.feature_rows(spec, row, lang), hide_index=True, width="stretch"
                )
        return
    spec, gdf = specs.get(clicked.layer), layers.get(clicked.layer)
    row = inspect.find_feature(gdf, spec, clicked.key) if spec and gdf is not None else None
    if row is None:
        st.caption(t("nothing_here", lang))
        return
    st.markdown(f"**{spec.label.get(lang)}**")
    st.dataframe(inspect.feature_rows(spec, row, lang), hide_index=True, width="stretch")
    if clicked.layer == "enterprises":
        links = inspect.enterprise_links(row, layers)
        dps = links["discharge_points"]
        if dps is not None and not dps.empty:
            st.markdown(f"**{t('its_outfalls', lang)}**")
            cols = [c for c in ("dp_id", "receiving_name", "flow_m3d") if c in dps.columns]
            st.dataframe(pd.DataFrame(dps[cols]), hide_index=True, width="stretch")
        station = links["station"]
        if station is not None:
            name = escape_markdown(station["name_zh"] if lang == "zh" else station["name_en"])
            st.markdown(
                f"**{t('nearest_station', lang)}**: {name} "
                f"({escape_markdown(station['station_id'])}), "
                f"{t('distance', lang)} {links['station_distance_m']:,.0f} m"
            )


def show_drawing(
    lang: str,
    feature: dict,
    layers: dict[str, gpd.GeoDataFrame],
    specs: dict[str, LayerSpec],
    crs: CRS,
    tve: gpd.GeoDataFrame,
) -> None:
    st.subheader(t("drawn", lang))
    geom = inspect.drawn_geometry(feature, crs)
    sizes = inspect.measure(geom)
    if "length_m" in sizes:
        st.metric(t("length", lang), f"{sizes['length_m']:,.0f} m")
        return
    c1, c2 = st.columns(2)
    c1.metric(t("area", lang), f"{sizes['area_m2'] / 1e4:,.2f} ha")
    c2.metric(t("perimeter", lang), f"{sizes['perimeter_m']:,.0f} m")
    summary = inspect.area_summary(geom, layers, specs, tve)
    sums = summary["totals"]
    st.metric(t("inside", lang), f"{int(sums['count']):,}")
    st.caption(
        " · ".join(
            f"{specs['enterprises'].attribute(n).label.get(lang)} {sums[n]:,.1f} t/a"
            for n in ("cod_tpa", "nh3n_tpa", "tp_tpa")
            if n in sums
        )
    )
    st.markdown(f"**{t('constraints_inside', lang)}**")
    if not summary["constraints"]:
        st.caption(t("no_constraints", lang))
    for c in summary["constraints"]:
        overlap = (
            f", {t('overlap', lang)} {c['overlap_m2'] / 1e4:,.2f} ha" if c["overlap_m2"] else ""
        )
        st.markdown(f"- {c['layer'].label.get(lang)}: {c['features']}{overlap}")
