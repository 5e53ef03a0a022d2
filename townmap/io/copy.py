"""``townmap workspace copy SRC DST``: a whole workspace moved between back ends
(GeoPackage folder ⇄ PostGIS schema) — every layer, table, raster, Townmap's own records
(import log, undo copies, users), the metadata and the layer register, unchanged.

The source is read under its write lock (a consistent snapshot). The destination is built
aside (a staging folder or schema) and swapped in only when complete, so a failed copy
leaves nothing half-written behind.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

import geopandas as gpd
import pandas as pd

from townmap.errors import WorkspaceError
from townmap.workspace import (
    OWN_TABLES,
    create_workspace,
    open_workspace,
    swap_in,
    workspace_exists,
)
from townmap.workspace_pg import _connect, _lock_key, is_postgis, parse_location, redact


def copy_workspace(source, destination, *, force: bool = False):
    """Copy the workspace at ``source`` to ``destination`` (a folder or a PostGIS URL)."""
    src = open_workspace(source)
    if str(source) == str(destination):
        raise WorkspaceError("source and destination are the same workspace")
    if workspace_exists(destination) and not force:
        raise WorkspaceError(
            f"a workspace already exists at {redact(destination)}; use --force to replace it"
        )
    if is_postgis(destination):
        return _copy_to_postgis(src, str(destination))
    return _copy_to_folder(src, Path(destination))


def _fill(src, dst) -> None:
    """Everything of ``src`` into the empty workspace ``dst``, in one transaction."""
    with src.locked():
        frames = {name: src.read_layer(name) for name in src.stored_names()}
        rasters = {name: src.raster_path(name) for name in src.raster_names()}
        register = src.layer_register()
    with dst.transaction() as tx:
        for name, frame in frames.items():
            if name in OWN_TABLES:
                tx.write_internal_table(name, frame)
            elif isinstance(frame, gpd.GeoDataFrame):
                tx.write_layer(name, frame)
            else:
                tx.write_table(name, pd.DataFrame(frame))
        for name, path in rasters.items():
            tx.write_raster(name, lambda out, path=path: shutil.copyfile(path, out))
        tx._register = register.astype(str).reset_index(drop=True)


def _meta(src) -> dict[str, str]:
    return {k: v for k, v in src.metadata().items() if k != "crs"}


def _copy_to_folder(src, folder: Path):
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.copy-", dir=folder.parent))
    try:
        shutil.rmtree(staging)
        _fill(src, create_workspace(staging, src.crs, _meta(src)))
        swap_in(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return open_workspace(folder)


def _copy_to_postgis(src, location: str):
    conninfo, schema = parse_location(location)
    staging = f"{schema[:40]}_copy_{uuid.uuid4().hex[:8]}"
    staging_location = location.replace(f"schema={schema}", f"schema={staging}")
    if "schema=" not in location:
        joiner = "&" if "?" in location else "?"
        staging_location = f"{location}{joiner}schema={staging}"
    con = _connect(conninfo, location, autocommit=False)
    try:
        try:
            _fill(src, create_workspace(staging_location, src.crs, _meta(src)))
        except BaseException:
            con.execute(f'DROP SCHEMA IF EXISTS "{staging}" CASCADE')
            con.commit()
            raise
        con.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(schema),))
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        con.execute(f'ALTER SCHEMA "{staging}" RENAME TO "{schema}"')
        con.commit()
    finally:
        con.close()
    return open_workspace(location)
