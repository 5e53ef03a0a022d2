"""Helpers the tests share (not fixtures)."""

from __future__ import annotations

import hashlib
import re

import geopandas as gpd
import pandas as pd

from townmap.render.escape import WORD_JOINER


def fingerprint(ws) -> str:
    """Everything a workspace holds, as one hash (works on either back end)."""
    h = hashlib.sha256()
    h.update(repr(sorted(ws.metadata().items())).encode())
    h.update(ws.layer_register().sort_values("layer_id").to_csv(index=False).encode())
    for name in ws.stored_names():
        frame = ws.read_layer(name)
        if isinstance(frame, gpd.GeoDataFrame):
            frame = frame.to_wkt()
        h.update(name.encode() + pd.DataFrame(frame).to_csv(index=False).encode())
    for name in ws.raster_names():
        h.update(name.encode() + ws.raster_path(name).read_bytes())
    return h.hexdigest()


def as_read(markdown: str) -> str:
    """The text a reader sees of Markdown that ``escape_markdown`` made: backslash escapes
    resolved, word joiners dropped (AppTest gives the Markdown source, not the page)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace(WORD_JOINER, "")
