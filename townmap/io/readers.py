"""Reading a consultant's file into a frame, whatever its format, or one clear error.

GeoPackage (pick a layer), zipped or loose Shapefile, GeoJSON, KML/KMZ, and CSV or Excel
(XLSX, pick a sheet) with coordinate columns. Every failure becomes an ``UploadError``
whose one line says what was wrong and what to do; GDAL's own messages are kept short.
"""

from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import geopandas as gpd
import pandas as pd
import pyogrio
import pyogrio.errors
from pyproj import CRS
from shapely.errors import ShapelyError

from townmap.errors import UploadError
from townmap.io.archive import DEFAULT_LIMITS, Limits, check_zip, safe_extract
from townmap.io.encoding import EncodingGuess, detect_bytes, shapefile_encoding
from townmap.store.folders import temp_folder

VECTOR_SUFFIXES = {".gpkg", ".shp", ".geojson", ".json", ".kml"}
TABLE_SUFFIXES = {".csv", ".txt"}
SHEET_SUFFIXES = {".xlsx", ".xlsm"}
RASTER_SUFFIXES = {".tif", ".tiff"}
ARCHIVE_SUFFIXES = {".zip", ".kmz"}
MAX_FILE_BYTES = 500 * 2**20


@dataclass
class RawData:
    """What a file held, before it is matched to a catalog layer."""

    frame: pd.DataFrame
    source: Path
    layer: str | None = None
    encoding: EncodingGuess | None = None
    crs: CRS | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def has_geometry(self) -> bool:
        return isinstance(self.frame, gpd.GeoDataFrame) and not self.frame.geometry.isna().all()


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def gpkg_layers(path: Path) -> list[str]:
    try:
        return [str(name) for name, _ in pyogrio.list_layers(path)]
    except (pyogrio.errors.DataSourceError, OSError) as exc:
        raise UploadError(f"{path.name} is not a readable GeoPackage ({_short(exc)})") from None


def _read_vector(path: Path, layer: str | None, encoding: str | None) -> gpd.GeoDataFrame:
    try:
        return pyogrio.read_dataframe(path, layer=layer, encoding=encoding, use_arrow=True)
    except (
        pyogrio.errors.DataSourceError,
        pyogrio.errors.DataLayerError,
        pyogrio.errors.CRSError,
        pyogrio.errors.FieldError,
        ShapelyError,
        OSError,
        ValueError,
    ) as exc:
        raise UploadError(
            f"{path.name} could not be read as {path.suffix[1:].upper()} "
            f"({_short(exc)}); check that the file is complete"
        ) from None


def _read_shapefile(path: Path, encoding: str | None) -> RawData:
    missing = [
        s
        for s in (".dbf", ".shx")
        if not path.with_suffix(s).exists() and not path.with_suffix(s.upper()).exists()
    ]
    if missing:
        raise UploadError(
            f"{path.name} comes without its {' and '.join(missing)} file(s); "
            "upload all parts of the Shapefile together (zip them)"
        )
    guess = (
        shapefile_encoding(path)
        if encoding is None
        else EncodingGuess(encoding, True, "chosen by the user")
    )
    frame = _read_vector(path, None, guess.encoding)
    notes = [f"attribute text read as {guess.encoding} ({guess.reason})"]
    if not path.with_suffix(".prj").exists():
        notes.append("no .prj: the coordinate system must be chosen")
        frame = frame.set_crs(None, allow_override=True)
    return RawData(frame, path, encoding=guess, crs=frame.crs, notes=notes)


def _read_geojson(path: Path) -> RawData:
    head = path.read_bytes()[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith((b"{", b"[")):
        kind = "HTML" if head[:15].lower().startswith((b"<!doctype", b"<html")) else "not JSON"
        raise UploadError(
            f"{path.name} is not GeoJSON (it looks like {kind}); export the data again as GeoJSON"
        )
    frame = _read_vector(path, None, None)
    return RawData(frame, path, crs=frame.crs)


def _read_csv(path: Path, encoding: str | None) -> RawData:
    raw = path.read_bytes()
    guess = (
        detect_bytes(raw)
        if encoding is None
        else EncodingGuess(encoding, True, "chosen by the user")
    )
    try:
        text = raw.decode(guess.encoding, guess.errors)
    except (UnicodeDecodeError, LookupError) as exc:
        raise UploadError(
            f"{path.name} is not {guess.encoding} text ({_short(exc)}); choose another encoding"
        ) from None
    from io import StringIO

    if not text.strip():
        raise UploadError(f"{path.name} holds no rows")
    try:
        try:  # let pandas find the delimiter (comma, semicolon, tab); else assume commas
            frame = pd.read_csv(
                StringIO(text), sep=None, engine="python", dtype=str, skipinitialspace=True
            )
        except csv.Error:
            frame = pd.read_csv(StringIO(text), dtype=str, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, ValueError) as exc:
        raise UploadError(f"{path.name} could not be read as a table ({_short(exc)})") from None
    return RawData(
        _unguard(frame),
        path,
        encoding=guess,
        notes=[f"text read as {guess.encoding} ({guess.reason})"],
    )


def _unguard(frame: pd.DataFrame) -> pd.DataFrame:
    """Undo the ``'`` that Townmap's CSV export puts before formula-like text."""
    for col in frame.columns:
        text = frame[col]
        guarded = text.str.match(r"'[=+\-@\t\r]", na=False)
        if guarded.any():
            frame.loc[guarded, col] = text[guarded].str[1:]
    return frame


def sheet_names(path: Path, limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """The sheets of a workbook (an XLSX is a zip: checked like any upload archive first)."""
    from openpyxl.utils.exceptions import InvalidFileException

    if not zipfile.is_zipfile(path):
        raise UploadError(f"{path.name} is not an Excel workbook (.xlsx); save it again as .xlsx")
    check_zip(path, limits)
    try:
        with pd.ExcelFile(path, engine="openpyxl") as book:
            return [str(name) for name in book.sheet_names]
    except (InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise UploadError(
            f"{path.name} is not a readable Excel workbook ({_short(exc)}); save it again as .xlsx"
        ) from None


def _read_sheet(path: Path, sheet: str | None, limits: Limits) -> RawData:
    names = sheet_names(path, limits)
    if sheet is None and len(names) > 1:
        raise UploadError(f"{path.name} holds {len(names)} sheets ({', '.join(names)}); choose one")
    chosen = sheet or (names[0] if names else None)
    if chosen not in names:
        raise UploadError(f"{path.name} has no sheet {chosen!r}; it has {', '.join(names)}")
    try:
        frame = pd.read_excel(path, sheet_name=chosen, dtype=str, engine="openpyxl")
    except (KeyError, OSError, ValueError) as exc:
        raise UploadError(
            f"sheet {chosen!r} of {path.name} could not be read ({_short(exc)})"
        ) from None
    frame = frame.dropna(how="all")
    if frame.empty:
        raise UploadError(f"sheet {chosen!r} of {path.name} holds no rows")
    frame.columns = [str(c).strip() for c in frame.columns]
    return RawData(frame, path, layer=chosen, notes=[f"read sheet {chosen!r}"])


def list_sources(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """What a user may have to choose between inside one file: GeoPackage layers, workbook
    sheets, or datasets in a zip (empty when there is nothing to choose)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".gpkg":
        return gpkg_layers(path)
    if suffix in SHEET_SUFFIXES:
        return sheet_names(path, limits)
    if suffix in ARCHIVE_SUFFIXES:
        names = [PurePosixPath(m.filename).name for m in check_zip(path, limits)]
        usable = [
            n
            for n in names
            if PurePosixPath(n).suffix.lower() in VECTOR_SUFFIXES | TABLE_SUFFIXES | SHEET_SUFFIXES
            and not n.startswith(".")
        ]
        shp = [n for n in usable if n.lower().endswith(".shp")]
        return shp or usable
    return []


def _from_archive(path: Path, encoding: str | None, layer: str | None, limits: Limits) -> RawData:
    with temp_folder("townmap-extract-") as workdir:
        files = safe_extract(path, workdir, limits)
        usable = [
            f
            for f in files
            if f.suffix.lower() in VECTOR_SUFFIXES | TABLE_SUFFIXES | SHEET_SUFFIXES
            and not f.name.startswith(".")
        ]
        shp = [f for f in usable if f.suffix.lower() == ".shp"]
        chosen = shp or usable
        if not chosen:
            raise UploadError(f"{path.name} holds no Shapefile, GeoJSON, KML, GeoPackage or CSV")
        if len(chosen) > 1 and layer is None:
            names = ", ".join(f.name for f in chosen)
            raise UploadError(f"{path.name} holds several datasets ({names}); choose one")
        target = next((f for f in chosen if layer in (f.name, f.stem)), chosen[0])
        data = read_file(target, encoding=encoding, layer=None, limits=limits)
        data.frame = data.frame.copy()  # detached from the temporary files
        data.notes.insert(0, f"read {target.name} from {path.name}")
        data.source = path
        return data


def read_file(
    path: str | Path,
    *,
    encoding: str | None = None,
    layer: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> RawData:
    """Read any supported file; raises ``UploadError`` with one line on any problem."""
    path = Path(path)
    if not path.is_file():
        raise UploadError(f"{path} does not exist or is not a file")
    size = path.stat().st_size
    if size == 0:
        raise UploadError(f"{path.name} is empty")
    if size > MAX_FILE_BYTES:
        raise UploadError(
            f"{path.name} is {size / 2**20:.0f} MB; the limit is {MAX_FILE_BYTES / 2**20:.0f} MB"
        )
    suffix = path.suffix.lower()
    if suffix in ARCHIVE_SUFFIXES:
        return _from_archive(path, encoding, layer, limits)
    if suffix == ".shp":
        return _read_shapefile(path, encoding)
    if suffix in (".geojson", ".json"):
        return _read_geojson(path)
    if suffix in TABLE_SUFFIXES:
        return _read_csv(path, encoding)
    if suffix in SHEET_SUFFIXES:
        return _read_sheet(path, layer, limits)
    if suffix == ".xls":
        raise UploadError(
            f"{path.name} is an old-style Excel file (.xls); save it as .xlsx or .csv first"
        )
    if suffix in RASTER_SUFFIXES:
        raise UploadError(f"{path.name} is a raster: import it into a raster layer such as the DEM")
    if suffix == ".gpkg":
        layers = gpkg_layers(path)
        if layer is None and len(layers) > 1:
            raise UploadError(
                f"{path.name} holds {len(layers)} layers ({', '.join(layers)}); choose one"
            )
        chosen = layer or (layers[0] if layers else None)
        if chosen not in layers:
            raise UploadError(f"{path.name} has no layer {chosen!r}; it has {', '.join(layers)}")
        frame = _read_vector(path, chosen, None)
        return RawData(frame, path, layer=chosen, crs=getattr(frame, "crs", None))
    if suffix == ".kml":
        frame = _read_vector(path, layer, None)
        return RawData(frame, path, crs=frame.crs)
    raise UploadError(
        f"{path.name}: files of type '{suffix or '(none)'}' are not supported; "
        "use GeoPackage, zipped Shapefile, GeoJSON, KML/KMZ, CSV or XLSX (GeoTIFF for the DEM)"
    )
