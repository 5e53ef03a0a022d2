"""Moving a whole workspace's content into another, through the interface only: every
layer, table, raster, Townmap's own records and the layer register, read under the
source's lock (a consistent snapshot) and written in one transaction of the destination."""

from __future__ import annotations

import shutil

import geopandas as gpd
import pandas as pd

from townmap.store.base import OWN_TABLES


def metadata_of(src) -> dict[str, str]:
    """The metadata a copy starts with (its CRS is given when it is created)."""
    return {k: v for k, v in src.metadata().items() if k != "crs"}


def fill(src, dst) -> None:
    """Everything of ``src`` into the empty workspace ``dst``."""
    with src.locked():
        frames = {name: src.read_layer(name) for name in src.stored_names()}
        rasters = {name: src.raster_path(name) for name in src.raster_names()}
        register = src.layer_register()
        with dst.transaction("copy") as tx:  # rasters copied while the source is locked
            for name, frame in frames.items():
                if name in OWN_TABLES:
                    tx.write_internal_table(name, frame)
                elif isinstance(frame, gpd.GeoDataFrame):
                    tx.write_layer(name, frame)
                else:
                    tx.write_table(name, pd.DataFrame(frame))
            for name, path in rasters.items():
                tx.write_raster(name, lambda out, path=path: shutil.copyfile(path, out))
            tx.keep_register(register)
