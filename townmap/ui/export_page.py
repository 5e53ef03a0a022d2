"""Export page: a layer or table in the consultant's format, or the whole workspace as one
GeoPackage that opens styled in QGIS.

Files are written by ``townmap.io`` into a temporary folder and offered as a download;
the workspace itself is only read.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import streamlit as st

from townmap.errors import TownmapError
from townmap.i18n import t
from townmap.io.export import FORMAT_LABELS, MIME, export_layer
from townmap.io.package import export_workspace
from townmap.render.escape import escape_markdown
from townmap.ui import common

VECTOR_FORMATS = [".gpkg", ".zip", ".geojson", ".kml", ".csv", ".xlsx"]
TABLE_FORMATS = [".xlsx", ".csv", ".gpkg"]


def _offer(lang: str, path: Path, key: str) -> None:
    st.download_button(
        t("export_download", lang).format(file=escape_markdown(path.name)),
        path.read_bytes(),
        file_name=path.name,
        mime=MIME.get(path.suffix, "application/octet-stream"),
        key=key,
    )


def render() -> None:
    lang, ws = common.page_start("export_title")
    if ws is None:
        return
    cat = common.catalog()
    names = [n for n in ws.layer_names() if ws.layer_info(n).geometry_type != "raster"]

    def label(name: str) -> str:
        return f"{cat[name].label.get(lang)} ({name})" if name in cat.layers else name

    layer = st.selectbox(t("export_layer", lang), names, format_func=label, key="exp_layer")
    if layer:
        is_table = not ws.layer_info(layer).geometry_type
        formats = TABLE_FORMATS if is_table else VECTOR_FORMATS
        c1, c2 = st.columns(2)
        suffix = c1.selectbox(
            t("export_format", lang),
            formats,
            format_func=FORMAT_LABELS.get,
            key=f"exp_format_{'table' if is_table else 'vector'}",
        )
        encoding = c2.selectbox(
            t("export_encoding", lang),
            ["utf-8", "gbk"],
            key="exp_encoding",
            disabled=suffix != ".zip",
        )
        if st.button(t("export_prepare", lang), key="exp_go"):
            out = common.download_dir() / f"{layer}{suffix}"
            try:
                _offer(
                    lang,
                    export_layer(ws, layer, out, encoding=encoding),
                    "exp_download",
                )
            except TownmapError as exc:
                st.error(escape_markdown(exc))
    st.divider()
    st.subheader(t("export_all", lang))
    st.caption(t("export_all_help", lang))
    if st.button(t("export_prepare", lang), key="exp_all_go"):
        name = f"townmap-workspace-{date.today():%Y%m%d}.gpkg"
        out = common.download_dir() / name
        try:
            _offer(lang, export_workspace(ws, out, cat), "exp_all_download")
        except TownmapError as exc:
            st.error(escape_markdown(exc))


render()
