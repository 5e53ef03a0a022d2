"""Townmap's Streamlit entry point in the checkout (``streamlit run app.py``).

The page list lives in ``townmap/ui/navigation.py`` and the app with its guard for
published layer files in ``townmap/ui/main.py``, so that an installed Townmap
(``townmap serve``) runs the same app; this file only hands over to it.
"""

from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware

from townmap.ui import served_files

served_files.enable()
app = st.App(
    Path(__file__).resolve().parent / "townmap" / "ui" / "app_script.py",
    middleware=[Middleware(served_files.LayerFileGuard)],
)
