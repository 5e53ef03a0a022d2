"""The map explorer: every catalog layer on an offline map, filters, search and details.

The base map (static layers, basemaps, controls) is the same on every rerun, so the map is
never remounted; the filtered enterprises are swapped in as a dynamic group. Only clicks
and drawings come back to Python (``returned_objects``), so panning and zooming never
rerun this script.
"""

from __future__ import annotations

import os
import time

import folium
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from townmap.crs import describe, gauss_kruger_params
from townmap.explore import inspect
from townmap.explore.filters import EnterpriseFilter, apply_filter, totals
from townmap.i18n import group_label, t
from townmap.render.escape import escape_markdown
from townmap.render.mapview import Basemaps, build_map
from townmap.render.publish import publish
from townmap.ui import common, map_data, map_panel, served_files, timing

RETURNED = ["last_object_clicked", "last_object_clicked_tooltip", "all_drawings"]


def _basemaps(stamp: map_data.Stamp, key: str | None) -> Basemaps:
    images = map_data.terrain(stamp)
    if images is None:
        return Basemaps(tianditu_key=key)
    base = common.cache_base(map_data.render_cache())
    return Basemaps(base + images.hillshade.name, base + images.elevation.name, images.bounds, key)


def _point_url(served: str):
    """Publish layer data under this session's token, or inline it where nothing checks
    tokens (``served_files``: a published URL must not work for someone else)."""
    token = served_files.session_token()
    if token is None:
        return None
    return lambda data: f"{served}{publish(data, map_data.render_cache())}?t={token}"


def _highlight(hit) -> folium.FeatureGroup:
    group = folium.FeatureGroup(name=t("search_results", "en"), control=False)
    folium.CircleMarker(
        (hit.lat, hit.lon), radius=16, color="#00bcd4", weight=4, fill=False
    ).add_to(group)
    return group


def _sidebar_info(ws, lang: str) -> None:
    with st.sidebar.expander(t("layers", lang)):
        name = ws.metadata().get("name", ws.name)
        st.caption(f"{t('workspace', lang)}: {escape_markdown(name)}")
        st.caption(f"{t('crs', lang)}: {escape_markdown(describe(ws.crs))}")
        counts = map_data.feature_counts(map_data.Stamp.of(ws))
        rows = [
            {
                t("layers", lang): spec.label.get(lang),
                t("group", lang): group_label(spec.group, lang),
                t("features", lang): counts.get(spec.id),
            }
            for spec in common.catalog()
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def render() -> None:
    lang, ws = common.page_start("app_title")
    if ws is None:
        return
    cat = common.catalog()
    common.catalog_problems(cat, lang)
    stamp = map_data.Stamp.of(ws)
    layers = map_data.layers(stamp)
    specs = map_data.specs()
    tve = layers.get("enterprises")
    flt, style = ((), (None, None))
    if tve is not None:
        flt, style = map_panel.enterprise_filters(lang, tve, specs["enterprises"])
    key = map_panel.tianditu_key(lang)
    _sidebar_info(ws, lang)

    map_col, panel = st.columns([3, 1], gap="medium")
    with panel:
        hit = map_panel.search_box(lang, map_data.search_index(stamp))
    static, bounds = map_data.static_layers(stamp, lang)
    dynamic = [layer for layer in [map_data.enterprise_layer(stamp, lang, flt, style)] if layer]
    if os.environ.get("TOWNMAP_MAP_EMPTY") == "1":  # the benchmark's floor: same page, no map data
        static, dynamic = [], []
    lon = (bounds[0] + bounds[2]) / 2 if bounds else 120.0
    served = common.cache_base(map_data.render_cache())
    parts = build_map(
        static,
        lang,
        common.asset_base(),
        bounds,
        dynamic=dynamic,
        basemaps=_basemaps(stamp, key),
        coords=gauss_kruger_params(ws.crs, lon),
        point_url=_point_url(served),
    )
    if hit is not None:
        parts.dynamic.append(_highlight(hit))
    with map_col:
        out = st_folium(
            parts.base,
            feature_group_to_add=parts.dynamic,
            layer_control=parts.control,
            center=(hit.lat, hit.lon) if hit else None,
            zoom=16 if hit else None,
            returned_objects=RETURNED,
            key=f"townmap_map_{lang}",
            height=720,
            use_container_width=True,
        )
    with panel:
        subset = tve.iloc[0:0] if tve is not None else None
        if tve is not None:
            subset = apply_filter(tve, EnterpriseFilter(*flt))
            map_panel.show_totals(lang, specs["enterprises"], totals(subset), len(subset), len(tve))
        clicked = inspect.parse_click(out)
        drawings = (out or {}).get("all_drawings") or []
        if drawings:
            map_panel.show_drawing(lang, drawings[-1], layers, specs, ws.crs, subset)
        if clicked is not None:
            map_panel.show_click(lang, clicked, layers, specs, ws.crs)
        if clicked is None and not drawings:
            st.caption(t("click_hint", lang))


_started = time.perf_counter()
render()
timing.record("map_page", time.perf_counter() - _started)
