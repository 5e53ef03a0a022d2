"""The script ``townmap serve`` hands to Streamlit (the wheel has no top-level app.py)."""

from townmap.ui.navigation import run

run()
