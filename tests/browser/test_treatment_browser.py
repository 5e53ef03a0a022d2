"""The Shared treatment page in a real browser: plans computed offline and drawn."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

IFRAME = "iframe[title='streamlit_folium.st_folium']"
DRAWN = """() => window.map && window.townmapPointLayers && window.townmapPointLayers.some(
    l => l._data && l._data.layer === 'scenario_plants' && l._drawn > 0)"""


def test_plans_are_compared_and_one_is_drawn(browser_page, artifacts):
    page, guard, url = browser_page
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{url}/treatment_page?lang=en")
    page.get_by_role("button", name="Compute the plans").click()
    page.wait_for_function(
        "() => document.body.innerText.includes('Cost against load removed')"
        " || document.querySelector('[data-testid=\"stVegaLiteChart\"]')",
        timeout=120_000,
    )
    page.wait_for_selector(IFRAME)
    frame = page.query_selector(IFRAME).content_frame()
    frame.wait_for_function(DRAWN)
    plants = frame.evaluate(
        "() => window.townmapPointLayers.find(l => l._data.layer === 'scenario_plants')._drawn"
    )
    assert plants == 5  # the default shows the plan with the most plants (k = 5)
    page.locator(IFRAME).scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "treatment.png"))
    assert guard.dialogs == []
