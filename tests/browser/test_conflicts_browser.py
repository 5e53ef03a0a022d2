"""The Conflicts page in a real browser: findings on the map with their verification
status, the planning-zone check, and a project pre-check placed by clicking the map."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

IFRAME = "iframe[title='streamlit_folium.st_folium']"
DRAWN = """() => window.map && window.townmapPointLayers && window.townmapPointLayers.some(
    l => l._data && l._data.layer === 'conflict_points' && l._drawn)"""


def test_findings_map_table_zones_and_precheck(browser_page, artifacts):
    page, guard, url = browser_page
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{url}/conflicts_page?lang=en")
    page.wait_for_selector(IFRAME, timeout=90_000)
    frame = page.query_selector(IFRAME).content_frame()
    frame.wait_for_function(DRAWN, timeout=90_000)
    drawn = frame.evaluate(
        "() => window.townmapPointLayers.find(l => l._data.layer === 'conflict_points')._drawn"
    )
    body = page.inner_text("body")
    assert "finding(s) from" in body and drawn > 100  # the table itself is a canvas
    assert "Rules marked unverified" in body
    page.screenshot(path=str(artifacts / "conflicts.png"))

    page.get_by_text("Planning zones", exact=True).click()
    page.wait_for_function(
        "() => document.body.innerText.includes('Summary by land use')", timeout=60_000
    )
    page.get_by_text("Project pre-check", exact=True).click()
    page.wait_for_function(
        "() => document.body.innerText.includes('Click the map to place')", timeout=60_000
    )
    target = page.wait_for_selector(IFRAME, timeout=60_000)
    target.content_frame().wait_for_function("() => window.map", timeout=60_000)
    page.wait_for_timeout(1000)
    box = target.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.5)
    page.wait_for_function("() => !document.body.innerText.includes('120.000000')", timeout=30_000)
    page.wait_for_function(
        "() => document.body.innerText.includes('Applicable discharge standard')", timeout=60_000
    )
    assert "GB 8978-1996" in page.inner_text("body")
    page.screenshot(path=str(artifacts / "precheck.png"))
    assert guard.dialogs == []
