"""The monitoring and management pages in a real browser, offline: stations drawn by
their class, outfalls by compliance, the trend chart, and the EMS register with hostile
text shown as text."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

IFRAME = "iframe[title='streamlit_folium.st_folium']"


def _drawn(layer: str) -> str:
    return (f"() => window.map && window.townmapPointLayers && window.townmapPointLayers.some("
            f"l => l._data && l._data.layer === '{layer}' && l._drawn > 0)")  # fmt: skip


def _count(frame, layer: str) -> int:
    return frame.evaluate(
        f"() => window.townmapPointLayers.find(l => l._data.layer === '{layer}')._drawn"
    )


def test_stations_are_drawn_by_class_and_the_trend_has_class_bands(browser_page, hostile_ws,
                                                                    artifacts):  # fmt: skip
    page, guard, url = browser_page
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{url}/quality_page?lang=en")
    page.wait_for_selector(IFRAME, timeout=90_000)
    frame = page.query_selector(IFRAME).content_frame()
    frame.wait_for_function(_drawn("station_classes"), timeout=60_000)
    assert _count(frame, "station_classes") == len(hostile_ws.read_layer("monitoring_stations"))
    page.screenshot(path=str(artifacts / "water_quality.png"))
    page.get_by_text("Trend", exact=True).first.click()
    page.wait_for_selector("[data-testid='stVegaLiteChart']", timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(artifacts / "water_quality_trend.png"))
    assert guard.dialogs == []


def test_outfalls_are_drawn_by_compliance(browser_page, hostile_ws, artifacts):
    page, guard, url = browser_page
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{url}/dischargers_page?lang=zh")
    page.wait_for_selector(IFRAME, timeout=90_000)
    frame = page.query_selector(IFRAME).content_frame()
    frame.wait_for_function(_drawn("discharge_status"), timeout=60_000)
    assert _count(frame, "discharge_status") == len(hostile_ws.read_layer("discharge_points"))
    page.screenshot(path=str(artifacts / "dischargers.png"))
    assert guard.dialogs == []


def test_ems_register_shows_hostile_text_as_text(browser_page, artifacts):
    page, guard, url = browser_page
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{url}/ems_page?lang=en")
    page.wait_for_selector("text=Status", timeout=90_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(artifacts / "ems_status.png"))
    page.get_by_text("Aspects", exact=True).first.click()
    page.wait_for_selector("[data-testid='stDataFrame']", timeout=60_000)
    page.wait_for_timeout(2000)
    page.screenshot(path=str(artifacts / "ems_aspects.png"))
    assert guard.dialogs == []
    assert page.evaluate("() => document.querySelectorAll('img[src=\"x\"]').length") == 0
