"""Rendering: folium maps (and later static maps) from catalog specs and workspace data."""
