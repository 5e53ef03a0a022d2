"""Import page, what the workspace holds from imports: its own layers (rename, restyle,
delete, each one transaction through ``townmap.own_layers``) and the import log, with
headers and values in the page's language.

Not a page: importing this module draws nothing.
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from townmap.errors import TownmapError
from townmap.i18n import t
from townmap.io.importer import IMPORT_LOG, import_identity, next_undo
from townmap.own_layers import (
    MAX_CATEGORIES,
    category_columns,
    change,
    delete,
    own_specs,
    renamed,
    restyled,
)
from townmap.render.escape import escape_markdown
from townmap.ui.import_mapping import unit

FLASH = "imp_flash"
_KEEP, _NONE = "\x00keep", "\x00none"


def flash(kind: str, text: str) -> None:
    """A message shown once, on the next run (the page reruns after every write)."""
    st.session_state[FLASH] = (kind, text)


def show_flash() -> None:
    kind, text = st.session_state.pop(FLASH, (None, None))
    if kind == "success":
        st.success(text)
    elif kind == "error":
        st.error(text)


# ----------------------------------------------------------------------------- own layers


def _count(ws, spec) -> int:
    if not ws.has_table(spec.id):
        return 0
    try:
        return int(ws.layer_info(spec.id).features)
    except TownmapError:
        return len(ws.read_table(spec.id))


def _write(lang: str, what, done: str) -> None:
    """One own-layer change (its own transaction); an error is one line, nothing rerun."""
    try:
        what()
    except TownmapError as exc:
        st.error(escape_markdown(exc))
        return
    flash("success", done)
    st.rerun()


def own_layers(lang: str, ws) -> None:
    st.subheader(t("own_layers_title", lang))
    try:
        specs = own_specs(ws.metadata())
    except TownmapError as exc:
        st.error(escape_markdown(exc))
        return
    if not specs:
        st.caption(t("own_layers_none", lang))
        return
    for spec in specs:
        label = spec.label.get(lang)
        n = _count(ws, spec)
        title = f"{escape_markdown(label)} · {n:,} {unit(spec.kind, lang)}"
        # open while its delete is being confirmed: the tick reruns the page, and a
        # closed panel hid the button it had just enabled
        with st.expander(title, expanded=bool(st.session_state.get(f"own_delete_ok_{spec.id}"))):
            st.caption(escape_markdown(spec.id))
            _rename(lang, ws, spec)
            if spec.kind == "vector":
                _restyle(lang, ws, spec)
            _delete(lang, ws, spec)


def _rename(lang: str, ws, spec) -> None:
    with st.form(f"own_rename_{spec.id}", border=False):
        c1, c2 = st.columns(2)
        zh = c1.text_input(t("new_layer_zh", lang), value=spec.label.zh, max_chars=80)
        en = c2.text_input(t("new_layer_en", lang), value=spec.label.en, max_chars=80)
        if st.form_submit_button(t("own_rename", lang)):
            shown = (zh if lang == "zh" else en).strip() or spec.label.get(lang)
            _write(
                lang,
                lambda: change(ws, spec.id, lambda s, _f: renamed(s, zh, en)),
                t("own_renamed", lang).format(label=escape_markdown(shown)),
            )


def _restyle(lang: str, ws, spec) -> None:
    columns, others = category_columns(spec, ws.read_layer(spec.id))
    names = {_KEEP: t("own_by_keep", lang), _NONE: t("own_by_none", lang)}
    names |= {a.name: a.label.get(lang) for a in spec.attributes}
    if others:
        why = {w: t(f"own_by_not_{w}", lang) for w in ("measurements", "empty", "many")}
        listed = t("list_sep", lang).join(
            f"{names.get(c, c)}（{why[w].format(n=n)}）"
            if lang == "zh"
            else f"{names.get(c, c)} ({why[w].format(n=n)})"
            for c, w, n in others
        )
        st.caption(
            escape_markdown(t("own_by_not_offered", lang).format(n=MAX_CATEGORIES, columns=listed))
        )
    with st.form(f"own_style_{spec.id}", border=False):
        c1, c2 = st.columns([1, 3])
        colour = c1.color_picker(t("own_colour", lang), value=spec.style.color)
        by = c2.selectbox(t("own_by", lang), [_KEEP, _NONE, *columns], format_func=names.get)
        if st.form_submit_button(t("own_restyle", lang)):
            column = None if by == _KEEP else ("" if by == _NONE else by)
            _write(
                lang,
                lambda: change(ws, spec.id, lambda s, f: restyled(s, f, colour, column)),
                t("own_restyled", lang).format(label=escape_markdown(spec.label.get(lang))),
            )


def _delete(lang: str, ws, spec) -> None:
    label = escape_markdown(spec.label.get(lang))
    sure = st.checkbox(
        t("own_delete_confirm", lang).format(label=label), key=f"own_delete_ok_{spec.id}"
    )
    if st.button(t("own_delete", lang), key=f"own_delete_{spec.id}", disabled=not sure):
        try:
            forgotten = delete(ws, spec.id)
        except TownmapError as exc:
            st.error(escape_markdown(exc))
            return
        done = t("own_deleted", lang).format(label=label)
        if forgotten:
            done += t("own_deleted_imports", lang).format(n=forgotten)
        flash("success", done)
        st.rerun()


# ----------------------------------------------------------------------------- import log


def _text(value) -> str:
    """A log cell as text: nothing for a missing value (the log is stored as text)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    text = str(value)
    return "" if text in ("nan", "None", "NaN", "<NA>") else text


def _mode(choices: str, lang: str) -> str:
    try:
        mode = json.loads(choices).get("mode") if choices else None
    except (json.JSONDecodeError, AttributeError):
        mode = None
    return t(f"mode_{mode}_short", lang) if mode in ("replace", "append", "update") else ""


def log_table(lang: str, log: pd.DataFrame, cat) -> pd.DataFrame:
    """The import log as the user reads it: newest first, labels for layers, modes and
    states, the fingerprint shortened, Townmap's bookkeeping columns left out."""
    status = {
        "false": t("log_in_effect", lang),
        "true": t("log_undone", lang),
        "expired": t("log_expired", lang),
        "layer deleted": t("log_layer_deleted", lang),
    }

    def column(name: str) -> pd.Series:
        if name in log.columns:
            return log[name].map(_text)
        return pd.Series([""] * len(log), index=log.index)

    deleted = t("log_layer_gone", lang)
    layer = column("layer_id").map(
        lambda i: cat[i].label.get(lang) if i in cat else deleted.format(id=i)
    )

    def number(name: str) -> pd.Series:
        return pd.to_numeric(column(name), errors="coerce").astype("Int64")

    out = pd.DataFrame(
        {
            t("log_time", lang): column("imported_at").str.replace("T", " ").str[:19],
            t("log_user", lang): column("user"),
            t("log_file", lang): column("file_name"),
            t("log_layer", lang): layer,
            t("log_count", lang): number("features"),
            t("log_repaired", lang): number("repaired"),
            t("log_dropped", lang): number("dropped"),
            t("log_problems", lang): number("problems"),
            t("log_mode", lang): column("choices").map(lambda c: _mode(c, lang)),
            t("log_had_data", lang): column("had_previous").map(
                lambda v: {"true": t("yes", lang), "false": t("no", lang)}.get(v, "")
            ),
            t("log_status", lang): column("undone").map(lambda v: status.get(v, v)),
            t("log_sha256", lang): column("sha256").str[:12],
        }
    )
    return out.iloc[::-1].reset_index(drop=True)


def import_log(lang: str, ws, cat, undo) -> None:
    if not ws.has_table(IMPORT_LOG):
        return
    st.subheader(t("import_log", lang))
    log = ws.read_table(IMPORT_LOG)
    st.dataframe(log_table(lang, log, cat), hide_index=True, width="stretch")
    record = next_undo(ws)
    if record is None:
        st.caption(t("import_nothing_to_undo", lang))
        return
    layer_id = _text(record.get("layer_id"))
    label = cat[layer_id].label.get(lang) if layer_id in cat else layer_id
    what = t("import_undo_which", lang).format(
        file=escape_markdown(_text(record.get("file_name"))),
        layer=escape_markdown(label),
        time=_text(record.get("imported_at")).replace("T", " ")[:16],
    )
    if st.button(what, key="imp_undo"):
        undo(import_identity(record))
