"""Exploring the map's data: filters, search, feature details and area queries.

Pure functions over GeoDataFrames in the workspace CRS (metric), so the page stays thin
and every answer is testable without a browser.
"""
