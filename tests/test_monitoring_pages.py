"""The Water quality, Dischargers, Loads, Cleaner production and EMS register pages under
AppTest: every section opens in both languages without an error and shows the computed
content; saving an unchanged register writes nothing; a nonconformity raised from an
exceedance on the Dischargers page lands in the register and the change log."""

from __future__ import annotations

import shutil

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers import as_read
from townmap import PROJECT_ROOT
from townmap.store import Workspace, open_workspace

UI = PROJECT_ROOT / "townmap" / "ui"
PAGES = {
    "quality_page": ("wq_section", ["stations", "attainment", "trend"]),
    "dischargers_page": ("dc_section", ["map", "offenders", "months", "limits"]),
    "loads_page": ("ld_section", ["totals", "caps", "scenario"]),
    "cleaner_page": ("cp_section", ["programme", "enterprises", "records"]),
    "ems_page": ("ems_section", ["status", "aspects", "obligations", "objectives", "audits",
                                 "nonconformities", "reviews", "records", "log"]),
}  # fmt: skip
CASES = [(p, s) for p, (_, secs) in PAGES.items() for s in secs]


def _page(name: str, section: str, lang: str = "zh") -> AppTest:
    at = AppTest.from_file(str(UI / f"{name}.py"), default_timeout=180)
    at.query_params["lang"] = lang
    at.session_state[PAGES[name][0]] = section
    return at


@pytest.fixture
def private_ws(demo_ws, tmp_path, monkeypatch) -> Workspace:
    shutil.copytree(demo_ws.folder, tmp_path / "ws")
    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(tmp_path / "ws"))
    return open_workspace(tmp_path / "ws")


@pytest.mark.parametrize(("name", "section"), CASES)
def test_every_section_opens(demo_ws, monkeypatch, name, section):
    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(demo_ws.folder))
    for lang in ("zh", "en"):
        at = _page(name, section, lang)
        at.run()
        assert not at.exception, (name, section, lang, [e.message for e in at.exception])
        assert any("虚构" in w.value or "Fictional" in w.value for w in at.warning)


def test_water_quality_lists_every_station_with_its_class(demo_ws, monkeypatch):
    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(demo_ws.folder))
    at = _page("quality_page", "stations", "en")
    at.run()
    table = at.dataframe[0].value
    assert len(table) == len(demo_ws.read_layer("monitoring_stations"))
    shown = set(table["class_shown"].dropna())
    assert shown and shown <= {"Ⅰ", "Ⅱ", "Ⅲ", "Ⅳ", "Ⅴ", "worse than V", "–"}  # no 劣V in English
    at = _page("quality_page", "trend", "en")
    at.run()
    assert {m.label for m in at.metric} >= {"Trend", "p", "Sen slope"}


def test_ems_status_follows_the_edition(demo_ws, monkeypatch):
    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(demo_ws.folder))
    at = _page("ems_page", "status", "en")
    at.run()
    assert len(at.dataframe[0].value) == 25  # 2015: clauses 4.1 … 10.3 with 6.1.x
    at.selectbox(key="ems_edition").set_value("2026").run()
    clauses = list(at.dataframe[0].value["clause"])
    assert "6.3" in clauses and "6.1.5" in clauses and len(clauses) == 27


def test_saving_an_unchanged_register_writes_nothing(private_ws):
    gpkg = private_ws.folder / "workspace.gpkg"
    before = gpkg.read_bytes()
    at = _page("ems_page", "aspects", "en")
    at.run()
    next(b for b in at.button if b.label == "Save").click().run()
    assert not at.exception
    assert any("Nothing changed" in i.value for i in at.info)
    assert gpkg.read_bytes() == before


def test_a_nonconformity_is_raised_from_an_exceedance(private_ws):
    at = _page("dischargers_page", "offenders", "en")
    at.run()
    worst = at.dataframe[0].value["owner_id"].iloc[0]  # the worst repeat offender
    at.selectbox(key="dc_owner").set_value(worst).run()
    next(b for b in at.button if b.label == "Raise a nonconformity").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("NC-0004" in as_read(s.value) for s in at.success)
    nc = private_ws.read_table("ems_nonconformities").set_index("nc_id").loc["NC-0004"]
    assert nc["source_kind"] == "exceedance" and nc["status"] == "open"
    assert private_ws.read_table("change_log").iloc[-1]["record"] == "NC-0004"


def test_loads_page_shows_the_effect_of_a_saved_scenario(private_ws, catalog):
    import rasterio

    from townmap.analysis.checks import workspace_layers
    from townmap.analysis.scenarios import save_scenario
    from townmap.analysis.siting import plan
    from townmap.analysis.suitability import suitability

    layers = workspace_layers(private_ws, catalog)
    with rasterio.open(private_ws.raster_path("dem")) as src:
        dem = (src.read(1), src.transform, src.crs, src.nodata)
    sites = suitability(layers, private_ws.crs, dem=dem).candidates
    result = plan(layers, sites, 2, dem=dem)
    save_scenario(private_ws, "two plants", result, {"k": 2, "standard": "db32_1072_table1"})
    at = _page("loads_page", "scenario", "en")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    effect = at.dataframe[0].value
    cod = effect[effect["parameter"] == "COD"]
    assert cod["change_tpa"].sum() < 0  # connecting factories to a 1A-or-better plant cuts COD
    assert any("DB32/1072" in c.value for c in at.caption)
