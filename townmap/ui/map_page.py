"""The map page: every catalog layer of the workspace on an offline Leaflet map."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from townmap.crs import DISPLAY_CRS, describe
from townmap.i18n import group_label, t
from townmap.render.mapview import MapLayer, build_map, prepare_layer
from townmap.ui import common


@st.cache_data(show_spinner=False, max_entries=8)
def _map_layers(folder: str, stamp: float, lang: str) -> tuple[list[MapLayer], tuple]:
    """Display-ready layers, cached per workspace version and language."""
    del stamp  # part of the cache key: a rewritten workspace is read again
    cat = common.catalog()
    ws = common.Workspace(folder, catalog=cat)
    present = set(ws.layer_names())
    layers = [
        prepare_layer(spec, ws.read_layer(spec.id), lang)
        for spec in cat.by_kind("vector")
        if spec.id in present
    ]
    town = ws.read_layer("town") if "town" in present else None
    ref = town if town is not None and not town.empty else layers[0].frame
    bounds = tuple(ref.to_crs(DISPLAY_CRS).total_bounds) if not ref.empty else None
    return layers, bounds


def _layer_table(ws: common.Workspace, lang: str) -> pd.DataFrame:
    rows = []
    for spec in common.catalog():
        count = ws.layer_info(spec.id).features if ws.has_layer(spec.id) else None
        rows.append(
            {
                t("layers", lang): spec.label.get(lang),
                t("group", lang): group_label(spec.group, lang),
                t("features", lang): count,
            }
        )
    return pd.DataFrame(rows)


def render() -> None:
    lang = common.language()
    st.title(t("app_title", lang))
    ws = common.open_workspace(lang)
    if ws is None:
        return
    common.fiction_banner(ws, lang)
    cat = common.catalog()
    common.catalog_problems(cat, lang)
    layers, bounds = _map_layers(str(ws.folder), ws.gpkg.stat().st_mtime, lang)
    m = build_map(layers, lang, common.asset_base(), bounds)
    st_folium(m, height=720, use_container_width=True, returned_objects=[], key=f"map_{lang}")
    with st.sidebar:
        st.caption(f"{t('workspace', lang)}: {ws.metadata().get('name', ws.folder.name)}")
        st.caption(f"{t('crs', lang)}: {describe(ws.crs)}")
        st.dataframe(_layer_table(ws, lang), hide_index=True, width="stretch")
        missing = [s.id for s in cat if not ws.has_layer(s.id)]
        if missing:
            st.caption(f"{t('missing_layers', lang)} {', '.join(missing)}")


render()
