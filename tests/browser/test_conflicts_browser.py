"""The Conflicts page in a real browser: findings on the map with their verification
status, the planning-zone check, and a project pre-check placed by clicking the map."""

from __future__ import annotations

import pytest

from tests.serving import LOADED, MAP_IFRAME, SLOW, map_frame, settled

pytestmark = pytest.mark.browser

DRAWN = """() => window.map && window.townmapPointLayers && window.townmapPointLayers.some(
    l => l._data && l._data.layer === 'conflict_points' && l._drawn)"""


def test_findings_map_table_zones_and_precheck(browser_page, artifacts):
    page, guard, url = browser_page
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{url}/conflicts_page?lang=en")
    settled(page, "() => document.body.innerText.includes('Rules marked unverified')")
    frame = map_frame(page, DRAWN)
    drawn = frame.evaluate(
        "() => window.townmapPointLayers.find(l => l._data.layer === 'conflict_points')._drawn"
    )
    body = page.inner_text("body")
    assert "finding(s) from" in body and drawn > 100  # the table itself is a canvas
    assert "Rules marked unverified" in body
    page.screenshot(path=str(artifacts / "conflicts.png"))

    page.get_by_text("Planning zones", exact=True).click()
    settled(page, "() => document.body.innerText.includes('Summary by land use')")
    page.get_by_text("Project pre-check", exact=True).click()
    # the pre-check's map in place, drawn, and no longer moving: then the click lands on it
    hint = "() => document.body.innerText.includes('Click the map to place')"
    settled(page, f"() => ({hint})() && ({LOADED})()")
    map_frame(page)
    target = page.query_selector(MAP_IFRAME)
    box = target.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.5)
    page.wait_for_function("() => !document.body.innerText.includes('120.000000')", timeout=SLOW)
    settled(page, "() => document.body.innerText.includes('Applicable discharge standard')")
    assert "GB 4287-2012" in page.inner_text("body")  # a dyeing works: its own standard
    page.screenshot(path=str(artifacts / "precheck.png"))
    assert guard.dialogs == []
