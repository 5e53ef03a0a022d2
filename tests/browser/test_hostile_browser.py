"""The hostile-text corpus (tests/hostile.py: script tags, event handlers, javascript:
URLs, SVG, CSS injection, RTL overrides, very long and decoded non-UTF-8 strings) sits in
every free-text field of the served workspace. On every page, in every map popup and
tooltip, on the public display and in the HTML report, none of it runs: no dialog, no
live element carrying it, no injected style — and it is shown as text."""

from __future__ import annotations

import pytest

from tests.hostile import CORPUS, LIVE_MARKUP_JS

pytestmark = pytest.mark.browser

IFRAME = "iframe[title='streamlit_folium.st_folium']"
PAGES = ["", "conflicts_page", "quality_page", "dischargers_page", "loads_page",
         "cleaner_page", "ems_page", "comments_page", "report_page", "import_page",
         "export_page"]  # fmt: skip

OPEN_EVERYTHING = """() => {
    for (const input of document.querySelectorAll('.leaflet-control-layers-overlays input')) {
        if (!input.checked) input.click();
    }
    return true;
}"""

POPUPS_AND_TOOLTIPS = """async () => {
    let n = 0;
    for (const l of (window.townmapPointLayers || [])) {
        if (!l._data) continue;
        await l.details();  // the text is fetched on demand
        for (let i = 0; i < Math.min(l._data.ids.length, 3000); i++) {
            l.openAt(i); n++;
        }
    }
    window.map.eachLayer((x) => {
        if (x.getTooltip && x.getTooltip()) {
            try { x.openTooltip(); n++; x.closeTooltip(); } catch (e) { /* off-map part */ }
        }
    });
    return n;
}"""


def _settle(page) -> None:
    page.wait_for_selector("[data-testid='stMain']", timeout=90_000)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=120_000
    )
    page.wait_for_timeout(1500)


def _clean(page, guard, where: str) -> None:
    assert guard.dialogs == [], f"{where}: user text ran as code: {guard.dialogs}"
    assert page.evaluate(LIVE_MARKUP_JS) == [], where
    for frame in page.frames[1:]:
        try:
            bad = frame.evaluate(LIVE_MARKUP_JS)
        except Exception:  # a frame navigating away
            continue
        assert bad == [], f"{where} (frame {frame.url[:60]}): {bad}"


@pytest.mark.parametrize("name", PAGES)
def test_no_page_runs_hostile_text(browser_page, name):
    page, guard, url = browser_page
    page.goto(f"{url}/{name}?lang=en")
    _settle(page)
    assert not page.get_by_text("Page not found").count(), name
    _clean(page, guard, name or "map")


def test_map_popups_and_tooltips_show_hostile_text_as_text(browser_page, artifacts):
    page, guard, url = browser_page
    page.goto(f"{url}/?lang=zh")
    page.wait_for_selector(IFRAME, timeout=90_000)
    frame = page.query_selector(IFRAME).content_frame()
    frame.wait_for_function("() => window.map && window.townmapPointLayers", timeout=90_000)
    frame.evaluate(OPEN_EVERYTHING)
    frame.wait_for_function(
        "() => window.townmapPending === 0 && window.townmapPointLayers.every(l => l._data)",
        timeout=90_000,
    )
    opened = frame.evaluate(POPUPS_AND_TOOLTIPS)
    assert opened > 600
    text = frame.evaluate(
        "() => [...document.querySelectorAll('.leaflet-popup-content')]"
        ".map((e) => e.innerText).join('\\n')"
    )
    shown = [payload for payload in CORPUS[:12] if payload in text]
    assert len(shown) >= 6, shown  # the payloads are there, as plain text
    page.screenshot(path=str(artifacts / "hostile_map.png"))
    _clean(page, guard, "map popups")


def test_public_display_shows_hostile_titles_and_comments_as_text(browser_page):
    page, guard, url = browser_page
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{url}/?mode=public")
    page.wait_for_selector(".pub-title", timeout=90_000)
    for _ in range(4):  # every view, titles and headline indicators
        page.wait_for_timeout(1500)
        _clean(page, guard, "public display")
        page.keyboard.press("PageDown")
    page.wait_for_timeout(1500)
    _clean(page, guard, "public display")


def test_html_report_keeps_hostile_text_inert(browser_page, hostile_ws, tmp_path):
    from townmap.report.build import build_report, write_report

    page, guard, _url = browser_page
    out = write_report(build_report(hostile_ws, lang="en"), tmp_path / "report.html")
    html = out.read_text(encoding="utf-8")
    assert "<script" not in html.lower().replace("&lt;script", "")
    page.set_content(html, wait_until="load")
    page.wait_for_timeout(1000)
    assert any(payload in page.inner_text("body") for payload in CORPUS[:3])
    _clean(page, guard, "HTML report")
