"""Cached data behind the map page: read once per workspace version, built once per language.

Streamlit reruns the page on every interaction; everything expensive is cached here,
keyed by the workspace and the revisions of the tables it reads (``Stamp``), so a layer
that changed is read again and nothing else is.
"""

from __future__ import annotations

import hashlib
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
    """Identifies one version of a workspace's tables (cache key): a cache built from
    some tables is keyed by ``stamp.only(those)``, so a write elsewhere in the workspace
    (a register edit) does not rebuild it, and nothing clears other caches. Narrow to
    the same set on every path into one cache (the map's caches: the vector layers)."""

    location: str
    tables: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, ws: Workspace) -> Stamp:
        meta = hashlib.sha256(repr(sorted(ws.metadata().items())).encode()).hexdigest()[:16]
        tokens = {**ws.table_revisions(), METADATA: meta}
        return cls(ws.location, tuple(sorted(tokens.items())))

    def only(self, names) -> Stamp:
        """The same stamp for a cache that reads only ``names`` (and the metadata)."""
        keep = {*names, METADATA}
        return Stamp(self.location, tuple(kv for kv in self.tables if kv[0] in keep))


#: the workspace's metadata (context values of the rules, the fiction flag) in a stamp
METADATA = "townmap_metadata"


def vectors(stamp: Stamp) -> Stamp:
    """The stamp of the map's data and of the analyses that read every vector layer."""
    return _vectors(stamp)


def _vectors(stamp: Stamp) -> Stamp:
    return stamp.only(s.id for s in common.catalog().by_kind("vector"))


def layers(stamp: Stamp) -> dict[str, gpd.GeoDataFrame]:
    """Every catalogued vector layer present, in the workspace CRS (read-only: don't mutate)."""
    return _layers(_vectors(stamp))


@st.cache_resource(show_spinner=False, max_entries=4)
def _layers(stamp: Stamp) -> dict[str, gpd.GeoDataFrame]:
    ws = open_workspace(stamp.location, catalog=common.catalog())
    present = set(ws.layer_names())
    return {
        s.id: ws.read_layer(s.id) for s in common.catalog().by_kind("vector") if s.id in present
    }


def specs() -> dict[str, LayerSpec]:
    return dict(common.catalog().layers)


def static_layers(stamp: Stamp, lang: str) -> tuple[list[MapLayer], tuple | None]:
    """Map-ready layers that do not change with filters, and the town's bounds (WGS 84)."""
    return _static_layers(_vectors(stamp), lang)


@st.cache_resource(show_spinner=False, max_entries=8)
def _static_layers(stamp: Stamp, lang: str) -> tuple[list[MapLayer], tuple | None]:
    data = layers(stamp)
    out = [prepare_layer(specs()[lid], gdf, lang) for lid, gdf in data.items() if lid != DYNAMIC]
    ref = data.get("town")
    if ref is None or ref.empty:
        ref = next((g for g in data.values() if not g.empty), None)
    bounds = tuple(ref.to_crs(DISPLAY_CRS).total_bounds) if ref is not None else None
    return out, bounds


def enterprise_layer(stamp: Stamp, lang: str, flt: tuple, style: tuple) -> MapLayer | None:
    """The filtered enterprises as a canvas payload (cached per filter and style)."""
    return _enterprise_layer(_vectors(stamp), lang, flt, style)


@st.cache_data(show_spinner=False, max_entries=32)
def _enterprise_layer(stamp: Stamp, lang: str, flt: tuple, style: tuple) -> MapLayer | None:
    tve = display_layer(stamp, DYNAMIC)
    if tve is None:
        return None
    subset = apply_filter(tve, EnterpriseFilter(*flt))
    return prepare_layer(specs()[DYNAMIC], subset, lang, PointStyle(*style))


def display_layer(stamp: Stamp, layer_id: str) -> gpd.GeoDataFrame | None:
    """A layer already in WGS 84, so each filter change only subsets and encodes."""
    return _display_layer(_vectors(stamp), layer_id)


@st.cache_resource(show_spinner=False, max_entries=4)
def _display_layer(stamp: Stamp, layer_id: str) -> gpd.GeoDataFrame | None:
    gdf = layers(stamp).get(layer_id)
    return None if gdf is None else gdf.to_crs(DISPLAY_CRS)


def terrain(stamp: Stamp) -> TerrainImages | None:
    return _terrain(stamp.only(["dem"]))


@st.cache_resource(show_spinner=False, max_entries=4)
def _terrain(stamp: Stamp) -> TerrainImages | None:
    ws = open_workspace(stamp.location)
    if not ws.has_raster("dem"):
        return None
    return render_terrain(ws.raster_path("dem"), render_cache())


def render_cache() -> Path:
    return cache_dir() / "render"


def search_index(stamp: Stamp) -> pd.DataFrame:
    return _search_index(_vectors(stamp))


@st.cache_resource(show_spinner=False, max_entries=4)
def _search_index(stamp: Stamp) -> pd.DataFrame:
    return build_index(layers(stamp), specs())


@st.cache_resource(show_spinner=False, max_entries=4)
def feature_counts(stamp: Stamp) -> dict[str, int]:
    ws = open_workspace(stamp.location)
    return {name: ws.layer_info(name).features for name in ws.layer_names()}
