"""Giving layers back in the formats consultants use, with nothing silently changed.

GeoPackage (version 1.2, so QGIS 3.22 / GDAL 3.6 open it without a warning), Shapefile,
FlatGeobuf and GeoParquet keep the workspace CRS (metric CGCS2000) unless another is
chosen; GeoJSON and KML are written in WGS 84 as their specifications expect. An export
CRS can be the workspace's, WGS 84, CGCS2000 (EPSG:4490), any EPSG code, or GCJ-02 /
BD-09 to hand points back to AMap or Baidu users: those are web-map offsets, not
reference systems, so the file says WGS 84 and a ``coord_sys`` field (and the file's
description where the format has one) says which offset was applied.

Shapefiles are UTF-8 with a ``.cpg`` by default, or GBK on request for older Chinese
desktop software; text GBK cannot hold, text longer than a DBF field, and field names
longer than 10 bytes are dealt with before GDAL sees them (refused with the list of
values, or renamed with a note), because GDAL would cut them and only warn. Every GDAL
warning during a write is caught: one that means data changed is an error, any other
becomes a note returned with the file (``Exported.notes``).

Single-layer exports carry the catalog style: a ``.qml`` beside a Shapefile (and in the
zip), a ``layer_styles`` table in a GeoPackage, ``<Style>`` and placemark names in KML.
The DEM is exported as the stored GeoTIFF (no-data value and CRS kept). CSV is UTF-8
with a byte-order mark so Excel shows Chinese correctly; CSV and XLSX give points lon/lat
columns, other geometries WKT, and formula-like text stays text (CSV injection). Files
are written aside and moved into place, so a failed export leaves no half-written file.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import sqlite3
import threading
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from pyproj import CRS
from pyproj.exceptions import CRSError as ProjCRSError

from townmap.catalog import LayerSpec
from townmap.crs import CGCS2000, DISPLAY_CRS
from townmap.datums import from_wgs84, in_china
from townmap.errors import UploadError
from townmap.io.qgis_style import layer_qml, write_layer_styles
from townmap.store import Workspace
from townmap.store.folders import temp_folder

FORMATS = {
    ".gpkg": "GPKG",
    ".geojson": "GeoJSON",
    ".shp": "ESRI Shapefile",
    ".zip": "zip",
    ".kml": "KML",
    ".fgb": "FlatGeobuf",
    ".parquet": "Parquet",
    ".csv": "CSV",
    ".xlsx": "XLSX",
    ".tif": "GTiff",
}
ENCODINGS = {"utf-8": "UTF-8", "gbk": "GBK"}
#: how the app names each format, and what it sends it as
FORMAT_LABELS = {
    ".gpkg": "GeoPackage (.gpkg)",
    ".zip": "Shapefile (.zip)",
    ".geojson": "GeoJSON (WGS 84)",
    ".kml": "KML (WGS 84)",
    ".fgb": "FlatGeobuf (.fgb)",
    ".parquet": "GeoParquet (.parquet)",
    ".csv": "CSV (UTF-8)",
    ".xlsx": "Excel (.xlsx)",
    ".tif": "GeoTIFF (.tif)",
}
MIME = {
    ".gpkg": "application/geopackage+sqlite3",
    ".zip": "application/zip",
    ".geojson": "application/geo+json",
    ".kml": "application/vnd.google-earth.kml+xml",
    ".fgb": "application/octet-stream",
    ".parquet": "application/vnd.apache.parquet",
    ".csv": "text/csv",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".tif": "image/tiff",
}
#: formats that need geometry
VECTOR_ONLY = (".shp", ".zip", ".kml", ".geojson", ".fgb")
RASTER_FORMATS = (".tif",)
#: GeoPackage version written: 1.2 opens without warnings in GDAL 3.6 / QGIS 3.22
#: (Debian 12); GDAL ≥ 3.10 writes 1.4 by default, which older GDAL only partly supports
GPKG_VERSION = "1.2"
GPKG_USER_VERSION = 10200
GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"

#: Excel's own limits; beyond them a sheet is silently cut, so we refuse instead
XLSX_MAX_ROWS = 1_048_575
XLSX_MAX_CELL = 32_767
#: a DBF text field holds at most 254 bytes; GDAL cuts longer values with a warning
SHAPEFILE_MAX_TEXT = 254
#: a DBF field name holds at most 10 bytes; GDAL cuts longer names mid-character
SHAPEFILE_MAX_NAME = 10
#: how many affected values an error lists before "and N more"
LISTED = 20


class Exported(type(Path())):  # type: ignore[misc]
    """The written file (a ``Path``), with the notes the export made: what a format
    renamed or stored differently, and which web-map offset was applied. Callers that
    only need the path use it as one; the CLI and the Export page show the notes."""

    notes: tuple[str, ...] = ()

    @classmethod
    def of(cls, path: Path, notes: list[str]) -> Exported:
        out = cls(path)
        out.notes = tuple(dict.fromkeys(notes))  # once each, in order
        return out


# ------------------------------------------------------------------ GDAL's warnings

#: a GDAL warning with one of these words means a value was changed or not written
_DAMAGE = re.compile(
    r"truncat|not successfully written|could(n't| not) be converted|"
    r"not representable|out of range|overflow|lost|invalid utf-?8",
    re.IGNORECASE,
)
_CAPTURE = threading.RLock()


class _Collect(logging.Handler):
    def __init__(self, messages: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def gdal_messages() -> Iterator[list[str]]:
    """Record every GDAL warning raised while writing (pyogrio's RuntimeWarnings, which
    ``townmap`` main() otherwise ignores, and rasterio's logged ones) instead of letting
    it pass unseen. One export at a time records (``warnings`` is process-wide)."""
    messages: list[str] = []
    handler = _Collect(messages)
    log = logging.getLogger("rasterio")
    with _CAPTURE, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        log.addHandler(handler)
        try:
            yield messages
        finally:
            log.removeHandler(handler)
            others = []
            for w in caught:
                if issubclass(w.category, RuntimeWarning):
                    messages.append(str(w.message))
                else:
                    others.append(w)
    for w in others:  # not GDAL's: give them back to whoever listens
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def judge(messages: list[str], what: str) -> list[str]:
    """Raise if any GDAL warning means data changed; the others become notes."""
    damage = [m for m in messages if _DAMAGE.search(m)]
    if damage:
        shown = "; ".join(dict.fromkeys(damage[:LISTED]))
        raise UploadError(f"{what} was not written: GDAL would have changed data ({shown})")
    return [f"GDAL: {m}" for m in dict.fromkeys(messages)]


# ---------------------------------------------------------------------- export CRS

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


def _resolve_crs(suffix: str, frame: pd.DataFrame, chosen: ExportCRS | None) -> ExportCRS | None:
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


def _reproject(frame: pd.DataFrame, target: ExportCRS | None) -> tuple[pd.DataFrame, list[str]]:
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


def _description(notes: list[str]) -> dict[str, str]:
    return {"DESCRIPTION": " ".join(notes)} if notes else {}


# ----------------------------------------------------------------- tables and sheets


def _flat(frame: pd.DataFrame, crs: CRS | None = DISPLAY_CRS) -> pd.DataFrame:
    """A plain table: points as lon/lat columns (WGS 84 unless already given in another
    geographic CRS, ``crs`` None), other geometries as WKT."""
    if not isinstance(frame, gpd.GeoDataFrame):
        return frame
    shown = frame.to_crs(crs) if crs is not None else frame
    table = pd.DataFrame(shown.drop(columns=shown.geometry.name))
    if (shown.geom_type == "Point").all():
        table["lon"], table["lat"] = shown.geometry.x.round(7), shown.geometry.y.round(7)
    else:
        table["wkt"] = shown.geometry.to_wkt(rounding_precision=7)
    return table


def _xlsx(frame: pd.DataFrame, path: Path, sheet: str, crs: CRS | None = DISPLAY_CRS) -> None:
    _xlsx_sheets({sheet: frame}, path, crs)


def _xlsx_sheets(
    frames: dict[str, pd.DataFrame], path: Path, crs: CRS | None = DISPLAY_CRS
) -> None:
    """One sheet per frame; refused rather than cut when Excel cannot hold it."""
    book = Workbook(write_only=True)
    for sheet, frame in frames.items():
        table = _flat(frame, crs)
        if len(table) > XLSX_MAX_ROWS:
            raise UploadError(f"{len(table):,} rows do not fit in one Excel sheet: export as .csv")
        text = table.select_dtypes(include=["object", "string"])
        longest = max(
            (int(col.astype("string").str.len().fillna(0).max()) for _, col in text.items()),
            default=0,
        )
        if longest > XLSX_MAX_CELL:
            raise UploadError(
                "a cell is longer than Excel allows (32,767 characters; long WKT?): "
                "export as .csv or .gpkg"
            )
        for col in table.select_dtypes(include=["datetimetz"]).columns:
            table[col] = table[col].dt.tz_localize(None)  # Excel has no time zones
        out = book.create_sheet(sheet[:31])
        out.append([str(c) for c in table.columns])
        rows = table.astype(object).where(table.notna(), None).itertuples(index=False, name=None)
        for row in rows:
            out.append([_text_cell(out, v) if isinstance(v, str) else v for v in row])
    book.save(path)


def export_sheets(frames: dict[str, pd.DataFrame], out: str | Path) -> Path:
    """Several tables in one workbook (e.g. compliance findings, months, offenders)."""
    out = Path(out)
    if out.suffix.lower() != ".xlsx":
        raise UploadError("several tables go into one .xlsx workbook")
    _check_target(out, "utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    with temp_folder(".townmap-export-", out.parent) as staging:
        target = staging / out.name
        _xlsx_sheets(frames, target)
        shutil.move(target, out)
    return out


def _text_cell(sheet, value: str) -> WriteOnlyCell:
    """A cell that stays text: openpyxl would store ``=...`` as a live formula."""
    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"
    return cell


#: a CSV cell starting with one of these is run as a formula by spreadsheet programs
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def guard_formulas(table: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula with ``'`` (OWASP's
    CSV-injection advice); the importer removes the prefix again, so data round-trips."""
    table = table.copy()
    for col in table.select_dtypes(include=["object", "string"]).columns:
        text = table[col]
        risky = text.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_START))
        if risky.any():
            table.loc[risky, col] = "'" + text[risky]
    return table


# ------------------------------------------------------------------------ Shapefile


def _cut(name: str, codec: str, limit: int) -> str:
    """The longest start of ``name`` that is at most ``limit`` bytes, whole characters."""
    out, used = "", 0
    for ch in name:
        size = len(ch.encode(codec))
        if used + size > limit:
            break
        out, used = out + ch, used + size
    return out


def _field_names(columns: list[str], codec: str) -> dict[str, str]:
    """Shapefile field names of at most 10 bytes, whole characters, unique ignoring case
    (the way GDAL shortens ASCII names: ``target_class`` → ``target_cla``, a clash →
    ``target_c_1``), so the importer and QGIS styles can find them again."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for col in columns:
        short = _cut(col, codec, SHAPEFILE_MAX_NAME)
        i = 0
        while not short or short.casefold() in taken:
            i += 1
            tail = f"_{i}"
            short = _cut(col, codec, SHAPEFILE_MAX_NAME - len(tail)) + tail
        taken.add(short.casefold())
        names[col] = short
    return names


def _row_label(frame: pd.DataFrame, position: int, key: str | None) -> str:
    if key is not None and key in frame.columns:
        return f"{key}={frame[key].iloc[position]}"
    return f"row {position + 1}"


def _where(frame: pd.DataFrame, layer: str, column: str, position: int, key: str | None) -> str:
    value = frame[column].iloc[position]
    return f"{layer}.{column} [{_row_label(frame, position, key)}] {str(value)[:60]!r}"


def _listed(items: list[str]) -> str:
    more = f" … and {len(items) - LISTED} more" if len(items) > LISTED else ""
    return "; ".join(items[:LISTED]) + more


def check_shapefile_text(
    frame: pd.DataFrame, encoding: str, layer: str, key: str | None = None
) -> None:
    """Refuse, listing every value (layer, column, row, value), text a Shapefile in
    ``encoding`` cannot hold: characters outside GBK (e.g. 䶮, 𠮷) and values longer than
    a DBF field. GDAL would drop or cut them and only warn (once per process)."""
    codec = "gbk" if encoding == "gbk" else "utf-8"
    geometry = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
    unencodable, too_long = [], []
    for col in frame.columns:
        if col == geometry:
            continue
        name = str(col)
        missing = sorted({ch for ch in name if not _encodes(ch, codec)})
        if missing:
            unencodable.append(f"{layer} column name {name!r} ({''.join(missing)})")
        values = frame[col]
        if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
            continue
        for position, value in enumerate(values):
            if not isinstance(value, str):
                continue
            try:
                size = len(value.encode(codec))
            except UnicodeEncodeError:
                chars = "".join(sorted({ch for ch in value if not _encodes(ch, codec)}))
                unencodable.append(f"{_where(frame, layer, name, position, key)} ({chars})")
                continue
            if size > SHAPEFILE_MAX_TEXT:
                too_long.append(f"{_where(frame, layer, name, position, key)} ({size} bytes)")
    problems = []
    if unencodable:
        advice = (
            ". Export in UTF-8 instead (the default: the Shapefile gets a .cpg file naming "
            "its encoding, which QGIS and ArcGIS read), which holds every character"
            if codec == "gbk"
            else " (broken characters in the data: fix them first)"
        )
        problems.append(
            f"{codec.upper()} cannot hold {len(unencodable)} text value(s): "
            f"{_listed(unencodable)}{advice}"
        )
    if too_long:
        problems.append(
            f"{len(too_long)} text value(s) are longer than a Shapefile field holds "
            f"({SHAPEFILE_MAX_TEXT} bytes; about 84 Chinese characters in UTF-8): "
            f"{_listed(too_long)}. Export as .gpkg, which has no such limit"
        )
    if problems:
        raise UploadError(
            "the Shapefile was not written, nothing was changed: " + "; ".join(problems)
        )


def _encodes(ch: str, codec: str) -> bool:
    try:
        ch.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def _read_back_text(
    frame: gpd.GeoDataFrame, path: Path, encoding: str, layer: str, key: str | None
) -> list[str]:
    """Read the written text back and refuse the file if any value differs: GDAL warns
    about an unconvertible character only once per process, so a second bad export in
    a long-running app would otherwise pass unseen. DBF pads text with spaces, so
    trailing spaces are lost: that is a note."""
    back = pyogrio.read_dataframe(path, encoding=ENCODINGS[encoding], read_geometry=False)
    changed, trailing = [], 0
    for col in frame.columns:
        if col == frame.geometry.name or col not in back.columns:
            continue
        for position, (want, got) in enumerate(zip(frame[col], back[col], strict=True)):
            if not isinstance(want, str) or want == got or (want == "" and got is None):
                continue
            if want.rstrip(" ") == (got or ""):
                trailing += 1
                continue
            changed.append(
                f"{layer}.{col} [{_row_label(frame, position, key)}] {want[:60]!r} "
                f"came back as {str(got)[:60]!r}"
            )
    if changed:
        raise UploadError(
            f"the Shapefile was not written: {len(changed)} text value(s) did not survive "
            f"{encoding.upper()}: {_listed(changed)}. Export in UTF-8 or as .gpkg"
        )
    return [f"{trailing} text value(s) lost trailing spaces (DBF pads text)"] if trailing else []


def _shapefile(
    frame: gpd.GeoDataFrame,
    path: Path,
    encoding: str,
    name: str,
    spec: LayerSpec | None,
    notes: list[str],
) -> list[Path]:
    """Write the Shapefile set (and a ``.qml`` style) into ``path``'s folder."""
    codec = "gbk" if encoding == "gbk" else "utf-8"
    key = spec.key if spec is not None else None
    check_shapefile_text(frame, encoding, name, key)
    geometry = frame.geometry.name
    columns = [str(c) for c in frame.columns if c != geometry]
    fields = _field_names(columns, codec)
    renamed = [f"{old} → {new}" for old, new in fields.items() if old != new]
    if renamed:
        notes.append(
            f"Shapefile field names hold at most {SHAPEFILE_MAX_NAME} bytes: " + ", ".join(renamed)
        )
    frame = frame.rename(columns={c: fields[str(c)] for c in frame.columns if c != geometry})
    with gdal_messages() as messages:
        pyogrio.write_dataframe(frame, path, driver="ESRI Shapefile", encoding=ENCODINGS[encoding])
    notes.extend(judge(messages, f"the Shapefile {path.name}"))
    notes.extend(_read_back_text(frame, path, encoding, name, key))
    if spec is not None and spec.kind == "vector":
        (path.parent / f"{path.stem}.qml").write_text(layer_qml(spec, fields), encoding="utf-8")
    return sorted(path.parent.glob(path.stem + ".*"))


# ------------------------------------------------------------------------------- KML

_KML_NS = "http://www.opengis.net/kml/2.2"


def _kml_colour(hex_colour: str, alpha: float) -> str:
    """KML's aabbggrr."""
    h = hex_colour.lstrip("#")
    return f"{round(alpha * 255):02x}{h[4:6]}{h[2:4]}{h[0:2]}"


def _kml_style(doc: ET.Element, style_id: str, spec: LayerSpec, colour: str) -> None:
    s = spec.style
    style = ET.SubElement(doc, "Style", id=style_id)
    if spec.geometry == "Point":
        icon = ET.SubElement(style, "IconStyle")
        ET.SubElement(icon, "color").text = _kml_colour(colour, max(s.fill_opacity, 0.5))
        ET.SubElement(icon, "scale").text = f"{max(0.4, s.radius / 8):.2f}"
        return
    line = ET.SubElement(style, "LineStyle")
    line_colour = colour if spec.geometry == "LineString" else s.color
    ET.SubElement(line, "color").text = _kml_colour(line_colour, s.opacity)
    ET.SubElement(line, "width").text = f"{max(s.weight, 0.5):g}"
    if spec.geometry == "Polygon":
        poly = ET.SubElement(style, "PolyStyle")
        ET.SubElement(poly, "color").text = _kml_colour(colour, s.fill_opacity)
        ET.SubElement(poly, "fill").text = "1" if s.fill_opacity > 0 else "0"
        ET.SubElement(poly, "outline").text = "1"


def _kml_styles(doc: ET.Element, spec: LayerSpec | None) -> tuple[str | None, dict[str, str]]:
    """Styles from the catalog: the default style id and one per category value."""
    if spec is None or spec.kind != "vector":
        return None, {}
    s = spec.style
    default = s.color if spec.geometry == "LineString" else (s.fill_color or s.color)
    _kml_style(doc, "default", spec, default)
    by_value = {}
    if s.by and s.categories:
        for i, (value, colour) in enumerate(s.categories.items()):
            _kml_style(doc, f"cat{i}", spec, colour)
            by_value[value] = f"cat{i}"
    return "default", by_value


def _num(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")


def _kml_coords(parent: ET.Element, coords) -> None:
    ET.SubElement(parent, "coordinates").text = " ".join(
        ",".join(_num(v) for v in point) for point in coords
    )


def _kml_geometry(parent: ET.Element, geom) -> None:
    if geom is None or geom.is_empty:
        return
    kind = geom.geom_type
    if kind == "Point":
        _kml_coords(ET.SubElement(parent, "Point"), geom.coords)
    elif kind in ("LineString", "LinearRing"):
        _kml_coords(ET.SubElement(parent, "LineString"), geom.coords)
    elif kind == "Polygon":
        poly = ET.SubElement(parent, "Polygon")
        outer = ET.SubElement(ET.SubElement(poly, "outerBoundaryIs"), "LinearRing")
        _kml_coords(outer, geom.exterior.coords)
        for ring in geom.interiors:
            inner = ET.SubElement(ET.SubElement(poly, "innerBoundaryIs"), "LinearRing")
            _kml_coords(inner, ring.coords)
    else:  # Multi* and collections
        multi = ET.SubElement(parent, "MultiGeometry")
        for part in geom.geoms:
            _kml_geometry(multi, part)


def _kml_type(values: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(values):
        return "bool"
    if pd.api.types.is_integer_dtype(values):
        return "int"
    if pd.api.types.is_float_dtype(values):
        return "double"
    return "string"


def _kml_value(value: object) -> str | None:
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    return str(value)


def _name_field(frame: pd.DataFrame, spec: LayerSpec | None, lang: str) -> str | None:
    """The attribute that names a placemark: ``name_zh``/``name_en`` per language, the
    layer's first tooltip text (an own layer's name column), else its key."""
    columns = [str(c) for c in frame.columns]
    candidates = [f"name_{lang}", "name_zh", "name_en", "name", "名称"]
    if spec is not None:
        candidates[3:3] = [
            a.name for a in spec.attributes if a.name in spec.tooltip and a.type == "str"
        ]
        candidates.append(spec.key or "")
    return next((c for c in candidates if c in columns), None)


def _kml(
    frame: gpd.GeoDataFrame,
    path: Path,
    name: str,
    spec: LayerSpec | None,
    lang: str,
    notes: list[str],
) -> None:
    root = ET.Element("kml", xmlns=_KML_NS)
    doc = ET.SubElement(root, "Document", id="root_doc")
    ET.SubElement(doc, "name").text = spec.label.get(lang) if spec is not None else name
    if notes:
        ET.SubElement(doc, "description").text = " ".join(notes)
    default, by_value = _kml_styles(doc, spec)
    geometry = frame.geometry.name
    columns = [c for c in frame.columns if c != geometry]
    schema = ET.SubElement(doc, "Schema", name=name, id=name)
    for col in columns:
        ET.SubElement(schema, "SimpleField", name=str(col), type=_kml_type(frame[col]))
    folder = ET.SubElement(doc, "Folder")
    ET.SubElement(folder, "name").text = name
    label = _name_field(frame, spec, lang)
    by = spec.style.by if spec is not None else None
    table = frame[columns].astype(object)
    for geom, row in zip(frame.geometry.values, table.itertuples(index=False), strict=True):
        values = dict(zip(columns, row, strict=True))
        mark = ET.SubElement(folder, "Placemark")
        if label is not None and (text := _kml_value(values[label])) is not None:
            ET.SubElement(mark, "name").text = text
        if default is not None:
            style = by_value.get(str(values.get(by)), default) if by in values else default
            ET.SubElement(mark, "styleUrl").text = f"#{style}"
        data = ET.SubElement(ET.SubElement(mark, "ExtendedData"), "SchemaData")
        data.set("schemaUrl", f"#{name}")
        for col, value in values.items():
            if (text := _kml_value(value)) is not None:
                ET.SubElement(data, "SimpleData", name=str(col)).text = text
        _kml_geometry(mark, geom)
    ET.ElementTree(root).write(path, encoding="UTF-8", xml_declaration=True)


# ---------------------------------------------------------------------- GeoPackage


def gpkg_version(path: str | Path) -> tuple[int, int]:
    """``(application_id, user_version)`` of a GeoPackage (10200 is version 1.2)."""
    con = sqlite3.connect(path)
    try:
        return (
            con.execute("pragma application_id").fetchone()[0],
            con.execute("pragma user_version").fetchone()[0],
        )
    finally:
        con.close()


def check_gpkg_version(path: Path) -> None:
    app, version = gpkg_version(path)
    if app != GPKG_APPLICATION_ID or version != GPKG_USER_VERSION:
        raise UploadError(
            f"{path.name} came out as GeoPackage {version} instead of {GPKG_USER_VERSION} "
            f"(version {GPKG_VERSION}); nothing was written"
        )


def _gpkg(
    frame: pd.DataFrame,
    path: Path,
    name: str,
    spec: LayerSpec | None,
    described: list[str],
    notes: list[str],
) -> None:
    with gdal_messages() as messages:
        pyogrio.write_dataframe(
            frame,
            path,
            layer=name,
            driver="GPKG",
            dataset_options={"VERSION": GPKG_VERSION},
            layer_options=_description(described),
        )
    notes.extend(judge(messages, f"the GeoPackage {path.name}"))
    if spec is not None and isinstance(frame, gpd.GeoDataFrame):
        write_layer_styles(path, {name: spec})
    check_gpkg_version(path)


# ------------------------------------------------------------------- public functions


def export_layer(
    ws: Workspace,
    layer_id: str,
    out: str | Path,
    *,
    encoding: str = "utf-8",
    crs: str | None = None,
    lang: str | None = None,
) -> Exported:
    """Write one workspace layer, table or raster to ``out``; the suffix chooses the
    format, ``crs`` the coordinates (see ``export_crs``), ``lang`` the KML names."""
    from townmap.auth.access import require
    from townmap.i18n import check_lang
    from townmap.own_layers import workspace_catalog

    require(ws, "export")
    if not ws.has_layer(layer_id):
        raise UploadError(f"the workspace has no layer {layer_id!r}")
    _check_target(out, encoding)
    chosen = export_crs(crs)
    info = ws.layer_info(layer_id)
    suffix = Path(out).suffix.lower()
    if info.geometry_type == "raster":
        if suffix not in RASTER_FORMATS:
            raise UploadError(f"{layer_id} is a raster: export it as .tif (GeoTIFF)")
        return _export_raster(ws, layer_id, Path(out), chosen)
    if suffix in RASTER_FORMATS:
        kind = "a vector layer" if info.geometry_type else "a table"
        raise UploadError(
            f"{layer_id} is {kind}: .tif (GeoTIFF) is for rasters such as the DEM; "
            f"use {', '.join(s for s in FORMAT_LABELS if s not in RASTER_FORMATS)}"
        )
    spec = workspace_catalog(ws).layers.get(layer_id)
    frame = ws.read_layer(layer_id) if info.geometry_type else ws.read_table(layer_id)
    return export_frame(
        frame, out, layer_id, encoding=encoding, crs=chosen, spec=spec, lang=check_lang(lang)
    )


def _check_target(out: str | Path, encoding: str) -> None:
    suffix = Path(out).suffix.lower()
    if suffix not in FORMATS:
        raise UploadError(
            f"cannot export to '{suffix or Path(out).name}'; "
            f"use one of {', '.join(sorted(FORMATS))}"
        )
    if encoding.lower() not in ENCODINGS:
        raise UploadError(f"encoding must be utf-8 or gbk, not {encoding!r}")


def export_frame(
    frame: pd.DataFrame,
    out: str | Path,
    name: str,
    *,
    encoding: str = "utf-8",
    crs: str | ExportCRS | None = None,
    spec: LayerSpec | None = None,
    lang: str = "zh",
) -> Exported:
    """Write a layer, table or analysis result (e.g. conflict findings) to ``out``;
    ``spec`` (the layer's catalog entry) gives styles, names and row keys."""
    out = Path(out)
    _check_target(out, encoding)
    suffix = out.suffix.lower()
    encoding = encoding.lower()
    is_vector = isinstance(frame, gpd.GeoDataFrame)
    if suffix in RASTER_FORMATS:
        raise UploadError(f"{name} is not a raster: .tif (GeoTIFF) is for rasters such as the DEM")
    if suffix in VECTOR_ONLY and not is_vector:
        raise UploadError(
            f"{name} is a table without geometry: export it as .csv, .xlsx, .gpkg or .parquet"
        )
    chosen = export_crs(crs) if not isinstance(crs, ExportCRS) else crs
    frame, notes = _reproject(frame, _resolve_crs(suffix, frame, chosen))
    described = list(notes)  # what the file itself says about its coordinates
    if encoding != "utf-8" and suffix not in (".shp", ".zip"):
        notes.append(f"the {encoding.upper()} encoding is for Shapefiles: {suffix} is UTF-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    with temp_folder(".townmap-export-", out.parent) as staging:
        target = staging / out.name
        if suffix == ".csv":
            guard_formulas(_flat(frame, None)).to_csv(target, index=False, encoding="utf-8-sig")
        elif suffix == ".xlsx":
            _xlsx(frame, target, name, None)
        elif suffix == ".kml":
            _kml(frame, target, name, spec, lang, described)
        elif suffix in (".geojson", ".fgb"):
            options = _description(described)
            if suffix == ".fgb" and spec is not None:
                options["TITLE"] = f"{spec.label.zh} / {spec.label.en}"
            with gdal_messages() as messages:
                pyogrio.write_dataframe(
                    frame, target, layer=name, driver=FORMATS[suffix], layer_options=options
                )
            notes.extend(judge(messages, f"the file {out.name}"))
            if suffix == ".fgb" and len(frame) > 1:
                notes.append(
                    "FlatGeobuf stores features in spatial order (for its index), "
                    "not in the workspace's order"
                )
        elif suffix == ".parquet":
            _parquet(frame, target)
        elif suffix == ".gpkg":
            _gpkg(frame, target, name, spec, described, notes)
        elif suffix == ".shp":
            for part in _shapefile(frame, target, encoding, name, spec, notes):
                shutil.move(part, out.parent / part.name)
            return Exported.of(out, notes)
        else:  # .zip of a Shapefile
            parts = _shapefile(frame, staging / f"{out.stem}.shp", encoding, name, spec, notes)
            with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
                for part in parts:
                    zf.write(part, part.name)
                if notes:
                    zf.writestr("README.txt", "\n".join(["Townmap export", "", *notes, ""]))
        shutil.move(target, out)
        return Exported.of(out, notes)


def _parquet(frame: pd.DataFrame, target: Path) -> None:
    """GeoParquet for a layer (geometry as WKB, CRS as PROJJSON), plain Parquet for a table."""
    import pyarrow as pa

    try:
        frame.to_parquet(target, index=False)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise UploadError(f"cannot write Parquet: {exc}; export as .gpkg or .csv") from None


def _export_raster(ws: Workspace, layer_id: str, out: Path, chosen: ExportCRS | None) -> Exported:
    """The stored GeoTIFF as it is: same cells, no-data value and CRS (checked)."""
    import rasterio

    source = ws.raster_path(layer_id)
    with rasterio.open(source) as src:
        crs, nodata = src.crs, src.nodata
    keeps = chosen is None or chosen.key == "workspace"
    if not keeps and (chosen.datum is not None or not CRS(crs).equals(chosen.crs)):
        raise UploadError(
            f"{layer_id} is exported in its own CRS ({crs.to_string()}): another CRS would "
            "resample every cell; reproject it in QGIS (Warp) if you need to"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    with temp_folder(".townmap-export-", out.parent) as staging:
        target = staging / out.name
        shutil.copyfile(source, target)
        with rasterio.open(target) as got:
            same_nodata = (got.nodata is None and nodata is None) or (
                got.nodata is not None
                and nodata is not None
                and (got.nodata == nodata or (math.isnan(got.nodata) and math.isnan(nodata)))
            )
            if got.crs != crs or not same_nodata:
                raise UploadError(f"{out.name} did not keep the CRS or no-data value of {layer_id}")
        shutil.move(target, out)
    notes = [] if nodata is not None else [f"{layer_id} has no no-data value"]
    return Exported.of(out, notes)
