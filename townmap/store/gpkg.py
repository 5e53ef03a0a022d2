"""The GeoPackage folder adapter: one folder holding ``workspace.gpkg`` (every vector
layer, table and the metadata; it opens in QGIS) and ``rasters/`` (GeoTIFFs).

Writes are transactional by copy-on-write: a transaction takes the folder's lock file,
works on a private copy of the GeoPackage, and only an ``os.replace`` at commit makes it
visible, so a failure at any point leaves the workspace byte for byte as it was. What a
killed writer leaves (its copy, its half-written rasters) carries its process id and is
removed by the next open that can take the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pyogrio.errors
from pyproj import CRS

from townmap.catalog import Catalog
from townmap.errors import WorkspaceError
from townmap.io.gpkg_file import drop_gpkg_table
from townmap.store import folders
from townmap.store.base import (
    GPKG_NAME,
    INTERNAL_PREFIX,
    LAYERS_TABLE,
    META_TABLE,
    RASTER_DIR,
    SYSTEM_TABLES,
    TransactionBase,
    WorkspaceBase,
    empty_register,
    full_register,
    now,
    require_metric,
)
from townmap.store.interface import NOBODY, Actor, FolderSnapshot, LayerInfo

_LOCK_NAME = ".townmap.lock"
#: what a commit is about to make visible, written just before it does (roll-forward)
_JOURNAL = ".townmap.commit.json"
_TX_GLOB = ".workspace.tx-*"
#: per GeoPackage: the file's identity and times, and the table revisions read for them
_REVISIONS: dict[Path, tuple[tuple, dict[str, str]]] = {}


def _raster_stems(folder: Path) -> list[str]:
    """Stored rasters: ``NAME.tif``, never a writer's hidden ``.NAME.tx-….tif``."""
    return sorted(p.stem for p in folder.glob("*.tif") if not p.name.startswith("."))


class GeoPackageWorkspace(WorkspaceBase):
    """An opened workspace folder. Reads are direct; writes go through ``transaction()``."""

    def __init__(
        self, folder: str | Path, catalog: Catalog | None = None, actor: Actor = NOBODY
    ) -> None:
        self.folder = Path(folder)
        self.location = str(self.folder)
        self.gpkg = self.folder / GPKG_NAME
        self.catalog = catalog
        self.actor = actor
        if not self.gpkg.is_file() and not folders.recover(self.folder, GPKG_NAME):
            raise WorkspaceError(
                f"no workspace at {self.folder} (expected {GPKG_NAME}); "
                "build the demo with 'townmap demo --out DIR' or create one"
            )
        try:
            meta = self.metadata()
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, KeyError) as exc:
            raise WorkspaceError(
                f"{self.gpkg} is not a Townmap workspace (unreadable or no metadata: {exc})"
            ) from None
        if "crs" not in meta:
            raise WorkspaceError(f"{self.gpkg} has no CRS in its metadata; it cannot be used")
        self.clean_litter()

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(
        cls,
        folder: str | Path,
        crs: CRS | str | int,
        metadata: dict[str, str] | None = None,
        catalog: Catalog | None = None,
        *,
        check_crs: bool = True,
    ) -> GeoPackageWorkspace:
        """Create an empty workspace; refuses to overwrite an existing one. A copy of an
        existing workspace keeps that one's CRS (``check_crs=False``)."""
        folder = Path(folder)
        gpkg = folder / GPKG_NAME
        if gpkg.exists():
            raise WorkspaceError(f"a workspace already exists at {folder}; choose another folder")
        crs = require_metric(crs) if check_crs else CRS.from_user_input(crs)
        folder.mkdir(parents=True, exist_ok=True)
        meta = {"crs": crs.to_wkt(), "created": now(), **(metadata or {})}
        tmp = folder / f".workspace.tx-{folders.tag()}.gpkg"
        try:
            _write_meta(tmp, meta)
            _write_register(tmp, empty_register())
            os.replace(tmp, gpkg)
        finally:
            tmp.unlink(missing_ok=True)
        return cls(folder, catalog=catalog)

    # ------------------------------------------------------------------ litter
    def clean_litter(self) -> list[Path]:
        """Remove what dead writers left in and beside the folder. Inside, only while the
        lock can be taken at once (then no writer is alive in here); never waits."""
        removed = folders.clean_siblings(self.folder)
        inside = [
            *self.folder.glob(_TX_GLOB),
            *self.folder.glob(f"{_JOURNAL}*"),
            *self.raster_folder.glob(".*.tx-*"),
        ]
        if not inside:
            return removed
        lock = self._acquire(wait=False)
        if lock is None:
            return removed  # a writer is at work: its files are not litter
        try:
            for path in self.folder.glob(_TX_GLOB):
                path.unlink(missing_ok=True)
                removed.append(path)
            for path in [*self.raster_folder.glob(".*.tx-*"), *self.folder.glob(f"{_JOURNAL}.*")]:
                path.unlink(missing_ok=True)
                removed.append(path)
        finally:
            _release(lock)
        return removed

    def _acquire(self, *, wait: bool = True):
        """The write lock, on the lock file that is *now* in the folder (a restore or a
        copy may have swapped the folder while this process waited on the old one's);
        a commit a killed writer had journalled is finished first."""
        path = self.folder / _LOCK_NAME
        while True:
            lock = open(path, "a+")  # noqa: SIM115 - held until _release
            try:
                fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                return None
            try:
                now = os.stat(path)
            except FileNotFoundError:
                now = None
            mine = os.fstat(lock.fileno())
            if now is not None and (now.st_ino, now.st_dev) == (mine.st_ino, mine.st_dev):
                break
            _release(lock)  # the folder was replaced: lock the one that is there now
        try:
            _finish_commit(self.folder)
        except BaseException:
            _release(lock)
            raise
        return lock

    # ------------------------------------------------------------------ reading
    @property
    def name(self) -> str:
        return self.folder.name

    def revision(self) -> int:
        """Changes with every committed change (a cache key for pages)."""
        return self.gpkg.stat().st_mtime_ns

    def metadata(self) -> dict[str, str]:
        return _read_meta(self.gpkg)

    def table_revisions(self) -> dict[str, str]:
        """Per layer, table and raster, a token that changes with every write of it —
        Townmap's own (the register's revision) and anyone else's (the GeoPackage's
        ``last_change``, which QGIS and GDAL keep; a raster file's modification time).
        Pages ask on every rerun: the answer is kept until the files change."""
        stat = self.gpkg.stat()
        rasters = tuple(
            (n, (self.raster_folder / f"{n}.tif").stat().st_mtime_ns) for n in self.raster_names()
        )
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size, rasters)
        known = _REVISIONS.get(self.gpkg)
        if known is not None and known[0] == key:
            return dict(known[1])
        tokens = self._read_revisions(rasters)
        if len(_REVISIONS) > 32:
            _REVISIONS.clear()
        _REVISIONS[self.gpkg] = (key, dict(tokens))
        return tokens

    def _read_revisions(self, rasters) -> dict[str, str]:
        tokens = super().table_revisions()
        con = sqlite3.connect(f"{self.gpkg.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = con.execute("select table_name, last_change from gpkg_contents").fetchall()
        finally:
            con.close()
        for name, changed in rows:
            if name not in SYSTEM_TABLES:
                tokens[name] = f"{tokens.get(name, '')}@{changed}"
        for name, changed in rasters:
            tokens[name] = f"{tokens.get(name, '')}@{changed}"
        return tokens

    def layer_register(self) -> pd.DataFrame:
        """One row per stored layer: kind, fictional flag, source, when written."""
        return full_register(pyogrio.read_dataframe(self.gpkg, layer=LAYERS_TABLE))

    def _tables(self) -> set[str]:
        return _tables(self.gpkg)

    def raster_names(self) -> list[str]:
        return _raster_stems(self.raster_folder)

    @property
    def raster_folder(self) -> Path:
        return self.folder / RASTER_DIR

    def raster_path(self, name: str) -> Path:
        if name not in self.raster_names():
            raise WorkspaceError(f"the workspace has no raster {name!r}")
        return self.raster_folder / f"{name}.tif"

    def read_layer(
        self,
        name: str,
        *,
        bbox: tuple[float, float, float, float] | None = None,
        columns: list[str] | None = None,
    ) -> gpd.GeoDataFrame:
        """A vector layer in the workspace CRS (``bbox`` in that CRS)."""
        self._check_table(name)
        return _read(self.gpkg, name, bbox=bbox, columns=columns)

    def read_table(self, name: str) -> pd.DataFrame:
        """A non-spatial table (e.g. monitoring samples)."""
        self._check_table(name)
        return pd.DataFrame(_read(self.gpkg, name))

    def read_internal_table(self, name: str) -> pd.DataFrame | None:
        """One of Townmap's own tables, or None when it was never written."""
        if name in SYSTEM_TABLES or name not in self._tables():
            return None
        return pd.DataFrame(pyogrio.read_dataframe(self.gpkg, layer=name))

    def layer_info(self, name: str) -> LayerInfo:
        if name in self.raster_names():
            return _raster_info(name, self.raster_path(name))
        self._check_table(name)
        info = pyogrio.read_info(self.gpkg, layer=name)
        return LayerInfo(name, int(info["features"]), info["crs"], info["geometry_type"])

    def size_on_disk(self) -> int:
        """Bytes the folder takes (what a copy of it needs, roughly)."""
        return folders.size_of(self.folder)

    def pair_finder(self):
        """No pushed-down joins here: the conflicts engine joins in memory."""
        return None

    # ------------------------------------------------------------------ writing
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the workspace's write lock (no writer can commit meanwhile)."""
        lock = self._acquire()
        try:
            yield
        finally:
            _release(lock)

    @contextlib.contextmanager
    def transaction(
        self, action: str = "edit", *, layer: str | None = None
    ) -> Iterator[GeoPackageTransaction]:
        """All writes inside the block land together at its end, or none do. The actor's
        right to ``action`` (on ``layer``) is checked once the lock is held."""
        with self.locked():
            tx = None
            try:
                tx = GeoPackageTransaction(self)
                tx._admit(action, layer)
                yield tx
                tx._commit()
            except Exception as exc:
                if folders.is_disk_full(exc, self.folder):
                    needed = tx.needed() if tx else folders.size_of(self.gpkg)
                    raise folders.disk_full_error(self.folder, needed) from None
                raise
            finally:
                if tx is not None:
                    tx._discard()

    def snapshot(self, folder: Path) -> FolderSnapshot:
        """A consistent copy (taken under the lock) in ``folder``, in this same format."""
        folder = Path(folder)
        (folder / RASTER_DIR).mkdir(parents=True, exist_ok=True)
        with self.locked():
            folders.require_space(folder, folders.size_of(self.gpkg) * 2)
            shutil.copy2(self.gpkg, folder / GPKG_NAME)
            rasters = []
            for name in self.raster_names():
                target = folder / RASTER_DIR / f"{name}.tif"
                shutil.copy2(self.raster_folder / f"{name}.tif", target)
                rasters.append(target)
        return FolderSnapshot(folder, folder / GPKG_NAME, rasters)


def _release(lock) -> None:
    try:
        fcntl.flock(lock, fcntl.LOCK_UN)
    finally:
        lock.close()


def _fsync(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _finish_commit(folder: Path) -> None:
    """Roll forward a commit whose writer died after writing its journal: everything it
    was to make visible is complete on disk, so finishing it is safe (and all-or-none)."""
    journal = folder / _JOURNAL
    if not journal.is_file():
        return
    plan = json.loads(journal.read_text(encoding="utf-8"))
    rasters = folder / RASTER_DIR
    for tmp, final in plan["rasters"].items():
        if (rasters / tmp).exists():
            os.replace(rasters / tmp, rasters / final)
    if (folder / plan["gpkg"]).exists():
        os.replace(folder / plan["gpkg"], folder / GPKG_NAME)
    for final in plan["delete"]:
        (rasters / final).unlink(missing_ok=True)
    journal.unlink()


def _raster_info(name: str, path: Path) -> LayerInfo:
    import rasterio

    with rasterio.open(path) as src:
        crs = f"EPSG:{src.crs.to_epsg()}" if src.crs and src.crs.to_epsg() else None
        return LayerInfo(name, src.width * src.height, crs, "raster")


def _tables(gpkg: Path) -> set[str]:
    return {str(n) for n, _ in pyogrio.list_layers(gpkg)} - SYSTEM_TABLES


def _read(gpkg: Path, name: str, **kwargs) -> gpd.GeoDataFrame:
    return pyogrio.read_dataframe(gpkg, layer=name, use_arrow=True, **kwargs)


def _read_meta(gpkg: Path) -> dict[str, str]:
    table = pyogrio.read_dataframe(gpkg, layer=META_TABLE)
    return dict(zip(table["key"].astype(str), table["value"].astype(str), strict=True))


def _write_meta(gpkg: Path, meta: dict[str, str]) -> None:
    table = pd.DataFrame({"key": list(meta), "value": [str(v) for v in meta.values()]})
    pyogrio.write_dataframe(table, gpkg, layer=META_TABLE, driver="GPKG")


def _write_register(gpkg: Path, table: pd.DataFrame) -> None:
    pyogrio.write_dataframe(full_register(table), gpkg, layer=LAYERS_TABLE, driver="GPKG")


class GeoPackageTransaction(TransactionBase):
    """Writes against a private copy; made visible only by ``transaction()``'s commit."""

    def __init__(self, workspace: GeoPackageWorkspace) -> None:
        self.ws = workspace
        self.actor = workspace.actor
        self._tag = folders.tag()
        self._tmp = workspace.folder / f".workspace.tx-{self._tag}.gpkg"
        self._rasters: dict[str, Path] = {}  # name -> written file, moved in at commit
        self._deleted: set[str] = set()
        self._written = 0
        folders.require_space(workspace.folder, folders.size_of(workspace.gpkg))
        try:
            shutil.copy2(workspace.gpkg, self._tmp)
        except BaseException:
            self._tmp.unlink(missing_ok=True)
            raise
        stat = os.stat(self._tmp)
        self._identity = (stat.st_ino, stat.st_dev)
        self._meta = _read_meta(self._tmp)
        self._crs = CRS.from_wkt(self._meta["crs"])
        self._register = full_register(pyogrio.read_dataframe(self._tmp, layer=LAYERS_TABLE))
        self._dirty = False

    def needed(self) -> int:
        """Bytes this transaction needed: its copy and what it wrote (for a disk-full note)."""
        return folders.size_of(self.ws.gpkg) + self._written

    # ------------------------------------------------------------ reads of the locked state
    def _tables(self) -> set[str]:
        return _tables(self._tmp)

    def raster_names(self) -> list[str]:
        stored = set(_raster_stems(self.ws.raster_folder)) - self._deleted
        return sorted(stored | set(self._rasters))

    def raster_path(self, name: str) -> Path:
        if name in self._rasters:
            return self._rasters[name]
        if name not in self.raster_names():
            raise WorkspaceError(f"the workspace has no raster {name!r}")
        return self.ws.raster_folder / f"{name}.tif"

    def read_layer(self, name: str, *, bbox=None, columns=None) -> gpd.GeoDataFrame:
        """A layer as this transaction sees it: what was committed when it took the lock,
        plus its own writes — the base for a check-then-write without a lost update."""
        self._check_table(name)
        return _read(self._tmp, name, bbox=bbox, columns=columns)

    def read_table(self, name: str) -> pd.DataFrame:
        self._check_table(name)
        return pd.DataFrame(_read(self._tmp, name))

    def read_internal_table(self, name: str) -> pd.DataFrame | None:
        if name in SYSTEM_TABLES or name not in self._tables():
            return None
        return pd.DataFrame(pyogrio.read_dataframe(self._tmp, layer=name))

    # ------------------------------------------------------------ writes
    def _store(self, name: str, frame: pd.DataFrame, description: str) -> None:
        self._check_copy()
        self._written += int(frame.memory_usage(deep=True).sum())
        pyogrio.write_dataframe(
            frame, self._tmp, layer=name, driver="GPKG", layer_options={"DESCRIPTION": description}
        )

    def delete_layer(self, name: str) -> None:
        """Remove a vector layer or table (GeoPackage bookkeeping included)."""
        self._dirty = True
        self._check_name(name)
        if name not in self._tables():
            raise WorkspaceError(f"the workspace has no layer {name!r}")
        self._check_copy()
        drop_gpkg_table(self._tmp, name)
        self._forget(name)

    def write_raster(
        self, name: str, writer, *, fictional: bool = False, source: str = "", description: str = ""
    ) -> Path:
        """Call ``writer(path)`` to write a GeoTIFF; it replaces ``rasters/name.tif`` at commit."""
        self._dirty = True
        folder = self.ws.raster_folder
        folder.mkdir(exist_ok=True)
        tmp = folder / f".{name}.tx-{self._tag}.tif"
        self._rasters[name] = tmp
        self._deleted.discard(name)
        writer(tmp)
        self._written += tmp.stat().st_size if tmp.exists() else 0
        if not name.startswith(INTERNAL_PREFIX):
            self._record(name, "raster", fictional, source, description)
        return tmp

    def delete_raster(self, name: str) -> None:
        """Remove ``rasters/name.tif`` at commit (or a raster written earlier in here)."""
        self._dirty = True
        if name not in self.raster_names():
            raise WorkspaceError(f"the workspace has no raster {name!r}")
        pending = self._rasters.pop(name, None)
        if pending is not None:
            pending.unlink(missing_ok=True)
        self._deleted.add(name)
        self._forget(name)

    def _commit(self) -> None:
        """Journal what becomes visible, then make it so: written rasters, the
        GeoPackage, deleted rasters. A writer killed after the journal is rolled forward
        by the next lock holder; killed before it, nothing happened."""
        if not self._dirty:  # a read-only transaction leaves the file as it was
            return
        self._check_copy()
        _write_meta(self._tmp, self._meta)
        _write_register(self._tmp, self._register)
        _fsync(self._tmp)
        for tmp in self._rasters.values():
            _fsync(tmp)
        folder = self.ws.raster_folder
        plan = {
            "gpkg": self._tmp.name,
            "rasters": {tmp.name: f"{name}.tif" for name, tmp in self._rasters.items()},
            "delete": [f"{name}.tif" for name in sorted(self._deleted)],
        }
        journal = self.ws.folder / _JOURNAL
        staged = journal.with_name(f"{_JOURNAL}.{self._tag}")
        staged.write_text(json.dumps(plan), encoding="utf-8")
        _fsync(staged)
        os.replace(staged, journal)
        for name, tmp in self._rasters.items():
            os.replace(tmp, folder / f"{name}.tif")
        os.replace(self._tmp, self.ws.gpkg)
        for name in self._deleted:
            (folder / f"{name}.tif").unlink(missing_ok=True)
        journal.unlink()

    def _check_copy(self) -> None:
        """The private copy must still be the one this transaction made: were it gone,
        GDAL would start a new file holding only this transaction's layers."""
        try:
            now = os.stat(self._tmp)
        except FileNotFoundError:
            now = None
        if now is None or (now.st_ino, now.st_dev) != self._identity:
            raise WorkspaceError(
                "this change's working copy of the workspace was removed; nothing was written"
            )

    def _discard(self) -> None:
        self._tmp.unlink(missing_ok=True)
        for tmp in self._rasters.values():
            tmp.unlink(missing_ok=True)
