"""Every rule and standard cites Townmap's own sources by key, and every source says where
it was checked, inside Townmap (layers/references.md sections that exist)."""

from __future__ import annotations

import re
import tomllib

import pytest

from townmap.errors import CatalogError
from townmap.settings import layers_dir
from townmap.sources import cited, load_sources, sources_table

LEGAL = ("rules", "standards", "ems", "cleaner_production")


def _files():
    for folder in LEGAL:
        yield from sorted((layers_dir() / folder).glob("*.toml"))


def _sources(doc, found):
    """Every ``source`` value anywhere in a TOML document."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key == "source" and isinstance(value, str):
                found.append(value)
            else:
                _sources(value, found)
    elif isinstance(doc, list):
        for item in doc:
            _sources(item, found)
    return found


def test_every_rule_and_standard_cites_a_source_that_ships_with_townmap():
    known = load_sources()
    sections = set(
        re.findall(r"^##+ (\d+[a-z]?)\.", (layers_dir() / "references.md").read_text("utf-8"), re.M)
    )
    checked = 0
    for path in _files():
        doc = tomllib.loads(path.read_text("utf-8"))
        for text in _sources(doc, []):
            keys = cited(text)
            assert keys, f"{path.name}: {text!r} names no entry of layers/sources/sources.toml"
            checked += 1
    assert checked > 30
    for key, entry in known.items():
        for section in re.findall(r"§(\d+[a-z]?)", entry["reference"]):
            assert section in sections, f"[{key}] cites §{section}, not in references.md"


def test_an_unknown_source_key_is_an_error():
    with pytest.raises(CatalogError, match="unknown source 'gb9999'"):
        cited("sources:gb9999; layers/references.md §1")


def test_the_sources_table_reads_in_each_language():
    zh = sources_table(["gb3838_2002", "gb18068_2000"], "zh")
    assert zh["instrument"].iloc[0] == "GB 3838-2002 地表水环境质量标准"
    assert "g230.com" in zh["checked"].iloc[0] and zh["checked"].iloc[1] == "—"
    en = sources_table(["gb3838_2002"], "en")
    assert "surface water" in en["instrument"].iloc[0]
