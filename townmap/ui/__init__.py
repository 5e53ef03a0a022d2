"""Streamlit pages. The only part of Townmap that imports streamlit; each page module is
runnable on its own (``streamlit run townmap/ui/map_page.py``) so AppTest can test it."""
