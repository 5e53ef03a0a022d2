"""Townmap's own sources (``layers/sources/sources.toml``): each instrument a rule, standard or
the report relies on, where its values were checked and how well. Files cite an entry as
``source = "sources:KEY; …"``; a citation of a key that is not there is an error, so a
user can always follow a value to where it was checked, inside Townmap."""

from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from pathlib import Path

import pandas as pd

from townmap.errors import CatalogError

CITE = re.compile(r"sources:([a-z0-9_]+)")


def sources_path() -> Path:
    from townmap.settings import layers_dir

    return layers_dir() / "sources" / "sources.toml"


@lru_cache(maxsize=2)
def load_sources(path: str | None = None) -> dict[str, dict]:
    try:
        data = tomllib.loads(Path(path or sources_path()).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"sources.toml: {exc}") from None
    for key, entry in data.items():
        missing = {"number", "title", "verification", "reference"} - set(entry)
        if missing:
            raise CatalogError(f"sources.toml [{key}] lacks {', '.join(sorted(missing))}")
    return data


def cited(text: str | None) -> list[str]:
    """The source keys a ``source`` text cites; an unknown key is an error."""
    keys = CITE.findall(text or "")
    known = load_sources()
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise CatalogError(f"unknown source {unknown[0]!r} (not in layers/sources/sources.toml)")
    return keys


def sources_table(keys: list[str], lang: str) -> pd.DataFrame:
    """The entries ``keys`` name, as the report prints them."""
    from townmap.i18n import value_label

    known = load_sources()
    rows = []
    for key in dict.fromkeys(keys):
        e = known[key]
        rows.append(
            {
                "instrument": f"{e['number']} {e['title'][lang]}".strip(),
                "version": e.get("version", ""),
                "in_force": e.get("in_force", ""),
                "verification": value_label(e["verification"], lang),
                "checked": "; ".join(e.get("checked", [])) or "—",
                "reference": e["reference"],
            }
        )
    return pd.DataFrame(rows)
