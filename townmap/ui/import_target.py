"""Import page, where the file goes: a layer of the catalog (the workspace's own layers
among them), or a new own layer with its id, names and group.

Not a page: importing this module draws nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import streamlit as st

from townmap.catalog import GROUPS, READ_ONLY_TABLES, Catalog
from townmap.i18n import group_label, t
from townmap.io.importer import NewLayer
from townmap.own_layers import DEFAULT_GROUP, is_own
from townmap.render.escape import escape_markdown

_ID = re.compile(r"[a-z][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class Target:
    layer_id: str
    new_layer: NewLayer | None = None

    @property
    def key(self) -> str:
        return f"new:{self.layer_id}" if self.new_layer else self.layer_id


def layer_name(spec, lang: str) -> str:
    """A layer as the user knows it: its label, marked when it is an own layer."""
    label = spec.label.get(lang)
    return t("own_layer_mark", lang).format(label=label) if is_own(spec) else label


def _targets(cat: Catalog, lang: str) -> tuple[list[str], dict[str, str]]:
    ids = [s.id for s in cat if s.id not in READ_ONLY_TABLES]
    names = {i: layer_name(cat[i], lang) for i in ids}
    seen: dict[str, int] = {}
    for name in names.values():
        seen[name] = seen.get(name, 0) + 1
    # two layers with one label would be one choice: the id tells them apart
    return ids, {i: f"{n} · {i}" if seen[n] > 1 else n for i, n in names.items()}


def id_problem(layer_id: str, cat: Catalog, ws, lang: str) -> str | None:
    """Why ``layer_id`` cannot be a new layer's id, in the page's language (the importer
    checks the same again when planning)."""
    if not layer_id:
        return t("new_layer_id_missing", lang)
    if not _ID.fullmatch(layer_id):
        return t("new_layer_id_bad", lang)
    if layer_id.startswith("townmap_"):
        return t("new_layer_id_reserved", lang)
    if layer_id in cat or ws.has_table(layer_id) or ws.has_raster(layer_id):
        label = cat[layer_id].label.get(lang) if layer_id in cat else layer_id
        return t("new_layer_id_taken", lang).format(label=escape_markdown(label))
    return None


_NEW_LAYER_FIELDS = ("imp_new_id", "imp_new_zh", "imp_new_en")


_RESET = "imp_new_reset"


def forget_new_layer() -> None:
    """Empty the new layer's id and names once it is made (the group is kept). Done at
    the start of the next run, before the boxes are drawn: the values are set to "" (so
    Streamlit sends them to the browser, which otherwise keeps showing the old text)."""
    st.session_state[_RESET] = True


def _reset_if_asked() -> None:
    if st.session_state.pop(_RESET, False):
        for key in _NEW_LAYER_FIELDS:
            st.session_state[key] = ""


def choose_target(lang: str, cat: Catalog, ws) -> Target | None:
    """The user's target; None (after saying why) while a new layer's id is not usable."""
    _reset_if_asked()
    kind = st.radio(
        t("import_into", lang),
        ["existing", "new"],
        format_func=lambda k: t(f"import_into_{k}", lang),
        horizontal=True,
        key="imp_into",
    )
    if kind == "existing":
        ids, names = _targets(cat, lang)
        layer_id = st.selectbox(
            t("import_target", lang), ids, format_func=names.get, key="imp_layer"
        )
        return Target(layer_id)
    c1, c2, c3, c4 = st.columns(4)
    layer_id = c1.text_input(
        t("new_layer_id", lang), key="imp_new_id", max_chars=63, placeholder="flood_zone_2024"
    ).strip()
    label_zh = c2.text_input(t("new_layer_zh", lang), key="imp_new_zh", max_chars=80).strip()
    label_en = c3.text_input(t("new_layer_en", lang), key="imp_new_en", max_chars=80).strip()
    group = c4.selectbox(
        t("group", lang),
        list(GROUPS),
        index=GROUPS.index(DEFAULT_GROUP),
        format_func=lambda g: group_label(g, lang),
        key="imp_new_group",
    )
    st.caption(t("new_layer_note", lang))
    if not layer_id:
        st.info(t("new_layer_id_missing", lang))
        return None
    problem = id_problem(layer_id, cat, ws, lang)
    if problem:
        st.warning(problem)
        return None
    return Target(layer_id, NewLayer(label_zh or None, label_en or None, group))
