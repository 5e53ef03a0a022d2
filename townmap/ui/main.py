"""The app ``townmap serve`` hands to Streamlit: the page script behind Townmap's guard
for published layer files (``served_files``). Streamlit finds ``app`` by reading this
file, so it stays a plain ``st.App(...)`` assignment."""

from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware

from townmap.ui import served_files

served_files.enable()
app = st.App(
    Path(__file__).resolve().parent / "app_script.py",
    middleware=[Middleware(served_files.LayerFileGuard)],
)
