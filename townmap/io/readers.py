"""Reading a consultant's file into a frame, whatever its format, or one clear error.

GeoPackage (pick a layer), Shapefile (loose or zipped), GeoJSON, KML/KMZ (one layer per
folder: pick one, or read them all with a ``folder`` column), GPX, FlatGeobuf, MapInfo
TAB/MIF, GML, OpenStreetMap (.osm, .osm.pbf), and CSV or Excel (XLSX, pick a sheet) with
coordinate columns. Rasters (GeoTIFF, netCDF, ASCII grid) go to the DEM import.

Nothing is lost silently. A damaged Shapefile (fewer records than its .shx/.dbf list) is
refused; a value whose bytes do not fit the encoding, a NUL character or a coordinate that
is not a number becomes a row problem naming the row (``RawData.row_label``); every
failure is an ``UploadError`` whose one line says what was wrong and what to do.
"""

from __future__ import annotations

import codecs
import csv
import struct
import warnings
import zipfile
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path, PurePosixPath

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.lib
import pyogrio
import pyogrio.errors
from pyproj import CRS
from shapely.errors import ShapelyError

from townmap.errors import UploadError
from townmap.io.archive import DEFAULT_LIMITS, Limits, check_zip, safe_extract
from townmap.io.encoding import (
    TRANSPARENT,
    EncodingGuess,
    clean_nul,
    common_name,
    decode_text,
    detect_bytes,
    read_cpg,
    user_codec,
)
from townmap.store.folders import temp_folder

VECTOR_SUFFIXES = {
    ".gpkg",
    ".shp",
    ".geojson",
    ".json",
    ".kml",
    ".gpx",
    ".fgb",
    ".tab",
    ".mif",
    ".gml",
    ".pbf",
    ".osm",
}
TABLE_SUFFIXES = {".csv", ".txt"}
SHEET_SUFFIXES = {".xlsx", ".xlsm"}
#: what the DEM import reads (the importer routes these to ``plan_raster_import``)
RASTER_SUFFIXES = {".tif", ".tiff", ".nc", ".asc"}
ARCHIVE_SUFFIXES = {".zip", ".kmz"}
MAX_FILE_BYTES = 500 * 2**20
#: GDAL rebuilds OSM geometries through a temporary database: fine for a town, not a province
MAX_OSM_BYTES = 64 * 2**20
#: the source choice meaning "every folder of the KML together", as ``layer=None`` does
ALL_LAYERS = "*"
#: at most this many row problems of one kind are listed, then a count of the rest
MAX_LISTED = 200
FORMATS = (
    "GeoPackage, Shapefile (zip it with its .dbf, .shx and .prj), GeoJSON, KML/KMZ, GPX, "
    "FlatGeobuf, MapInfo TAB/MIF (zipped with its other files), GML, OpenStreetMap "
    "(.osm, .osm.pbf), CSV or XLSX (GeoTIFF, netCDF or ASCII grid for the DEM)"
)
#: formats whose layers are different things (waypoints and tracks): one is chosen
_PICK_ONE = {".gpkg", ".gpx", ".pbf", ".osm", ".gml"}
#: the parts a main file cannot be read without
_PARTS = {".shp": (".dbf", ".shx"), ".tab": (".dat", ".map", ".id"), ".mif": (".mid",)}
_NAMES = {".pbf": "OSM PBF", ".osm": "OSM XML", ".fgb": "FlatGeobuf", ".mif": "MapInfo MIF"}
_GDAL_ERRORS = (
    pyogrio.errors.DataSourceError,
    pyogrio.errors.DataLayerError,
    ShapelyError,
    pyarrow.lib.ArrowException,
    OSError,
    ValueError,
    RuntimeError,
    IndexError,
)


@dataclass
class RawData:
    """What a file held, before it is matched to a catalog layer."""

    frame: pd.DataFrame
    source: Path
    layer: str | None = None
    encoding: EncodingGuess | None = None
    crs: CRS | None = None
    notes: list[str] = field(default_factory=list)
    #: row-level problems found while reading, each naming its row (``row_label``)
    problems: list[str] = field(default_factory=list)
    #: "row" for tables (spreadsheet lines), "feature" for vector files
    unit: str = "feature"
    #: the human number of each frame position; None counts from the first row
    numbers: np.ndarray | None = None
    #: the KML folder of each position, when several folders were read together
    folders: np.ndarray | None = None

    @property
    def has_geometry(self) -> bool:
        return isinstance(self.frame, gpd.GeoDataFrame) and not self.frame.geometry.isna().all()

    def row_label(self, i: int) -> str:
        """How a user finds frame position ``i`` in the file: ``row 5`` is spreadsheet
        line 5 (the header is line 1); ``feature 3`` is the third feature (of its folder,
        when several KML folders were read together)."""
        if self.numbers is not None:
            number = int(self.numbers[i])
        else:
            number = i + (2 if self.unit == "row" else 1)
        label = f"{self.unit} {number}"
        if self.folders is not None:
            label += f" of folder {self.folders[i]!r}"
        return label

    def cell_problems(self, cells: list[tuple[int, str]], what: str) -> None:
        """Add one problem per (position, column); position -1 is the column's name."""
        for i, col in cells[:MAX_LISTED]:
            where = f"column name {col!r}" if i < 0 else f"{self.row_label(i)}, column {col!r}"
            self.problems.append(f"{where}: {what}")
        if len(cells) > MAX_LISTED:
            self.problems.append(f"… and {len(cells) - MAX_LISTED} more values: {what}")


def is_raster(path: str | Path) -> bool:
    """Whether a file goes to the DEM (raster) import rather than ``read_file``."""
    return Path(path).suffix.lower() in RASTER_SUFFIXES


def coordinate_values(values: pd.Series) -> pd.Series:
    """A coordinate column as numbers, NaN where a cell is empty, not a number or not
    finite (``inf``, ``1e999``, ``NaN``), so such rows are reported instead of failing."""
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    return numbers.where(np.isfinite(numbers))


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    return _NAMES.get(suffix, suffix[1:].upper())


def _sibling(path: Path, suffix: str) -> Path | None:
    for candidate in (path.with_suffix(suffix), path.with_suffix(suffix.upper())):
        if candidate.exists():
            return candidate
    return None


def _check_parts(path: Path) -> None:
    parts = _PARTS.get(path.suffix.lower(), ())
    missing = [s for s in parts if _sibling(path, s) is None]
    if missing:
        raise UploadError(
            f"{path.name} comes without its {' and '.join(missing)} file(s); "
            f"upload all parts of the {_kind(path)} file together (zip them)"
        )


class _NotUtf8(Exception):
    """GDAL handed over text that is not UTF-8: read it again byte for byte."""


def _gdal(path: Path, layer: str | None, transparent: bool = False) -> tuple[pd.DataFrame, bool]:
    """pyogrio's read as (frame, whether curves were linearised), errors as one line.

    Arrow is fastest, but it cannot read curved geometries (the plain read linearises
    them), turns a NaN point into an empty one (GeoJSON is read plainly so it can be
    reported) and takes no encoding but UTF-8 outside Shapefiles.
    """
    suffix = path.suffix.lower()
    arrow = suffix not in (".geojson", ".json") and (not transparent or suffix == ".shp")
    encoding = TRANSPARENT if transparent else None
    with warnings.catch_warnings():  # NaN coordinates: named by the importer, not warned
        warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
        return _gdal_read(path, layer, encoding, arrow)


def _gdal_read(
    path: Path, layer: str | None, encoding: str | None, arrow: bool
) -> tuple[pd.DataFrame, bool]:
    try:
        try:
            frame = pyogrio.read_dataframe(path, layer=layer, encoding=encoding, use_arrow=arrow)
            return frame, False
        except NotImplementedError:  # "Nonlinear geometry types are not currently supported"
            if not arrow:
                raise
            frame = pyogrio.read_dataframe(path, layer=layer, encoding=encoding, use_arrow=False)
            return frame, True
    except UnicodeDecodeError:
        raise _NotUtf8() from None
    except _GDAL_ERRORS as exc:
        if isinstance(exc, pyarrow.lib.ArrowException) and "Wrapping" in str(exc):
            raise _NotUtf8() from None  # Arrow refusing bytes that are not UTF-8
        raise UploadError(
            f"{path.name} could not be read as {_kind(path)} "
            f"({_short(exc)}); check that the file is complete"
        ) from None


def _read_vector(path: Path, layer: str | None, encoding: str | None = None) -> RawData:
    """A self-encoded format (UTF-8 by rule); text that breaks the rule is still read."""
    notes = []
    if encoding is not None:
        notes.append(
            f"the chosen encoding {encoding!r} is not used: {_kind(path)} files say their own"
        )
    try:
        frame, linear = _gdal(path, layer)
        data = RawData(frame, path, layer=layer, crs=getattr(frame, "crs", None), notes=notes)
    except _NotUtf8:
        data = _read_decoded(path, layer, None, "")
        data.notes[:0] = notes
        data.notes.append(
            f"{path.name} should hold UTF-8 text but holds {data.encoding.encoding}; "
            "it was read as such"
        )
        return data
    if linear:
        data.notes.append("curved geometries (arcs) were approximated by straight segments")
    return data


def _read_decoded(path: Path, layer: str | None, declared: str | None, said: str) -> RawData:
    """Read text byte for byte and decode it here (see ``townmap.io.encoding``).

    ``declared`` is the encoding a ``.cpg`` or the user named (``said`` says which, for
    the message), None to guess it from all of the text.
    """
    try:
        frame, linear = _gdal(path, layer, transparent=True)
    except _NotUtf8:  # only for a driver that does not honour the transparent encoding
        raise UploadError(f"{path.name}: its text could not be read in any encoding") from None
    decoded = decode_text(frame, declared)
    if decoded.instead is not None:
        alt = decoded.instead.encoding
        sample = decoded.instead.preview.strip()[:30]
        raise UploadError(
            f"{path.name}: {said}, but its text is not {declared}; it reads as "
            f"{alt} ({sample!r}): import it again with --encoding {alt} (on the Import "
            f"page, choose the encoding '{alt}')"
        )
    data = RawData(decoded.frame, path, layer=layer, crs=getattr(frame, "crs", None))
    texts = [v for col in decoded.frame.columns[:5] for v in _samples(decoded.frame[col])]
    data.encoding = EncodingGuess(
        decoded.encoding, not decoded.bad, decoded.how, " | ".join(texts)[:200], declared=said
    )
    if decoded.bad:
        data.cell_problems(decoded.bad, f"bytes that are not {decoded.encoding} text, shown as �")
        data.notes.append(
            f"{len(decoded.bad)} value(s) hold bytes that are not {decoded.encoding} text "
            "(shown as �); if much of the text looks wrong, choose another encoding"
        )
    if linear:
        data.notes.append("curved geometries (arcs) were approximated by straight segments")
    return data


def _samples(column: pd.Series) -> list[str]:
    values = column.to_numpy(dtype=object)[:50]
    return [v for v in values if isinstance(v, str) and not v.isascii()][:2]


# --- Shapefile and MapInfo ---------------------------------------------------------------


def _shapefile_counts(shp: Path) -> tuple[int, int, int, str]:
    """(features the .shx/.dbf list, whole records on disk, records marked deleted, why
    the file is damaged or "") from the files' own headers, without GDAL."""
    size = shp.stat().st_size
    with open(shp, "rb") as fh:
        head = fh.read(100)
    if len(head) < 100 or struct.unpack(">i", head[:4])[0] != 9994:
        return 0, 0, 0, "the .shp has no Shapefile header"
    header_bytes = struct.unpack(">i", head[24:28])[0] * 2
    shx = _sibling(shp, ".shx")
    index = np.frombuffer(shx.read_bytes()[100:], dtype=">i4")
    index = index[: len(index) // 2 * 2].reshape(-1, 2).astype(np.int64)
    ends = index[:, 0] * 2 + 8 + index[:, 1] * 2
    whole_shp = int((ends <= size).sum())
    dbf = _sibling(shp, ".dbf")
    with open(dbf, "rb") as fh:
        head = fh.read(32)
    if len(head) < 32:
        return len(index), 0, 0, "the .dbf has no header"
    n_dbf = struct.unpack("<I", head[4:8])[0]
    header_len, record_len = struct.unpack("<HH", head[8:12])
    stored = max(dbf.stat().st_size - header_len, 0) // max(record_len, 1)
    whole_dbf = min(n_dbf, stored)
    flags = np.memmap(dbf, dtype=np.uint8, mode="r", offset=header_len) if whole_dbf else None
    deleted = (
        int((flags[: whole_dbf * record_len].reshape(-1, record_len)[:, 0] == 0x2A).sum())
        if flags is not None
        else 0
    )
    expected = max(len(index), n_dbf)
    why = []
    if whole_shp < len(index):
        why.append(f"the .shp ends after {size:,} bytes; its header says {header_bytes:,}")
    if whole_dbf < n_dbf:
        why.append(f"the .dbf holds {whole_dbf} of its {n_dbf} records")
    if len(index) != n_dbf:
        why.append(f"the .shx lists {len(index)} features and the .dbf {n_dbf}")
    return expected, min(whole_shp, whole_dbf), deleted, "; ".join(why)


def _damaged(path: Path, readable: int, expected: int, why: str) -> UploadError:
    return UploadError(
        f"{path.name} is damaged: only {readable} of {expected} features could be read"
        f"{f' ({why})' if why else ''}; export it again from the GIS program and upload "
        "all its parts"
    )


def _read_shapefile(path: Path, encoding: str | None) -> RawData:
    _check_parts(path)
    expected, readable, deleted, why = _shapefile_counts(path)
    if why:
        raise _damaged(path, readable, expected, why)
    cpg = _sibling(path, ".cpg")
    text, codec = read_cpg(cpg) if cpg else (None, None)
    if encoding is not None:
        declared, said = user_codec(encoding), f"you chose {encoding!r}"
        reason = "chosen by the user"
    elif codec is not None:
        declared, said, reason = codec, f"its .cpg says {text!r}", f".cpg {text!r}"
    else:
        declared, said = None, ""
        reason = "no .cpg" if text is None else f"the .cpg {text!r} names no encoding"
    data = _read_decoded(path, None, declared, said)
    if len(data.frame) != expected - deleted:
        raise _damaged(path, len(data.frame), expected - deleted, why)
    how = f"{reason}: {data.encoding.reason}" if declared is None else reason
    data.encoding = EncodingGuess(
        data.encoding.encoding, data.encoding.confident, how, data.encoding.preview, declared=text
    )
    data.notes.insert(0, f"attribute text read as {data.encoding.encoding} ({how})")
    if deleted:
        data.notes.append(
            f"{deleted} record(s) marked deleted in the .dbf were left out, as GIS programs do"
        )
    if _sibling(path, ".prj") is None:
        data.notes.append("no .prj: the coordinate system must be chosen")
        data.frame = data.frame.set_crs(None, allow_override=True)
        data.crs = None
    return data


def _read_mapinfo(path: Path, encoding: str | None) -> RawData:
    """MapInfo names a charset GDAL may not apply ("Neutral"): decoded here, like a .dbf."""
    _check_parts(path)
    declared = user_codec(encoding) if encoding is not None else None
    data = _read_decoded(path, None, declared, f"you chose {encoding!r}")
    how = "chosen by the user" if declared else data.encoding.reason
    data.notes.insert(0, f"attribute text read as {data.encoding.encoding} ({how})")
    return data


# --- layered formats: GeoPackage, GPX, OSM, GML, KML -------------------------------------


#: tables a GIS program keeps in a GeoPackage about its layers (QGIS styles, projects)
GPKG_HELPER_TABLES = {"layer_styles", "qgis_projects"}


def gpkg_layers(path: Path) -> list[str]:
    """The data layers and tables of a GeoPackage (QGIS's own style tables left out)."""
    try:
        names = [str(name) for name, _ in pyogrio.list_layers(path)]
        return [n for n in names if n.lower() not in GPKG_HELPER_TABLES]
    except (pyogrio.errors.DataSourceError, OSError) as exc:
        raise UploadError(f"{path.name} is not a readable GeoPackage ({_short(exc)})") from None


def _layer_counts(path: Path) -> list[tuple[str, int]]:
    """Each layer with its number of features (counted: GPX, KML and OSM do not say)."""
    try:
        names = [str(name) for name, _ in pyogrio.list_layers(path)]
        return [
            (name, int(pyogrio.read_info(path, layer=name, force_feature_count=True)["features"]))
            for name in names
        ]
    except _GDAL_ERRORS as exc:
        raise UploadError(
            f"{path.name} is not a readable {_kind(path)} file ({_short(exc)})"
        ) from None


def _filled_layers(path: Path) -> list[str]:
    if path.suffix.lower() == ".gpkg":
        return gpkg_layers(path)  # a GeoPackage's layers are listed even when empty
    return [name for name, count in _layer_counts(path) if count > 0]


def _read_layered(path: Path, layer: str | None, encoding: str | None) -> RawData:
    """One layer of a file whose layers are different things; it must be chosen."""
    if path.suffix.lower() in (".pbf", ".osm") and path.stat().st_size > MAX_OSM_BYTES:
        raise UploadError(
            f"{path.name} is {path.stat().st_size / 2**20:.0f} MB; OpenStreetMap files up "
            f"to {MAX_OSM_BYTES / 2**20:.0f} MB are read: clip it to the town first"
        )
    filled = _filled_layers(path)
    if layer is None:
        if not filled:
            raise UploadError(f"{path.name} holds no features")
        if len(filled) > 1:
            raise UploadError(
                f"{path.name} holds {len(filled)} layers ({', '.join(filled)}); choose one"
            )
        layer = filled[0]
    elif layer not in filled:
        known = [name for name, _ in _layer_counts(path)] if path.suffix.lower() != ".gpkg" else []
        if layer in known:
            raise UploadError(f"layer {layer!r} of {path.name} holds no features")
        raise UploadError(f"{path.name} has no layer {layer!r}; it has {', '.join(filled)}")
    data = _read_vector(path, layer, encoding)
    data.layer = layer
    return data


def _read_kml(path: Path, layer: str | None, encoding: str | None) -> RawData:
    """KML folders are GDAL layers: one when named, else all of them with a ``folder``
    column (a KML from Google Earth or 奥维 keeps each kind of thing in a folder)."""
    counts = _layer_counts(path)
    filled = [name for name, count in counts if count > 0]
    if not filled:
        raise UploadError(
            f"{path.name} holds no placemarks (no points, lines or areas); export the "
            "features again, not only their folders"
        )
    if layer not in (None, ALL_LAYERS):
        if layer not in filled:
            if layer in dict(counts):
                raise UploadError(f"folder {layer!r} of {path.name} holds no placemarks")
            raise UploadError(f"{path.name} has no folder {layer!r}; it has {', '.join(filled)}")
        filled = [layer]
    parts = [_read_vector(path, name, encoding) for name in filled]
    if len(parts) == 1:
        parts[0].layer = filled[0]
        return _without_housekeeping(parts[0])
    column = "folder" if all("folder" not in p.frame.columns for p in parts) else "kml_folder"
    frames = [p.frame.assign(**{column: name}) for p, name in zip(parts, filled, strict=True)]
    frame = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=parts[0].crs)
    notes = list(dict.fromkeys(n for p in parts for n in p.notes))
    data = RawData(frame, path, crs=frame.crs, notes=notes)
    data.numbers = np.concatenate([np.arange(1, len(p.frame) + 1) for p in parts])
    data.folders = np.concatenate(
        [np.full(len(p.frame), n, object) for p, n in zip(parts, filled, strict=True)]
    )
    data.notes.append(
        f"read all {len(filled)} folders together ({', '.join(filled)}); the column "
        f"'{column}' says which folder each feature is from (or choose one folder)"
    )
    return _without_housekeeping(data)


def _without_housekeeping(data: RawData) -> RawData:
    from townmap.io.kml_fields import drop_housekeeping

    data.frame, empty = drop_housekeeping(data.frame)
    if empty:
        data.notes.append(
            f"KML fields no placemark fills ({', '.join(empty)}) were left out; fields "
            "with a value in any placemark are kept"
        )
    return data


def _read_geojson(path: Path, encoding: str | None) -> RawData:
    head = path.read_bytes()[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith((b"{", b"[")):
        kind = "HTML" if head[:15].lower().startswith((b"<!doctype", b"<html")) else "not JSON"
        raise UploadError(
            f"{path.name} is not GeoJSON (it looks like {kind}); export the data again as GeoJSON"
        )
    return _read_vector(path, None, encoding)


# --- tables ------------------------------------------------------------------------------


def _table_lines(text: str, delimiter: str, rows: int) -> np.ndarray | None:
    """The spreadsheet line of each data row, counting blank lines as a spreadsheet does
    (pandas skips them); None if the records do not line up with the parsed rows."""
    try:
        records = csv.reader(StringIO(text), delimiter=delimiter, skipinitialspace=True)
        kept = [n for n, rec in enumerate(records, start=1) if rec and any(c.strip() for c in rec)]
    except csv.Error:
        return None
    if len(kept) != rows + 1:
        return None
    return np.asarray(kept[1:])


def _read_csv(path: Path, encoding: str | None) -> RawData:
    raw = path.read_bytes()
    guess = (
        detect_bytes(raw)
        if encoding is None
        else EncodingGuess(user_codec(encoding), True, "chosen by the user")
    )
    try:
        text = raw.decode(guess.encoding, guess.errors).removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        alt = detect_bytes(raw)
        name = common_name(alt.encoding, [raw])
        hint = (
            f"it reads as {name}: choose that encoding (--encoding {name}; on the Import "
            f"page, the encoding '{name}')"
            if alt.confident and alt.encoding != guess.encoding
            else "choose another encoding"
        )
        raise UploadError(
            f"{path.name} is not {guess.encoding} text ({_short(exc)}); {hint}"
        ) from None
    if not text.strip():
        raise UploadError(f"{path.name} holds no rows")
    delimiter = ","
    try:
        try:  # let pandas find the delimiter (comma, semicolon, tab); else assume commas
            frame = pd.read_csv(
                StringIO(text), sep=None, engine="python", dtype=str, skipinitialspace=True
            )
            delimiter = csv.Sniffer().sniff(text.lstrip("\r\n").split("\n", 1)[0]).delimiter
        except csv.Error:
            frame = pd.read_csv(StringIO(text), dtype=str, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, ValueError) as exc:
        raise UploadError(f"{path.name} could not be read as a table ({_short(exc)})") from None
    data = RawData(
        frame, path, encoding=guess, notes=[f"text read as {guess.encoding} ({guess.reason})"]
    )
    data.unit = "row"
    data.numbers = _table_lines(text, delimiter, len(frame))
    exported = raw.startswith(codecs.BOM_UTF8) and delimiter == ","
    data.frame = _unguard(data, exported)
    return data


#: text a spreadsheet would run as a formula, and the same behind Townmap's guard
_FORMULA = r"[=+\-@\t\r]"
_GUARDED = rf"'{_FORMULA}"


def _unguard(data: RawData, exported: bool) -> pd.DataFrame:
    """Undo the ``'`` that Townmap's CSV export puts before formula-like text — only in a
    file that is recognisably such an export, and always with a note naming the cells.

    The export writes UTF-8 with a byte-order mark, commas, and guards *every* text cell
    that starts with ``= + - @``, tab or CR. A file with those marks and no unguarded
    formula-like text (numbers such as ``-2.5`` aside) is taken as Townmap's own; in any
    other file a leading ``'`` is the consultant's data and is kept as it is, with a note:
    their real values are never changed silently.
    """
    frame = data.frame
    guarded: list[tuple[int, str]] = []
    loose = False
    for col in frame.columns:
        text = frame[col].astype("string")
        hits = text.str.match(_GUARDED, na=False).to_numpy()
        guarded += [(int(i), str(col)) for i in hits.nonzero()[0]]
        risky = text.str.match(_FORMULA, na=False) & pd.to_numeric(text, errors="coerce").isna()
        loose = loose or bool(risky.any())
    if not guarded:
        return frame
    labels = ", ".join(f"{data.row_label(i)} {c!r}" for i, c in guarded[:5])
    more = f" and {len(guarded) - 5} more" if len(guarded) > 5 else ""
    if not exported or loose:
        data.notes.append(
            f"{len(guarded)} cell(s) start with ' before formula-like text ({labels}{more}); "
            "kept as they are, since this is not a Townmap export"
        )
        return frame
    for i, col in guarded:
        frame.iat[i, frame.columns.get_loc(col)] = frame.iat[i, frame.columns.get_loc(col)][1:]
    data.notes.append(
        f"removed the ' that Townmap's CSV export puts before formula-like text from "
        f"{len(guarded)} cell(s) ({labels}{more})"
    )
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
    lines = frame.index.to_numpy() + 2  # pandas numbers data rows from 0; the header is line 1
    data = RawData(
        frame.reset_index(drop=True), path, layer=chosen, notes=[f"read sheet {chosen!r}"]
    )
    data.unit, data.numbers = "row", lines
    return data


# --- archives and the front door ---------------------------------------------------------


def _datasets(names: list[str]) -> list[str]:
    """The readable files among archive members; a Shapefile's or TAB's own parts aside."""
    usable = [
        n
        for n in names
        if PurePosixPath(n).suffix.lower() in VECTOR_SUFFIXES | TABLE_SUFFIXES | SHEET_SUFFIXES
        and not PurePosixPath(n).name.startswith(".")
    ]
    primary = [n for n in usable if PurePosixPath(n).suffix.lower() in _PARTS]
    return primary or usable  # a zipped Shapefile's readme.txt is not a second dataset


def list_sources(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """What a user may have to choose between inside one file: GeoPackage, GPX, OSM or
    GML layers, KML folders, workbook sheets, or datasets in a zip (empty when there is
    nothing to choose). A KML with several folders lists ``ALL_LAYERS`` first: every
    folder read together, which is also what ``read_file(..., layer=None)`` does."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".gpkg":
        return gpkg_layers(path)
    if suffix in _PICK_ONE:
        return _filled_layers(path)
    if suffix == ".kml":
        filled = _filled_layers(path)
        return [ALL_LAYERS, *filled] if len(filled) > 1 else filled
    if suffix in SHEET_SUFFIXES:
        return sheet_names(path, limits)
    if suffix in ARCHIVE_SUFFIXES:
        names = [PurePosixPath(m.filename).name for m in check_zip(path, limits)]
        chosen = _datasets(names)
        if len(chosen) == 1 and PurePosixPath(chosen[0]).suffix.lower() in _PICK_ONE | {".kml"}:
            with temp_folder("townmap-extract-") as workdir:
                files = safe_extract(path, workdir, limits)
                inner = next(f for f in files if f.name == chosen[0])
                return list_sources(inner, limits) or chosen
        return chosen
    return []


def _from_archive(path: Path, encoding: str | None, layer: str | None, limits: Limits) -> RawData:
    with temp_folder("townmap-extract-") as workdir:
        files = safe_extract(path, workdir, limits)
        by_name = {str(f.relative_to(workdir)): f for f in files}
        chosen = [by_name[n] for n in _datasets(list(by_name))]
        if not chosen:
            raise UploadError(f"{path.name} holds no file Townmap reads; it reads {FORMATS}")
        member = next((f for f in chosen if layer in (f.name, f.stem)), None)
        if member is None and len(chosen) > 1:
            names = ", ".join(f.name for f in chosen)
            if layer is None:
                raise UploadError(f"{path.name} holds several datasets ({names}); choose one")
            raise UploadError(f"{path.name} has no dataset {layer!r}; it has {names}")
        target = member or chosen[0]
        # a layer that names no member is a layer (KML folder, sheet…) of the one inside
        inner = None if member is not None else layer
        data = read_file(target, encoding=encoding, layer=inner, limits=limits)
        data.frame = data.frame.copy()  # detached from the temporary files
        data.notes.insert(0, f"read {target.name} from {path.name}")
        data.source = path
        return data


def _finish(data: RawData) -> RawData:
    """What every reader shares: NULs removed, each change named. (Coordinates that are
    not numbers are left as read: the importer's geometry fit names those rows.)"""
    data.frame, cells = clean_nul(data.frame)
    if cells:
        data.cell_problems(
            cells, "held NUL characters (removed at the end, shown as � inside the text)"
        )
    return data


def _dispatch(path: Path, encoding: str | None, layer: str | None, limits: Limits) -> RawData:
    suffix = path.suffix.lower()
    if suffix == ".shp":
        return _read_shapefile(path, encoding)
    if suffix in (".tab", ".mif"):
        return _read_mapinfo(path, encoding)
    if suffix in (".geojson", ".json"):
        return _read_geojson(path, encoding)
    if suffix in TABLE_SUFFIXES:
        return _read_csv(path, encoding)
    if suffix in SHEET_SUFFIXES:
        return _read_sheet(path, layer, limits)
    if suffix == ".kml":
        return _read_kml(path, layer, encoding)
    if suffix in _PICK_ONE:
        return _read_layered(path, layer, encoding)
    if suffix == ".fgb":
        return _read_vector(path, None, encoding)
    if suffix == ".xls":
        raise UploadError(
            f"{path.name} is an old-style Excel file (.xls); save it as .xlsx or .csv first"
        )
    if suffix in RASTER_SUFFIXES:
        raise UploadError(f"{path.name} is a raster: import it into a raster layer such as the DEM")
    if suffix in SHAPEFILE_PARTS:
        raise UploadError(
            f"{path.name} is one part of a Shapefile: its .shp is missing — choose the .shp "
            "with its .dbf, .shx and .prj together, or a zip of them"
        )
    raise UploadError(
        f"{path.name}: files of type '{suffix or '(none)'}' are not supported; use {FORMATS}"
    )


#: the side files of a Shapefile: alone, they are a Shapefile without its .shp
SHAPEFILE_PARTS = {".dbf", ".shx", ".prj", ".cpg", ".sbn", ".sbx", ".qix", ".qmd"}


def read_file(
    path: str | Path,
    *,
    encoding: str | None = None,
    layer: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> RawData:
    """Read any supported file; raises ``UploadError`` with one line on any problem.

    ``layer`` names a GeoPackage/GPX/OSM/GML layer, a KML folder, a sheet or a zip member;
    for a KML, None (or ``ALL_LAYERS``) reads every folder together. ``encoding`` applies
    to Shapefiles, MapInfo and CSV; other formats declare their own.
    """
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
    if path.suffix.lower() in ARCHIVE_SUFFIXES:
        return _from_archive(path, encoding, layer, limits)
    return _finish(_dispatch(path, encoding, layer, limits))
