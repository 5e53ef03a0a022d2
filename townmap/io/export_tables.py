"""Tables and sheets: layers and results as CSV or Excel, as spreadsheets show them.

CSV and XLSX give points lon/lat columns, other geometries WKT; formula-like text stays
text (CSV injection): ``guard_formulas`` for CSV, text cells for XLSX. A table Excel
cannot hold (too many rows, a cell too long) is refused rather than silently cut.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from pyproj import CRS

from townmap.crs import DISPLAY_CRS
from townmap.errors import UploadError
from townmap.store.folders import temp_folder

#: Excel's own limits; beyond them a sheet is silently cut, so we refuse instead
XLSX_MAX_ROWS = 1_048_575
XLSX_MAX_CELL = 32_767


def flat(frame: pd.DataFrame, crs: CRS | None = DISPLAY_CRS) -> pd.DataFrame:
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


def xlsx(frame: pd.DataFrame, path: Path, sheet: str, crs: CRS | None = DISPLAY_CRS) -> None:
    _xlsx_sheets({sheet: frame}, path, crs)


def _xlsx_sheets(
    frames: dict[str, pd.DataFrame], path: Path, crs: CRS | None = DISPLAY_CRS
) -> None:
    """One sheet per frame; refused rather than cut when Excel cannot hold it."""
    book = Workbook(write_only=True)
    for sheet, frame in frames.items():
        table = flat(frame, crs)
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
