"""The workspace on PostgreSQL + PostGIS, for a bureau serving many users at once.

Same interface as the GeoPackage folder (``townmap.store.interface``); chosen by a location such as
``postgresql://user@host/db?schema=town1`` (one schema per workspace). Why it is safe:
every transaction is one database transaction that first takes the workspace's advisory
lock, so writers are serialised as with the lock file, readers never see half a change,
and a client killed mid-write leaves nothing behind (the server rolls back). Rasters are
stored as GeoTIFF bytes and materialised into the cache folder for rasterio.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import threading
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import psycopg
from psycopg import sql
from pyproj import CRS

from townmap.catalog import Catalog
from townmap.errors import WorkspaceError
from townmap.store import folders, pg_frames
from townmap.store.base import (
    INTERNAL_PREFIX,
    LAYERS_TABLE,
    META_TABLE,
    RASTERS_TABLE,
    REGISTER_COLUMNS,
    STATE_TABLE,
    SYSTEM_TABLES,
    TransactionBase,
    WorkspaceBase,
    full_register,
    now,
    require_metric,
)
from townmap.store.interface import NOBODY, Actor, FolderSnapshot, LayerInfo
from townmap.store.locations import parse_location, redact, with_schema

#: a transaction's local files (rasters before they go in) live in a temp folder so named
TX_TEMP = "townmap-pg-tx-"

#: Schema migrations, in order; ``townmap_state.schema_version`` says how many ran.
MIGRATIONS: list[list[str]] = [
    [
        "CREATE TABLE {s}.townmap_metadata (key text PRIMARY KEY, value text NOT NULL)",
        "CREATE TABLE {s}.townmap_layers (layer_id text PRIMARY KEY, kind text, fictional text,"
        " source text, description text, written_at text)",
        "CREATE TABLE {s}.townmap_rasters (name text PRIMARY KEY, sha256 text NOT NULL,"
        " data bytea NOT NULL)",
        "CREATE TABLE {s}.townmap_state (id int PRIMARY KEY CHECK (id = 1),"
        " schema_version int NOT NULL, revision bigint NOT NULL)",
        "INSERT INTO {s}.townmap_state VALUES (1, 1, 0)",
    ],
    # 2: the register keeps the order layers were written in (as the GeoPackage does)
    ["ALTER TABLE {s}.townmap_layers ADD COLUMN position bigserial"],
    # 3: a token per write of a layer (per-table cache keys)
    ["ALTER TABLE {s}.townmap_layers ADD COLUMN revision text NOT NULL DEFAULT ''"],
]


#: per thread: one open read connection per server (libpq connection string)
_READERS = threading.local()


def lock_key(schema: str) -> int:
    return zlib.crc32(f"townmap:{schema}".encode()) - 2**31


def connect(conninfo: str, location: str, autocommit: bool) -> psycopg.Connection:
    try:
        con = psycopg.connect(conninfo, autocommit=autocommit, connect_timeout=10)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WorkspaceError(
            f"cannot reach the PostGIS workspace {redact(location)}: {redact(first)}"
        ) from None
    con.execute("SET TIME ZONE 'UTC'")
    return con


def _apply_migrations(cur, schema: str) -> None:
    cur.execute(
        sql.SQL("SELECT schema_version FROM {}").format(sql.Identifier(schema, STATE_TABLE))
    )
    done = int(cur.fetchone()[0])
    for step in MIGRATIONS[done:]:
        for statement in step:
            cur.execute(statement.format(s=sql.Identifier(schema).as_string(cur)))
    cur.execute(
        sql.SQL("UPDATE {} SET schema_version = %s").format(sql.Identifier(schema, STATE_TABLE)),
        (len(MIGRATIONS),),
    )


class PostgisWorkspace(WorkspaceBase):
    """An opened PostGIS workspace. Reads are direct; writes go through ``transaction()``."""

    def __init__(
        self, location: str, catalog: Catalog | None = None, actor: Actor = NOBODY
    ) -> None:
        self.location = str(location)
        self.conninfo, self.schema = parse_location(self.location)
        self.catalog = catalog
        self.actor = actor
        with self._cursor() as cur:
            cur.execute(
                "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = %s",
                (self.schema, STATE_TABLE),
            )
            if cur.fetchone() is None:
                raise WorkspaceError(
                    f"no Townmap workspace in schema {self.schema!r} of {redact(self.location)}; "
                    "create one with 'townmap workspace copy SRC DST'"
                )
            cur.execute(sql.SQL("SELECT schema_version FROM {}").format(self._id(STATE_TABLE)))
            behind = int(cur.fetchone()[0]) < len(MIGRATIONS)
        if behind:  # pages open the workspace on every rerun: lock only when there is work
            self._migrate()
        folders.clean_temp(TX_TEMP)
        if "crs" not in self.metadata():
            raise WorkspaceError(f"{redact(self.location)} has no CRS in its metadata")

    def __repr__(self) -> str:
        return f"PostgisWorkspace({redact(self.location)!r}, actor={self.actor.user!r})"

    @property
    def name(self) -> str:
        return self.schema

    # ------------------------------------------------------------------ connections
    def connect(self, autocommit: bool = True) -> psycopg.Connection:
        """A new connection of its own to this workspace's server (the caller closes it)."""
        return connect(self.conninfo, self.location, autocommit)

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[psycopg.Cursor]:
        """A read cursor on this thread's autocommit connection to the server, shared by
        every workspace object of the thread (a page opens the workspace on each rerun)."""
        readers = _READERS.__dict__.setdefault("by_server", {})
        con = readers.get(self.conninfo)
        if con is None or con.closed or con.broken:
            con = readers[self.conninfo] = self.connect()
        with con.cursor() as cur:
            yield cur

    def _migrate(self) -> None:
        con = self.connect(autocommit=False)
        try:
            with con.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(self.schema),))
                _apply_migrations(cur, self.schema)
            con.commit()
        finally:
            con.close()

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(
        cls,
        location: str,
        crs: CRS | str | int,
        metadata: dict[str, str] | None = None,
        catalog: Catalog | None = None,
        *,
        note: str | None = None,
        check_crs: bool = True,
    ) -> PostgisWorkspace:
        """Create an empty workspace (its schema); refuses to overwrite an existing one.
        ``note`` becomes the schema's comment in the same transaction (staging schemas
        name their builder's server process with it)."""
        conninfo, schema = parse_location(location)
        crs = require_metric(crs) if check_crs else CRS.from_user_input(crs)
        if crs.to_epsg() is None:
            raise WorkspaceError("a PostGIS workspace needs a CRS with an EPSG code")
        meta = {"crs": crs.to_wkt(), "created": now(), **(metadata or {})}
        con = connect(conninfo, location, False)
        try:
            with con.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(schema),))
                cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
                if cur.fetchone() is not None:
                    raise WorkspaceError(
                        f"schema {schema!r} already exists in {redact(location)}; choose another"
                    )
                cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")
                if cur.fetchone() is None:
                    raise WorkspaceError(
                        f"{redact(location)} has no PostGIS; run CREATE EXTENSION postgis there"
                    )
                cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
                if note is not None:
                    cur.execute(
                        sql.SQL("COMMENT ON SCHEMA {} IS {}").format(
                            sql.Identifier(schema), sql.Literal(note)
                        )
                    )
                for statement in MIGRATIONS[0]:
                    cur.execute(statement.format(s=sql.Identifier(schema).as_string(cur)))
                _apply_migrations(cur, schema)
                _write_meta(cur, schema, meta)
            con.commit()
        finally:
            con.close()
        return cls(location, catalog=catalog)

    # ------------------------------------------------------------------ reading
    def metadata(self) -> dict[str, str]:
        with self._cursor() as cur:
            cur.execute(sql.SQL("SELECT key, value FROM {}").format(self._id(META_TABLE)))
            return {str(k): str(v) for k, v in cur.fetchall()}

    def _id(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, name)

    def revision(self) -> int:
        """Grows with every committed change (a cache key for pages)."""
        with self._cursor() as cur:
            cur.execute(sql.SQL("SELECT revision FROM {}").format(self._id(STATE_TABLE)))
            return int(cur.fetchone()[0])

    def layer_register(self) -> pd.DataFrame:
        with self._cursor() as cur:
            cur.execute(
                sql.SQL("SELECT {} FROM {} ORDER BY position").format(
                    sql.SQL(", ").join(map(sql.Identifier, REGISTER_COLUMNS)),
                    self._id(LAYERS_TABLE),
                )
            )
            rows = cur.fetchall()
        return pd.DataFrame(rows, columns=REGISTER_COLUMNS).astype("str")

    def _tables(self) -> set[str]:
        with self._cursor() as cur:
            return _tables(cur, self.schema)

    def raster_names(self) -> list[str]:
        with self._cursor() as cur:
            cur.execute(
                sql.SQL("SELECT name FROM {} ORDER BY name").format(self._id(RASTERS_TABLE))
            )
            return [str(r[0]) for r in cur.fetchall()]

    def raster_path(self, name: str) -> Path:
        """A local GeoTIFF of the stored raster (written once per content into the cache)."""
        with self._cursor() as cur:
            return _materialise(cur, self._id(RASTERS_TABLE), name)

    def read_layer(
        self,
        name: str,
        *,
        bbox: tuple[float, float, float, float] | None = None,
        columns: list[str] | None = None,
    ) -> gpd.GeoDataFrame:
        """A vector layer in the workspace CRS (``bbox`` in that CRS, via the GiST index)."""
        self._check_table(name)
        where = _bbox_filter(bbox)
        with self._cursor() as cur:
            return pg_frames.read_frame(
                cur, self.schema, name, self.crs, columns=columns, where=where
            )

    def read_table(self, name: str) -> pd.DataFrame:
        self._check_table(name)
        with self._cursor() as cur:
            return pd.DataFrame(pg_frames.read_frame(cur, self.schema, name, self.crs))

    def read_internal_table(self, name: str) -> pd.DataFrame | None:
        """One of Townmap's own tables, or None when it was never written."""
        if name in SYSTEM_TABLES or name not in self._tables():
            return None
        with self._cursor() as cur:
            return pd.DataFrame(pg_frames.read_frame(cur, self.schema, name, None))

    def layer_info(self, name: str) -> LayerInfo:
        if name in self.raster_names():
            import rasterio

            with rasterio.open(self.raster_path(name)) as src:
                crs = f"EPSG:{src.crs.to_epsg()}" if src.crs and src.crs.to_epsg() else None
                return LayerInfo(name, src.width * src.height, crs, "raster")
        self._check_table(name)
        with self._cursor() as cur:
            cur.execute(sql.SQL("SELECT count(*) FROM {}").format(self._id(name)))
            count = int(cur.fetchone()[0])
            types = dict(pg_frames.columns_of(cur, self.schema, name))
        gtype = types.get(pg_frames.GEOMETRY)
        if gtype is None:
            return LayerInfo(name, count, None, None)
        inner = gtype[gtype.find("(") + 1 : gtype.find(",")] if "(" in gtype else "Geometry"
        epsg = self.crs.to_epsg()
        return LayerInfo(
            name,
            count,
            f"EPSG:{epsg}" if epsg else None,
            "Unknown" if inner.lower() == "geometry" else inner,
        )

    # ------------------------------------------------------------------ writing
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the workspace's write lock (no writer can commit meanwhile)."""
        con = self.connect()
        try:
            con.execute("SELECT pg_advisory_lock(%s)", (lock_key(self.schema),))
            yield
        finally:
            con.close()  # ends the session, which releases the lock

    @contextlib.contextmanager
    def transaction(
        self, action: str = "edit", *, layer: str | None = None
    ) -> Iterator[PostgisTransaction]:
        """All writes inside the block land together at its end, or none do. The actor's
        right to ``action`` (on ``layer``) is checked once the lock is held."""
        con = self.connect(autocommit=False)
        tx = None
        try:
            con.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(self.schema),))
            tx = PostgisTransaction(self, con)
            tx._admit(action, layer)
            yield tx
            tx._commit()
        except psycopg.errors.DiskFull:
            raise WorkspaceError(
                f"the disk is full on the database server of {redact(self.location)}: "
                "nothing was written; free space there and try again"
            ) from None
        except Exception as exc:
            if tx is not None and folders.is_disk_full(exc, tx._tmpdir):
                raise folders.disk_full_error(tx._tmpdir, tx._written) from None
            raise
        finally:
            if tx is not None:
                tx._discard()
            con.close()  # without a commit the server rolls everything back

    def snapshot(self, folder: Path) -> FolderSnapshot:
        """A consistent copy (taken under the lock) as a GeoPackage folder in ``folder``."""
        from townmap.store.gpkg import GeoPackageWorkspace
        from townmap.store.transfer import fill, metadata_of

        target = Path(folder) / self.name
        copied = GeoPackageWorkspace.create(target, self.crs, metadata_of(self), check_crs=False)
        fill(self, copied)
        rasters = [copied.raster_path(n) for n in copied.raster_names()]
        return FolderSnapshot(target, copied.gpkg, rasters)

    def pair_finder(self):
        """The conflicts engine's joins pushed down into PostGIS (GiST, matched pairs only)."""
        from townmap.store.pushdown import PostgisPairs

        return lambda crs: PostgisPairs(self, crs)

    def size_on_disk(self) -> int:
        """Bytes the schema's tables take on the server (what a copy out needs, roughly)."""
        with self._cursor() as cur:
            cur.execute(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind = 'r'",
                (self.schema,),
            )
            return int(cur.fetchone()[0])


def _bbox_filter(bbox) -> sql.Composable | None:
    if bbox is None:
        return None
    return sql.SQL("{} && ST_MakeEnvelope({}, ST_SRID({}))").format(
        sql.Identifier(pg_frames.GEOMETRY),
        sql.SQL(", ").join(sql.Literal(float(v)) for v in bbox),
        sql.Identifier(pg_frames.GEOMETRY),
    )


def _materialise(cur, table: sql.Identifier, name: str) -> Path:
    """The stored raster as a file in the cache, named by its content (written once)."""
    from townmap.settings import cache_dir

    cur.execute(sql.SQL("SELECT sha256 FROM {} WHERE name = %s").format(table), (name,))
    row = cur.fetchone()
    if row is None:
        raise WorkspaceError(f"the workspace has no raster {name!r}")
    folder = cache_dir() / "postgis-rasters"
    path = folder / f"{row[0]}.tif"
    if not path.is_file():
        cur.execute(sql.SQL("SELECT data FROM {} WHERE name = %s").format(table), (name,))
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob(".*.tif"):  # a killed reader's half-written copy
            if folders.writer_dead(stale.name):
                stale.unlink(missing_ok=True)
        tmp = folder / f".{row[0][:12]}.{folders.tag()}.tif"
        try:
            tmp.write_bytes(bytes(cur.fetchone()[0]))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return path


def _tables(cur, schema: str) -> set[str]:
    cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))
    return {str(r[0]) for r in cur.fetchall()} - SYSTEM_TABLES


def _write_meta(cur, schema: str, meta: dict[str, str]) -> None:
    table = sql.Identifier(schema, META_TABLE)
    cur.execute(sql.SQL("DELETE FROM {}").format(table))
    cur.executemany(
        sql.SQL("INSERT INTO {} (key, value) VALUES (%s, %s)").format(table),
        [(str(k), str(v)) for k, v in meta.items()],
    )


class PostgisTransaction(TransactionBase):
    """Writes inside one database transaction; committed by ``PostgisWorkspace.transaction``."""

    def __init__(self, workspace: PostgisWorkspace, con: psycopg.Connection) -> None:
        self.ws = workspace
        self.actor = workspace.actor
        self._con = con
        self._schema = workspace.schema
        self._meta = self._meta_now()
        self._crs = CRS.from_wkt(self._meta["crs"])
        self._register = self._register_now()
        self._rasters: dict[str, Path] = {}
        self._deleted_rasters: set[str] = set()
        self._tmpdir = Path(tempfile.mkdtemp(prefix=f"{TX_TEMP}{folders.tag()}-"))
        self._written = 0
        self._dirty = False

    def _meta_now(self) -> dict[str, str]:
        with self._con.cursor() as cur:
            cur.execute(sql.SQL("SELECT key, value FROM {}").format(self._id(META_TABLE)))
            return {str(k): str(v) for k, v in cur.fetchall()}

    def _register_now(self) -> pd.DataFrame:
        with self._con.cursor() as cur:
            cur.execute(
                sql.SQL("SELECT {} FROM {} ORDER BY position").format(
                    sql.SQL(", ").join(map(sql.Identifier, REGISTER_COLUMNS)),
                    self._id(LAYERS_TABLE),
                )
            )
            return full_register(pd.DataFrame(cur.fetchall(), columns=REGISTER_COLUMNS))

    def _id(self, name: str) -> sql.Identifier:
        return sql.Identifier(self._schema, name)

    # ------------------------------------------------------------ reads of the locked state
    def _tables(self) -> set[str]:
        with self._con.cursor() as cur:
            return _tables(cur, self._schema)

    def raster_names(self) -> list[str]:
        with self._con.cursor() as cur:
            cur.execute(sql.SQL("SELECT name FROM {}").format(self._id(RASTERS_TABLE)))
            stored = {str(r[0]) for r in cur.fetchall()}
        return sorted((stored - self._deleted_rasters) | set(self._rasters))

    def raster_path(self, name: str) -> Path:
        if name in self._rasters:
            return self._rasters[name]
        if name in self._deleted_rasters:
            raise WorkspaceError(f"the workspace has no raster {name!r}")
        with self._con.cursor() as cur:
            return _materialise(cur, self._id(RASTERS_TABLE), name)

    def read_layer(self, name: str, *, bbox=None, columns=None) -> gpd.GeoDataFrame:
        self._check_table(name)
        where = _bbox_filter(bbox)
        with self._con.cursor() as cur:
            return pg_frames.read_frame(
                cur, self._schema, name, self._crs, columns=columns, where=where
            )

    def read_table(self, name: str) -> pd.DataFrame:
        self._check_table(name)
        with self._con.cursor() as cur:
            return pd.DataFrame(pg_frames.read_frame(cur, self._schema, name, self._crs))

    def read_internal_table(self, name: str) -> pd.DataFrame | None:
        if name in SYSTEM_TABLES or name not in self._tables():
            return None
        with self._con.cursor() as cur:
            return pd.DataFrame(pg_frames.read_frame(cur, self._schema, name, None))

    # ------------------------------------------------------------ writes
    def _store(self, name: str, frame: pd.DataFrame, description: str) -> None:
        srid = self._crs.to_epsg() if isinstance(frame, gpd.GeoDataFrame) else None
        if isinstance(frame, gpd.GeoDataFrame) and srid is None:
            raise WorkspaceError("a PostGIS workspace needs a CRS with an EPSG code")
        try:
            with self._con.cursor() as cur:
                pg_frames.create_table(cur, self._schema, name, frame, srid)
        except psycopg.errors.DiskFull:
            raise
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WorkspaceError(f"could not store {name!r}: {first}") from None

    def delete_layer(self, name: str) -> None:
        self._dirty = True
        self._check_name(name)
        if name not in self._tables():
            raise WorkspaceError(f"the workspace has no layer {name!r}")
        with self._con.cursor() as cur:
            cur.execute(sql.SQL("DROP TABLE {}").format(self._id(name)))
        self._forget(name)

    def write_raster(
        self, name: str, writer, *, fictional: bool = False, source: str = "", description: str = ""
    ) -> Path:
        """Call ``writer(path)`` to write a GeoTIFF; stored in the database at commit."""
        self._dirty = True
        tmp = self._tmpdir / f"{name}.tif"
        writer(tmp)
        self._written += tmp.stat().st_size if tmp.exists() else 0
        self._rasters[name] = tmp
        self._deleted_rasters.discard(name)
        if not name.startswith(INTERNAL_PREFIX):
            self._record(name, "raster", fictional, source, description)
        return tmp

    def delete_raster(self, name: str) -> None:
        """Remove the raster at commit (or one written earlier in this transaction)."""
        self._dirty = True
        if name not in self.raster_names():
            raise WorkspaceError(f"the workspace has no raster {name!r}")
        self._rasters.pop(name, None)
        self._deleted_rasters.add(name)
        self._forget(name)

    def _commit(self) -> None:
        if not self._dirty:
            self._con.rollback()
            return
        with self._con.cursor() as cur:
            _write_meta(cur, self._schema, self._meta)
            cur.execute(sql.SQL("DELETE FROM {}").format(self._id(LAYERS_TABLE)))
            cur.executemany(
                sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                    self._id(LAYERS_TABLE),
                    sql.SQL(", ").join(map(sql.Identifier, REGISTER_COLUMNS)),
                    sql.SQL(", ").join(sql.Placeholder() for _ in REGISTER_COLUMNS),
                ),
                full_register(self._register).itertuples(index=False),
            )
            rasters = self._id(RASTERS_TABLE)
            for name in self._deleted_rasters:
                cur.execute(sql.SQL("DELETE FROM {} WHERE name = %s").format(rasters), (name,))
            for name, path in self._rasters.items():
                data = path.read_bytes()
                cur.execute(
                    sql.SQL(
                        "INSERT INTO {} (name, sha256, data) VALUES (%s, %s, %s) "
                        "ON CONFLICT (name) DO UPDATE SET sha256 = EXCLUDED.sha256, "
                        "data = EXCLUDED.data"
                    ).format(rasters),
                    (name, hashlib.sha256(data).hexdigest(), data),
                )
            cur.execute(
                sql.SQL("UPDATE {} SET revision = revision + 1").format(self._id(STATE_TABLE))
            )
        self._con.commit()

    def _discard(self) -> None:
        import shutil

        shutil.rmtree(self._tmpdir, ignore_errors=True)


_STAGE_NOTE = "townmap staging of {schema} by server process {pid}"


def _drop_dead_staging(con: psycopg.Connection, schema: str) -> None:
    """Staging schemas of ``schema`` whose builder's server process has gone (a killed
    copy or restore): provably Townmap's own and stale, so they are dropped."""
    rows = con.execute(
        "SELECT nspname, obj_description(oid, 'pg_namespace') FROM pg_namespace "
        "WHERE nspname LIKE %s",
        (f"{schema[:40]}\\_stage\\_%",),
    ).fetchall()
    live = {int(r[0]) for r in con.execute("SELECT pid FROM pg_stat_activity").fetchall()}
    for name, note in rows:
        match = re.fullmatch(r"townmap staging of (\S+) by server process (\d+)", note or "")
        if match and match[1] == schema and int(match[2]) not in live:
            con.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
    con.commit()


@contextlib.contextmanager
def staged_schema(
    location: str, crs, metadata, catalog, *, check_crs: bool = True
) -> Iterator[PostgisWorkspace]:
    """A workspace built in a staging schema and renamed into place at the end (the old
    schema dropped in the same database transaction); dropped if the block fails."""
    conninfo, schema = parse_location(location)
    staging = f"{schema[:40]}_stage_{uuid.uuid4().hex[:8]}"
    con = connect(conninfo, location, False)
    try:
        _drop_dead_staging(con, schema)
        try:
            pid = con.execute("SELECT pg_backend_pid()").fetchone()[0]
            note = _STAGE_NOTE.format(schema=schema, pid=pid)
            ws = PostgisWorkspace.create(
                with_schema(location, staging),
                crs,
                metadata,
                catalog,
                note=note,
                check_crs=check_crs,
            )
            yield ws
        except BaseException:
            con.rollback()
            con.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(staging)))
            con.commit()
            raise
        con.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(schema),))
        con.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        con.execute(
            sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
                sql.Identifier(staging), sql.Identifier(schema)
            )
        )
        con.execute(sql.SQL("COMMENT ON SCHEMA {} IS NULL").format(sql.Identifier(schema)))
        con.commit()
    finally:
        con.close()
