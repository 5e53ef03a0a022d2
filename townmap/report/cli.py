"""``townmap report``: the environmental review as PDF, DOCX or HTML."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from townmap.settings import WORKSPACE_HELP, workspace_location


def _cmd_report(args: argparse.Namespace) -> int:
    from townmap.report.build import build_report, write_report
    from townmap.settings import default_workspace, shell_actor
    from townmap.store import open_workspace

    if args.out.suffix.lower() not in (".pdf", ".docx", ".html"):
        from townmap.errors import UploadError

        raise UploadError("--out must end in .pdf, .docx or .html")
    ws = open_workspace(args.workspace or default_workspace(), actor=shell_actor())
    start = time.perf_counter()

    def progress(fraction: float, label: str) -> None:
        if label:
            print(f"[{fraction:4.0%}] {label}", file=sys.stderr)

    report = build_report(ws, area=args.area, lang=args.lang, progress=progress)
    out = write_report(report, args.out)
    print(
        f"{len(report.headings())} sections, {len(report.figures)} figures, "
        f"{len(report.tables)} tables → {out} ({time.perf_counter() - start:.1f} s)"
    )
    return 0


def add_commands(sub) -> None:
    rep = sub.add_parser("report", help="the environmental review report (PDF, DOCX, HTML)")
    rep.add_argument("--workspace", type=workspace_location, default=None, help=WORKSPACE_HELP)
    rep.add_argument(
        "--area",
        default="town",
        help="'town' (default), a village id such as V03, or a polygon file (.geojson/.gpkg/.wkt)",
    )
    rep.add_argument("--lang", default="zh", choices=["zh", "en"])
    rep.add_argument("--out", required=True, type=Path, help="FILE.pdf, FILE.docx or FILE.html")
    rep.set_defaults(func=_cmd_report)
