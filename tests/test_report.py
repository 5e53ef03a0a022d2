"""The environmental review report from the demo workspace: every section in both
languages, numbered figures and tables, PDF pages that are not blank and carry a CJK font,
a DOCX with the headings, escaped HTML, areas (village, drawn polygon), a clear error
without a CJK font, the CLI and the Report page."""

from __future__ import annotations

import subprocess
import warnings

import numpy as np
import pandas as pd
import pytest

from townmap.cli import main
from townmap.errors import UploadError
from townmap.report import figures
from townmap.report.build import build_report, write_report
from townmap.report.model import Paragraph, Report, Table
from townmap.report.render_html import render_html

SECTIONS = {
    "zh": ["概要", "区域概况", "污染源", "选址冲突与规划检查", "水环境质量与排污达标",
           "污染物总量与控制指标", "集中治污方案", "清洁生产", "环境管理体系（ISO 14001）",
           "公众意见", "资料来源与局限"],
    "en": ["Summary", "Setting", "Pollution sources", "Siting conflicts and planning checks",
           "Water quality and discharge compliance", "Pollutant loads against caps",
           "Shared-treatment scenarios", "Cleaner production",
           "Environmental management system (ISO 14001)", "Public comments", "Sources and limits"],
}  # fmt: skip


@pytest.fixture(scope="module", params=["zh", "en"])
def report(request, demo_ws):
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*missing from font.*")  # tofu = failure
        return build_report(demo_ws, lang=request.param)


def test_every_section_figure_and_table_in_both_languages(report):
    titles = [h.split(". ", 1)[1] for h in report.headings()]
    assert titles == SECTIONS[report.lang]
    assert len(report.figures) >= 6 and len(report.tables) >= 12
    assert [f.number for f in report.figures] == list(range(1, len(report.figures) + 1))
    prefix = "图 " if report.lang == "zh" else "Figure "
    assert all(f.label.startswith(prefix) for f in report.figures)
    assert report.fictional and report.blocks[0].style == "warning"
    text = " ".join(b.text for b in report.blocks if isinstance(b, Paragraph))
    assert ("虚构" in text) if report.lang == "zh" else ("FICTIONAL" in text)


def test_the_sources_section_prints_where_each_instrument_was_checked(report):
    caption = "依据来源" if report.lang == "zh" else "Sources: where each instrument"
    table = next(t for t in report.tables if caption in t.caption)
    frame = table.frame
    instruments = " ".join(frame.iloc[:, 0].astype(str))
    assert "GB 3838-2002" in instruments and "GB 18918-2002" in instruments
    assert ("长江保护法" if report.lang == "zh" else "Yangtze River Protection Law") in instruments
    text = " ".join(frame.astype(str).to_numpy().ravel())
    assert "g230.com" in text and "layers/references.md §1" in text
    assert "shared/reference" not in text  # nothing points outside Townmap


def test_pdf_pages_are_not_blank_and_use_a_cjk_font(report, tmp_path):
    pdf = write_report(report, tmp_path / "r.pdf")
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True).stdout
    assert "WenQuanYi" in fonts or "CJK" in fonts, fonts
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(pdf), str(tmp_path / "p")], check=True)
    pages = sorted(tmp_path.glob("p-*.png"))
    assert len(pages) >= 6
    from PIL import Image

    for page in pages:
        ink = (np.asarray(Image.open(page).convert("L")) < 200).mean()
        assert ink > 0.005, page.name  # not blank
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    assert SECTIONS[report.lang][3] in text


def test_docx_opens_with_the_headings(report, tmp_path):
    import docx

    path = write_report(report, tmp_path / "r.docx")
    doc = docx.Document(str(path))
    headings = [p.text for p in doc.paragraphs if p.style.name == "Heading 1"]
    assert [h.split(". ", 1)[1] for h in headings] == SECTIONS[report.lang]
    assert len(doc.tables) == len(report.tables) and len(doc.inline_shapes) == len(report.figures)


def test_user_text_is_escaped_in_html():
    hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    r = Report("t <b>", "s", "en", False)
    r.add(Paragraph(hostile), Table(pd.DataFrame({hostile: [hostile]}), hostile))
    html = render_html(r.finish())
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html


def test_a_village_or_a_drawn_area_narrows_the_report(demo_ws, tmp_path):
    town = build_report(demo_ws, lang="en")
    village = build_report(demo_ws, area="V03", lang="en")
    name = demo_ws.read_layer("villages").set_index("village_id").loc["V03", "name_en"]
    assert name in village.title

    def tves(r):
        table = next(t for t in r.tables if "by sector" in t.caption)
        return int(table.frame["Enterprises"].sum())

    assert 0 < tves(village) < tves(town) == len(demo_ws.read_layer("enterprises"))
    shape = tmp_path / "site.geojson"
    shape.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", '
                     '"properties": {}, "geometry": {"type": "Polygon", "coordinates": '
                     '[[[119.90, 31.36], [119.95, 31.36], [119.95, 31.40], [119.90, 31.40], '
                     '[119.90, 31.36]]]}}]}', encoding="utf-8")  # fmt: skip
    drawn = build_report(demo_ws, area=str(shape), lang="en")
    assert drawn.title.endswith("site") and len(drawn.headings()) == 11
    with pytest.raises(UploadError, match="village id"):
        build_report(demo_ws, area="V99", lang="en")


def test_without_a_cjk_font_the_error_says_how_to_install_one(monkeypatch):
    monkeypatch.setattr(figures, "_FONT", None)
    monkeypatch.setattr(figures, "CJK_FONTS", ("No Such Font",))
    with pytest.raises(figures.ReportError, match="apt-get install fonts-wqy-microhei"):
        figures.cjk_font()


def test_report_cli(demo_ws, tmp_path, capsys):
    out = tmp_path / "v.html"
    args = ["report", "--workspace", str(demo_ws.folder)]
    assert main([*args, "--area", "V05", "--lang", "en", "--out", str(out)]) == 0
    assert "11 sections" in capsys.readouterr().out and out.read_text(encoding="utf-8")
    assert main([*args, "--out", str(tmp_path / "r.odt")]) == 2
    assert main([*args, "--area", "nowhere", "--out", str(tmp_path / "r.pdf")]) == 2


def test_report_page_builds_and_offers_the_download(demo_ws, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from townmap import PROJECT_ROOT

    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(demo_ws.folder))
    at = AppTest.from_file(str(PROJECT_ROOT / "townmap/ui/report_page.py"), default_timeout=180)
    at.query_params["lang"] = "en"
    at.session_state["rp_fmt"] = ".docx"
    at.run()
    next(b for b in at.button if b.label == "Build the report").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("Report ready" in s.value for s in at.success)
    assert at.get("download_button")
