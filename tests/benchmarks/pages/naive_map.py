"""Benchmark baseline: the naive way, a plain folium.GeoJson of every enterprise through
st_folium with default settings (Leaflet served locally, so only the method differs)."""

import folium
import streamlit as st
from streamlit_folium import st_folium

from townmap.crs import to_display
from townmap.render.assets import offline_links
from townmap.settings import default_workspace
from townmap.store import open_workspace
from townmap.ui import common

st.set_page_config(layout="wide")
st.title("Townmap — naive map (benchmark baseline)")
tve = to_display(open_workspace(default_workspace()).read_layer("enterprises"))
m = folium.Map(tiles=None, location=(31.4, 119.95), zoom_start=12)
m.default_js, m.default_css = offline_links(common.asset_base())
folium.GeoJson(
    tve[["ent_id", "name_zh", "sector", "cod_tpa", "geometry"]].to_json(),
    tooltip=folium.GeoJsonTooltip(["name_zh", "sector", "cod_tpa"]),
).add_to(m)
st_folium(m, height=720, use_container_width=True)
