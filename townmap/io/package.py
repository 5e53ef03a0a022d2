"""The whole workspace as one GeoPackage that opens styled in QGIS.

Every layer and table (Townmap's own records included, so the fictional flag and the
import log travel with the data), the rasters as GeoPackage raster tables (Float32
tiles, the GeoPackage tiled-gridded-coverage encoding GDAL writes with
``TILE_FORMAT=TIFF``), and a ``layer_styles`` table with one default QGIS style per
catalogued vector layer (own layers included). Written aside and moved into place.

Nothing silently changed: the DEM keeps its no-data value (GDAL's GeoPackage driver
drops the one given at creation, so it is written into the coverage's ``data_null``,
where QGIS and GDAL read it, and checked by reading it back); the file is GeoPackage 1.2
(the workspace copy's header is set back from GDAL 3.10's default 1.4 when it uses
nothing newer), which QGIS 3.22 / GDAL 3.6 open without a warning; GDAL warnings that
mean data changed stop the export.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import rasterio

from townmap.catalog import Catalog
from townmap.errors import UploadError
from townmap.io.export import (
    GPKG_USER_VERSION,
    Exported,
    check_gpkg_version,
    gdal_messages,
    judge,
)
from townmap.io.gpkg_file import drop_gpkg_table
from townmap.io.qgis_style import STYLES_TABLE as STYLES_TABLE
from townmap.io.qgis_style import write_layer_styles
from townmap.store import GPKG_NAME, INTERNAL_PREFIX, OWN_TABLES, Workspace, folders

#: kept only for undo inside the workspace; not part of what is handed over
_LEFT_OUT = f"{INTERNAL_PREFIX}prev_"


#: GeoPackage extensions a version 1.2 reader knows (GDAL writes no others for a workspace)
_KNOWN_TO_1_2 = {
    "gpkg_rtree_index",
    "gpkg_crs_wkt",
    "gpkg_2d_gridded_coverage",
    "gpkg_metadata",
    "gpkg_schema",
    "gpkg_geom_CIRCULARSTRING",
}


def as_gpkg_1_2(gpkg: Path) -> None:
    """Mark a GDAL-written GeoPackage as version 1.2 if it uses nothing a 1.2 reader lacks
    (a 1.4 file from GDAL ≥ 3.10 differs only in its header unless it stores coordinate
    epochs: the ``gpkg_crs_wkt_1_1`` extension); otherwise refuse, naming what it uses."""
    con = sqlite3.connect(gpkg)
    try:
        if con.execute("pragma user_version").fetchone()[0] <= GPKG_USER_VERSION:
            return
        used = {r[0] for r in con.execute("select extension_name from gpkg_extensions")}
        newer = sorted(used - _KNOWN_TO_1_2)
        if newer:
            raise UploadError(
                f"the workspace uses GeoPackage extensions newer than version 1.2 "
                f"({', '.join(newer)}); nothing was written"
            )
        con.execute(f"pragma user_version = {GPKG_USER_VERSION}")
    finally:
        con.close()


def _add_raster(gpkg: Path, name: str, tif: Path) -> list[str]:
    """The raster as a Float32 gridded coverage, with its no-data value; returns GDAL's
    notes."""
    with rasterio.open(tif) as src:
        nodata = src.nodata
        profile = {
            "driver": "GPKG",
            "dtype": "float32",
            "count": 1,
            "crs": src.crs,
            "transform": src.transform,
            "width": src.width,
            "height": src.height,
            "nodata": nodata,
        }
        data = src.read(1)
    if nodata is not None and not np.isnan(nodata) and np.float32(nodata) != nodata:
        raise UploadError(f"{name}'s no-data value {nodata} does not fit in Float32 tiles")
    if np.issubdtype(data.dtype, np.floating) and np.finfo(data.dtype).bits > 32:
        big = np.abs(data[np.isfinite(data)]).max(initial=0)
        if big > np.finfo(np.float32).max:
            raise UploadError(f"{name} holds values too large for Float32 tiles")
    with (
        gdal_messages() as messages,
        rasterio.open(
            gpkg, "w", RASTER_TABLE=name, APPEND_SUBDATASET="YES", TILE_FORMAT="TIFF", **profile
        ) as dst,
    ):
        dst.write(data.astype("float32"), 1)
    notes = judge(messages, f"the raster {name}")
    if nodata is not None and not np.isnan(nodata):
        con = sqlite3.connect(gpkg)
        try:
            with con:
                con.execute(
                    "update gpkg_2d_gridded_coverage_ancillary set data_null = ? "
                    "where tile_matrix_set_name = ?",
                    (float(nodata), name),
                )
        finally:
            con.close()
    with rasterio.open(gpkg, table=name) as back:
        kept = back.nodata if nodata is None or not np.isnan(nodata) else nodata
        if kept != nodata and not (kept is not None and np.isnan(kept) and np.isnan(nodata)):
            raise UploadError(f"the raster {name} lost its no-data value {nodata}")
    return notes


def _add_styles(gpkg: Path, catalog: Catalog) -> int:
    return write_layer_styles(gpkg, catalog.layers)


def export_workspace(ws: Workspace, out: str | Path, catalog: Catalog) -> Exported:
    """Write the whole workspace to ``out`` (a ``.gpkg``) with QGIS styles, from a
    consistent snapshot of either back end."""
    from townmap.auth.access import require
    from townmap.own_layers import workspace_catalog

    require(ws, "export")
    out = Path(out)
    if out.suffix.lower() != ".gpkg":
        raise UploadError(
            f"the whole workspace is exported as a GeoPackage (.gpkg), not {out.name}"
        )
    if out.resolve() == (Path(str(ws.location)) / GPKG_NAME).resolve():
        raise UploadError("choose another file: that is the workspace itself")
    catalog = workspace_catalog(ws, catalog)
    notes: list[str] = []
    out.parent.mkdir(parents=True, exist_ok=True)
    with folders.temp_folder(".townmap-export-", out.parent) as staging:
        snap = ws.snapshot(staging / "snapshot")
        target = staging / out.name
        shutil.move(snap.gpkg, target)
        con = sqlite3.connect(target)
        try:
            names = [r[0] for r in con.execute("select table_name from gpkg_contents")]
        finally:
            con.close()
        for name in names:
            if name.startswith(_LEFT_OUT) or name in OWN_TABLES:  # undo copies, secrets
                drop_gpkg_table(target, name)
        as_gpkg_1_2(target)
        for tif in snap.rasters:
            if not tif.stem.startswith(INTERNAL_PREFIX):
                notes.extend(_add_raster(target, tif.stem, tif))
        _add_styles(target, catalog)
        check_gpkg_version(target)
        shutil.move(target, out)
        return Exported.of(out, notes)
