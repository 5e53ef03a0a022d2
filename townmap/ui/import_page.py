"""Import page: upload a file, see what Townmap makes of it, map columns, preview, commit.

Planning writes nothing; only the commit button changes the workspace (one transaction,
logged), and the last import can be undone from here too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import streamlit as st
from pyproj import CRS
from streamlit_folium import st_folium

from townmap.catalog import READ_ONLY_TABLES
from townmap.errors import TownmapError
from townmap.i18n import t
from townmap.io.importer import (
    IMPORT_LOG,
    ImportOptions,
    ImportPlan,
    commit_import,
    plan_import,
    undo_last_import,
)
from townmap.io.raster_import import RasterPlan, warp_into
from townmap.io.readers import list_sources
from townmap.render.escape import escape_markdown
from townmap.render.mapview import build_map, prepare_layer
from townmap.render.terrain import render_terrain
from townmap.store.folders import upload_folder
from townmap.ui import common

SUFFIXES = [
    "gpkg",
    "zip",
    "geojson",
    "json",
    "kml",
    "kmz",
    "csv",
    "txt",
    "xlsx",
    "xlsm",
    "tif",
    "tiff",
]
_NONE = "—"


@st.cache_resource(show_spinner=False)
def _upload_root() -> Path:
    """This server process's upload folder (named by its process id: a later server
    removes the folders of servers that have gone — nothing is left in the temp folder)."""
    return upload_folder()


def _saved(upload) -> Path:
    """The upload as a file on disk, named by its content (kept for this session)."""
    data = upload.getvalue()
    folder = _upload_root() / hashlib.sha256(data).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / Path(upload.name).name
    if not path.exists():
        path.write_bytes(data)
    return path


def _options(lang: str, cat) -> tuple[str, dict]:
    layers = [s for s in cat if s.id not in READ_ONLY_TABLES]
    layer_id = st.selectbox(
        t("import_target", lang),
        [s.id for s in layers],
        format_func=lambda i: cat[i].label.get(lang),
        key="imp_layer",
    )
    c1, c2, c3 = st.columns(3)
    encoding = c1.selectbox(
        t("encoding", lang), ["auto", "utf-8", "gbk", "gb18030"], key="imp_encoding"
    )
    crs = c2.text_input(t("crs_if_missing", lang), key="imp_crs", placeholder="EPSG:4549")
    datum = c3.selectbox(t("web_map_datum", lang), [_NONE, "gcj02", "bd09"], key="imp_datum")
    return layer_id, {
        "encoding": None if encoding == "auto" else encoding,
        "crs": crs.strip() or None,
        "datum": None if datum == _NONE else datum,
    }


def _mapping_editor(lang: str, plan, columns: list[str]) -> dict[str, str]:
    with st.expander(t("column_mapping", lang), expanded=not plan.ok):
        chosen = {}
        for attr in plan.spec.attributes:
            options = [_NONE, *columns]
            current = plan.mapping.get(attr.name, _NONE)
            label = f"{attr.label.get(lang)} ({attr.name}{', *' if attr.required else ''})"
            pick = st.selectbox(
                label,
                options,
                index=options.index(current) if current in options else 0,
                key=f"imp_map_{attr.name}",
            )
            if pick != _NONE:
                chosen[attr.name] = pick
    return chosen


def _source_choice(lang: str, path: Path) -> str | None:
    """The layer, sheet or zip member to read when the file holds several."""
    try:
        sources = list_sources(path)
    except TownmapError:
        return None  # planning reports the same problem in one line
    if len(sources) < 2:
        return None
    return st.selectbox(t("import_source", lang), sources, key="imp_source")


def _vector_preview(lang: str, plan) -> None:
    layer = prepare_layer(plan.spec, plan.frame, lang)
    minx, miny, maxx, maxy = plan.frame.to_crs(4326).total_bounds
    pad = 0.005  # a single point still gets a sensible view
    bounds = (minx - pad, miny - pad, maxx + pad, maxy + pad)
    parts = build_map([layer], lang, common.asset_base(), bounds)
    st_folium(
        parts.base,
        layer_control=parts.control,
        height=420,
        use_container_width=True,
        returned_objects=[],
        key=f"imp_preview_{lang}",
    )


@st.cache_data(show_spinner=False, max_entries=4)
def _raster_preview(source: str, sha256: str, crs_wkt: str, _plan) -> tuple[str, str]:
    """Hillshade and elevation colours of the planned DEM as it will be stored (PNGs)."""
    folder = _upload_root() / sha256
    folder.mkdir(parents=True, exist_ok=True)
    warped = folder / "preview.tif"
    warp_into(_plan, CRS.from_wkt(crs_wkt), warped)
    images = render_terrain(warped, folder)
    return str(images.hillshade), str(images.elevation)


def _show_plan(lang: str, plan, ws) -> None:
    for note in plan.notes:  # notes and blocks quote the file's names and values
        st.info(escape_markdown(note))
    for block in plan.blocking:
        st.error(escape_markdown(block))
    if plan.problems:
        st.warning(t("import_problems", lang).format(n=len(plan.problems)))
        st.dataframe(
            pd.DataFrame({t("problem", lang): plan.problems}), hide_index=True, width="stretch"
        )
    if isinstance(plan, RasterPlan):
        st.caption(t("raster_summary", lang).format(n=f"{plan.count:,}"))
        if plan.ok:
            try:
                shade, elevation = _raster_preview(
                    str(plan.source), plan.sha256, ws.crs.to_wkt(), plan
                )
                c1, c2 = st.columns(2)
                c1.image(shade, caption=t("raster_preview", lang), width="stretch")
                c2.image(elevation, caption=t("elevation_preview", lang), width="stretch")
            except TownmapError as exc:
                st.error(escape_markdown(exc))
        return
    st.caption(
        t("import_summary", lang).format(
            n=len(plan.frame), repaired=plan.repaired, dropped=plan.dropped
        )
    )


def render() -> None:
    lang, ws = common.page_start("import_title")
    if ws is None:
        return
    cat = common.catalog()
    upload = st.file_uploader(t("import_file", lang), type=SUFFIXES, key="imp_file")
    layer_id, opts = _options(lang, cat)
    if upload is not None:
        path = _saved(upload)
        source = _source_choice(lang, path)
        state_key = f"{path}|{layer_id}|{source}"
        saved = st.session_state.get("imp_mapping", {})
        mapping = saved.get("mapping") if saved.get("key") == state_key else None
        # until the page asks (issue 20), a page import replaces the layer as it always did
        options = ImportOptions(
            layer_id, mapping=mapping, source_layer=source, mode="replace", **opts
        )
        try:
            plan = plan_import(path, options, cat, ws=ws)
        except TownmapError as exc:
            st.error(escape_markdown(exc))
            plan = None
        if plan is not None:
            _show_plan(lang, plan, ws)
            if isinstance(plan, ImportPlan):
                edited = _mapping_editor(lang, plan, plan.source_columns)
                if edited != plan.mapping:
                    st.session_state["imp_mapping"] = {"key": state_key, "mapping": edited}
                    st.rerun()
                if plan.spec.kind == "vector" and len(plan.frame):
                    _vector_preview(lang, plan)
            if st.button(t("import_commit", lang), type="primary", disabled=not plan.ok):
                try:
                    record = commit_import(ws, plan)
                    st.success(
                        t("import_done", lang).format(
                            n=record["features"], layer=plan.spec.label.get(lang)
                        )
                    )
                    st.session_state.pop("imp_mapping", None)
                except TownmapError as exc:
                    st.error(escape_markdown(exc))
    st.divider()
    if ws.has_table(IMPORT_LOG):
        st.subheader(t("import_log", lang))
        st.dataframe(
            ws.read_table(IMPORT_LOG).drop(columns=["choices"], errors="ignore"),
            hide_index=True,
            width="stretch",
        )
        if st.button(t("import_undo", lang), key="imp_undo"):
            try:
                record = undo_last_import(ws)
                st.success(
                    t("import_undone", lang).format(file=escape_markdown(record["file_name"]))
                )
            except TownmapError as exc:
                st.error(escape_markdown(exc))


render()
