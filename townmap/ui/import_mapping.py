"""Import page, the user's choices for one file and target: which column fills each
attribute (one column may fill several), fixed values, and what the file does to a layer
that holds features (replace, append, update by key).

The choices live in ``st.session_state["imp_choices"]`` under the key of the file, the
target and the source read, so a rerun keeps them and another target starts afresh.
Widgets write them in their ``on_change`` callbacks, before the page plans again, so
each change is planned once. Not a page: importing this module draws nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import streamlit as st

from townmap.i18n import t, value_label
from townmap.io.merge import check_mode
from townmap.render.escape import escape_markdown

STATE = "imp_choices"
#: select values besides the file's columns (columns are their position, 0…)
EMPTY, FIXED = -2, -1
MODES = ("replace", "append", "update")


@dataclass
class Choices:
    mapping: dict[str, str] | None = None  # None: Townmap's guess
    fixed: dict[str, str] = field(default_factory=dict)
    mode: str | None = None


def state_key(*parts: object) -> str:
    """A short key for one file + target + source (widget keys include it)."""
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:12]


def choices(sk: str) -> Choices:
    saved = st.session_state.get(STATE)
    if not isinstance(saved, dict) or saved.get("key") != sk:
        return Choices()
    return Choices(saved.get("mapping"), dict(saved.get("fixed") or {}), saved.get("mode"))


def _store(sk: str, **changes) -> None:
    now = choices(sk)
    for name, value in changes.items():
        setattr(now, name, value)
    st.session_state[STATE] = {
        "key": sk,
        "mapping": now.mapping,
        "fixed": now.fixed,
        "mode": now.mode,
    }


def forget() -> None:
    st.session_state.pop(STATE, None)


def unit(kind: str, lang: str) -> str:
    return t({"raster": "unit_cells", "table": "unit_rows"}.get(kind, "unit_features"), lang)


# ----------------------------------------------------------------------------- mapping


def _map_key(sk: str, name: str) -> str:
    return f"imp_map_{sk}_{name}"


def _fix_key(sk: str, name: str) -> str:
    return f"imp_fix_{sk}_{name}"


def _sync_mapping(sk: str, names: list[str], columns: list[str]) -> None:
    """Every attribute's select (and fixed value) into the stored choices."""
    mapping, fixed = {}, {}
    for name in names:
        pick = st.session_state.get(_map_key(sk, name), EMPTY)
        if pick == FIXED:
            value = st.session_state.get(_fix_key(sk, name))
            if value is not None and str(value).strip() != "":
                fixed[name] = str(value).strip()
        elif isinstance(pick, int) and 0 <= pick < len(columns):
            mapping[name] = columns[pick]
    _store(sk, mapping=mapping, fixed=fixed)  # {}: the user left every attribute empty


def _reset(sk: str) -> None:
    prefixes = (f"imp_map_{sk}", f"imp_fix_{sk}")
    for key in [k for k in st.session_state if str(k).startswith(prefixes)]:
        del st.session_state[key]
    _store(sk, mapping=None, fixed={})


def _attribute_label(attr, lang: str) -> str:
    """The attribute's label (Markdown-escaped), a required mark, its id small and grey."""
    mark = " \\*" if attr.required else ""
    return f"{escape_markdown(attr.label.get(lang))}{mark} :gray[{escape_markdown(attr.name)}]"


def _fixed_input(lang: str, attr, key: str, sync, current: str | None) -> None:
    """A fixed value: a select of labels for coded and yes/no attributes, else text."""
    label = t("fixed_value", lang)
    if attr.choices or attr.type == "bool":
        codes = list(attr.choices) if attr.choices else ["true", "false"]
        names = (
            {c: value_label(c, lang) for c in codes}
            if attr.choices
            else {"true": t("yes", lang), "false": t("no", lang)}
        )
        st.selectbox(
            label,
            codes,
            index=codes.index(current) if current in codes else None,
            format_func=names.get,
            key=key,
            on_change=sync,
            placeholder="…",
        )
    else:
        st.text_input(label, value=current or "", key=key, on_change=sync, max_chars=200)


def mapping_editor(lang: str, plan, sk: str, chosen: Choices) -> None:
    """One row per attribute: a select of the file's columns, empty or a fixed value."""
    spec, columns = plan.spec, list(plan.source_columns)
    names = [a.name for a in spec.attributes]

    def sync() -> None:
        _sync_mapping(sk, names, columns)

    options = [EMPTY, FIXED, *range(len(columns))]
    shown = {EMPTY: t("map_empty", lang), FIXED: t("map_fixed", lang)}
    shown |= {i: str(c) for i, c in enumerate(columns)}
    blocked = [b for b in plan.blocking if b not in mode_blocks(plan)]
    expanded = bool(blocked) or bool(chosen.fixed) or chosen.mapping is not None
    with st.expander(t("column_mapping", lang), expanded=expanded):
        st.caption(t("mapping_help", lang))
        for attr in spec.attributes:
            if attr.name in chosen.fixed:
                default = FIXED
            elif plan.mapping.get(attr.name) in columns:
                default = columns.index(plan.mapping[attr.name])
            else:
                default = EMPTY
            c1, c2 = st.columns(2)
            with c1:
                pick = st.selectbox(
                    _attribute_label(attr, lang),
                    options,
                    index=options.index(default),
                    format_func=shown.get,
                    key=_map_key(sk, attr.name),
                    on_change=sync,
                )
            if pick == FIXED:
                with c2:
                    _fixed_input(
                        lang, attr, _fix_key(sk, attr.name), sync, chosen.fixed.get(attr.name)
                    )
        if chosen.mapping is not None or chosen.fixed:
            st.button(t("mapping_reset", lang), key=f"imp_reset_{sk}", on_click=_reset, args=(sk,))


def unused_columns(lang: str, plan) -> None:
    unused = list(getattr(plan, "unused_columns", []) or [])
    if unused:
        listed = ", ".join(escape_markdown(c) for c in unused[:40])
        st.caption(f"{t('unused_columns', lang)} {listed}{' …' if len(unused) > 40 else ''}")


# ----------------------------------------------------------------------------- mode


def mode_blocks(plan) -> list[str]:
    """The importer's 'say --mode' refusal, which the mode question replaces on screen."""
    if not getattr(plan, "existing", 0) or plan.options.mode is not None:
        return []
    return check_mode(None, plan.existing, plan.spec.id)


def mode_question(lang: str, plan, sk: str, chosen: Choices) -> None:
    """When the layer holds features: replace, append or update? Nothing is chosen until
    the user chooses (the commit stays disabled), as the shell refuses without --mode."""
    existing = getattr(plan, "existing", 0)
    if not existing:
        return
    spec = plan.spec
    what = unit(spec.kind, lang)
    modes = [m for m in MODES if m != "update" or spec.key]
    key_label = spec.attribute(spec.key).label.get(lang) if spec.key else ""
    texts = {
        "replace": t("mode_replace", lang).format(m=len(plan.frame), n=existing, unit=what),
        "append": t("mode_append", lang).format(m=len(plan.frame), n=existing, unit=what),
        "update": t("mode_update", lang).format(key=escape_markdown(key_label)),
    }
    mkey = f"imp_mode_{sk}"

    def sync() -> None:
        _store(sk, mode=st.session_state.get(mkey))

    st.radio(
        t("import_mode", lang).format(
            layer=escape_markdown(spec.label.get(lang)), n=existing, unit=what
        ),
        modes,
        index=modes.index(chosen.mode) if chosen.mode in modes else None,
        format_func=texts.get,
        key=mkey,
        on_change=sync,
    )
    if chosen.mode is None:
        st.info(t("mode_choose", lang))


def merge_summary(lang: str, plan) -> None:
    """What the import does to the layer, in the page's language."""
    if not plan.existing or not plan.merge_counts:
        return
    mode = plan.options.mode or "replace"
    what = unit(plan.spec.kind, lang)
    counts = plan.merge_counts
    text = t(f"merge_{mode}", lang).format(unit=what, **counts)
    fewer = counts.get("replaced", 0) - counts.get("added", 0)
    if mode == "replace" and fewer > 0:  # 600 enterprises replaced by 6: worth a stop
        st.warning(text + t("merge_fewer", lang).format(n=fewer, unit=what))
    else:
        st.info(text)
