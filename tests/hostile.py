"""A corpus of hostile text, and a demo copy with it in every free-text field.

Each payload that could run calls ``alert("xss-…")`` (the browser tests fail on any
dialog) or leaves a mark the tests look for (a red body, a ``javascript:`` link, an
element with an event handler). Non-UTF-8 input cannot be stored as text at all: the
importer decodes or refuses it (tests in test_hostile.py); what a workspace can hold is its
decoded form, with U+FFFD where bytes were undecodable.

Markdown payloads (issue 19) would make Streamlit fetch an image from, or link to, the
reserved test address 203.0.113.7 or example.com, colour or restyle text, draw icons,
emoji or LaTeX, or start a heading, list, quote or table; the browser tests block every
such request and look for the elements. They alternate with the HTML payloads, so that
small layers (12 monitoring stations, 4 public slides) receive them too.
"""

from __future__ import annotations

import pandas as pd

LONG = "长" * 3_000 + "<b>long</b>" + "x" * 3_000

#: Markdown that Streamlit would render (st.markdown, captions, messages, labels)
MARKDOWN = [
    "![b](http://203.0.113.7/x.png)",
    "第一行\n\n![b](http://203.0.113.7/p.png)",  # a blank line ends an HTML block
    "[link](http://203.0.113.7/)",
    "<http://203.0.113.7/>",
    "bare http://203.0.113.7/x and www.example.com",
    ":red[big] :blue-background[bg] :small[s]",
    ":material/warning: :smile: :streamlit:",
    "$x^2$ and $$y$$",
    "# heading",
    "- list",
    "> quote",
    "| a | b |\n|---|---|",
    "**bold** _em_ ~~del~~",
    "`code` and ```fence```",
    '<img src="http://203.0.113.7/h.png">',
    "1. first\n\n    indented code",
    "Title\n===",
    "a -> b <= c ~= d --",
    "mail me@example.com &copy; &#60; \\*x\\*",
]

#: script, event handlers, URLs, CSS, RTL overrides, formulas, long and broken text
_HTML = [
    '<script>alert("xss-script")</script>',
    '<img src=x onerror=alert("xss-img")>',
    '"><svg onload=alert("xss-svg")>',
    "'><body onload=alert('xss-body')>",
    "<a href=\"javascript:alert('xss-link')\">点我 click</a>",
    'javascript:alert("xss-url")',
    "<style>body{background:rgb(255,0,1)!important}</style>",
    '</textarea></style></script><script>alert("xss-close")</script>',
    "<iframe srcdoc=\"<script>parent.alert('xss-frame')</script>\"></iframe>",
    '`${alert("xss-template")}`',
    "{{constructor.constructor('alert(\"xss-tpl\")')()}}",
    "<div style=\"position:fixed;inset:0;background:url(javascript:alert('xss-css'))\">",
    "\u202egpj.exe\u202c 右到左覆盖 RTL \u2066override\u2069",
    '=HYPERLINK("http://127.0.0.1:9/","x")',
    "caf\ufffd 非 UTF-8 bytes",
    LONG,
]

#: HTML and Markdown alternating, so that tables of a few rows receive both kinds
CORPUS = [
    payload for pair in zip(_HTML, MARKDOWN[: len(_HTML)], strict=True) for payload in pair
] + MARKDOWN[len(_HTML) :]


#: what must never appear as live markup in any page, iframe or report
LIVE_MARKUP_JS = """() => {
    const bad = [];
    const docs = [document, ...[...document.querySelectorAll('iframe')]
        .map(f => { try { return f.contentDocument; } catch (e) { return null; } })
        .filter(Boolean)];
    for (const d of docs) {
        for (const el of d.querySelectorAll('script')) {
            if ((el.textContent || '').includes('xss-')) bad.push('script');
        }
        for (const el of d.querySelectorAll('[onerror],[onload],[onclick],[srcdoc]')) {
            if (el.outerHTML.includes('xss-')) bad.push(el.tagName + ' handler');
        }
        for (const el of d.querySelectorAll('a[href^="javascript:"]')) bad.push('js link');
        // Markdown rendered from data (issue 19): a beacon image, a link, LaTeX
        for (const el of d.querySelectorAll('img[src*="203.0.113.7"]')) bad.push('md image');
        for (const el of d.querySelectorAll('a[href*="203.0.113.7"], a[href*="example.com"]')) {
            bad.push('md link ' + el.getAttribute('href'));
        }
        for (const el of d.querySelectorAll('.katex')) bad.push('katex');
        const bg = d.body ? getComputedStyle(d.body).backgroundColor : '';
        if (bg === 'rgb(255, 0, 1)') bad.push('css injected');
    }
    return bad;
}"""


#: text columns that are references or codes read by Townmap (ids of other features,
#: units, clause numbers, timestamps, WKT, layer lists): checked on their own, not poisoned
REFERENCES = {
    ("discharge_points", "receiving_water"), ("water_intakes", "water_body"),
    ("monitoring_stations", "water_body"), ("water_samples", "unit"),
    ("effluent_samples", "unit"), ("change_log", "changed_at"),
    ("public_comments", "created_at"), ("public_comments", "area_wkt"),
    ("public_slides", "layers"), ("public_slides", "area"), ("ems_audits", "clauses"),
    ("ems_nonconformities", "clause"),
}  # fmt: skip


def free_text_columns(spec) -> list[str]:
    """The catalog's free-text attributes of a layer: what users type or files bring."""
    return [
        a.name
        for a in spec.attributes
        if a.type == "str" and not a.choices and a.name != spec.key
        and not a.name.endswith("_id") and (spec.id, a.name) not in REFERENCES
    ]  # fmt: skip


def poison_workspace(ws, catalog) -> list[tuple[str, str]]:
    """Put the corpus into every free-text field of every catalogued layer and table the
    workspace holds; returns the (layer, column) pairs poisoned."""
    done = []
    with ws.transaction() as tx:
        for spec in catalog:
            if spec.kind == "raster" or not ws.has_layer(spec.id):
                continue
            cols = free_text_columns(spec)
            if not cols:
                continue
            frame = ws.read_layer(spec.id) if spec.kind == "vector" else ws.read_table(spec.id)
            frame = poison(frame, cols, start=0 if len(frame) <= 2 else 1)
            if spec.kind == "vector":
                tx.write_layer(spec.id, frame, fictional=True)
            else:
                tx.write_table(spec.id, frame, fictional=True)
            done += [(spec.id, c) for c in cols if c in frame.columns]
    return done


def poison(frame: pd.DataFrame, columns: list[str], start: int = 1) -> pd.DataFrame:
    """The corpus in rows ``start``… of every listed column (row 0 kept for other tests)."""
    frame = frame.copy()
    rows = frame.index[start : start + len(CORPUS)]
    for col in columns:
        if col not in frame.columns or len(rows) == 0:
            continue
        values = frame[col].astype(object)
        for k, row in enumerate(rows):
            values.loc[row] = CORPUS[(k + columns.index(col)) % len(CORPUS)]
        frame[col] = values
    return frame
