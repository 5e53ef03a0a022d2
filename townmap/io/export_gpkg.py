"""GeoPackage exports: version 1.2, with the catalog style in ``layer_styles``.

Version 1.2 opens without a warning in QGIS 3.22 / GDAL 3.6 (Debian 12); GDAL ≥ 3.10
writes 1.4 by default, which older GDAL only partly supports, so the version is set and
checked after writing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from townmap.catalog import LayerSpec
from townmap.errors import UploadError
from townmap.io.export_crs import description
from townmap.io.gdal_messages import gdal_messages, judge
from townmap.io.qgis_style import write_layer_styles

#: GeoPackage version written: 1.2 opens without warnings in GDAL 3.6 / QGIS 3.22
#: (Debian 12); GDAL ≥ 3.10 writes 1.4 by default, which older GDAL only partly supports
GPKG_VERSION = "1.2"
GPKG_USER_VERSION = 10200
GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"


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


def gpkg(
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
            layer_options=description(described),
        )
    notes.extend(judge(messages, f"the GeoPackage {path.name}"))
    if spec is not None and isinstance(frame, gpd.GeoDataFrame):
        write_layer_styles(path, {name: spec})
    check_gpkg_version(path)
