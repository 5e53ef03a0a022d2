"""The workspace store: the one door every read and write of a town's data goes through.

Design (the living version; ``README.md`` → Architecture points here):

**Interface.** ``townmap.store.interface`` declares ``Workspace`` and ``Transaction`` as
typing protocols. Two adapters implement exactly them: a GeoPackage folder
(``store.gpkg``, the default; the file opens in QGIS) and a PostGIS schema
(``store.postgis``, for a bureau serving many users). Code outside ``townmap.store``
opens a workspace with ``open_workspace`` and never names an adapter, a driver or a
private name; a capability one back end lacks is asked for (``ws.pair_finder()`` is
``None`` on a GeoPackage).

**Writes.** ``with ws.transaction(action, layer=…) as tx:`` — the only way to write.
The door takes the workspace's write lock (a lock file / a PostgreSQL advisory lock),
then checks that ``ws.actor`` (``Actor(user, role)``, bound with ``ws.as_actor``) may do
``action``: on a workspace with users, with the role the users table gives that user
*under the lock* (a session signed in before its user was removed or demoted gets no
more); the command line is a trusted shell actor. Inside, ``tx.read_table`` /
``tx.read_layer`` see what was committed when the lock was taken plus the transaction's
own writes, so a read-modify-write cannot lose another writer's update. The change log's
``user`` is ``tx.actor.user``.

**Guarantees.** GeoPackage: copy-on-write of the file; at commit a journal names what
becomes visible (written rasters, the new file, deleted rasters), then the renames run.
A writer killed before the journal changed nothing; one killed after it is rolled
forward by the next lock holder — all or none, rasters included. The lock is taken on
the lock file that is in the folder at that moment (a restore that swapped the folder
cannot leave a writer working unlocked). PostGIS: one database transaction per write;
the server rolls back a killed client. Both: writers are serialised per workspace;
readers never wait.

**Litter.** What a writer makes beside its output carries its process id and machine
(``store.folders``); the next open, or the next run of the same kind, removes what a
dead writer left — inside a workspace only while it can take the lock at once — and
nothing of it is ever listed as data or backed up. A writer on another machine is never
taken for dead.

**Disk full.** A write or copy that runs out of space ends in one line ("the disk is
full: N MB needed, M free"), with its partial output removed and the workspace as it was.

**Not goals.** A GeoPackage workspace on a network file system (its locks are not to be
trusted there: use PostGIS for shared use); concurrent writers do not run in parallel
(one at a time per workspace);
no row-level merging beyond what a writer does under the lock (register edits detect
stale edits themselves); no cross-workspace transactions; no schema-less layers.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from pyproj import CRS

from townmap.catalog import Catalog
from townmap.errors import WorkspaceError
from townmap.store import folders
from townmap.store.base import (
    GPKG_NAME,
    IMPORT_LOG,
    INTERNAL_PREFIX,
    OWN_TABLES,
    RASTER_DIR,
    require_metric,
)
from townmap.store.interface import NOBODY, Actor, FolderSnapshot, LayerInfo, Transaction, Workspace
from townmap.store.locations import is_postgis, redact

FULL_DISK = "the disk is full"

__all__ = [
    "GPKG_NAME",
    "IMPORT_LOG",
    "INTERNAL_PREFIX",
    "NOBODY",
    "OWN_TABLES",
    "RASTER_DIR",
    "Actor",
    "FolderSnapshot",
    "LayerInfo",
    "Transaction",
    "Workspace",
    "create_workspace",
    "is_postgis",
    "open_workspace",
    "redact",
    "require_metric",
    "staged",
    "workspace_exists",
]


def open_workspace(
    location: str | Path, catalog: Catalog | None = None, actor: Actor = NOBODY
) -> Workspace:
    """The workspace at ``location``: a folder (GeoPackage) or a ``postgresql://`` URL."""
    if is_postgis(location):
        from townmap.store.postgis import PostgisWorkspace

        return PostgisWorkspace(str(location), catalog=catalog, actor=actor)
    from townmap.store.gpkg import GeoPackageWorkspace

    return GeoPackageWorkspace(location, catalog=catalog, actor=actor)


def create_workspace(
    location: str | Path,
    crs: CRS | str | int,
    metadata: dict[str, str] | None = None,
    catalog: Catalog | None = None,
) -> Workspace:
    """Create an empty workspace of the kind ``location`` names (in a metric CRS)."""
    if is_postgis(location):
        from townmap.store.postgis import PostgisWorkspace

        return PostgisWorkspace.create(str(location), crs, metadata, catalog=catalog)
    from townmap.store.gpkg import GeoPackageWorkspace

    return GeoPackageWorkspace.create(location, crs, metadata, catalog=catalog)


def workspace_exists(location: str | Path) -> bool:
    """Whether a workspace can be opened at ``location`` (no error shown)."""
    if not is_postgis(location):
        folder = Path(location)
        return (folder / GPKG_NAME).is_file() or folders.recover(folder, GPKG_NAME)
    try:
        open_workspace(location)
    except WorkspaceError:
        return False
    return True


@contextlib.contextmanager
def staged(
    location: str | Path,
    crs: CRS | str | int,
    metadata: dict[str, str] | None = None,
    catalog: Catalog | None = None,
    *,
    kind: str = "build",
    needed: int = 0,
    check_crs: bool = True,
) -> Iterator[Workspace]:
    """A new, empty workspace built aside and put at ``location`` (replacing what is
    there) only when the block ends without an error; otherwise it is removed and
    ``location`` is as it was. Used by the demo builder, copies and restores. A full disk
    ends in one line naming ``needed`` bytes (or what was written when it filled)."""
    if is_postgis(location):
        from townmap.store.postgis import staged_schema

        with staged_schema(str(location), crs, metadata, catalog, check_crs=check_crs) as ws:
            yield ws
        return
    target = Path(location)
    staging = folders.staging_folder(target, kind)
    try:
        from townmap.store.gpkg import GeoPackageWorkspace

        ws = GeoPackageWorkspace.create(staging, crs, metadata, catalog, check_crs=check_crs)
        yield ws
        staging.chmod(0o755)
        install_folder(staging, target)
    except Exception as exc:
        if FULL_DISK in str(exc) or not folders.is_disk_full(exc, staging):
            raise
        needed = max(needed, folders.size_of(staging))
        raise folders.disk_full_error(target.parent, needed) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def install_folder(staging: Path, target: Path) -> None:
    """Swap a finished workspace folder in at ``target``, under the lock of the one it
    replaces (no writer commits into a folder being replaced)."""
    if (target / GPKG_NAME).is_file():
        with open_workspace(target).locked():
            folders.swap_in(staging, target)
    else:
        folders.swap_in(staging, target)
