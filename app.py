"""Townmap's Streamlit entry point: page configuration and navigation, nothing else."""

import streamlit as st

st.set_page_config(page_title="Townmap", page_icon="🗺️", layout="wide")
pages = [
    st.Page("townmap/ui/map_page.py", title="地图 / Map", icon="🗺️", default=True),
    st.Page("townmap/ui/import_page.py", title="导入 / Import", icon="📥"),
]
st.navigation(pages).run()
