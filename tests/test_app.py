"""The map page under Streamlit's AppTest (the page runs on its own, without navigation)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from townmap import PROJECT_ROOT

PAGE = str(PROJECT_ROOT / "townmap" / "ui" / "map_page.py")


@pytest.fixture
def page(demo_ws, monkeypatch) -> AppTest:
    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(demo_ws.folder))
    return AppTest.from_file(PAGE, default_timeout=120)


def test_map_page_opens_in_chinese_with_the_fiction_banner(page):
    page.run()
    assert not page.exception
    assert "乡镇环境规划与监测" in page.title[0].value
    assert any("虚构示例数据" in w.value for w in page.warning)
    table = page.dataframe[0].value
    counts = dict(zip(table["图层"], table["要素数"], strict=True))
    assert counts["乡镇企业"] == 600
    assert any("EPSG:4549" in c.value for c in page.caption)


def test_language_comes_from_the_url(page):
    page.query_params["lang"] = "en"
    page.run()
    assert not page.exception
    assert "town environmental planning" in page.title[0].value
    assert any("Fictional demo data" in w.value for w in page.warning)
    assert page.radio(key="townmap_lang").value == "en"


def test_switching_language_updates_the_url(page):
    page.run()
    page.radio(key="townmap_lang").set_value("en").run()
    assert not page.exception
    assert page.query_params["lang"] == ["en"] or page.query_params["lang"] == "en"
    assert "town environmental planning" in page.title[0].value


def test_unknown_language_falls_back_to_chinese(page):
    page.query_params["lang"] = "<script>"
    page.run()
    assert not page.exception
    assert "乡镇环境规划与监测" in page.title[0].value


def test_missing_workspace_explains_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(tmp_path / "nothing"))
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["lang"] = "en"
    at.run()
    assert not at.exception
    assert "No workspace found" in at.error[0].value
    assert "townmap demo" in at.info[0].value
    assert at.button[0].label == "Build the demo town"


def test_build_button_creates_the_demo_and_shows_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(tmp_path / "new"))
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.run()
    at.button[0].click().run()
    assert not at.exception
    assert (tmp_path / "new" / "workspace.gpkg").is_file()
    assert not at.error
    assert any("虚构示例数据" in w.value for w in at.warning)


def test_a_corrupt_workspace_is_an_error_message_not_a_crash(tmp_path, monkeypatch):
    (tmp_path / "workspace.gpkg").write_bytes(b"garbage")
    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(tmp_path))
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception
    assert "not a Townmap workspace" in at.error[0].value
