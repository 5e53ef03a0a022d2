"""Building the demo town's environmental review (both languages) and writing it as PDF,
DOCX and HTML, against the bare library call that dominates (WeasyPrint on the same HTML)
in one run. Writes tests/artifacts/report_benchmark.json."""

from __future__ import annotations

import json
import time

import weasyprint

from townmap.report.build import build_report, write_report
from townmap.report.render_html import render_html


def test_report_build_time(demo_ws, artifacts, tmp_path):
    build_report(demo_ws, lang="zh")  # warm caches (fonts, numba, rules)
    out = {}
    for lang in ("zh", "en"):
        t = time.perf_counter()
        report = build_report(demo_ws, lang=lang)
        out[f"build_{lang}_s"] = time.perf_counter() - t
        for suffix in (".pdf", ".docx", ".html"):
            t = time.perf_counter()
            write_report(report, tmp_path / f"r_{lang}{suffix}")
            out[f"write_{lang}{suffix}_s"] = time.perf_counter() - t
        html = render_html(report)
        t = time.perf_counter()
        weasyprint.HTML(string=html).write_pdf()
        out[f"bare_weasyprint_{lang}_s"] = time.perf_counter() - t
    out["pdf_vs_bare_weasyprint"] = out["write_zh.pdf_s"] / out["bare_weasyprint_zh_s"]
    out["total_zh_pdf_s"] = out["build_zh_s"] + out["write_zh.pdf_s"]
    (artifacts / "report_benchmark.json").write_text(json.dumps(out, indent=2))
    print("\n" + json.dumps(out, indent=2))
    assert out["total_zh_pdf_s"] < 60  # a consultant waits seconds, not minutes
