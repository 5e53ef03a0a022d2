"""Chinese and English texts, from ``layers/i18n/ui.toml`` so wording changes need no code.

Chinese is the default (town staff and residents); every text has an English twin. A
missing key falls back to the key itself rather than failing a page.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from townmap.errors import CatalogError

LANGUAGES = ("zh", "en")


@lru_cache(maxsize=4)
def _load(folder: str) -> dict[str, dict[str, dict[str, str]]]:
    path = Path(folder) / "i18n" / "ui.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path.name}: cannot read interface texts: {exc}") from None
    for section, entries in data.items():
        for key, value in entries.items():
            if not (isinstance(value, dict) and set(value) >= set(LANGUAGES)):
                raise CatalogError(f"{path.name}: key '{section}.{key}': expected zh and en texts")
    return data


def _texts(section: str) -> dict[str, dict[str, str]]:
    from townmap.settings import layers_dir

    return _load(str(layers_dir())).get(section, {})


def check_lang(lang: str | None) -> str:
    """A supported language code; anything else becomes the default."""
    from townmap.settings import default_language

    return lang if lang in LANGUAGES else default_language()


def t(key: str, lang: str) -> str:
    """An interface text."""
    return _texts("ui").get(key, {}).get(lang, key)


def group_label(group: str, lang: str) -> str:
    return _texts("groups").get(group, {}).get(lang, group)


def unit_label(unit: str, lang: str) -> str:
    """A unit as the language writes it (persons → 人); symbols stay as they are."""
    return _texts("units").get(unit, {}).get(lang, unit)


def value_label(value: object, lang: str) -> str:
    """Label of a coded value (``printing_dyeing`` → 印染); other values as text."""
    text = "" if value is None else str(value)
    return _texts("values").get(text, {}).get(lang, text)
