"""The fields GDAL's LIBKML driver adds to every KML placemark, and which carry nothing.

A KML from Google Earth or 奥维 is read with ``id, timestamp, begin, end, altitudeMode,
tessellate, extrude, visibility, drawOrder, icon`` beside the placemark's own name and
description. Mostly they hold nothing or KML's defaults; made into an own layer's columns
they push the consultant's own fields off the popup. A field is left out only when no
placemark says anything in it, and the note names what was left out; one placemark with
a real value keeps the whole column.
"""

from __future__ import annotations

import pandas as pd

#: the placemark's own fields, as GDAL names them, in the user's language
KML_LABELS: dict[str, tuple[str, str]] = {
    "Name": ("名称", "Name"),
    "description": ("说明", "Description"),
    "folder": ("文件夹", "Folder"),
}

#: field -> the values that mean "not said" (KML's defaults as GDAL reads them)
HOUSEKEEPING: dict[str, set] = {
    "id": set(),
    "timestamp": set(),
    "begin": set(),
    "end": set(),
    "altitudeMode": {"clampToGround"},
    "tessellate": {-1, 0},
    "extrude": {0},
    "visibility": {-1, 1},
    "drawOrder": set(),
    "icon": set(),
    "snippet": set(),
}


def _says_nothing(column: pd.Series, defaults: set) -> bool:
    values = column.dropna()
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        values = values[values.astype(str).str.strip() != ""]
    return bool(values.isin(defaults).all()) if len(values) else True


def drop_housekeeping(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """``frame`` without the housekeeping fields that say nothing, and those fields."""
    empty = [
        name
        for name, defaults in HOUSEKEEPING.items()
        if name in frame.columns and _says_nothing(frame[name], defaults)
    ]
    return frame.drop(columns=empty), empty
