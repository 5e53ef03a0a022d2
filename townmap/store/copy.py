"""``townmap workspace copy SRC DST``: a whole workspace moved between back ends
(GeoPackage folder ⇄ PostGIS schema) — every layer, table, raster, Townmap's own records
(import log, undo copies, users), the metadata and the layer register, unchanged.

The source is read under its write lock (a consistent snapshot). The destination is built
aside (``store.staged``: a staging folder or schema) and swapped in only when complete, so
a failed copy — a full disk included — leaves nothing half-written behind.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import pandas as pd

from townmap.errors import WorkspaceError
from townmap.store import folders, open_workspace, staged, workspace_exists
from townmap.store.base import OWN_TABLES
from townmap.store.postgis import is_postgis, redact


def copy_workspace(source, destination, *, force: bool = False):
    """Copy the workspace at ``source`` to ``destination`` (a folder or a PostGIS URL)."""
    src = open_workspace(source)
    if str(source) == str(destination):
        raise WorkspaceError("source and destination are the same workspace")
    if workspace_exists(destination) and not force:
        raise WorkspaceError(
            f"a workspace already exists at {redact(destination)}; use --force to replace it"
        )
    meta = {k: v for k, v in src.metadata().items() if k != "crs"}
    if is_postgis(destination):
        with staged(str(destination), src.crs, meta, kind="copy") as dst:
            _fill(src, dst)
        return open_workspace(str(destination))
    target = Path(destination)
    needed = _size(src)
    folders.require_space(target, needed)
    with staged(target, src.crs, meta, kind="copy", needed=needed) as dst:
        _fill(src, dst)
    return open_workspace(target)


def _size(src) -> int:
    """Roughly what a copy of ``src`` takes on disk (its files, or its tables' size)."""
    if hasattr(src, "database_size"):
        return src.database_size()
    return folders.size_of(Path(src.location))


def _fill(src, dst) -> None:
    """Everything of ``src`` into the empty workspace ``dst``, in one transaction."""
    with src.locked():
        frames = {name: src.read_layer(name) for name in src.stored_names()}
        rasters = {name: src.raster_path(name) for name in src.raster_names()}
        register = src.layer_register()
    with dst.transaction("copy") as tx:
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
