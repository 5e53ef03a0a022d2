"""``townmap workspace copy SRC DST``: a whole workspace moved between back ends
(GeoPackage folder ⇄ PostGIS schema) — every layer, table, raster, Townmap's own records
(import log, undo copies, users), the metadata and the layer register, unchanged.

The source is read under its write lock (a consistent snapshot). The destination is built
aside (``store.staged``: a staging folder or schema) and swapped in only when complete, so
a failed copy — a full disk included — leaves nothing half-written behind.
"""

from __future__ import annotations

from pathlib import Path

from townmap.errors import WorkspaceError
from townmap.store import folders, open_workspace, staged, workspace_exists
from townmap.store.locations import is_postgis, redact
from townmap.store.transfer import fill, metadata_of


def copy_workspace(source, destination, *, force: bool = False):
    """Copy the workspace at ``source`` to ``destination`` (a folder or a PostGIS URL)."""
    src = open_workspace(source)
    if str(source) == str(destination):
        raise WorkspaceError("source and destination are the same workspace")
    if workspace_exists(destination) and not force:
        raise WorkspaceError(
            f"a workspace already exists at {redact(destination)}; use --force to replace it"
        )
    meta = metadata_of(src)
    if is_postgis(destination):
        with staged(str(destination), src.crs, meta, kind="copy", check_crs=False) as dst:
            fill(src, dst)
        return open_workspace(str(destination))
    target = Path(destination)
    needed = _size(src)
    folders.require_space(target, needed)
    with staged(target, src.crs, meta, kind="copy", needed=needed, check_crs=False) as dst:
        fill(src, dst)
    return open_workspace(target)


def _size(src) -> int:
    """Roughly what a copy of ``src`` takes on disk (its files, or its tables' size)."""
    return src.size_on_disk()
