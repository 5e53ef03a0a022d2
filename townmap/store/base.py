"""What both adapters share: the names of Townmap's own tables, the layer register, the
door every transaction passes (the actor's permission, checked under the lock), catalog
checks, CRS conversion and metadata. Adapters store frames and make them visible."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime

import geopandas as gpd
import pandas as pd
from pyproj import CRS

from townmap.auth.access import IMPORT_LOG, USERS_TABLE, admit
from townmap.catalog import validate_frame
from townmap.crs import gk3_crs, is_metric, require_crs
from townmap.errors import CRSError, DataValidationError, WorkspaceError
from townmap.store.interface import NOBODY, Actor

GPKG_NAME = "workspace.gpkg"
RASTER_DIR = "rasters"
META_TABLE = "townmap_metadata"
LAYERS_TABLE = "townmap_layers"
RASTERS_TABLE = "townmap_rasters"
STATE_TABLE = "townmap_state"
#: the store's own bookkeeping: never listed, read or written as a table by anyone else
SYSTEM_TABLES = frozenset({META_TABLE, LAYERS_TABLE, RASTERS_TABLE, STATE_TABLE})
#: Townmap's own tables (import log, copies kept for undo): stored, but not user layers
INTERNAL_PREFIX = "townmap_"
#: Townmap's own records written through ``Transaction.write_internal_table``; never
#: exported (the users table holds password hashes)
OWN_TABLES = frozenset({USERS_TABLE})
REGISTER_COLUMNS = [
    "layer_id",
    "kind",
    "fictional",
    "source",
    "description",
    "written_at",
    "revision",
]
FICTION = "FICTIONAL demo data / 虚构示例数据"

__all__ = ["IMPORT_LOG", "Actor"]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def require_metric(crs: CRS | str | int) -> CRS:
    """A workspace is stored in a projected CRS in metres, true to scale: siting,
    suitability and every distance rule measure in it. Geographic CRSs and Mercator
    (Web Mercator's metres are 1/cos(latitude) too long) are refused, naming the CRS to
    use."""
    crs = CRS.from_user_input(crs)
    method = (crs.coordinate_operation.method_name if crs.coordinate_operation else "").lower()
    stretched = method.startswith("mercator") or "pseudo mercator" in method
    if is_metric(crs) and not stretched:
        return crs
    hint = "the CGCS2000 3-degree Gauss–Krüger zone for the town's longitude"
    try:
        area = crs.area_of_use
        if area is not None:
            zone = gk3_crs((area.west + area.east) / 2)
            hint = f"{zone.name} (EPSG:{zone.to_epsg()}), {hint}"
    except CRSError:
        pass
    why = " (its metres stretch with latitude, ~17 % at Lake Tai)" if stretched else ""
    raise WorkspaceError(
        f"a workspace is stored in a projected CRS in metres true to scale, not {crs.name}"
        f"{why}; use {hint} (EPSG:4549 at 120°E)"
    )


def empty_register() -> pd.DataFrame:
    return pd.DataFrame(columns=REGISTER_COLUMNS)


def full_register(frame: pd.DataFrame) -> pd.DataFrame:
    """The register with every column (workspaces written before ``revision`` existed)."""
    return frame.reindex(columns=REGISTER_COLUMNS).fillna("").astype(str)


class Listing:
    """What is stored, answered the same way by both adapters and their transactions
    from the two lists each implements: its tables (the store's bookkeeping left out)
    and its rasters."""

    def _tables(self) -> set[str]:
        raise NotImplementedError

    def raster_names(self) -> list[str]:
        raise NotImplementedError

    def layer_names(self) -> list[str]:
        """The user's layers and tables (Townmap's own ``townmap_*`` tables left out)."""
        names = [n for n in self._tables() if not n.startswith(INTERNAL_PREFIX)]
        rasters = [r for r in self.raster_names() if not r.startswith(INTERNAL_PREFIX)]
        return sorted(names + rasters)

    def stored_names(self) -> list[str]:
        """Every stored table, Townmap's own included (for copies and backups)."""
        return sorted(self._tables())

    def has_table(self, name: str) -> bool:
        """Whether a table is stored, Townmap's own included (not the store's bookkeeping)."""
        return name in self._tables()

    def has_layer(self, name: str) -> bool:
        return name in self.layer_names()

    def has_raster(self, name: str) -> bool:
        return name in self.raster_names()

    def _check_table(self, name: str) -> None:
        if name in SYSTEM_TABLES or name not in self._tables():
            raise WorkspaceError(f"the workspace has no layer {name!r}")


class WorkspaceBase(Listing):
    """Reads both adapters answer the same way from the few they implement."""

    actor: Actor = NOBODY
    catalog = None

    def as_actor(self, actor: Actor):
        """This workspace, with writes made by ``actor`` (the object is otherwise shared)."""
        other = copy.copy(self)
        other.actor = actor
        return other

    @property
    def crs(self) -> CRS:
        return CRS.from_wkt(self.metadata()["crs"])

    @property
    def is_fictional(self) -> bool:
        return self.metadata().get("fictional", "").lower() == "true"

    def table_revisions(self) -> dict[str, str]:
        """Per layer or table, a token that changes whenever it is written (cache keys)."""
        reg = full_register(self.layer_register())
        token = reg["revision"].where(reg["revision"] != "", reg["written_at"])
        return dict(zip(reg["layer_id"], token, strict=True))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r}, actor={self.actor.user!r})"


class TransactionBase(Listing):
    """What every back end's transaction shares. Subclasses store frames (``_store``),
    list what they hold (``_tables``, ``raster_names``) and commit (``_commit``)."""

    ws: WorkspaceBase
    actor: Actor
    _crs: CRS
    _meta: dict[str, str]
    _register: pd.DataFrame
    _dirty: bool

    def _admit(self, action: str, layer: str | None) -> None:
        """Checked under the lock, against the users as they are now."""
        admit(self, self.actor, action, layer)

    # ------------------------------------------------------------ reads of the locked state
    @property
    def crs(self) -> CRS:
        return self._crs

    def metadata(self) -> dict[str, str]:
        return dict(self._meta)

    # ------------------------------------------------------------ writes
    def _record(
        self, layer_id: str, kind: str, fictional: bool, source: str, description: str
    ) -> None:
        row = {
            "layer_id": layer_id,
            "kind": kind,
            "fictional": str(fictional).lower(),
            "source": source,
            "description": description,
            "written_at": now(),
            "revision": uuid.uuid4().hex[:12],
        }
        reg = self._register[self._register["layer_id"] != layer_id]
        self._register = pd.concat([reg, pd.DataFrame([row])], ignore_index=True)

    def _forget(self, layer_id: str) -> None:
        self._register = self._register[self._register["layer_id"] != layer_id]

    def _validate(self, name: str, frame: pd.DataFrame) -> None:
        catalog = self.ws.catalog
        if catalog is not None and name in catalog:
            problems = validate_frame(catalog[name], frame)
            if problems:
                raise DataValidationError(
                    f"layer '{name}' does not match its catalog entry", problems
                )

    def _check_name(self, name: str) -> None:
        if name in SYSTEM_TABLES:
            raise WorkspaceError(f"{name!r} is reserved for Townmap's own records")

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
        self._write(name, gdf, "vector", fictional, source, description)

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
        self._write(name, pd.DataFrame(table), "table", fictional, source, description)

    def _write(self, name, frame, kind, fictional, source, description) -> None:
        self._dirty = True
        self._check_name(name)
        if name in OWN_TABLES:
            raise WorkspaceError(f"{name!r} is written with write_internal_table")
        self._validate(name, frame)
        desc = description or (FICTION if fictional else "")
        self._store(name, frame, desc)
        if not name.startswith(INTERNAL_PREFIX):
            self._record(name, kind, fictional, source, desc)

    def write_internal_table(self, name: str, table: pd.DataFrame) -> None:
        """Store one of Townmap's own records (not catalogued, not listed, not exported)."""
        if name not in OWN_TABLES:
            raise WorkspaceError(f"{name!r} is not one of Townmap's own tables")
        self._dirty = True
        self._store(name, pd.DataFrame(table), "")

    def set_metadata(self, **values: str) -> None:
        self._dirty = True
        if "crs" in values:
            raise WorkspaceError("the workspace CRS is fixed when the workspace is created")
        self._meta.update({k: str(v) for k, v in values.items()})

    def keep_register(self, register: pd.DataFrame) -> None:
        """Replace the layer register as a whole (a copy keeps its source's, unchanged)."""
        self._dirty = True
        self._register = full_register(register).reset_index(drop=True)

    def _store(self, name: str, frame: pd.DataFrame, description: str) -> None:
        raise NotImplementedError
