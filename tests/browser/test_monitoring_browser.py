"""The monitoring and management pages in a real browser, offline: stations drawn by
their class, outfalls by compliance, the trend chart, and the EMS register with hostile
text shown as text."""

from __future__ import annotations

import pytest

from tests.serving import LOADED, SLOW, map_frame, settled

pytestmark = pytest.mark.browser

#: a chart drawn: Vega has put its marks on a canvas or into an SVG of some size
CHART_DRAWN = """() => [...document.querySelectorAll('[data-testid=stVegaLiteChart]')].some(
    (c) => [...c.querySelectorAll('canvas, svg.marks')]
        .some((m) => m.getBoundingClientRect().width > 100))"""
#: a data grid drawn: the table's canvas is there and has a size
GRID_DRAWN = """() => [...document.querySelectorAll('[data-testid=stDataFrame]')].some(
    (g) => [...g.querySelectorAll('canvas')].some((c) => c.getBoundingClientRect().height > 20))"""


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
    settled(page, LOADED)
    frame = map_frame(page, _drawn("station_classes"))
    assert _count(frame, "station_classes") == len(hostile_ws.read_layer("monitoring_stations"))
    page.screenshot(path=str(artifacts / "water_quality.png"))
    page.get_by_text("Trend", exact=True).first.click()
    settled(page, CHART_DRAWN)  # the chart drawn, before the screenshot
    page.screenshot(path=str(artifacts / "water_quality_trend.png"))
    assert guard.dialogs == []


def test_outfalls_are_drawn_by_compliance(browser_page, hostile_ws, artifacts):
    page, guard, url = browser_page
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{url}/dischargers_page?lang=zh")
    settled(page, LOADED)
    frame = map_frame(page, _drawn("discharge_status"))
    assert _count(frame, "discharge_status") == len(hostile_ws.read_layer("discharge_points"))
    page.screenshot(path=str(artifacts / "dischargers.png"))
    assert guard.dialogs == []


def test_ems_register_shows_hostile_text_as_text(browser_page, artifacts):
    page, guard, url = browser_page
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{url}/ems_page?lang=en")
    page.wait_for_selector("text=Status", timeout=SLOW)
    settled(page, LOADED)  # the page drawn in full, before the screenshot
    page.screenshot(path=str(artifacts / "ems_status.png"))
    page.get_by_text("Aspects", exact=True).first.click()
    settled(page, f"() => ({GRID_DRAWN})() && ({LOADED})()")  # the register drawn
    page.screenshot(path=str(artifacts / "ems_aspects.png"))
    assert guard.dialogs == []
    assert page.evaluate("() => document.querySelectorAll('img[src=\"x\"]').length") == 0
