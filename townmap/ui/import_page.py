"""Import page: upload a file, choose where it goes (a layer, or a new own layer), map its
columns, say what it does to a layer that holds features, preview, commit.

Planning writes nothing and runs every check the commit runs (it is made with the
workspace, as ``townmap import`` makes it); only the commit button changes the
workspace (one transaction, logged), and the last import can be undone from here too.
The workspace's own layers are renamed, restyled and deleted below.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from townmap.errors import TownmapError
from townmap.i18n import t
from townmap.io.importer import (
    ImportOptions,
    ImportPlan,
    MixedGeometryError,
    commit_import,
    plan_import,
)
from townmap.io.raster_import import RasterPlan
from townmap.render.escape import escape_markdown
from townmap.ui import common
from townmap.ui.import_files import ACCEPTED, main_file, save_uploads, source_choice
from townmap.ui.import_mapping import (
    choices,
    forget,
    mapping_editor,
    merge_summary,
    mode_question,
    state_key,
    unused_columns,
)
from townmap.ui.import_own import flash, import_log, own_layers, show_flash
from townmap.ui.import_report import messages, raster_preview, summary, vector_preview
from townmap.ui.import_target import choose_target, forget_new_layer, layer_name

_NONE = "—"
_UPLOADS = "imp_upload_n"  # bumped after a commit: a fresh uploader


def _read_options(lang: str) -> dict:
    c1, c2, c3 = st.columns(3)
    encoding = c1.selectbox(
        t("encoding", lang), ["auto", "utf-8", "gbk", "gb18030"], key="imp_encoding"
    )
    crs = c2.text_input(
        t("crs_if_missing", lang), key="imp_crs", placeholder=t("crs_placeholder", lang)
    )
    datum = c3.selectbox(
        t("web_map_datum", lang),
        [_NONE, "gcj02", "bd09"],
        format_func=lambda d: t(f"datum_{d}" if d != _NONE else "datum_none", lang),
        key="imp_datum",
    )
    return {
        "encoding": None if encoding == "auto" else encoding,
        "crs": crs.strip() or None,
        "datum": None if datum == _NONE else datum,
    }


def _hint_lon(ws) -> float | None:
    """The town's mean longitude, as the shell's import takes it: a file in plain
    Gauss–Krüger metres is placed in the town's zone."""
    if not ws.has_layer("town"):
        return None
    town = ws.read_layer("town")
    return float(town.to_crs(4326).total_bounds[[0, 2]].mean()) if len(town) else None


def _plan(lang: str, ws, cat, path, target, source, read, sk):
    chosen = choices(sk)
    options = ImportOptions(
        target.layer_id,
        source_layer=source,
        mapping=None if target.new_layer else chosen.mapping,
        fixed=None if target.new_layer else (chosen.fixed or None),
        mode=chosen.mode,
        new_layer=target.new_layer,
        **read,
    )
    try:
        return plan_import(path, options, cat, hint_lon=_hint_lon(ws), ws=ws), chosen
    except MixedGeometryError as exc:
        kind = _geometry_choice(lang, exc.kinds, sk)
        if kind is None:
            return None, chosen
        layer = replace(target.new_layer, geometry=kind)
        return _plan(lang, ws, cat, path, replace(target, new_layer=layer), source, read, sk)
    except TownmapError as exc:
        st.error(escape_markdown(exc))
        return None, chosen


def _geometry_choice(lang: str, kinds: dict[str, int], sk: str) -> str | None:
    """A file with points and areas (a KML's folders): the new layer takes one kind, the
    user says which; nothing is imported until then."""
    listed = t("list_sep", lang).join(
        t(f"geometry_count_{k}", lang).format(n=n) for k, n in kinds.items()
    )
    st.warning(t("mixed_geometry", lang).format(kinds=listed))
    return st.radio(
        t("mixed_geometry_choose", lang),
        list(kinds),
        index=None,
        format_func=lambda k: t(f"geometry_count_{k}", lang).format(n=kinds[k]),
        horizontal=True,
        key=f"imp_geom_{sk}",
    )


def _commit(lang: str, ws, plan) -> None:
    try:
        record = commit_import(ws, plan)
    except TownmapError as exc:
        st.error(escape_markdown(exc))
        return
    layer = escape_markdown(layer_name(getattr(plan, "new_spec", None) or plan.spec, lang))
    key = {"raster": "import_done_cells", "table": "import_done_rows"}.get(
        plan.spec.kind, "import_done"
    )
    flash("success", t(key, lang).format(n=record["features"], layer=layer))
    forget()
    if getattr(plan, "new_spec", None) is not None:
        forget_new_layer()  # its id is taken now: the next file starts with empty fields
    st.session_state[_UPLOADS] = st.session_state.get(_UPLOADS, 0) + 1
    st.rerun()


def _undo(lang: str, ws, expected: str) -> None:
    from townmap.io.importer import undo_last_import

    try:
        record = undo_last_import(ws, expected)
    except TownmapError as exc:
        st.error(escape_markdown(exc))
        return
    flash("success", t("import_undone", lang).format(file=escape_markdown(record["file_name"])))
    st.rerun()


def _import(lang: str, ws, cat) -> None:
    uploads = st.file_uploader(
        t("import_files", lang),
        type=ACCEPTED,
        accept_multiple_files=True,
        key=f"imp_files_{st.session_state.get(_UPLOADS, 0)}",
    )
    target = choose_target(lang, cat, ws)
    read = _read_options(lang)
    if not uploads or target is None:
        return
    upload_id, paths = save_uploads(uploads)
    path = main_file(lang, paths, upload_id)
    source = source_choice(lang, path, upload_id)
    sk = state_key(upload_id, path.name, target.key, source)
    plan, chosen = _plan(lang, ws, cat, path, target, source, read, sk)
    if plan is None:
        return
    messages(lang, plan)
    if isinstance(plan, ImportPlan):
        if target.new_layer is None:
            mapping_editor(lang, plan, sk, chosen)
        unused_columns(lang, plan)
        mode_question(lang, plan, sk, chosen)
        merge_summary(lang, plan)
    summary(lang, plan)
    if isinstance(plan, RasterPlan):
        raster_preview(lang, plan, ws)
    elif plan.spec.kind == "vector" and len(plan.frame):
        vector_preview(lang, plan, ws)
    if st.button(t("import_commit", lang), type="primary", disabled=not plan.ok, key="imp_commit"):
        _commit(lang, ws, plan)


def render() -> None:
    lang, ws = common.page_start("import_title")
    if ws is None:
        return
    show_flash()
    cat = common.catalog()
    _import(lang, ws, cat)
    st.divider()
    own_layers(lang, ws)
    st.divider()
    import_log(lang, ws, cat, lambda expected: _undo(lang, ws, expected))


render()
