"""The whole workspace as one GeoPackage that opens styled in QGIS.

Every layer and table (Townmap's own records included, so the fictional flag and the
import log travel with the data), the rasters as GeoPackage raster tables (Float32
tiles, the GeoPackage tiled-gridded-coverage encoding GDAL writes with
``TILE_FORMAT=TIFF``), and a ``layer_styles`` table with one default QGIS style per
catalogued vector layer. Written aside and moved into place.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import rasterio

from townmap.catalog import Catalog
from townmap.errors import UploadError
from townmap.io.gpkg_file import drop_gpkg_table
from townmap.io.qgis_style import layer_qml
from townmap.store import GPKG_NAME, INTERNAL_PREFIX, OWN_TABLES, Workspace, folders

STYLES_TABLE = "layer_styles"
_CREATE_STYLES = f"""
CREATE TABLE "{STYLES_TABLE}" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "f_table_catalog" TEXT(256),
    "f_table_schema" TEXT(256),
    "f_table_name" TEXT(256),
    "f_geometry_column" TEXT(256),
    "styleName" TEXT(30),
    "styleQML" TEXT,
    "styleSLD" TEXT,
    "useAsDefault" BOOLEAN,
    "description" TEXT,
    "owner" TEXT(30),
    "ui" TEXT(30),
    "update_time" DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
)"""
#: kept only for undo inside the workspace; not part of what is handed over
_LEFT_OUT = f"{INTERNAL_PREFIX}prev_"


def _add_raster(gpkg: Path, name: str, tif: Path) -> None:
    with rasterio.open(tif) as src:
        profile = {
            "driver": "GPKG",
            "dtype": "float32",
            "count": 1,
            "crs": src.crs,
            "transform": src.transform,
            "width": src.width,
            "height": src.height,
            "nodata": src.nodata,
        }
        data = src.read(1).astype("float32")
    with rasterio.open(
        gpkg, "w", RASTER_TABLE=name, APPEND_SUBDATASET="YES", TILE_FORMAT="TIFF", **profile
    ) as dst:
        dst.write(data, 1)


def _add_styles(gpkg: Path, catalog: Catalog) -> int:
    con = sqlite3.connect(gpkg)
    try:
        with con:
            geometry_columns = dict(
                con.execute("select table_name, column_name from gpkg_geometry_columns")
            )
            con.execute(_CREATE_STYLES)
            con.execute(
                "insert into gpkg_contents (table_name, data_type, identifier, description) "
                "values (?, 'attributes', ?, 'QGIS layer styles')",
                (STYLES_TABLE, STYLES_TABLE),
            )
            rows = [
                (
                    table,
                    column,
                    spec.id,
                    layer_qml(spec),
                    f"{spec.label.zh} / {spec.label.en} (Townmap catalog)",
                )
                for table, column in geometry_columns.items()
                if (spec := catalog.layers.get(table)) is not None and spec.kind == "vector"
            ]
            con.executemany(
                f'insert into "{STYLES_TABLE}" (f_table_catalog, f_table_schema, f_table_name, '
                "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, "
                "owner, ui) values ('', '', ?, ?, ?, ?, '', 1, ?, 'townmap', '')",
                rows,
            )
        return len(rows)
    finally:
        con.close()


def export_workspace(ws: Workspace, out: str | Path, catalog: Catalog) -> Path:
    """Write the whole workspace to ``out`` (a ``.gpkg``) with QGIS styles, from a
    consistent snapshot of either back end."""
    from townmap.auth.access import require

    require(ws, "export")
    out = Path(out)
    if out.suffix.lower() != ".gpkg":
        raise UploadError(
            f"the whole workspace is exported as a GeoPackage (.gpkg), not {out.name}"
        )
    if out.resolve() == (Path(str(ws.location)) / GPKG_NAME).resolve():
        raise UploadError("choose another file: that is the workspace itself")
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
        for tif in snap.rasters:
            if not tif.stem.startswith(INTERNAL_PREFIX):
                _add_raster(target, tif.stem, tif)
        _add_styles(target, catalog)
        shutil.move(target, out)
        return out
