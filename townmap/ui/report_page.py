"""Report page: choose the area (the town, a village, or one drawn on the map), the
language and the format; the report is built with a progress bar and offered for
download. Everything is computed here, offline."""

from __future__ import annotations

import json

import shapely
import shapely.geometry
import streamlit as st

from townmap.errors import TownmapError
from townmap.i18n import t
from townmap.render.escape import escape_markdown
from townmap.ui import common, map_data, widgets

FORMATS = {".pdf": "PDF", ".docx": "Word (DOCX)", ".html": "HTML"}
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MIME = {".pdf": "application/pdf", ".html": "text/html", ".docx": DOCX_MIME}
LANG_NAMES = {"zh": "中文", "en": "English"}


def _area(stamp, lang: str) -> str | None:
    layers = map_data.layers(stamp)
    choices = ["town", "village", "drawn"]
    kind = st.radio(
        t("report_area", lang),
        choices,
        horizontal=True,
        key="rp_area",
        format_func=lambda k: t(f"report_area_{k}", lang),
    )
    if kind == "village":
        villages = layers.get("villages")
        if villages is None or villages.empty:
            st.warning(t("no_data", lang))
            return None
        names = dict(zip(villages["village_id"], villages[f"name_{lang}"], strict=False))
        return st.selectbox(
            t("village", lang),
            list(names),
            key="rp_village",
            format_func=lambda v: f"{v} · {names[v]}",
        )
    if kind == "drawn":
        st.caption(t("report_draw_hint", lang))
        key = f"rp_map_{lang}"
        widgets.page_map(stamp, lang, set(), [], key, returned=["all_drawings"], height=420)
        drawn = widgets.drawn_polygon((st.session_state.get(key) or {}).get("all_drawings"))
        if drawn is None:
            st.info(t("report_draw_first", lang))
            return None
        path = common.download_dir() / "drawn_area.geojson"
        geometry = shapely.geometry.mapping(drawn)
        feature = {"type": "Feature", "properties": {}, "geometry": geometry}
        collection = {"type": "FeatureCollection", "features": [feature]}
        path.write_text(json.dumps(collection), encoding="utf-8")
        return str(path)
    return "town"


def render() -> None:
    lang, ws = common.page_start("report_title")
    if ws is None:
        return
    stamp = map_data.Stamp.of(ws)
    st.caption(t("report_note", lang))
    area = _area(stamp, lang)
    c1, c2 = st.columns(2)
    report_lang = c1.radio(
        t("report_language", lang),
        ["zh", "en"],
        horizontal=True,
        index=0 if lang == "zh" else 1,
        key="rp_lang",
        format_func=LANG_NAMES.get,
    )
    fmt = c2.radio(
        t("export_format", lang),
        list(FORMATS),
        horizontal=True,
        key="rp_fmt",
        format_func=FORMATS.get,
    )
    if area is None or not st.button(t("report_build", lang), type="primary", key="rp_build"):
        return
    from townmap.report.build import build_report, write_report

    bar = st.progress(0.0, text=t("report_building", lang))
    try:
        report = build_report(
            ws,
            area=area,
            lang=report_lang,
            catalog=common.catalog(),
            progress=lambda f, label: bar.progress(
                min(f, 1.0), text=escape_markdown(label) or t("done", lang)
            ),
        )
        out = common.download_dir() / f"townmap_report{fmt}"
        write_report(report, out)
    except TownmapError as exc:
        bar.empty()
        st.error(escape_markdown(exc))
        return
    bar.progress(1.0, text=t("done", lang))
    st.success(
        t("report_ready", lang).format(
            sections=len(report.headings()), figures=len(report.figures), tables=len(report.tables)
        )
    )
    st.download_button(
        t("download_as", lang).format(fmt=FORMATS[fmt]),
        out.read_bytes(),
        file_name=out.name,
        mime=MIME[fmt],
        key="rp_download",
    )


render()
