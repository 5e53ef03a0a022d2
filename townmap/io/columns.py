"""Finding coordinates and attributes in a consultant's table by their column names.

Spreadsheets arrive with 经度/纬度, lon/lat, lng, X/Y, 东坐标/北坐标 and many spellings;
the catalog knows each attribute's id and Chinese and English labels. Guesses are only
proposals: the import shows them and the user confirms or changes them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd

from townmap.catalog import LayerSpec

_LON = ("经度", "longitude", "lon", "lng", "long", "x坐标", "东经", "jd")
_LAT = ("纬度", "latitude", "lat", "y坐标", "北纬", "wd")
_EAST = ("x", "东坐标", "easting", "east", "东", "横坐标", "y_east")
_NORTH = ("y", "北坐标", "northing", "north", "北", "纵坐标", "x_north")


def _norm(text: object) -> str:
    text = unicodedata.normalize("NFKC", str(text)).casefold().strip()
    text = re.sub(r"[（(].*?[)）]", "", text)  # drop units in brackets: 经度(°)
    return re.sub(r"[\s_\-./]+", "", text)


@dataclass(frozen=True)
class CoordinateColumns:
    x: str
    y: str
    kind: str  # "lonlat" or "projected"
    swapped: bool = False

    def describe(self) -> str:
        what = "longitude/latitude" if self.kind == "lonlat" else "easting/northing"
        note = " (the columns look swapped: the values were exchanged)" if self.swapped else ""
        return f"{what} from columns '{self.x}' and '{self.y}'{note}"


def _find(columns: list[str], names: tuple[str, ...]) -> str | None:
    normed = {c: _norm(c) for c in columns}
    for name in names:
        for col, n in normed.items():
            if n == _norm(name):
                return col
    return None


def _looks_swapped(frame: pd.DataFrame, x: str, y: str) -> bool:
    """Longitudes in the 'latitude' column: in China lon > 73 > lat always holds."""
    xs = pd.to_numeric(frame[x], errors="coerce")
    ys = pd.to_numeric(frame[y], errors="coerce")
    ok = xs.notna() & ys.notna()
    if not ok.any():
        return False
    return bool(((xs[ok] < 60) & (ys[ok] > 70)).mean() > 0.9)


def find_coordinates(frame: pd.DataFrame) -> CoordinateColumns | None:
    """The coordinate columns of a table, or None when none can be recognised."""
    cols = [str(c) for c in frame.columns]
    lon, lat = _find(cols, _LON), _find(cols, _LAT)
    if lon and lat:
        return CoordinateColumns(lon, lat, "lonlat", _looks_swapped(frame, lon, lat))
    east, north = _find(cols, _EAST), _find(cols, _NORTH)
    if east and north:
        xs = pd.to_numeric(frame[east], errors="coerce")
        ys = pd.to_numeric(frame[north], errors="coerce")
        if xs.abs().max() <= 180 and ys.abs().max() <= 90:
            return CoordinateColumns(east, north, "lonlat")
        if _looks_swapped(frame, east, north):
            return CoordinateColumns(east, north, "lonlat", swapped=True)
        # Chinese surveying calls the northing X: a larger "x" than "y" means exchanged
        swapped = bool((xs > ys).mean() > 0.9) and bool(np.nanmedian(xs) > 1_000_000)
        return CoordinateColumns(east, north, "projected", swapped)
    return None


def guess_mapping(columns: list[str], spec: LayerSpec) -> dict[str, str]:
    """catalog attribute -> file column, matched on id, Chinese or English label."""
    normed = {_norm(c): c for c in columns}
    mapping: dict[str, str] = {}
    for attr in spec.attributes:
        # a Shapefile keeps 10 characters of a field name (target_class -> target_cla)
        for candidate in (attr.name, attr.label.zh, attr.label.en, attr.name[:10]):
            col = normed.get(_norm(candidate))
            if col is not None and col not in mapping.values():
                mapping[attr.name] = col
                break
    return mapping
