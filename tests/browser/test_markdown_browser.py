"""Markdown in data shows as text (issue 19), in a real browser with every non-loopback
request blocked and recorded (tests/serving.py's Guard).

Streamlit renders Markdown in st.markdown, captions, messages and widget labels, with
extensions (colours, icons, emoji, LaTeX, GFM autolinks). A station name
``![b](http://203.0.113.7/x.png)`` would be fetched as an image the moment it is shown.
First the helper itself: every payload of tests/hostile.py's MARKDOWN, escaped by
``escape_markdown``, through each kind of element, must show its own characters and
nothing else. Then the app: an enterprise click showing its nearest station's Markdown
name, and a CSV with Markdown in a cell, a column name and the file name chosen on the
Import page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from tests.hostile import LIVE_MARKUP_JS, MARKDOWN
from tests.serving import Guard, launch, serve
from townmap.render.escape import WORD_JOINER

pytestmark = pytest.mark.browser

#: each payload through each kind of Markdown-rendering element, in a keyed container
SCRIPT = """
import json
from pathlib import Path

import streamlit as st

from townmap.render.escape import escape_markdown

for i, payload in enumerate(json.loads(Path(__file__).with_suffix(".json").read_text())):
    e = escape_markdown(payload)
    with st.container(key=f"markdown_{i}"):
        st.markdown(e)
    with st.container(key=f"caption_{i}"):
        st.caption(e)
    with st.container(key=f"info_{i}"):
        st.info(e)
    with st.container(key=f"expander_{i}"), st.expander(e):
        st.text("inside")
    with st.container(key=f"radio_{i}"):
        st.radio("radio", [e], key=f"r{i}", label_visibility="collapsed")
    with st.container(key=f"checkbox_{i}"):
        st.checkbox(e, key=f"c{i}")
    with st.container(key=f"metric_{i}"):
        st.metric(e, e)
    with st.container(key=f"tabs_{i}"):
        st.tabs([e])
    with st.container(key=f"segmented_{i}"):
        st.segmented_control("s", [e], key=f"s{i}", label_visibility="collapsed")
    with st.container(key=f"mixed_{i}"):  # Townmap's own markup around an escaped value
        st.markdown(f"**{i}**: {e}")
st.container(key="the_end").text("end")
"""
KINDS = ["markdown", "caption", "info", "expander", "radio", "checkbox", "metric", "tabs",
         "segmented", "mixed"]  # fmt: skip
TEXT = ":is([data-testid=stMarkdownContainer], [data-testid=stCaptionContainer])"
#: what rendered Markdown would add inside the containers (Townmap's own <strong> aside)
MARKUP = ("img, a, h1, h2, h3, h4, h5, h6, ul, ol, li, blockquote, table, pre, code, hr, em, "
          "del, .katex, span[role=img], .stMarkdownColoredText, .stMarkdownColoredBackground, "
          ".stMarkdownBadge")  # fmt: skip
RENDERED = """(markup) => {
    const inside = '[class*="st-key-"]', mixed = '[class*="st-key-mixed"]';
    return [...document.querySelectorAll(
        `${inside} :is(${markup}), ${inside}:not(${mixed}) strong`)]
    .map(e => e.tagName + ' ' + (e.getAttribute('href') || e.getAttribute('src') || '')
         + ' in ' + ((e.closest(inside).className.match(/st-key-\\S+/) || [''])[0]));
}"""
NO_SKELETON = "() => !document.querySelector('[data-testid=stSkeleton]')"


def shown(text: str) -> str:
    """What a reader sees: the invisible word joiner dropped, white space collapsed."""
    return re.sub(r"\s+", " ", text.replace(WORD_JOINER, "")).strip()


@pytest.fixture(scope="module")
def escaped_app(tmp_path_factory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("markdown")
    script = folder / "escaped.py"
    script.write_text(SCRIPT, encoding="utf-8")
    script.with_suffix(".json").write_text(json.dumps(MARKDOWN), encoding="utf-8")
    with serve(str(script), {}, folder / "streamlit.log") as server:
        yield server.url


@pytest.fixture
def guarded_page() -> Iterator[tuple]:
    from playwright.sync_api import sync_playwright

    guard = Guard()
    with sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        guard.attach(context, page)
        try:
            yield page, guard
        finally:
            context.close()
            browser.close()


def test_escaped_markdown_shows_its_own_characters_in_every_element(escaped_app, guarded_page):
    page, guard = guarded_page
    page.goto(escaped_app)
    page.wait_for_selector(".st-key-the_end")
    page.wait_for_function(NO_SKELETON)  # lazily loaded plugins settled
    assert page.evaluate(RENDERED, MARKUP) == []
    assert page.evaluate(LIVE_MARKUP_JS) == []
    wrong = []
    for i, payload in enumerate(MARKDOWN):
        for kind in KINDS:
            texts = page.eval_on_selector_all(
                f".st-key-{kind}_{i} {TEXT}", "els => els.map(e => e.innerText)"
            )
            want = f"{i}: {shown(payload)}" if kind == "mixed" else shown(payload)
            if want not in [shown(t) for t in texts]:
                wrong.append((kind, payload, texts))
    assert wrong == []
    assert page.locator(".st-key-mixed_0 strong").inner_text() == "0"  # label markup kept
    assert guard.blocked == [], f"requests left the machine: {guard.blocked}"


# ------------------------------------------------------------------ the app itself

IFRAME = "iframe[title='streamlit_folium.st_folium']"
POINTS_READY = """() => window.map && window.townmapPointLayers && window.townmapPointLayers
    .some(l => l._data && l._data.layer === 'enterprises' && l._drawn)"""
#: the enterprise's point, once the click would find it there (grid rebuilt after the view)
HIT_POINT = """(id) => {
    const l = window.townmapPointLayers.find(l => l._data && l._data.layer === 'enterprises');
    const i = l._data.ids.indexOf(id);
    const p = window.map.latLngToContainerPoint(l.latLngOf(i));
    return l._nearest(p) === i ? [p.x, p.y] : null;
}"""


def _beacon_station(ws) -> tuple[str, str]:
    """(enterprise id, language) of an enterprise whose nearest station is named with the
    Markdown beacon image in that language (the poisoned demo has some)."""
    from townmap.explore.inspect import enterprise_links

    layers = {n: ws.read_layer(n) for n in ("enterprises", "monitoring_stations")}
    for _, ent in layers["enterprises"].iterrows():
        station = enterprise_links(ent, layers)["station"]
        for lang in ("zh", "en"):
            if station[f"name_{lang}"] == MARKDOWN[0]:
                return str(ent["ent_id"]), lang
    raise AssertionError("no enterprise's nearest station is named with the beacon")


def test_an_enterprise_click_shows_its_stations_markdown_name_as_text(browser_page, hostile_ws):
    page, guard, url = browser_page
    ent_id, lang = _beacon_station(hostile_ws)
    name = MARKDOWN[0]
    page.goto(f"{url}/?lang={lang}")
    page.wait_for_selector(IFRAME, timeout=90_000)
    frame = page.query_selector(IFRAME).content_frame()
    frame.wait_for_function(POINTS_READY, timeout=90_000)
    frame.evaluate(
        """(id) => {
            const l = window.townmapPointLayers.find(l => l._data.layer === 'enterprises');
            window.map.setView(l.latLngOf(l._data.ids.indexOf(id)), 17, {animate: false});
        }""",
        ent_id,
    )
    xy = frame.wait_for_function(HIT_POINT, arg=ent_id, timeout=30_000).json_value()
    box = page.query_selector(IFRAME).bounding_box()
    page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])
    frame.wait_for_function(
        f"() => window.townmapLastClick === 'townmap:enterprises:{ent_id}'", timeout=30_000
    )
    label = {"zh": "最近的监测断面", "en": "Nearest monitoring station"}[lang]
    page.wait_for_function(
        "(label) => [...document.querySelectorAll('[data-testid=stMarkdownContainer]')]"
        ".some(e => e.innerText.includes(label))",
        arg=label,
    )
    line = page.locator("[data-testid=stMarkdownContainer]", has_text=label).last
    assert shown(name) in shown(line.inner_text())
    assert line.locator("img, a").count() == 0
    assert page.evaluate(LIVE_MARKUP_JS) == []
    assert guard.dialogs == [] and guard.blocked == [], guard.blocked


def _choose_layer(page, url: str, name: str) -> None:
    page.goto(f"{url}/import_page?lang=en")
    page.wait_for_selector("[data-testid='stFileUploader']")
    page.locator("[data-testid='stSelectbox']").first.click()
    page.keyboard.type(name.split()[0])  # the list is long and virtualised: filter it
    page.get_by_role("option", name=name).click()


def _upload(page, file_name: str, data: bytes) -> None:
    page.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(
        {"name": file_name, "mimeType": "text/csv", "buffer": data}
    )


def _settled_without_markdown(page, guard, *texts: str) -> None:
    """Every text shown, literally; nothing rendered from it; nothing fetched."""
    page.wait_for_function(
        """(texts) => { const body = document.body.innerText.replaceAll('\\u2060', '');
            return texts.every(t => body.includes(t)); }""",
        arg=[shown(t) for t in texts],
    )
    page.wait_for_function(NO_SKELETON)
    assert page.evaluate(LIVE_MARKUP_JS) == []
    rendered = f"{TEXT} :is(img, a:not([href^='#']), .katex, span[role=img])"  # not anchors
    assert page.locator(rendered).evaluate_all("els => els.map(e => e.outerHTML)") == []
    assert guard.dialogs == [] and guard.blocked == [], guard.blocked


def test_import_page_shows_markdown_in_a_chosen_csv_as_text(browser_page):
    page, guard, url = browser_page
    beacon = MARKDOWN[0]
    lon, lat = "经度（<http://203.0.113.7/> $x^2$）", "纬度（www.example.com :red[y]）"
    csv = (
        f"编号,名称,英文名,类型,人数,{lon},{lat}\n"
        f"SRM,{beacon},x,{beacon},300,119.95,31.40\n"  # free text, and a choice it is not
    )
    _choose_layer(page, url, "Sensitive receptors")
    _upload(page, "receptors.csv", csv.encode("utf-8"))
    # the columns are named in the notes; the value outside the choices is a row problem
    # (listed in the problems table) and is left empty
    _settled_without_markdown(page, guard, f"'{lon}' and '{lat}'", "problem(s) found")


def test_import_page_shows_a_markdown_file_name_as_text(browser_page):
    page, guard, url = browser_page
    # a backslash counts as a slash in an http URL, so the server's name is a beacon to
    # 203.0.113.7: ![b](http:\\\\203…) (the upload's quoted file name halves backslashes)
    name = r"![b](http:\\\\\\\\203.0.113.7\x.png) $x$ www.example.com.csv"
    _choose_layer(page, url, "Sensitive receptors")
    _upload(page, name, b" \n")
    received = name.replace("\\\\", "\\")
    _settled_without_markdown(page, guard, f"{received} holds no rows")
