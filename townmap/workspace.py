"""The project store: one folder holding ``workspace.gpkg`` (every vector layer, table and
the metadata; it opens in QGIS) and ``rasters/`` (GeoTIFFs such as the DEM).

Writes are transactional by copy-on-write: a transaction works on a private copy of the
GeoPackage and only an ``os.replace`` at commit makes it visible, so a failure at any point
leaves the workspace byte-for-byte as it was. A lock file serialises writers. Every frame
is stored in the workspace CRS; frames in another CRS are converted, frames without a CRS
are refused, and layers named in the catalog are checked against their spec.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pyogrio.errors
from pyproj import CRS

from townmap.catalog import Catalog, validate_frame
from townmap.crs import require_crs
from townmap.errors import DataValidationError, WorkspaceError

GPKG_NAME = "workspace.gpkg"
RASTER_DIR = "rasters"
META_TABLE = "townmap_metadata"
LAYERS_TABLE = "townmap_layers"
_INTERNAL = {META_TABLE, LAYERS_TABLE}
#: Townmap's own tables (import log, copies kept for undo): stored, but not user layers
INTERNAL_PREFIX = "townmap_"
#: Townmap's own records written through ``Transaction.write_internal_table``; never
#: exported (the users table holds password hashes)
OWN_TABLES = frozenset({"townmap_users"})
_LOCK_NAME = ".townmap.lock"


@dataclass(frozen=True)
class LayerInfo:
    """What ``townmap layers`` prints: size and reference system of a stored layer."""

    name: str
    features: int
    crs: str | None
    geometry_type: str | None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Workspace:
    """An opened workspace folder. Reads are direct; writes go through ``transaction()``."""

    def __init__(self, folder: str | Path, catalog: Catalog | None = None) -> None:
        self.folder = Path(folder)
        self.location = str(self.folder)
        self.gpkg = self.folder / GPKG_NAME
        self.catalog = catalog
        if not self.gpkg.is_file():
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

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(
        cls,
        folder: str | Path,
        crs: CRS | str | int,
        metadata: dict[str, str] | None = None,
        catalog: Catalog | None = None,
    ) -> Workspace:
        """Create an empty workspace; refuses to overwrite an existing one."""
        folder = Path(folder)
        gpkg = folder / GPKG_NAME
        if gpkg.exists():
            raise WorkspaceError(f"a workspace already exists at {folder}; choose another folder")
        folder.mkdir(parents=True, exist_ok=True)
        crs = CRS.from_user_input(crs)
        meta = {"crs": crs.to_wkt(), "created": _now(), **(metadata or {})}
        tmp = folder / f".workspace.tx-{uuid.uuid4().hex}.gpkg"
        try:
            _write_meta(tmp, meta)
            _write_layer_register(tmp, pd.DataFrame(columns=_REGISTER_COLUMNS))
            os.replace(tmp, gpkg)
        finally:
            tmp.unlink(missing_ok=True)
        return cls(folder, catalog=catalog)

    # ------------------------------------------------------------------ reading
    @property
    def name(self) -> str:
        return self.folder.name

    def revision(self) -> int:
        """Changes with every committed change (a cache key for pages)."""
        return self.gpkg.stat().st_mtime_ns

    def metadata(self) -> dict[str, str]:
        table = pyogrio.read_dataframe(self.gpkg, layer=META_TABLE)
        return dict(zip(table["key"].astype(str), table["value"].astype(str), strict=True))

    @property
    def crs(self) -> CRS:
        return CRS.from_wkt(self.metadata()["crs"])

    @property
    def is_fictional(self) -> bool:
        return self.metadata().get("fictional", "").lower() == "true"

    def layer_register(self) -> pd.DataFrame:
        """One row per stored layer: kind, fictional flag, source, when written."""
        return pyogrio.read_dataframe(self.gpkg, layer=LAYERS_TABLE)

    def _stored(self) -> set[str]:
        return {str(n) for n, _ in pyogrio.list_layers(self.gpkg)}

    def layer_names(self) -> list[str]:
        """The user's layers and tables (Townmap's own ``townmap_*`` tables left out)."""
        names = [n for n in self._stored() if not n.startswith(INTERNAL_PREFIX)]
        rasters = [p.stem for p in self.raster_folder.glob("*.tif")]
        return sorted(names + [r for r in rasters if not r.startswith(INTERNAL_PREFIX)])

    def stored_names(self) -> list[str]:
        """Every stored table, Townmap's own included (for copies and backups)."""
        return sorted(self._stored() - _INTERNAL)

    def has_layer(self, name: str) -> bool:
        return name in self.layer_names()

    def raster_names(self) -> list[str]:
        return sorted(p.stem for p in self.raster_folder.glob("*.tif"))

    def has_raster(self, name: str) -> bool:
        return (self.raster_folder / f"{name}.tif").is_file()

    def read_internal_table(self, name: str) -> pd.DataFrame | None:
        """One of Townmap's own tables, or None when it was never written."""
        if name not in self._stored():
            return None
        return pd.DataFrame(pyogrio.read_dataframe(self.gpkg, layer=name))

    def has_table(self, name: str) -> bool:
        """Whether a table is stored, Townmap's own included."""
        return name in self._stored()

    @property
    def raster_folder(self) -> Path:
        return self.folder / RASTER_DIR

    def raster_path(self, name: str) -> Path:
        path = self.raster_folder / f"{name}.tif"
        if not path.is_file():
            raise WorkspaceError(f"the workspace has no raster {name!r}")
        return path

    def _check_vector(self, name: str) -> None:
        if name in _INTERNAL or name not in self._stored():
            raise WorkspaceError(f"the workspace has no layer {name!r}")

    def read_layer(
        self,
        name: str,
        *,
        bbox: tuple[float, float, float, float] | None = None,
        columns: list[str] | None = None,
    ) -> gpd.GeoDataFrame:
        """A vector layer in the workspace CRS (``bbox`` in that CRS)."""
        self._check_vector(name)
        return pyogrio.read_dataframe(
            self.gpkg, layer=name, bbox=bbox, columns=columns, use_arrow=True
        )

    def read_table(self, name: str) -> pd.DataFrame:
        """A non-spatial table (e.g. monitoring samples)."""
        self._check_vector(name)
        return pd.DataFrame(pyogrio.read_dataframe(self.gpkg, layer=name, use_arrow=True))

    def layer_info(self, name: str) -> LayerInfo:
        if (self.raster_folder / f"{name}.tif").is_file():
            import rasterio

            with rasterio.open(self.raster_path(name)) as src:
                crs = f"EPSG:{src.crs.to_epsg()}" if src.crs and src.crs.to_epsg() else None
                return LayerInfo(name, src.width * src.height, crs, "raster")
        self._check_vector(name)
        info = pyogrio.read_info(self.gpkg, layer=name)
        return LayerInfo(name, int(info["features"]), info["crs"], info["geometry_type"])

    # ------------------------------------------------------------------ writing
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the workspace's write lock (no writer can commit meanwhile)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / _LOCK_NAME, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """All writes inside the block land together at its end, or none do."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / _LOCK_NAME, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            tx = Transaction(self)
            try:
                yield tx
                tx._commit()
            finally:
                tx._discard()
                fcntl.flock(lock, fcntl.LOCK_UN)


_REGISTER_COLUMNS = ["layer_id", "kind", "fictional", "source", "description", "written_at"]


def _write_meta(gpkg: Path, meta: dict[str, str]) -> None:
    table = pd.DataFrame({"key": list(meta), "value": [str(v) for v in meta.values()]})
    pyogrio.write_dataframe(table, gpkg, layer=META_TABLE, driver="GPKG")


def _write_layer_register(gpkg: Path, table: pd.DataFrame) -> None:
    pyogrio.write_dataframe(table.astype(str), gpkg, layer=LAYERS_TABLE, driver="GPKG")


def swap_in(staging: Path, folder: Path) -> None:
    """Put the finished ``staging`` folder at ``folder``, replacing what is there; the old
    one is moved aside first and removed last, so ``folder`` is never half-written."""
    if not folder.exists():
        staging.rename(folder)
        return
    old = folder.with_name(f".{folder.name}.replaced-{uuid.uuid4().hex[:8]}")
    folder.rename(old)
    staging.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def drop_gpkg_table(gpkg: Path, name: str) -> None:
    """Drop a table the way the GeoPackage spec wants (pyogrio has no delete-layer call)."""
    import sqlite3

    con = sqlite3.connect(gpkg)
    try:
        with con:
            tables = {r[0] for r in con.execute("select name from sqlite_master")}
            for rtree in [
                t
                for t in tables
                if t.startswith(f"rtree_{name}_") and t.count("_") == name.count("_") + 2
            ]:
                con.execute(f'drop table if exists "{rtree}"')
            con.execute(f'drop table "{name}"')
            for meta in (
                "gpkg_extensions",
                "gpkg_geometry_columns",
                "gpkg_ogr_contents",
                "gpkg_data_columns",
                "gpkg_metadata_reference",
                "gpkg_contents",
            ):
                if meta in tables:
                    con.execute(f"delete from {meta} where lower(table_name) = lower(?)", (name,))
    finally:
        con.close()


class TransactionBase:
    """What every back end's transaction shares: the layer register kept in memory until
    commit, catalog checks, CRS conversion and metadata. Subclasses store frames
    (``_store``) and make everything visible at once (``_commit``)."""

    ws: Workspace
    _crs: CRS
    _meta: dict[str, str]
    _register: pd.DataFrame
    _dirty: bool

    def _record(
        self, layer_id: str, kind: str, fictional: bool, source: str, description: str
    ) -> None:
        row = {
            "layer_id": layer_id,
            "kind": kind,
            "fictional": str(fictional).lower(),
            "source": source,
            "description": description,
            "written_at": _now(),
        }
        reg = self._register[self._register["layer_id"] != layer_id]
        self._register = pd.concat([reg, pd.DataFrame([row])], ignore_index=True)

    def _validate(self, name: str, frame: pd.DataFrame) -> None:
        catalog = self.ws.catalog
        if catalog is not None and name in catalog:
            problems = validate_frame(catalog[name], frame)
            if problems:
                raise DataValidationError(
                    f"layer '{name}' does not match its catalog entry", problems
                )

    def write_layer(
        self,
        name: str,
        gdf: gpd.GeoDataFrame,
        *,
        fictional: bool = False,
        source: str = "",
        description: str = "",
    ) -> None:
        """Store (or replace) a vector layer, converting it to the workspace CRS."""
        crs = require_crs(gdf, f"layer '{name}'")
        if crs != self._crs:
            gdf = gdf.to_crs(self._crs)
        self._store(name, gdf, "vector", fictional, source, description)

    def write_table(
        self,
        name: str,
        table: pd.DataFrame,
        *,
        fictional: bool = False,
        source: str = "",
        description: str = "",
    ) -> None:
        """Store (or replace) a non-spatial table."""
        self._store(name, pd.DataFrame(table), "table", fictional, source, description)

    def set_metadata(self, **values: str) -> None:
        self._dirty = True
        if "crs" in values:
            raise WorkspaceError("the workspace CRS is fixed when the workspace is created")
        self._meta.update({k: str(v) for k, v in values.items()})

    def _store(self, name: str, frame: pd.DataFrame, kind: str, fictional: bool,
               source: str, description: str) -> None:  # fmt: skip
        raise NotImplementedError


class Transaction(TransactionBase):
    """Writes against a private copy; made visible only by ``Workspace.transaction``."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self._tag = uuid.uuid4().hex
        self._tmp = workspace.folder / f".workspace.tx-{self._tag}.gpkg"
        self._rasters: dict[Path, Path] = {}
        self._deleted: list[Path] = []
        shutil.copy2(workspace.gpkg, self._tmp)
        self._crs = workspace.crs
        self._register = pyogrio.read_dataframe(self._tmp, layer=LAYERS_TABLE).astype(str)
        self._meta = workspace.metadata()
        self._dirty = False

    def has_table(self, name: str) -> bool:
        """Whether ``name`` exists in this transaction's view (read under the lock)."""
        return name not in _INTERNAL and name in {str(n) for n, _ in pyogrio.list_layers(self._tmp)}

    def read_table(self, name: str) -> pd.DataFrame:
        """A table as this transaction sees it: what was committed when it took the lock,
        plus its own writes — the base for a check-then-write without a lost update."""
        if not self.has_table(name):
            raise WorkspaceError(f"the workspace has no layer {name!r}")
        return pd.DataFrame(pyogrio.read_dataframe(self._tmp, layer=name, use_arrow=True))

    def _store(
        self,
        name: str,
        frame: pd.DataFrame,
        kind: str,
        fictional: bool,
        source: str,
        description: str,
    ) -> None:
        self._dirty = True
        if name in _INTERNAL:
            raise WorkspaceError(f"{name!r} is reserved for Townmap's own records")
        self._validate(name, frame)
        desc = description or ("FICTIONAL demo data / 虚构示例数据" if fictional else "")
        pyogrio.write_dataframe(
            frame, self._tmp, layer=name, driver="GPKG", layer_options={"DESCRIPTION": desc}
        )
        if not name.startswith(INTERNAL_PREFIX):
            self._record(name, kind, fictional, source, desc)

    def write_internal_table(self, name: str, table: pd.DataFrame) -> None:
        """Store one of Townmap's own records (not catalogued, not listed, not exported)."""
        if name not in OWN_TABLES:
            raise WorkspaceError(f"{name!r} is not one of Townmap's own tables")
        self._dirty = True
        pyogrio.write_dataframe(pd.DataFrame(table), self._tmp, layer=name, driver="GPKG")

    def delete_layer(self, name: str) -> None:
        """Remove a vector layer or table (GeoPackage bookkeeping included)."""
        self._dirty = True
        if name in _INTERNAL:
            raise WorkspaceError(f"{name!r} is reserved for Townmap's own records")
        if name not in {str(n) for n, _ in pyogrio.list_layers(self._tmp)}:
            raise WorkspaceError(f"the workspace has no layer {name!r}")
        drop_gpkg_table(self._tmp, name)
        self._register = self._register[self._register["layer_id"] != name]

    def write_raster(
        self, name: str, writer, *, fictional: bool = False, source: str = "", description: str = ""
    ) -> Path:
        """Call ``writer(path)`` to write a GeoTIFF; it replaces ``rasters/name.tif`` at commit."""
        self._dirty = True
        folder = self.ws.raster_folder
        folder.mkdir(exist_ok=True)
        tmp = folder / f".{name}.tx-{self._tag}.tif"
        self._rasters[tmp] = folder / f"{name}.tif"
        writer(tmp)
        if not name.startswith(INTERNAL_PREFIX):
            self._record(name, "raster", fictional, source, description)
        return tmp

    def delete_raster(self, name: str) -> None:
        """Remove ``rasters/name.tif`` at commit."""
        self._dirty = True
        final = self.ws.raster_folder / f"{name}.tif"
        if not final.is_file():
            raise WorkspaceError(f"the workspace has no raster {name!r}")
        self._deleted.append(final)
        self._register = self._register[self._register["layer_id"] != name]

    def _commit(self) -> None:
        if not self._dirty:  # a read-only transaction leaves the file as it was
            return
        _write_meta(self._tmp, self._meta)
        _write_layer_register(self._tmp, self._register)
        with open(self._tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        for tmp, final in self._rasters.items():
            os.replace(tmp, final)
        for final in self._deleted:
            if final not in self._rasters.values():
                final.unlink(missing_ok=True)
        os.replace(self._tmp, self.ws.gpkg)

    def _discard(self) -> None:
        self._tmp.unlink(missing_ok=True)
        for tmp in self._rasters:
            tmp.unlink(missing_ok=True)


def open_workspace(location: str | Path, catalog: Catalog | None = None):
    """The workspace at ``location``: a folder (GeoPackage) or a ``postgresql://`` URL."""
    from townmap.workspace_pg import PostgisWorkspace, is_postgis

    if is_postgis(location):
        return PostgisWorkspace(str(location), catalog=catalog)
    return Workspace(location, catalog=catalog)


def create_workspace(
    location: str | Path,
    crs: CRS | str | int,
    metadata: dict[str, str] | None = None,
    catalog: Catalog | None = None,
):
    """Create an empty workspace of the kind ``location`` names."""
    from townmap.workspace_pg import PostgisWorkspace, is_postgis

    if is_postgis(location):
        return PostgisWorkspace.create(str(location), crs, metadata, catalog=catalog)
    return Workspace.create(location, crs, metadata, catalog=catalog)


def workspace_exists(location: str | Path) -> bool:
    """Whether a workspace can be opened at ``location`` (no error shown)."""
    from townmap.workspace_pg import is_postgis

    if not is_postgis(location):
        return (Path(location) / GPKG_NAME).is_file()
    try:
        open_workspace(location)
    except WorkspaceError:
        return False
    return True
