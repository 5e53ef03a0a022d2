"""``escape_markdown``: data shown through Streamlit's Markdown keeps its characters and
starts nothing (issue 19). The decisive check is in a browser
(tests/browser/test_markdown_browser.py); these pin the rules it relies on."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers import as_read
from tests.hostile import CORPUS, MARKDOWN
from townmap.render.escape import WORD_JOINER, escape_html_line, escape_markdown

ASCII_PUNCTUATION = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
EXTRA = [
    "\\",
    "ends with a backslash \\",
    "**",
    "![b][ref]\n\n[ref]: http://203.0.113.7/r.png",
    "<!-- comment -->",
    "mailto:x@example.com xmpp:x@example.com WWW.EXAMPLE.COM",
    ":help[tip] :red-badge[b] :color[c]{foreground=red}",
    "\r\n# crlf\r- list",
    "\t\t    four spaces",
    "12:30 a_b_c 1.5 #tag",
]
PAYLOADS = [*MARKDOWN, *EXTRA, *CORPUS]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_every_ascii_punctuation_character_is_escaped(payload):
    out = escape_markdown(payload)
    i = 0
    while i < len(out):
        if out[i] == "\\":
            assert i + 1 < len(out) and out[i + 1] in ASCII_PUNCTUATION, (out, i)
            i += 2
            continue
        assert out[i] not in ASCII_PUNCTUATION, (out, i)
        i += 1


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_text_read_back_is_the_payload_on_one_line(payload):
    out = escape_markdown(payload)
    assert "\n" not in out and "\r" not in out  # no line can start a block
    expected = re.sub(r"\r\n?|\n", " ", payload).lstrip(" \t")
    assert as_read(out) == expected


@pytest.mark.parametrize(
    ("payload", "split"),
    [
        ("http://203.0.113.7/x", "http\\:" + WORD_JOINER + "\\/\\/"),
        ("www.example.com", "www" + WORD_JOINER + "\\."),
        ("WWW.example.com", "WWW" + WORD_JOINER + "\\."),
        ("me@example.com", "me\\@" + WORD_JOINER + "example"),
        (":smile:", "\\:" + WORD_JOINER + "smile\\:"),
        (":material/warning:", "\\:" + WORD_JOINER + "material\\/warning"),
        ("a -> b", "\\-" + WORD_JOINER + "\\>"),
        ("a <= b", "\\<" + WORD_JOINER + "\\="),
        ("a ~= b", "\\~" + WORD_JOINER + "\\="),
        ("a -- b", "\\-" + WORD_JOINER + "\\-"),
    ],
)
def test_what_is_rewritten_after_parsing_is_split_by_a_word_joiner(payload, split):
    """GFM autolinks, shortcodes and typographic symbols are found in the parsed text,
    where backslash escapes are already gone (the browser test shows they still fire)."""
    assert split in escape_markdown(payload)


def test_chinese_text_and_full_width_punctuation_are_left_alone():
    text = "湖滨印染有限公司（东区）：一号排口，“达标”？！"
    assert escape_markdown(text) == text


@pytest.mark.parametrize("missing", [None, float("nan"), pd.NA, pd.NaT])
def test_a_missing_value_is_empty_or_the_callers_placeholder(missing):
    assert escape_markdown(missing) == ""
    assert escape_markdown(missing, "—") == "—"


def test_other_values_are_shown_as_their_text():
    assert escape_markdown(3.5) == "3\\.5"
    assert escape_markdown(0) == "0"
    assert escape_markdown("") == ""


def _page(payloads: list[str]) -> None:
    import streamlit as st

    from townmap.render.escape import escape_markdown

    for i, payload in enumerate(payloads):
        value = escape_markdown(payload)
        st.markdown(f"**{i}**: {value}")
        st.caption(value)
        st.info(value)
        with st.expander(value):
            st.radio("r", [value], key=f"r{i}")


def test_streamlit_sends_the_escaped_text_unchanged():
    """Streamlit's Python side strips and dedents Markdown bodies: the escaped text must
    come through as it is, for the browser to read back the payload."""
    at = AppTest.from_function(_page, args=(PAYLOADS,))
    at.run()
    assert not at.exception
    for i, payload in enumerate(PAYLOADS):
        want = escape_markdown(payload)
        assert at.markdown[i].value == f"**{i}**: {want}"
        assert at.caption[i].value == want
        assert at.info[i].value == want
        assert at.expander[i].label == want
        assert at.radio[i].options == [want]


def test_html_read_as_markdown_stays_one_escaped_line():
    """The public display's HTML goes through st.markdown: a blank line in a slide title
    would end the HTML block and the rest would be read as Markdown (an image fetched)."""
    out = escape_html_line("第一行\r\n\r\n![b](http://203.0.113.7/p.png)<b>")
    assert "\n" not in out and "\r" not in out
    assert out == "第一行  ![b](http://203.0.113.7/p.png)&lt;b&gt;"
