"""Giving layers back in the formats consultants use.

GeoPackage and Shapefile keep the workspace CRS (metric CGCS2000); GeoJSON and KML are
written in WGS 84 as their specifications expect. Shapefiles are UTF-8 with a ``.cpg``
by default, or GBK on request for older Chinese desktop software. CSV is UTF-8 with a
byte-order mark so Excel shows Chinese correctly; CSV and XLSX give points lon/lat
columns, other geometries WKT, and formula-like text stays text (CSV injection). Files
are written aside and moved into place, so a failed export leaves no half-written file.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from townmap.crs import DISPLAY_CRS
from townmap.errors import UploadError
from townmap.store import Workspace
from townmap.store.folders import temp_folder

FORMATS = {
    ".gpkg": "GPKG",
    ".geojson": "GeoJSON",
    ".shp": "ESRI Shapefile",
    ".zip": "zip",
    ".kml": "KML",
    ".csv": "CSV",
    ".xlsx": "XLSX",
}
ENCODINGS = {"utf-8": "UTF-8", "gbk": "GBK"}
#: how the app names each format, and what it sends it as
FORMAT_LABELS = {
    ".gpkg": "GeoPackage (.gpkg)",
    ".zip": "Shapefile (.zip)",
    ".geojson": "GeoJSON (WGS 84)",
    ".kml": "KML (WGS 84)",
    ".csv": "CSV (UTF-8)",
    ".xlsx": "Excel (.xlsx)",
}
MIME = {
    ".gpkg": "application/geopackage+sqlite3",
    ".zip": "application/zip",
    ".geojson": "application/geo+json",
    ".kml": "application/vnd.google-earth.kml+xml",
    ".csv": "text/csv",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


#: Excel's own limits; beyond them a sheet is silently cut, so we refuse instead
XLSX_MAX_ROWS = 1_048_575
XLSX_MAX_CELL = 32_767


def _flat(frame: pd.DataFrame) -> pd.DataFrame:
    """A plain table: points as lon/lat (WGS 84) columns, other geometries as WKT."""
    if not isinstance(frame, gpd.GeoDataFrame):
        return frame
    shown = frame.to_crs(DISPLAY_CRS)
    table = pd.DataFrame(shown.drop(columns=shown.geometry.name))
    if (shown.geom_type == "Point").all():
        table["lon"], table["lat"] = shown.geometry.x.round(7), shown.geometry.y.round(7)
    else:
        table["wkt"] = shown.geometry.to_wkt(rounding_precision=7)
    return table


def _xlsx(frame: pd.DataFrame, path: Path, sheet: str) -> None:
    _xlsx_sheets({sheet: frame}, path)


def _xlsx_sheets(frames: dict[str, pd.DataFrame], path: Path) -> None:
    """One sheet per frame; refused rather than cut when Excel cannot hold it."""
    book = Workbook(write_only=True)
    for sheet, frame in frames.items():
        table = _flat(frame)
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


def _shapefile(frame: gpd.GeoDataFrame, path: Path, encoding: str) -> list[Path]:
    pyogrio.write_dataframe(frame, path, driver="ESRI Shapefile", encoding=ENCODINGS[encoding])
    return sorted(path.parent.glob(path.stem + ".*"))


def export_layer(ws: Workspace, layer_id: str, out: str | Path, *, encoding: str = "utf-8") -> Path:
    """Write one workspace layer or table to ``out``; the suffix chooses the format."""
    from townmap.auth.access import require

    require(ws, "export")
    if not ws.has_layer(layer_id):
        raise UploadError(f"the workspace has no layer {layer_id!r}")
    info = ws.layer_info(layer_id)
    if info.geometry_type == "raster":
        raise UploadError(f"{layer_id} is a raster: copy {ws.raster_path(layer_id)} instead")
    _check_target(out, encoding)
    frame = ws.read_layer(layer_id) if info.geometry_type else ws.read_table(layer_id)
    return export_frame(frame, out, layer_id, encoding=encoding)


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
    frame: pd.DataFrame, out: str | Path, name: str, *, encoding: str = "utf-8"
) -> Path:
    """Write a layer, table or analysis result (e.g. conflict findings) to ``out``."""
    out = Path(out)
    _check_target(out, encoding)
    suffix = out.suffix.lower()
    encoding = encoding.lower()
    is_vector = isinstance(frame, gpd.GeoDataFrame)
    if suffix in (".shp", ".zip", ".kml", ".geojson") and not is_vector:
        raise UploadError(f"{name} is a table without geometry: export it as .csv, .xlsx or .gpkg")
    out.parent.mkdir(parents=True, exist_ok=True)
    with temp_folder(".townmap-export-", out.parent) as staging:
        target = staging / out.name
        if suffix == ".csv":
            guard_formulas(_flat(frame)).to_csv(target, index=False, encoding="utf-8-sig")
        elif suffix == ".xlsx":
            _xlsx(frame, target, name)
        elif suffix in (".geojson", ".kml"):
            pyogrio.write_dataframe(frame.to_crs(DISPLAY_CRS), target, driver=FORMATS[suffix])
        elif suffix == ".gpkg":
            pyogrio.write_dataframe(frame, target, layer=name, driver="GPKG")
        elif suffix == ".shp":
            for part in _shapefile(frame, target, encoding):
                shutil.move(part, out.parent / part.name)
            return out
        else:  # .zip of a Shapefile
            parts = _shapefile(frame, staging / f"{out.stem}.shp", encoding)
            with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
                for part in parts:
                    zf.write(part, part.name)
        shutil.move(target, out)
        return out
