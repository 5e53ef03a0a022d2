"""The export CRS: which coordinates an exported file gets.

Formats keep the workspace CRS (metric CGCS2000) unless another is chosen; GeoJSON and
KML are WGS 84 as their specifications expect, CSV and XLSX give lon/lat columns. An
export CRS can be the workspace's, WGS 84, CGCS2000 (EPSG:4490), any EPSG code, or
GCJ-02 / BD-09 to hand points back to AMap or Baidu users: those are web-map offsets,
not reference systems, so the file says WGS 84 and a ``coord_sys`` field (and the file's
description where the format has one) says which offset was applied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError as ProjCRSError

from townmap.crs import CGCS2000, DISPLAY_CRS
from townmap.datums import from_wgs84, in_china
from townmap.errors import UploadError

#: the named choices (plus ``EPSG:nnnn``)
CRS_CHOICES = ("workspace", "wgs84", "cgcs2000", "gcj02", "bd09")
WEB_DATUMS = {"gcj02": "GCJ-02", "bd09": "BD-09"}
WEB_MAPS = {"gcj02": "as AMap and Tencent show them", "bd09": "as Baidu Maps shows them"}
COORD_FIELD = "coord_sys"
#: formats whose specification fixes WGS 84 longitude/latitude
WGS84_ONLY = (".geojson", ".kml")
#: formats with lon/lat columns
LONLAT = (".csv", ".xlsx")


@dataclass(frozen=True)
class ExportCRS:
    """What coordinates an export gets: ``crs`` None keeps the data's own (workspace)
    CRS; ``datum`` ``gcj02``/``bd09`` shifts WGS 84 coordinates to a web-map offset."""

    key: str
    crs: CRS | None = None
    datum: str | None = None


def export_crs(choice: str | None) -> ExportCRS | None:
    """Parse ``workspace``, ``wgs84``, ``cgcs2000``, ``gcj02``, ``bd09`` or ``EPSG:nnnn``
    (None or empty: the format's default)."""
    if choice is None or not str(choice).strip():
        return None
    text = str(choice).strip().lower()
    if text == "workspace":
        return ExportCRS("workspace")
    if text == "wgs84":
        return ExportCRS("wgs84", DISPLAY_CRS)
    if text == "cgcs2000":
        return ExportCRS("cgcs2000", CGCS2000)
    if text in WEB_DATUMS:
        return ExportCRS(text, DISPLAY_CRS, text)
    match = re.fullmatch(r"epsg:(\d{4,6})", text)
    if match:
        try:
            return ExportCRS(f"EPSG:{match[1]}", CRS.from_epsg(int(match[1])))
        except ProjCRSError:
            raise UploadError(f"EPSG:{match[1]} is not a reference system PROJ knows") from None
    raise UploadError(
        f"unknown export CRS {choice!r}; use one of {', '.join(CRS_CHOICES)} or EPSG:nnnn"
    )


def resolve_crs(suffix: str, frame: pd.DataFrame, chosen: ExportCRS | None) -> ExportCRS | None:
    """The CRS this format gets, or a one-line refusal naming what it accepts."""
    if not isinstance(frame, gpd.GeoDataFrame):
        if chosen is not None:
            raise UploadError("a table without geometry has no coordinates: leave out the CRS")
        return None
    if chosen is None:
        return ExportCRS("wgs84", DISPLAY_CRS) if suffix in WGS84_ONLY + LONLAT else None
    target = chosen.crs or frame.crs
    if suffix in WGS84_ONLY and (target is None or not CRS(target).equals(DISPLAY_CRS)):
        raise UploadError(
            f"{suffix} files are WGS 84 longitude/latitude by their specification; choose "
            "wgs84, gcj02 or bd09, or export as .gpkg, .shp, .fgb or .parquet for "
            f"{chosen.key}"
        )
    if suffix in LONLAT and (target is None or not CRS(target).is_geographic):
        raise UploadError(
            f"{suffix} gives lon/lat columns: choose wgs84, cgcs2000, gcj02 or bd09, "
            f"or export as .gpkg for {chosen.key}"
        )
    return chosen


def _free_name(frame: pd.DataFrame, name: str) -> str:
    taken = {str(c).casefold() for c in frame.columns}
    if name.casefold() not in taken:
        return name
    return next(f"{name}{i}" for i in range(1, 100) if f"{name}{i}".casefold() not in taken)


def reproject(frame: pd.DataFrame, target: ExportCRS | None) -> tuple[pd.DataFrame, list[str]]:
    """``frame`` in the export CRS, with notes saying what that means."""
    if target is None or not isinstance(frame, gpd.GeoDataFrame):
        return frame, []
    if target.crs is None:
        return frame, []
    if frame.crs is None:
        raise UploadError("the data has no CRS, so it cannot be given in another one")
    shown = frame.to_crs(target.crs)
    if target.datum is None:
        return shown, []
    label = WEB_DATUMS[target.datum]
    coords = shapely.get_coordinates(shown.geometry.values)
    outside = int((~in_china(coords[:, 0], coords[:, 1])).sum()) if len(coords) else 0

    def shift(xy: np.ndarray) -> np.ndarray:
        lon, lat = from_wgs84(xy[:, 0], xy[:, 1], target.datum)
        return np.column_stack([lon, lat])

    shown = shown.set_geometry(shapely.transform(shown.geometry.values, shift), crs=DISPLAY_CRS)
    field = _free_name(shown, COORD_FIELD)
    shown = shown.assign(**{field: label})
    geometry = shown.geometry.name
    shown = shown[[c for c in shown.columns if c != geometry] + [geometry]]
    notes = [
        f"coordinates are {label} web-map coordinates ({WEB_MAPS[target.datum]}), "
        f"not a real reference system: the file says WGS 84 (EPSG:4326) and the "
        f"'{field}' field says {label}; convert them back to WGS 84 before any analysis"
    ]
    if outside:
        notes.append(
            f"{outside} coordinate(s) outside mainland China were left as WGS 84 "
            "(the web maps apply no offset there)"
        )
    return shown, notes


def description(notes: list[str]) -> dict[str, str]:
    return {"DESCRIPTION": " ".join(notes)} if notes else {}
