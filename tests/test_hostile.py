"""Hostile text in the library (the browser side is tests/browser/test_hostile_browser.py):
the corpus survives storage unchanged on both back ends, text that cannot be stored is
refused with a clear message, files with broken bytes import with the damage shown, and
exports keep formula-like text inert."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.hostile import CORPUS, free_text_columns, poison_workspace
from townmap.catalog import load_catalog
from townmap.errors import UploadError
from townmap.store import Actor


def test_the_corpus_is_stored_and_read_back_unchanged(demo_copy):
    catalog = load_catalog()
    poisoned = poison_workspace(demo_copy, catalog)
    assert len(poisoned) > 40  # every free-text field of every layer and table present
    for layer, column in poisoned:
        spec = catalog[layer]
        frame = (
            demo_copy.read_layer(layer) if spec.kind == "vector" else demo_copy.read_table(layer)
        )
        stored = frame[column].tolist()
        start = 0 if len(frame) <= 2 else 1
        for k, value in enumerate(stored[start : start + len(CORPUS)]):
            offset = free_text_columns(spec).index(column)
            assert value == CORPUS[(k + offset) % len(CORPUS)], f"{layer}.{column} row {k}"


@pytest.mark.parametrize("bad", ["caf\udce9", "nul\x00byte"])
def test_text_that_cannot_be_stored_is_refused_and_nothing_changes(demo_copy, bad):
    from tests.helpers import fingerprint
    from townmap.management.editing import save_edits

    before = fingerprint(demo_copy)
    table = demo_copy.read_table("ems_aspects")
    table["control"] = table["control"].astype(object)
    table.loc[0, "control"] = bad
    with pytest.raises(UploadError, match="not valid Unicode"):
        save_edits(demo_copy.as_actor(Actor("li")), "ems_aspects", table, catalog=load_catalog())
    assert fingerprint(demo_copy) == before


def test_a_csv_with_broken_bytes_imports_with_the_damage_shown(tmp_path):
    from townmap.io.importer import ImportOptions, plan_import

    text = (
        "编号,名称,英文名,类型,人数,经度,纬度\nSRX,新小学,New School,school,300,119.95,31.40\n"
        "SRY,东小学,East School,school,30,119.96,31.41\n"
    )
    raw = text.encode("utf-8").replace("新".encode(), b"\xff\xfe")
    path = tmp_path / "receptors.csv"
    path.write_bytes(raw)
    plan = plan_import(
        path, ImportOptions(layer_id="sensitive_receptors", mode="replace"), load_catalog()
    )
    assert plan.ok, plan.blocking
    assert any("undecodable" in note for note in plan.notes)
    assert plan.frame["name_zh"].tolist() == ["\ufffd\ufffd小学", "东小学"]


def test_exports_keep_formula_like_text_inert(demo_copy, tmp_path):
    import openpyxl

    from townmap.io.export import export_layer

    poison_workspace(demo_copy, load_catalog())
    csv = export_layer(demo_copy, "enterprises", tmp_path / "e.csv")
    cells = pd.read_csv(csv, dtype=str)["name_zh"].dropna().tolist()
    assert not [c for c in cells if c.startswith("=")]  # OWASP: a leading ' keeps it text
    xlsx = export_layer(demo_copy, "enterprises", tmp_path / "e.xlsx")
    sheet = openpyxl.load_workbook(xlsx).active
    kinds = {
        c.data_type
        for row in sheet.iter_rows(min_row=2)
        for c in row
        if isinstance(c.value, str) and c.value.startswith("=")
    }
    assert kinds <= {"s"}  # typed as strings, never formulas


def test_every_free_text_field_is_covered():
    catalog = load_catalog()
    covered = {s.id for s in catalog if free_text_columns(s)}
    assert {
        "enterprises",
        "ems_aspects",
        "public_comments",
        "public_slides",
        "villages",
        "planning_zones",
        "cp_options",
    } <= covered
