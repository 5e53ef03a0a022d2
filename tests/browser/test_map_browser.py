"""The app in a real browser: the map and its features are drawn, offline and escaped."""

from __future__ import annotations

import pytest

from .conftest import HOSTILE_NAME

pytestmark = pytest.mark.browser

COUNT_FEATURES = (
    """() => { let n = 0; window.map.eachLayer(l => { if (l.feature) n++; }); return n; }"""
)
HOSTILE_TOOLTIP = """(needle) => {
    let found = null;
    window.map.eachLayer(l => {
        if (l.feature && String(l.feature.properties.name_zh || '').includes(needle)) found = l;
    });
    if (!found) return null;
    found.fire('mouseover', {latlng: found.getLatLng(), target: found}, true);
    const tip = document.querySelector('.leaflet-tooltip');
    if (!tip) return {text: '', imgs: -1};
    return {text: tip.innerText, imgs: tip.querySelectorAll('img').length};
}"""


def _map_frame(page):
    page.wait_for_selector("iframe[title='streamlit_folium.st_folium']", timeout=90_000)
    frame = page.frame_locator("iframe[title='streamlit_folium.st_folium']")
    frame.locator(".leaflet-container").wait_for(timeout=90_000)
    frame.locator(".townmap-legend").wait_for(timeout=30_000)
    handle = page.query_selector("iframe[title='streamlit_folium.st_folium']")
    return frame, handle.content_frame()


def test_map_draws_every_layer_offline_and_escapes_names(browser_page, artifacts):
    page, guard, url = browser_page
    page.goto(url)
    frame, content = _map_frame(page)
    assert "虚构示例数据" in page.inner_text("body")
    legend = frame.locator(".townmap-legend").inner_text()
    assert "乡镇企业" in legend and "印染" in legend
    assert "太湖保护区" not in legend  # hidden layers stay out of the legend
    content.wait_for_function("() => window.map && Object.keys(window.map._layers).length > 50")
    drawn = content.evaluate(COUNT_FEATURES)
    assert drawn > 600, f"only {drawn} features drawn"
    assert content.evaluate("() => document.querySelectorAll('canvas').length") >= 1
    # Leaflet came from the app itself
    scripts = content.evaluate("() => [...document.scripts].map(s => s.src).filter(Boolean)")
    assert any("townmap_assets" in s and s.endswith("leaflet.js") for s in scripts)
    tip = content.evaluate(HOSTILE_TOOLTIP, "img src")
    assert tip is not None and HOSTILE_NAME in tip["text"] and tip["imgs"] == 0
    page.wait_for_timeout(500)
    page.screenshot(path=str(artifacts / "map_zh.png"), full_page=True)
    assert guard.dialogs == [], f"user text ran as code: {guard.dialogs}"


def test_english_link_opens_in_english(browser_page, artifacts):
    page, guard, url = browser_page
    page.goto(f"{url}/?lang=en")
    frame, _ = _map_frame(page)
    assert "Fictional demo data" in page.inner_text("body")
    assert "Township & village enterprises" in frame.locator(".townmap-legend").inner_text()
    page.screenshot(path=str(artifacts / "map_en.png"), full_page=True)
    assert guard.dialogs == []
