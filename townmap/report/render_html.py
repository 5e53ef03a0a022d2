"""HTML of a report: every text escaped, figures embedded as data URIs (the file is
self-contained and works offline), a CJK font named first so Chinese prints as glyphs."""

from __future__ import annotations

import base64
import html

import numpy as np
import pandas as pd

from townmap.report.model import Figure, Heading, Paragraph, Report, Table

FONT_STACK = (
    '"WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", sans-serif'
)
CSS = f"""
@page {{ size: A4; margin: 18mm 16mm 20mm 16mm;
        @bottom-center {{ content: counter(page) " / " counter(pages); font-size: 8pt; }} }}
body {{ font-family: {FONT_STACK}; font-size: 10pt; line-height: 1.45; color: #111; }}
h1 {{ font-size: 16pt; border-bottom: 1.5pt solid #333; margin-top: 18pt; }}
h2 {{ font-size: 12.5pt; margin-top: 12pt; }}
.title {{ font-size: 22pt; font-weight: bold; margin-top: 40mm; }}
.subtitle {{ font-size: 12pt; color: #444; margin-bottom: 20mm; }}
.warning {{ background: #fff4ce; border: 1pt solid #e0b000; padding: 6pt; }}
.note {{ color: #555; font-size: 8.5pt; }}
table {{ border-collapse: collapse; width: 100%; font-size: 8pt; margin: 4pt 0 10pt 0; }}
th, td {{ border: 0.5pt solid #999; padding: 2pt 4pt; text-align: left; vertical-align: top; }}
th {{ background: #eee; }}
td.num {{ text-align: right; }}
caption {{ caption-side: top; text-align: left; font-weight: bold; padding-bottom: 3pt; }}
figure {{ margin: 6pt 0 12pt 0; page-break-inside: avoid; }}
figcaption {{ font-weight: bold; font-size: 9pt; }}
img {{ max-width: 100%; }}
"""


def cell_text(value) -> str:
    """A table cell as text: numbers rounded sensibly, empty for missing."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, float | np.floating):
        v = float(value)
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}" if abs(v) < 1 else f"{v:,.2f}"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return str(value)


def _table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in t.frame.columns)
    rows = []
    for row in t.frame.itertuples(index=False):
        cells = []
        for v in row:
            cls = ' class="num"' if isinstance(v, int | float | np.number) else ""
            cells.append(f"<td{cls}>{html.escape(cell_text(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    caption = html.escape(f"{t.label}  {t.caption}")
    return f"<table><caption>{caption}</caption><tr>{head}</tr>{''.join(rows)}</table>"


def _figure(f: Figure) -> str:
    data = base64.b64encode(f.png).decode("ascii")
    caption = html.escape(f"{f.label}  {f.caption}")
    return (
        f'<figure><img src="data:image/png;base64,{data}" style="width:{f.width_cm}cm" '
        f'alt="{caption}"><figcaption>{caption}</figcaption></figure>'
    )


def render_html(report: Report) -> str:
    parts = [
        f'<div class="title">{html.escape(report.title)}</div>',
        f'<div class="subtitle">{html.escape(report.subtitle)}</div>',
    ]
    for block in report.blocks:
        if isinstance(block, Heading):
            tag = "h1" if block.level == 1 else "h2"
            anchor = f' id="{html.escape(block.anchor)}"' if block.anchor else ""
            parts.append(f"<{tag}{anchor}>{html.escape(block.text)}</{tag}>")
        elif isinstance(block, Paragraph):
            cls = f' class="{block.style}"' if block.style != "body" else ""
            parts.append(f"<p{cls}>{html.escape(block.text)}</p>")
        elif isinstance(block, Table):
            parts.append(_table(block))
        elif isinstance(block, Figure):
            parts.append(_figure(block))
    lang = "zh-CN" if report.lang == "zh" else "en"
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{html.escape(report.title)}</title><style>{CSS}</style></head>"
        f"<body>{''.join(parts)}</body></html>"
    )


def render_pdf(report: Report) -> bytes:
    """PDF through WeasyPrint (no network: every image is embedded)."""
    import weasyprint

    return weasyprint.HTML(string=render_html(report)).write_pdf()
