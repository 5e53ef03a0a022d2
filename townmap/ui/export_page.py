"""Export page: a layer or table in the consultant's format and coordinates, a raster as
GeoTIFF, or the whole workspace as one GeoPackage that opens styled in QGIS.

Files are written by ``townmap.io`` into a temporary folder and offered as a download;
the workspace itself is only read. What an export changed or wants known (shortened
Shapefile field names, web-map offsets) is shown beside the download.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import streamlit as st

from townmap.errors import TownmapError
from townmap.i18n import t
from townmap.io.export import FORMAT_LABELS, LONLAT, MIME, WGS84_ONLY, export_layer
from townmap.io.package import export_workspace
from townmap.render.escape import escape_markdown
from townmap.ui import common

VECTOR_FORMATS = [".gpkg", ".zip", ".geojson", ".kml", ".fgb", ".parquet", ".csv", ".xlsx"]
TABLE_FORMATS = [".xlsx", ".csv", ".gpkg", ".parquet"]
#: export CRS choices by format (the library refuses any other combination)
ALL_CRS = ["workspace", "wgs84", "cgcs2000", "gcj02", "bd09", "epsg"]
LONLAT_CRS = ["wgs84", "cgcs2000", "gcj02", "bd09"]
WGS84_CRS = ["wgs84", "gcj02", "bd09"]


def crs_options(suffix: str) -> list[str]:
    if suffix in WGS84_ONLY:
        return WGS84_CRS
    if suffix in LONLAT:
        return LONLAT_CRS
    return ALL_CRS


def _offer(lang: str, path: Path, key: str) -> None:
    for note in getattr(path, "notes", ()):
        st.info(escape_markdown(note))
    st.download_button(
        t("export_download", lang).format(file=escape_markdown(path.name)),
        path.read_bytes(),
        file_name=path.name,
        mime=MIME.get(path.suffix, "application/octet-stream"),
        key=key,
    )


def _choose_crs(lang: str, ws, suffix: str, disabled: bool) -> str | None:
    epsg = ws.crs.to_epsg()
    here = f"EPSG:{epsg}" if epsg else ws.crs.name

    def label(choice: str) -> str:
        return t(f"export_crs_{choice}", lang).format(crs=here)

    choice = st.selectbox(
        t("export_crs", lang),
        crs_options(suffix),
        format_func=label,
        key=f"exp_crs_{suffix.lstrip('.')}",
        disabled=disabled,
    )
    if disabled:
        return None
    if choice == "epsg":
        code = st.text_input(t("export_epsg_code", lang), key="exp_epsg").strip()
        code = code.upper().removeprefix("EPSG:").strip()
        if not code:  # asked for, not given: say so here rather than fail on "EPSG:"
            st.info(t("export_epsg_missing", lang))
            return ""
        return f"EPSG:{code}"
    return choice


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
        c1, c2, c3 = st.columns(3)
        suffix = c1.selectbox(
            t("export_format", lang),
            formats,
            format_func=FORMAT_LABELS.get,
            key=f"exp_format_{'table' if is_table else 'vector'}",
        )
        with c2:
            crs = _choose_crs(lang, ws, suffix, disabled=is_table)
        encoding = c3.selectbox(
            t("export_encoding", lang),
            ["utf-8", "gbk"],
            key="exp_encoding",
            disabled=suffix != ".zip",
        )
        if not is_table:
            style = {".gpkg": "gpkg", ".zip": "qml", ".kml": "kml"}.get(suffix, "none")
            st.caption(t(f"export_style_{style}", lang))
        if st.button(t("export_prepare", lang), key="exp_go", disabled=crs == ""):
            out = common.download_dir() / f"{layer}{suffix}"
            try:
                exported = export_layer(
                    ws,
                    layer,
                    out,
                    encoding=encoding if suffix == ".zip" else "utf-8",
                    crs=crs,
                    lang=lang,
                )
                _offer(lang, exported, "exp_download")
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
    rasters = [n for n in ws.layer_names() if ws.layer_info(n).geometry_type == "raster"]
    if rasters:
        st.divider()
        st.subheader(t("export_raster", lang))
        st.caption(t("export_raster_help", lang))
        raster = st.selectbox(
            t("export_raster_layer", lang), rasters, format_func=label, key="exp_raster"
        )
        if st.button(t("export_prepare", lang), key="exp_raster_go"):
            out = common.download_dir() / f"{raster}.tif"
            try:
                _offer(lang, export_layer(ws, raster, out), "exp_raster_download")
            except TownmapError as exc:
                st.error(escape_markdown(exc))


render()
