"""One escaping helper per kind of place user text is shown: HTML (maps, popups) and
Streamlit Markdown (page text, captions, messages, labels).

folium writes tooltip and popup text into JavaScript template strings and GeoJSON
tooltips into raw HTML, so HTML-escaping alone is not enough: backticks and ``${`` must be
neutralised too, or a name could close the template string and run code.

Streamlit renders Markdown almost everywhere it shows text, with extensions: an image
``![b](http://…)`` in a station name is fetched by the browser (a tracking beacon from
"offline" data), and ``:red[…]``, ``:material/…:``, ``:emoji:``, ``$…$`` and bare URLs
change what is shown. ``escape_markdown`` makes data show as the same characters.
"""

from __future__ import annotations

import html
import re

_TEMPLATE = {"`": "&#96;", "${": "&#36;{", "\\": "&#92;"}

#: invisible, unbreakable: splits a sequence that Streamlit rewrites after parsing
WORD_JOINER = "\u2060"
#: every ASCII punctuation character: CommonMark lets a backslash escape any of them
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
#: rewritten in the parsed text, where backslash escapes are already gone: emoji,
#: ``:material/…:`` and ``:streamlit:`` shortcodes and e-mail / ``scheme:`` autolinks
#: (after ``:`` and ``@``), ``www.`` autolinks, and Streamlit's typographic symbols
#: (``->`` becomes an arrow, ``>=`` a ≥ sign)
_JOIN = re.compile(r"(?<=[:@])|(?i:(?<=www)(?=\.))|(?<=[<>~-])(?=[>=-])")
#: a line break would let the next line start a heading, list, quote, table or code block
_LINE_BREAK = re.compile(r"\r\n?|\n")


def escape_text(value: object) -> str:
    """Text safe inside HTML, HTML attributes and JavaScript template strings."""
    text = html.escape("" if value is None else str(value), quote=True)
    for needle, replacement in _TEMPLATE.items():
        text = text.replace(needle, replacement)
    return text


def escape_html_line(value: object) -> str:
    """Text for HTML that Streamlit reads as Markdown first (``unsafe_allow_html``):
    HTML-escaped and on one line, since a blank line ends the HTML block and what follows
    it would be read as Markdown (a slide title could fetch an image)."""
    return _LINE_BREAK.sub(" ", html.escape("" if value is None else str(value), quote=True))


def escape_markdown(value: object, missing: str = "") -> str:
    """Data shown through Streamlit Markdown as exactly its characters, on one line.

    Every ASCII punctuation character is backslash-escaped (no link, image, emphasis,
    HTML, directive, LaTeX or block syntax survives parsing); a word joiner (U+2060,
    invisible) splits what Streamlit and GFM rewrite after parsing; line breaks become
    spaces. Chinese text and full-width punctuation are left as they are. A missing value
    (None, NaN) is ``missing``.
    """
    if _is_missing(value):
        return missing
    text = _LINE_BREAK.sub(" ", str(value)).lstrip(" \t")  # 4 spaces would start code
    return _PUNCTUATION.sub(r"\\\1", _JOIN.sub(WORD_JOINER, text))


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    try:
        import pandas as pd

        return bool(pd.isna(value)) if pd.api.types.is_scalar(value) else False
    except (TypeError, ValueError):
        return False
