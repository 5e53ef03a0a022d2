"""Editing a register table in the app: ``st.data_editor`` configured from the catalog
(choices as drop-downs, dates as date pickers, limits on numbers), saved only through
``townmap.management.editing.save_edits`` — validated, one transaction, logged."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from townmap.errors import TownmapError
from townmap.i18n import t
from townmap.management.editing import save_edits
from townmap.render.escape import escape_markdown
from townmap.store import Workspace
from townmap.ui import common


def _config(spec, lang: str) -> dict:
    config = {}
    for a in spec.attributes:
        label = a.label.get(lang) if a.label else a.name
        if a.choices:
            config[a.name] = st.column_config.SelectboxColumn(
                label, options=list(a.choices), required=a.required
            )
        elif a.type == "date":
            config[a.name] = st.column_config.DateColumn(label, format="YYYY-MM-DD")
        elif a.type == "bool":
            config[a.name] = st.column_config.CheckboxColumn(label)
        elif a.type in ("int", "float"):
            config[a.name] = st.column_config.NumberColumn(
                label, min_value=a.min, max_value=a.max, step=1 if a.type == "int" else None
            )
        else:
            config[a.name] = st.column_config.TextColumn(label, max_chars=4000)
    return config


def _for_editor(frame: pd.DataFrame, spec) -> pd.DataFrame:
    """Dates as dates (the date picker needs them), booleans as booleans."""
    frame = frame.reindex(columns=[a.name for a in spec.attributes]).copy()
    for a in spec.attributes:
        if a.type == "date":
            frame[a.name] = pd.to_datetime(frame[a.name], errors="coerce").dt.date
        elif a.type == "str":  # an all-empty column reads back as float
            frame[a.name] = frame[a.name].astype("string")
        elif a.type in ("int", "float"):
            frame[a.name] = pd.to_numeric(frame[a.name], errors="coerce")
        elif a.type == "bool":
            frame[a.name] = (
                frame[a.name].map(lambda v: str(v).lower() in ("true", "1", "yes")).astype(bool)
            )
    return frame


def edit_table(
    ws: Workspace, table_id: str, lang: str, *, keys: list[str] | None = None, height: int = 360
) -> None:
    """The table in an editor with a name, a reason and a save button (in a form, so
    typing does not rerun the page); errors are shown and nothing is written."""
    spec = common.catalog()[table_id]
    base_key = f"edit_base_{table_id}"
    if base_key not in st.session_state:  # what this user started from (optimistic lock)
        st.session_state[base_key] = (
            ws.read_table(table_id) if ws.has_table(table_id) else pd.DataFrame()
        )
    base = st.session_state[base_key]
    with st.form(f"edit_{table_id}"):
        edited = st.data_editor(
            _for_editor(base, spec),
            num_rows="dynamic",
            hide_index=True,
            width="stretch",
            column_config=_config(spec, lang),
            height=height,
            key=f"editor_{table_id}",
        )
        c1, c2, c3 = st.columns([2, 3, 1])
        writer = common.name_box(ws, lang, f"user_{table_id}", container=c1)
        reason = c2.text_input(t("change_reason", lang), max_chars=200, key=f"why_{table_id}")
        saved = c3.form_submit_button(t("save", lang), type="primary")
    if saved:
        try:
            result = save_edits(writer, table_id, edited, reason=reason, keys=keys, base=base)
        except TownmapError as exc:
            st.error(escape_markdown(exc))
            if st.button(t("reload_table", lang), key=f"reload_{table_id}"):
                st.session_state.pop(base_key, None)
                st.rerun()
            return
        st.session_state.pop(base_key, None)  # next time: start from the saved table
        if result.changed:
            st.success(
                t("saved_changes", lang).format(
                    ins=result.inserted, upd=result.updated, dele=result.deleted
                )
            )
        else:
            st.info(t("nothing_changed", lang))
