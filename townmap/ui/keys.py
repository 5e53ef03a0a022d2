"""The presenter-keys component (declared in an importable module: Streamlit needs the
declaring module, which a page script run by st.navigation does not have)."""

from __future__ import annotations

from pathlib import Path

import streamlit.components.v1 as components

_KEYS = components.declare_component(
    "townmap_keys", path=str(Path(__file__).parent / "components" / "keys")
)


def presenter_keys(key: str):
    """``{"step": ±1, "n": count}`` after each clicker or arrow key press, else None."""
    return _KEYS(key=key, default=None)
