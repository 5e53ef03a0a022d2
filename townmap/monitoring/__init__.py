"""Monitoring: water quality, discharge compliance, loads (plain functions, no Streamlit)."""
