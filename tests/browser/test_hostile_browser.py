"""The hostile-text corpus (tests/hostile.py: script tags, event handlers, javascript:
URLs, SVG, CSS injection, RTL overrides, very long and decoded non-UTF-8 strings) sits in
every free-text field of the served workspace. On every page, in every map popup and
tooltip, on the public display and in the HTML report, none of it runs: no dialog, no
live element carrying it, no injected style — and it is shown as text."""

from __future__ import annotations

import pytest

from tests.hostile import CORPUS, LIVE_MARKUP_JS
from tests.serving import LOADED, SLOW, WATCH, map_frame, settled

pytestmark = pytest.mark.browser

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


def _settle(page, until: str = "() => true", arg=None) -> None:
    """The page shows ``until``, its script run is over, and every frame and image in it
    has loaded (or failed to): whatever hostile text could have run has run."""
    page.wait_for_selector("[data-testid='stMain']", timeout=SLOW)
    settled(page, f"(arg) => ({until})(arg) && ({LOADED})()", arg)


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
    frame = map_frame(page, "() => !!window.townmapPointLayers")
    frame.evaluate(OPEN_EVERYTHING)
    frame.wait_for_function(
        "() => window.townmapPending === 0 && window.townmapPointLayers.every(l => l._data)",
        timeout=SLOW,
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


def test_public_display_shows_hostile_titles_and_comments_as_text(browser_page, hostile_ws):
    page, guard, url = browser_page
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.add_init_script(WATCH)  # counts script runs
    page.goto(f"{url}/?mode=public")
    titles = hostile_ws.read_table("public_slides").sort_values("position")["title_zh"].tolist()
    shown = """([n, title]) => (n === 1 || location.search.includes('slide=' + n))
        && document.querySelector('.pub-title').innerText.replace(/\\s+/g, ' ').includes(title)"""
    for n, title in enumerate(titles, start=1):  # every view, titles and headline indicators
        page.wait_for_selector(".pub-title", timeout=SLOW)
        _settle(page, shown, [n, " ".join(title.split())[:40]])
        map_frame(page)
        _clean(page, guard, "public display")
        runs = page.evaluate("() => window.townmapRuns")
        page.keyboard.press("PageDown")
        if n < len(titles):
            page.wait_for_function(
                "(n) => location.search.includes('slide=' + n)", arg=n + 1, timeout=SLOW
            )
    # on the last view the key reruns the script (the key reaches Python), which stays there
    _settle(page, "(runs) => window.townmapRuns > runs", runs)
    assert f"slide={len(titles)}" in page.evaluate("() => location.search")
    _clean(page, guard, "public display")


def test_html_report_keeps_hostile_text_inert(browser_page, hostile_ws, tmp_path):
    from townmap.report.build import build_report, write_report

    page, guard, _url = browser_page
    out = write_report(build_report(hostile_ws, lang="en"), tmp_path / "report.html")
    html = out.read_text(encoding="utf-8")
    assert "<script" not in html.lower().replace("&lt;script", "")
    page.set_content(html, wait_until="load")
    page.wait_for_function(LOADED, timeout=SLOW)  # every image loaded or failed: handlers ran
    assert any(payload in page.inner_text("body") for payload in CORPUS[:3])
    _clean(page, guard, "HTML report")
