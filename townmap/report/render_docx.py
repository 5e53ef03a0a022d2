"""DOCX of a report (python-docx), editable by the consultant: real headings, tables and
pictures with numbered captions; East Asian text set in a CJK font."""

from __future__ import annotations

import contextlib
import io

from docx import Document
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

from townmap.report.model import Figure, Heading, Paragraph, Report, Table
from townmap.report.render_html import cell_text

EAST_ASIAN_FONT = "WenQuanYi Micro Hei"
MAX_ROWS = 400  # a Word table beyond this is unreadable; the full data is in the exports


def _east_asian(style, font: str) -> None:
    rpr = style.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.append(fonts)
    fonts.set(qn("w:eastAsia"), font)


def render_docx(report: Report) -> bytes:
    doc = Document()
    for name in ("Normal", "Heading 1", "Heading 2", "Title", "Caption"):
        with contextlib.suppress(KeyError):
            _east_asian(doc.styles[name], EAST_ASIAN_FONT)
    doc.styles["Normal"].font.size = Pt(10)
    doc.add_heading(report.title, level=0)
    doc.add_paragraph(report.subtitle)
    for block in report.blocks:
        if isinstance(block, Heading):
            doc.add_heading(block.text, level=min(block.level, 3))
        elif isinstance(block, Paragraph):
            p = doc.add_paragraph(block.text)
            if block.style != "body":
                for run in p.runs:
                    run.italic = True
        elif isinstance(block, Table):
            doc.add_paragraph(f"{block.label}  {block.caption}", style="Caption")
            frame = block.frame.head(MAX_ROWS)
            table = doc.add_table(rows=1, cols=len(frame.columns))
            table.style = "Table Grid"
            for cell, name in zip(table.rows[0].cells, frame.columns, strict=True):
                cell.text = str(name)
            for row in frame.itertuples(index=False):
                cells = table.add_row().cells
                for cell, value in zip(cells, row, strict=True):
                    cell.text = cell_text(value)
            if len(block.frame) > MAX_ROWS:
                doc.add_paragraph(f"… {len(block.frame) - MAX_ROWS} more row(s) in the export")
        elif isinstance(block, Figure):
            doc.add_picture(io.BytesIO(block.png), width=Cm(min(block.width_cm, 16)))
            doc.add_paragraph(f"{block.label}  {block.caption}", style="Caption")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
