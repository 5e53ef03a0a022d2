"""Cached data behind the map page: read once per workspace version, built once per language.

Streamlit reruns the page on every interaction; everything expensive is cached here,
keyed by the workspace folder and its modification stamp, so a rewritten workspace is
read again and nothing else is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import streamlit as st

from townmap.catalog import LayerSpec
from townmap.crs import DISPLAY_CRS
from townmap.explore.filters import EnterpriseFilter, apply_filter
from townmap.explore.search import build_index
from townmap.render.mapview import MapLayer, prepare_layer
from townmap.render.points import PointStyle
from townmap.render.terrain import TerrainImages, render_terrain
from townmap.settings import cache_dir
from townmap.store import Workspace, open_workspace
from townmap.ui import common

DYNAMIC = "enterprises"


@dataclass(frozen=True)
class Stamp:
    """Identifies one version of a workspace (cache key)."""

    location: str
    revision: int

    @classmethod
    def of(cls, ws: Workspace) -> Stamp:
        return cls(ws.location, ws.revision())


@st.cache_resource(show_spinner=False, max_entries=4)
def layers(stamp: Stamp) -> dict[str, gpd.GeoDataFrame]:
    """Every catalogued vector layer present, in the workspace CRS (read-only: don't mutate)."""
    ws = open_workspace(stamp.location, catalog=common.catalog())
    present = set(ws.layer_names())
    return {
        s.id: ws.read_layer(s.id) for s in common.catalog().by_kind("vector") if s.id in present
    }


def specs() -> dict[str, LayerSpec]:
    return dict(common.catalog().layers)


@st.cache_resource(show_spinner=False, max_entries=8)
def static_layers(stamp: Stamp, lang: str) -> tuple[list[MapLayer], tuple | None]:
    """Map-ready layers that do not change with filters, and the town's bounds (WGS 84)."""
    data = layers(stamp)
    out = [prepare_layer(specs()[lid], gdf, lang) for lid, gdf in data.items() if lid != DYNAMIC]
    ref = data.get("town")
    if ref is None or ref.empty:
        ref = next((g for g in data.values() if not g.empty), None)
    bounds = tuple(ref.to_crs(DISPLAY_CRS).total_bounds) if ref is not None else None
    return out, bounds


@st.cache_data(show_spinner=False, max_entries=32)
def enterprise_layer(stamp: Stamp, lang: str, flt: tuple, style: tuple) -> MapLayer | None:
    """The filtered enterprises as a canvas payload (cached per filter and style)."""
    tve = display_layer(stamp, DYNAMIC)
    if tve is None:
        return None
    subset = apply_filter(tve, EnterpriseFilter(*flt))
    return prepare_layer(specs()[DYNAMIC], subset, lang, PointStyle(*style))


@st.cache_resource(show_spinner=False, max_entries=4)
def display_layer(stamp: Stamp, layer_id: str) -> gpd.GeoDataFrame | None:
    """A layer already in WGS 84, so each filter change only subsets and encodes."""
    gdf = layers(stamp).get(layer_id)
    return None if gdf is None else gdf.to_crs(DISPLAY_CRS)


@st.cache_resource(show_spinner=False, max_entries=4)
def terrain(stamp: Stamp) -> TerrainImages | None:
    ws = open_workspace(stamp.location)
    if not ws.has_raster("dem"):
        return None
    return render_terrain(ws.raster_path("dem"), render_cache())


def render_cache() -> Path:
    return cache_dir() / "render"


@st.cache_resource(show_spinner=False, max_entries=4)
def search_index(stamp: Stamp) -> pd.DataFrame:
    return build_index(layers(stamp), specs())


@st.cache_resource(show_spinner=False, max_entries=4)
def feature_counts(stamp: Stamp) -> dict[str, int]:
    ws = open_workspace(stamp.location)
    return {name: ws.layer_info(name).features for name in ws.layer_names()}
