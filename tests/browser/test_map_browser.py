"""The map explorer in a real browser: layers drawn, toggled, escaped, bilingual, searchable.

Every test runs with every non-loopback request blocked and counted as a failure
(see conftest.py), so the app is also proven to work with no internet.
"""

from __future__ import annotations

import pytest
from pyproj import Transformer

from tests.serving import LOADED as PAGE_LOADED
from tests.serving import MAP_IFRAME as IFRAME
from tests.serving import MAP_READY, SLOW, WATCH, map_frame, settled

from .conftest import HOSTILE_NAME

pytestmark = pytest.mark.browser

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


#: move the map and resolve once it has settled there (its point layers redraw on the
#: same "moveend", registered earlier, so they have been redrawn by then)
MOVE_TO = """([x, y, zoom, animate]) => new Promise((done) => {
    window.map.once("moveend", () => done(true));
    window.map.setView(window.map.containerPointToLatLng([x, y]), zoom, {animate: animate});
})"""


def _map(page):
    return map_frame(page, LOADED)


def _quiet(page, frame) -> None:
    """The page and the map have finished drawing: the script run is over, the map has
    nothing on its way, and every image has loaded or failed — so anything user text
    could have run (an image's error handler, a dialog) has run by now."""
    settled(page, PAGE_LOADED)
    frame.wait_for_function(MAP_READY, timeout=SLOW)


def _click_in_map(page, frame, xy):
    box = page.query_selector(IFRAME).bounding_box()
    page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])


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
    _quiet(page, frame)  # drawn in full before the screenshot
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
    assert frame.evaluate(MOVE_TO, [*xy, 16, True])  # the zoom animation has ended
    xy = frame.evaluate(POINT_OF, ["enterprises", "E00001"])
    _click_in_map(page, frame, xy)
    popup = frame.locator(".leaflet-popup-content")
    popup.wait_for(timeout=SLOW)
    frame.wait_for_function(TEXT_SHOWN, arg=".leaflet-popup-content", timeout=SLOW)
    assert HOSTILE_NAME in popup.inner_text()
    assert popup.locator("img").count() == 0
    # the click reached Python: the detail panel shows the enterprise and its station
    settled(page, "() => document.body.innerText.includes('最近的监测断面')")
    assert frame.evaluate("() => window.townmapLastClick") == "townmap:enterprises:E00001"
    _quiet(page, frame)
    assert guard.dialogs == [], f"user text ran as code: {guard.dialogs}"


def test_tooltip_text_is_fetched_when_the_cursor_first_enters_the_map(browser_page, hostile_ws):
    page, guard, url = browser_page
    page.mouse.move(1, 1)  # outside where the map will be
    page.goto(url)
    frame = _map(page)
    xy = frame.evaluate(POINT_OF, ["enterprises", "E00001"])
    assert frame.evaluate(MOVE_TO, [*xy, 16, False])
    # drawn without the text, with nothing on its way: no tooltip file fetched, or asked for
    frame.wait_for_function(MAP_READY, timeout=SLOW)
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
    frame.wait_for_function(TEXT_SHOWN, arg=tip, timeout=SLOW)
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
    page.wait_for_function("() => location.search.includes('lang=en')", timeout=SLOW)
    # the map is rebuilt in the new language (its frame is replaced): wait for the new one
    page.wait_for_function(
        """(sel) => { const f = document.querySelectorAll(sel);
            if (f.length !== 1) return false;
            const legend = f[0].contentDocument && f[0].contentDocument
                .querySelector('.townmap-legend');
            return legend && legend.innerText.includes('Township & village enterprises'); }""",
        arg=IFRAME,
        timeout=SLOW,
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
        timeout=SLOW,
    )


#: a point of a point layer well inside the map's view, [x, y] in the map's frame
POINT_IN_VIEW = """() => { const size = window.map.getSize();
    for (const l of window.townmapPointLayers.slice().reverse()) {
        for (let i = 0; i < l.count(); i++) {
            const p = window.map.latLngToContainerPoint(l.latLngOf(i));
            if (p.x > 60 && p.y > 60 && p.x < size.x - 60 && p.y < size.y - 60
                    && window.townmapPointLayers.every((o) => o === l || o._nearest(p) < 0)) {
                return [p.x, p.y, l.keyOf(i)];
            }
        }
    }
    return null; }"""
SENT = "(n) => window.townmapSent.slice(n)"


def test_panning_and_zooming_never_rerun_the_script(browser_page):
    page, _guard, url = browser_page
    page.add_init_script(WATCH)  # records what the page sends, script runs, pending timers
    page.goto(url)
    frame = _map(page)
    settled(page)  # the first run is over ...
    frame.wait_for_function("() => window.townmapTimers() === 0", timeout=SLOW)  # ... and the map's
    sent, runs = page.evaluate("() => [window.townmapSent.length, window.townmapRuns]")
    frame.evaluate("() => { window.map.panBy([200, 120], {animate: false}); }")
    frame.evaluate("() => { window.map.setZoom(window.map.getZoom() + 2, {animate: false}); }")
    frame.evaluate("() => { window.map.panBy([-300, 50], {animate: false}); }")
    # streamlit-folium reports a move after a 250 ms debounce: once no timer is due in the
    # map's frame, whatever the moves had to report has been reported
    frame.wait_for_function("() => window.townmapTimers() === 0", timeout=SLOW)
    # a click on a point is reported the same way, and reruns the script: the sentinel that
    # the moves' chance to send something has passed
    x, y, key = frame.evaluate(POINT_IN_VIEW)
    _click_in_map(page, frame, [x, y])
    page.wait_for_function("(n) => window.townmapSent.length > n", arg=sent, timeout=SLOW)
    settled(page, "(n) => window.townmapRuns > n", arg=runs)
    after = page.evaluate(SENT, sent)
    assert len(after) == 1 and key in after[0], "a pan or zoom sent the server a message"
    assert page.evaluate("() => window.townmapRuns") == runs + 1  # the click's run, no other


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


#: Leaflet.draw's handler for ``tool`` in the map's frame: its vertices so far, whether it
#: still draws, whether it takes a click now (it ignores clicks for 50 ms after each one)
DRAWING = """(tool) => { for (const k of Object.keys(window)) {
        let c; try { c = window[k]; } catch (e) { continue; }
        if (c instanceof L.Control.Draw) {
            const h = c._toolbars.draw._modes[tool].handler;
            return {on: h.enabled(), n: (h._markers || []).length, busy: !!h._disableMarkers};
        }
    } return null; }"""
CLICK_TAKEN = f"""([tool, n]) => {{ const s = ({DRAWING})(tool);
    return !s.on || (s.n !== n && !s.busy); }}"""


def _draw(page, tool: str, offsets: list[tuple[int, int]]) -> None:
    frame = page.query_selector(IFRAME).content_frame()
    frame.click(f".leaflet-draw-draw-{tool}")
    box = page.query_selector(IFRAME).bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for dx, dy in offsets:
        state = frame.evaluate(DRAWING, tool)
        assert state["on"] and not state["busy"], state
        page.mouse.click(cx + dx, cy + dy)
        # each click adds a vertex (or ends the shape) before the next one is made
        frame.wait_for_function(CLICK_TAKEN, arg=[tool, state["n"]], timeout=SLOW)
    assert not frame.evaluate(DRAWING, tool)["on"], "the shape was not finished"


def test_drawing_measures_and_summarises_an_area(browser_page):
    page, guard, url = browser_page
    page.goto(url)
    _map(page)
    square = [(-150, -120), (150, -120), (150, 120), (-150, 120), (-150, -120)]
    _draw(page, "polygon", square)
    settled(  # the summary renders in parts: wait for its last one, and the run's end
        page,
        "() => ['范围内企业', '范围内的环境约束'].every(t => document.body.innerText.includes(t))",
    )
    body = page.inner_text("body")
    assert "面积" in body and "ha" in body and "范围内的环境约束" in body
    _draw(page, "polyline", [(-200, 160), (100, 160), (100, 160)])
    settled(page, "() => document.body.innerText.includes('长度')")
    assert guard.dialogs == []
