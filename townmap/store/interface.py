"""The one interface every part of Townmap reads and writes a workspace through.

``Workspace`` and ``Transaction`` are typing protocols: the GeoPackage folder and the
PostGIS schema adapters implement exactly these operations, and nothing outside
``townmap.store`` knows which one it holds. A write is a transaction opened by an
``Actor`` (who, with which role): the door checks the permission once the lock is held,
and the transaction offers reads of the locked state, so a read-modify-write never reads
outside its lock.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

import geopandas as gpd
import pandas as pd
from pyproj import CRS


@dataclass(frozen=True)
class Actor:
    """Who writes: the user named in the change log and the role the door checks.

    ``role=None`` is nobody signed in: allowed everything on a workspace without users
    (the single-user default), refused everything once it has users. Once a workspace
    has users, the door takes the role from its users table, not from the actor: the
    actor's ``role`` is what the session believed at sign-in."""

    user: str = ""
    role: str | None = None
    #: the command line: trusted as administrator (it holds the workspace files anyway)
    shell: bool = False

    def __post_init__(self) -> None:  # names are compared and logged without padding
        object.__setattr__(self, "user", str(self.user or "").strip())

    def named(self, user: str) -> Actor:
        """The same actor under another name (a single-user workspace's 'your name' box)."""
        return replace(self, user=(user or "").strip())


#: a workspace opened without saying who is working with it
NOBODY = Actor()


@dataclass(frozen=True)
class LayerInfo:
    """What ``townmap layers`` prints: size and reference system of a stored layer."""

    name: str
    features: int
    crs: str | None
    geometry_type: str | None


@dataclass(frozen=True)
class FolderSnapshot:
    """A consistent copy of a workspace in the GeoPackage folder format (backups, exports)."""

    folder: Path
    gpkg: Path
    rasters: list[Path]


class Reader(Protocol):
    """What can be read from a workspace or from inside one of its transactions."""

    @property
    def crs(self) -> CRS: ...

    def metadata(self) -> dict[str, str]: ...

    def layer_names(self) -> list[str]: ...

    def has_layer(self, name: str) -> bool: ...

    def has_table(self, name: str) -> bool: ...

    def has_raster(self, name: str) -> bool: ...

    def raster_path(self, name: str) -> Path: ...

    def read_layer(
        self,
        name: str,
        *,
        bbox: tuple[float, float, float, float] | None = None,
        columns: list[str] | None = None,
    ) -> gpd.GeoDataFrame: ...

    def read_table(self, name: str) -> pd.DataFrame: ...

    def read_internal_table(self, name: str) -> pd.DataFrame | None: ...


class Transaction(Reader, Protocol):
    """Writes that land together at the end of the ``with`` block, or not at all. Its
    reads see what was committed when the lock was taken, plus its own writes."""

    actor: Actor

    def write_layer(
        self,
        name: str,
        gdf: gpd.GeoDataFrame,
        *,
        fictional: bool = False,
        source: str = "",
        description: str = "",
    ) -> None: ...

    def write_table(
        self,
        name: str,
        table: pd.DataFrame,
        *,
        fictional: bool = False,
        source: str = "",
        description: str = "",
    ) -> None: ...

    def write_internal_table(self, name: str, table: pd.DataFrame) -> None: ...

    def delete_layer(self, name: str) -> None: ...

    def write_raster(
        self,
        name: str,
        writer: Callable[[Path], object],
        *,
        fictional: bool = False,
        source: str = "",
        description: str = "",
    ) -> Path: ...

    def delete_raster(self, name: str) -> None: ...

    def set_metadata(self, **values: str) -> None: ...

    def keep_register(self, register: pd.DataFrame) -> None: ...


@runtime_checkable
class Workspace(Reader, Protocol):
    """An opened workspace. Reads are direct; writes go through ``transaction()``."""

    location: str
    catalog: object | None
    actor: Actor

    @property
    def name(self) -> str: ...

    @property
    def is_fictional(self) -> bool: ...

    def revision(self) -> int: ...

    def table_revisions(self) -> dict[str, str]: ...

    def layer_register(self) -> pd.DataFrame: ...

    def stored_names(self) -> list[str]: ...

    def raster_names(self) -> list[str]: ...

    def layer_info(self, name: str) -> LayerInfo: ...

    def as_actor(self, actor: Actor) -> Workspace: ...

    def transaction(
        self, action: str = "edit", *, layer: str | None = None
    ) -> AbstractContextManager[Transaction]: ...

    def locked(self) -> AbstractContextManager[None]: ...

    def snapshot(self, folder: Path) -> FolderSnapshot: ...

    def pair_finder(self) -> Callable[[CRS], object] | None: ...

    def size_on_disk(self) -> int: ...
