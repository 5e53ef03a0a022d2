"""Comments page, for the facilitator at a meeting: click the place (or draw the area) on
the map, type the resident's comment, store it; moderate the comments before the public
display shows them; export them. All text is escaped wherever it is shown."""

from __future__ import annotations

import shapely
import streamlit as st

from townmap.errors import TownmapError
from townmap.i18n import t, value_label
from townmap.participation.comments import CATEGORIES, add_comment, moderate, read_comments
from townmap.render.escape import escape_markdown
from townmap.ui import common, editor, map_data, widgets


def _place(state) -> shapely.Geometry | None:
    """A drawn area wins over a clicked point."""
    state = state or {}
    drawn = widgets.drawn_polygon(state.get("all_drawings"))
    if drawn is not None:
        return drawn
    clicked = state.get("last_clicked")
    return shapely.Point(clicked["lng"], clicked["lat"]) if clicked else None


def _add(ws, stamp, lang: str) -> None:
    key = f"cm_map_{lang}"
    map_col, form_col = st.columns([3, 2], gap="medium")
    with map_col:
        widgets.page_map(
            stamp,
            lang,
            {"public_comments"},
            [],
            key,
            returned=["last_clicked", "all_drawings"],
            height=520,
        )
    place = _place(st.session_state.get(key))
    with form_col, st.form("cm_add", clear_on_submit=True):
        if place is None:
            st.info(t("comment_place_first", lang))
        else:
            st.caption(
                t("comment_place", lang).format(
                    kind=place.geom_type, lon=place.centroid.x, lat=place.centroid.y
                )
            )
        category = st.selectbox(
            t("category", lang), CATEGORIES, format_func=lambda c: value_label(c, lang)
        )
        text = st.text_area(t("comment_text", lang), max_chars=1000)
        name = st.text_input(t("comment_name", lang), max_chars=40)
        writer = common.name_box(ws, lang, "cm_add_user")
        if st.form_submit_button(t("comment_add", lang), type="primary"):
            try:
                cid = add_comment(writer, place, category=category, text=text, name=name)
                st.success(t("comment_added", lang).format(id=escape_markdown(cid)))
            except TownmapError as exc:
                st.error(escape_markdown(exc))


def _moderate(ws, lang: str) -> None:
    frame = read_comments(ws)
    if frame.empty:
        st.info(t("no_data", lang))
        return
    if "cm_base" not in st.session_state:  # the list as this moderator opened it
        st.session_state["cm_base"] = frame.drop(columns="geometry").copy()
    table = st.session_state["cm_base"].copy()
    table["decision"] = table["status"]
    edited = st.data_editor(
        table,
        hide_index=True,
        width="stretch",
        key="cm_moderation",
        disabled=[c for c in table.columns if c != "decision"],
        column_config={
            "decision": st.column_config.SelectboxColumn(
                t("moderation", lang), options=["pending", "approved", "rejected"], required=True
            )
        },
    )
    writer = common.name_box(ws, lang, "cm_user")
    if st.button(t("save", lang), type="primary", key="cm_save"):
        decisions = dict(zip(edited["comment_id"], edited["decision"], strict=True))
        seen = dict(zip(table["comment_id"], table["status"], strict=True))
        st.session_state.pop("cm_base", None)  # next time: the list as it is then
        try:
            n = moderate(writer, decisions, seen=seen)
            st.success(t("moderated", lang).format(n=n))
        except TownmapError as exc:
            st.error(escape_markdown(exc))
    widgets.export_widget(lang, frame, "public_comments", "cm_export")


def render() -> None:
    lang, ws = common.page_start("comments_title")
    if ws is None:
        return
    stamp = map_data.Stamp.of(ws)
    st.caption(t("comments_note", lang))
    section = widgets.sections(lang, ["add", "moderate", "slides"], "cm_section", prefix="cm_tab_")
    if section == "slides":
        st.caption(t("slides_note", lang))
        st.link_button(t("open_public", lang), "./?mode=public&slide=1")
        editor.edit_table(ws, "public_slides", lang)
    elif section == "moderate":
        _moderate(ws, lang)
    else:
        _add(ws, stamp, lang)


render()
