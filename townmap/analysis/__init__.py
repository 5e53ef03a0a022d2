"""Analyses on workspace layers: pure functions of frames and rules, no Streamlit."""
