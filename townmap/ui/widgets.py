"""Page parts shared by several pages: the backdrop map with extra layers, a download of
any table in a chosen format, and a section switch. (Kept out of page modules: importing
a page module runs the page.)"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import shapely
import shapely.errors
import shapely.geometry
import streamlit as st
from streamlit_folium import st_folium

from townmap.errors import TownmapError
from townmap.i18n import t
from townmap.io.export import FORMAT_LABELS, export_frame
from townmap.render.escape import escape_markdown
from townmap.render.mapview import MapLayer, build_map
from townmap.ui import common, map_data

BACKDROP = ("town", "villages", "rivers", "lake")
FORMATS = [".xlsx", ".csv", ".gpkg"]


def page_map(
    stamp,
    lang: str,
    ids: set[str],
    extra: list[MapLayer],
    key: str,
    returned=(),
    marks=(),
    height: int = 560,
):
    """The town backdrop, the catalog layers ``ids`` switched on, and ``extra`` layers."""
    static, bounds = map_data.static_layers(stamp, lang)
    wanted = ids | set(BACKDROP)
    shown = [x.shown() if x.spec.id in ids else x for x in static if x.spec.id in wanted]
    parts = build_map(shown + extra, lang, common.asset_base(), bounds)
    return st_folium(
        parts.base,
        feature_group_to_add=list(marks),
        layer_control=parts.control,
        height=height,
        use_container_width=True,
        returned_objects=list(returned),
        key=key,
    )


def export_widget(lang: str, frame: pd.DataFrame, name: str, key: str, formats=FORMATS) -> None:
    """A format picker and a download button for ``frame``."""
    c1, c2 = st.columns([1, 3])
    fmt = c1.selectbox(
        t("export_format", lang),
        formats,
        format_func=FORMAT_LABELS.get,
        key=f"{key}_fmt",
        label_visibility="collapsed",
    )
    out = common.download_dir() / f"{name}{fmt}"
    try:
        if fmt != ".gpkg" and isinstance(frame, gpd.GeoDataFrame):
            frame = pd.DataFrame(frame.drop(columns=frame.geometry.name))
        if fmt == ".gpkg" and not isinstance(frame, gpd.GeoDataFrame):
            frame = pd.DataFrame(frame)
        out = export_frame(frame, out, name)
        for note in getattr(out, "notes", ()):  # what the format changed (GDAL's warnings)
            st.info(escape_markdown(note))
        c2.download_button(
            t("download_as", lang).format(fmt=FORMAT_LABELS[fmt]),
            out.read_bytes(),
            file_name=out.name,
            key=f"{key}_dl",
        )
    except TownmapError as exc:
        st.error(escape_markdown(exc))


def sections(lang: str, options: list[str], key: str, prefix: str = "tab_") -> str:
    """One section at a time (not st.tabs: a Leaflet map in a hidden tab has no size and
    opens zoomed out to the whole world)."""
    return (
        st.segmented_control(
            key,
            options,
            default=options[0],
            format_func=lambda k: t(f"{prefix}{k}", lang),
            key=key,
            label_visibility="collapsed",
        )
        or options[0]
    )


def drawn_polygon(drawings) -> shapely.Geometry | None:
    """The last polygon drawn on a map (WGS 84, repaired), or None: shared by the
    pre-check, the report area and the comments."""
    polygons = [
        d.get("geometry")
        for d in drawings or []
        if (d.get("geometry") or {}).get("type") == "Polygon"
    ]
    if not polygons:
        return None
    try:
        geom = shapely.make_valid(shapely.geometry.shape(polygons[-1]))
    except (ValueError, TypeError, shapely.errors.GEOSException):
        return None
    return None if geom.is_empty or geom.area == 0 else geom
