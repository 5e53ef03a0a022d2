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

The parts live beside this module, one concern each: ``gdal_messages`` (GDAL's
warnings), ``export_crs``, ``export_tables`` (CSV, XLSX), ``export_shapefile``,
``export_kml`` and ``export_gpkg``. This module is the door: the format tables,
``export_layer`` and ``export_frame``, and every name callers import from it.
"""

from __future__ import annotations

import math
import shutil
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
from pyproj import CRS

from townmap.catalog import LayerSpec
from townmap.errors import UploadError
from townmap.io.export_crs import (
    COORD_FIELD,
    CRS_CHOICES,
    LONLAT,
    WEB_DATUMS,
    WEB_MAPS,
    WGS84_ONLY,
    ExportCRS,
    description,
    export_crs,
    reproject,
    resolve_crs,
)
from townmap.io.export_gpkg import (
    GPKG_APPLICATION_ID,
    GPKG_USER_VERSION,
    GPKG_VERSION,
    check_gpkg_version,
    gpkg,
    gpkg_version,
)
from townmap.io.export_kml import kml
from townmap.io.export_shapefile import (
    ENCODINGS,
    SHAPEFILE_MAX_NAME,
    SHAPEFILE_MAX_TEXT,
    check_shapefile_text,
    shapefile,
)
from townmap.io.export_tables import (
    FORMULA_START,
    XLSX_MAX_CELL,
    XLSX_MAX_ROWS,
    export_sheets,
    flat,
    guard_formulas,
    xlsx,
)
from townmap.io.gdal_messages import LISTED, gdal_messages, judge
from townmap.store import Workspace
from townmap.store.folders import temp_folder

#: everything importable from here before the parts moved out, so no caller breaks
__all__ = [
    "COORD_FIELD",
    "CRS_CHOICES",
    "ENCODINGS",
    "FORMATS",
    "FORMAT_LABELS",
    "FORMULA_START",
    "GPKG_APPLICATION_ID",
    "GPKG_USER_VERSION",
    "GPKG_VERSION",
    "LISTED",
    "LONLAT",
    "MIME",
    "RASTER_FORMATS",
    "SHAPEFILE_MAX_NAME",
    "SHAPEFILE_MAX_TEXT",
    "VECTOR_ONLY",
    "WEB_DATUMS",
    "WEB_MAPS",
    "WGS84_ONLY",
    "XLSX_MAX_CELL",
    "XLSX_MAX_ROWS",
    "ExportCRS",
    "Exported",
    "check_gpkg_version",
    "check_shapefile_text",
    "export_crs",
    "export_frame",
    "export_layer",
    "export_sheets",
    "gdal_messages",
    "gpkg_version",
    "guard_formulas",
    "judge",
]

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
    frame, notes = reproject(frame, resolve_crs(suffix, frame, chosen))
    described = list(notes)  # what the file itself says about its coordinates
    if encoding != "utf-8" and suffix not in (".shp", ".zip"):
        notes.append(f"the {encoding.upper()} encoding is for Shapefiles: {suffix} is UTF-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    with temp_folder(".townmap-export-", out.parent) as staging:
        target = staging / out.name
        if suffix == ".csv":
            guard_formulas(flat(frame, None)).to_csv(target, index=False, encoding="utf-8-sig")
        elif suffix == ".xlsx":
            xlsx(frame, target, name, None)
        elif suffix == ".kml":
            kml(frame, target, name, spec, lang, described)
        elif suffix in (".geojson", ".fgb"):
            options = description(described)
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
            gpkg(frame, target, name, spec, described, notes)
        elif suffix == ".shp":
            for part in shapefile(frame, target, encoding, name, spec, notes):
                shutil.move(part, out.parent / part.name)
            return Exported.of(out, notes)
        else:  # .zip of a Shapefile
            parts = shapefile(frame, staging / f"{out.stem}.shp", encoding, name, spec, notes)
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
