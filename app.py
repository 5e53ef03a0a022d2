"""Townmap's Streamlit entry point: page configuration and navigation, nothing else."""

import streamlit as st

st.set_page_config(page_title="Townmap", page_icon="🗺️", layout="wide")
pages = [
    st.Page("townmap/ui/map_page.py", title="地图 / Map", icon=":material/map:", default=True),
    st.Page("townmap/ui/conflicts_page.py", title="冲突检查 / Conflicts", icon=":material/gavel:"),
    st.Page(
        "townmap/ui/treatment_page.py",
        title="集中治污 / Shared treatment",
        icon=":material/water_drop:",
    ),
    st.Page("townmap/ui/quality_page.py", title="水质 / Water quality", icon=":material/water:"),
    st.Page(
        "townmap/ui/dischargers_page.py", title="排污单位 / Dischargers", icon=":material/factory:"
    ),
    st.Page("townmap/ui/loads_page.py", title="总量 / Loads", icon=":material/stacked_bar_chart:"),
    st.Page(
        "townmap/ui/cleaner_page.py", title="清洁生产 / Cleaner production", icon=":material/eco:"
    ),
    st.Page(
        "townmap/ui/ems_page.py", title="环境管理体系 / EMS register", icon=":material/fact_check:"
    ),
    st.Page("townmap/ui/comments_page.py", title="公众意见 / Comments", icon=":material/forum:"),
    st.Page("townmap/ui/report_page.py", title="报告 / Report", icon=":material/description:"),
    st.Page("townmap/ui/import_page.py", title="导入 / Import", icon=":material/upload_file:"),
    st.Page("townmap/ui/export_page.py", title="导出 / Export", icon=":material/download:"),
]
if st.query_params.get("mode") == "public":  # the projector: one locked page, no menu
    public = st.Page("townmap/ui/public_page.py", title="公众展示 / Public display", default=True)
    st.navigation([public], position="hidden").run()
else:
    st.navigation(pages).run()
