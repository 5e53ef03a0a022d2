"""The app's page list and navigation, in the package so an installed Townmap runs it.

The checkout's top-level ``app.py`` and ``townmap serve`` both run this; pages are given
by absolute paths, so it works whatever folder Streamlit was started from.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

UI = Path(__file__).resolve().parent

#: (page file, title, icon) in menu order; the first is the default page
PAGES: list[tuple[str, str, str]] = [
    ("map_page.py", "地图 / Map", ":material/map:"),
    ("conflicts_page.py", "冲突检查 / Conflicts", ":material/gavel:"),
    ("treatment_page.py", "集中治污 / Shared treatment", ":material/water_drop:"),
    ("quality_page.py", "水质 / Water quality", ":material/water:"),
    ("dischargers_page.py", "排污单位 / Dischargers", ":material/factory:"),
    ("loads_page.py", "总量 / Loads", ":material/stacked_bar_chart:"),
    ("cleaner_page.py", "清洁生产 / Cleaner production", ":material/eco:"),
    ("ems_page.py", "环境管理体系 / EMS register", ":material/fact_check:"),
    ("comments_page.py", "公众意见 / Comments", ":material/forum:"),
    ("report_page.py", "报告 / Report", ":material/description:"),
    ("import_page.py", "导入 / Import", ":material/upload_file:"),
    ("export_page.py", "导出 / Export", ":material/download:"),
]
PUBLIC_PAGE = ("public_page.py", "公众展示 / Public display")


def run() -> None:
    """Configure the page and run the chosen one: the full menu, or, for the projector
    (``?mode=public``), the public display alone with no menu."""
    st.set_page_config(page_title="Townmap", page_icon="🗺️", layout="wide")
    if st.query_params.get("mode") == "public":
        file, title = PUBLIC_PAGE
        public = st.Page(UI / file, title=title, default=True)
        st.navigation([public], position="hidden").run()
        return
    pages = [
        st.Page(UI / file, title=title, icon=icon, default=(i == 0))
        for i, (file, title, icon) in enumerate(PAGES)
    ]
    st.navigation(pages).run()
