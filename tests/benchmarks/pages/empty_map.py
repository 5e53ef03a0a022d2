"""Benchmark floor: the same page layout with an empty map (same offline assets)."""

import folium
import streamlit as st
from streamlit_folium import st_folium

from townmap.render.assets import offline_links
from townmap.ui import common

st.set_page_config(layout="wide")
st.title("Townmap — empty map (benchmark floor)")
m = folium.Map(tiles=None, location=(31.4, 119.95), zoom_start=12)
m.default_js, m.default_css = offline_links(common.asset_base())
st_folium(m, height=720, use_container_width=True, returned_objects=[], key="floor")
