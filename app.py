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
    st.Page("townmap/ui/import_page.py", title="导入 / Import", icon=":material/upload_file:"),
    st.Page("townmap/ui/export_page.py", title="导出 / Export", icon=":material/download:"),
]
st.navigation(pages).run()
