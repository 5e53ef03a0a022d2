"""The map explorer in a real browser: layers drawn, toggled, escaped, bilingual, searchable.

Every test runs with every non-loopback request blocked and counted as a failure
(see conftest.py), so the app is also proven to work with no internet.
"""

from __future__ import annotations

import pytest
from pyproj import Transformer

from .conftest import HOSTILE_NAME

pytestmark = pytest.mark.browser

IFRAME = "iframe[title='streamlit_folium.st_folium']"
LOADED = """() => window.map && window.townmapPointLayers &&
    window.townmapPointLayers.some(l => l._data && l._data.layer === 'enterprises' && l._drawn)"""
POINT_OF = """([layer, id]) => {
    const l = window.townmapPointLayers.find(l => l._data.layer === layer);
    const i = l._data.ids.indexOf(id);
    const p = window.map.latLngToContainerPoint(l.latLngOf(i));
    return [p.x, p.y];
}"""


TEXT_SHOWN = """(sel) => { const el = document.querySelector(sel);
    return el && el.querySelector('table') && !el.querySelector('.townmap-waiting'); }"""
DETAILS_FETCHED = """() => performance.getEntriesByType('resource').map(e => e.name)
    .filter(n => window.townmapPointLayers.some(
        l => l.options.details && n.endsWith(l.options.details.url.split('/').pop())))"""


def _map(page):
    page.wait_for_selector(IFRAME, timeout=90_000)
    frame = page.query_selector(IFRAME).content_frame()
    frame.wait_for_function(LOADED, timeout=90_000)
    return frame


def _click_in_map(page, frame, xy):
    box = page.query_selector(IFRAME).bounding_box()
    page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])


def _sent_frames(page) -> list:
    frames: list = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: frames.append(payload)))
    return frames


def test_layers_are_drawn_offline_and_toggle(browser_page, artifacts):
    page, guard, url = browser_page
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(url)
    frame = _map(page)
    assert "虚构示例数据" in page.inner_text("body")
    counts = frame.evaluate("""() => Object.fromEntries(window.townmapPointLayers
        .map(l => [l._data.layer, l._drawn]))""")
    assert counts["enterprises"] == 600
    assert counts["monitoring_stations"] == 12
    frame.wait_for_function("""() => { let n = 0; window.map.eachLayer(l => {
        if (l.feature) n++; }); return n > 30; }""")
    legend = frame.locator(".townmap-legend").inner_text()
    assert "乡镇企业" in legend and "印染" in legend and "行政村" in legend
    assert "太湖保护区" not in legend  # hidden layers stay out of the legend
    scripts = frame.evaluate("() => [...document.scripts].map(s => s.src).filter(Boolean)")
    assert any("townmap_assets" in s and s.endswith("leaflet.js") for s in scripts)
    page.wait_for_timeout(800)
    page.screenshot(path=str(artifacts / "map_1920x1080.png"))

    # the layer control switches the enterprises off and on, and the legend follows
    frame.hover(".leaflet-control-layers")
    label = frame.locator(".leaflet-control-layers-overlays label", has_text="乡镇企业")
    label.locator("input").uncheck()
    frame.wait_for_function("""() => !window.townmapPointLayers.some(
        l => l._data.layer === 'enterprises')""")
    assert "乡镇企业" not in frame.locator(".townmap-legend").inner_text()
    zones = frame.locator(".leaflet-control-layers-overlays label", has_text="太湖保护区")
    zones.locator("input").check()
    frame.wait_for_function("""() => document.querySelector('.townmap-legend')
        .innerText.includes('太湖保护区')""")
    label.locator("input").check()
    frame.wait_for_function(LOADED)
    assert guard.dialogs == [] and guard.errors == []


def test_popup_shows_hostile_names_as_text_and_opens_details(browser_page, hostile_ws):
    page, guard, url = browser_page
    page.goto(url)
    frame = _map(page)
    xy = frame.evaluate(POINT_OF, ["enterprises", "E00001"])
    frame.evaluate(
        "([x, y]) => window.map.setView(window.map.containerPointToLatLng([x, y]), 16)", xy
    )
    frame.wait_for_timeout(600)
    xy = frame.evaluate(POINT_OF, ["enterprises", "E00001"])
    _click_in_map(page, frame, xy)
    popup = frame.locator(".leaflet-popup-content")
    popup.wait_for(timeout=10_000)
    frame.wait_for_function(TEXT_SHOWN, arg=".leaflet-popup-content", timeout=10_000)
    assert HOSTILE_NAME in popup.inner_text()
    assert popup.locator("img").count() == 0
    # the click reached Python: the detail panel shows the enterprise and its station
    page.wait_for_function(
        "() => document.body.innerText.includes('最近的监测断面')", timeout=30_000
    )
    assert frame.evaluate("() => window.townmapLastClick") == "townmap:enterprises:E00001"
    page.wait_for_timeout(500)
    assert guard.dialogs == [], f"user text ran as code: {guard.dialogs}"


def test_tooltip_text_is_fetched_when_the_cursor_first_enters_the_map(browser_page, hostile_ws):
    page, guard, url = browser_page
    page.mouse.move(1, 1)  # outside where the map will be
    page.goto(url)
    frame = _map(page)
    frame.evaluate(
        """([x, y]) => window.map.setView(window.map.containerPointToLatLng([x, y]), 16,
                                          {animate: false})""",
        frame.evaluate(POINT_OF, ["enterprises", "E00001"]),
    )
    frame.wait_for_timeout(600)
    # drawn without the text: no tooltip file fetched yet
    assert frame.evaluate(DETAILS_FETCHED) == []
    assert frame.evaluate("() => window.townmapPointLayers.every(l => !l._tooltip)")
    # the cursor enters the map and stops on the point (Leaflet's own events: chromium does
    # not always deliver synthetic moves over the vector canvas to the map's listeners)
    frame.evaluate(
        """([x, y]) => {
            const e = {containerPoint: L.point(x, y),
                       latlng: window.map.containerPointToLatLng(L.point(x, y))};
            window.map.fire("mouseover", e);
            window.map.fire("mousemove", e);
        }""",
        frame.evaluate(POINT_OF, ["enterprises", "E00001"]),
    )
    tip = ".townmap-tooltip.leaflet-tooltip-top"  # the point's (a village's is sticky, right)
    assert frame.locator(tip).count() == 1
    frame.wait_for_function(TEXT_SHOWN, arg=tip, timeout=15_000)
    assert HOSTILE_NAME in frame.locator(tip).inner_text()
    assert frame.locator(f"{tip} img").count() == 0
    fetched = frame.evaluate(DETAILS_FETCHED)
    assert len(fetched) == len(set(fetched)) >= 1  # each fetched once, when needed
    # only the point's tooltip shows: the village under it keeps its own hidden
    shape_tip = """(on) => { let shown = null;
        window.map.eachLayer((l) => { if (shown === null && l.feature && l.getTooltip()
                && l.getBounds && l.getBounds().contains(on)) {
            l.openTooltip(on); shown = getComputedStyle(l.getTooltip().getElement()).display; } });
        return shown; }"""
    here = frame.evaluate("() => { const c = window.map.getCenter(); return [c.lat, c.lng]; }")
    assert frame.evaluate(shape_tip, here) == "none"
    frame.evaluate("""() => window.map.fire("mousemove", {containerPoint: L.point(2, 2),
        latlng: window.map.containerPointToLatLng(L.point(2, 2))})""")
    assert frame.locator(tip).count() == 0
    assert frame.evaluate(shape_tip, here) not in (None, "none")  # off the point: shown again
    assert guard.dialogs == [] and guard.errors == []


def test_language_switch_changes_legend_and_url(browser_page, artifacts):
    page, _guard, url = browser_page
    page.goto(url)
    frame = _map(page)
    assert "乡镇企业" in frame.locator(".townmap-legend").inner_text()
    page.get_by_text("English", exact=True).click()
    page.wait_for_function("() => location.search.includes('lang=en')", timeout=30_000)
    # the map is rebuilt in the new language (its frame is replaced): wait for the new one
    page.wait_for_function(
        """(sel) => { const f = document.querySelectorAll(sel);
            if (f.length !== 1) return false;
            const legend = f[0].contentDocument && f[0].contentDocument
                .querySelector('.townmap-legend');
            return legend && legend.innerText.includes('Township & village enterprises'); }""",
        arg=IFRAME,
        timeout=60_000,
    )
    legend = page.frame_locator(IFRAME).locator(".townmap-legend")
    assert "Printing & dyeing" in legend.inner_text()
    assert "Fictional demo data" in page.inner_text("body")
    page.screenshot(path=str(artifacts / "map_en.png"))
    # a link with ?lang=en opens in English
    page.goto(f"{url}/?lang=en")
    frame = _map(page)
    assert "Township & village enterprises" in frame.locator(".townmap-legend").inner_text()


def test_search_flies_to_the_feature(browser_page, hostile_ws):
    page, _guard, url = browser_page
    page.goto(url)
    frame = _map(page)
    station = hostile_ws.read_layer("monitoring_stations").to_crs(4326).iloc[7]
    box = page.get_by_label("搜索企业、村、监测断面（名称或编号）")
    box.fill(station["station_id"])  # names hold the hostile corpus
    box.press("Enter")
    frame.wait_for_function(
        """([lat, lon]) => { const c = window.map.getCenter();
            return Math.abs(c.lat - lat) < 1e-4 && Math.abs(c.lng - lon) < 1e-4
                   && window.map.getZoom() === 16; }""",
        arg=[station.geometry.y, station.geometry.x],
        timeout=30_000,
    )


def test_panning_and_zooming_never_rerun_the_script(browser_page):
    page, _guard, url = browser_page
    sent = _sent_frames(page)
    page.goto(url)
    frame = _map(page)
    page.wait_for_timeout(1500)
    before = len(sent)
    frame.evaluate("() => { window.map.panBy([200, 120], {animate: false}); }")
    frame.evaluate("() => { window.map.setZoom(window.map.getZoom() + 2, {animate: false}); }")
    frame.evaluate("() => { window.map.panBy([-300, 50], {animate: false}); }")
    page.wait_for_timeout(2500)
    assert len(sent) == before, "a pan or zoom sent a message to the server (a rerun)"


def test_cursor_coordinates_match_pyproj(browser_page):
    page, _guard, url = browser_page
    page.goto(url)
    frame = _map(page)
    to_gk = Transformer.from_crs(4326, 4549, always_xy=True)
    for lat, lon in [(31.40, 119.95), (31.33, 119.87), (31.48, 120.04), (32.5, 121.4)]:
        got = frame.evaluate(
            "([lat, lon]) => window.townmapGaussKruger(lat, lon, 120, 500000)", [lat, lon]
        )
        east, north = to_gk.transform(lon, lat)
        assert got["easting"] == pytest.approx(east, abs=0.05)
        assert got["northing"] == pytest.approx(north, abs=0.05)


def _draw(page, tool: str, offsets: list[tuple[int, int]]) -> None:
    frame = page.query_selector(IFRAME).content_frame()
    frame.click(f".leaflet-draw-draw-{tool}")
    box = page.query_selector(IFRAME).bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for dx, dy in offsets:
        page.mouse.click(cx + dx, cy + dy)
        page.wait_for_timeout(250)


def test_drawing_measures_and_summarises_an_area(browser_page):
    page, guard, url = browser_page
    page.goto(url)
    _map(page)
    square = [(-150, -120), (150, -120), (150, 120), (-150, 120), (-150, -120)]
    _draw(page, "polygon", square)
    page.wait_for_function(  # the summary renders in parts: wait for its last one
        "() => ['范围内企业', '范围内的环境约束'].every(t => document.body.innerText.includes(t))",
        timeout=60_000,
    )
    body = page.inner_text("body")
    assert "面积" in body and "ha" in body and "范围内的环境约束" in body
    _draw(page, "polyline", [(-200, 160), (100, 160), (100, 160)])
    page.wait_for_function("() => document.body.innerText.includes('长度')", timeout=30_000)
    assert guard.dialogs == []
