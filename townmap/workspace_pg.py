"""The workspace on PostgreSQL + PostGIS, for a bureau serving many users at once.

Same interface as the GeoPackage ``Workspace``; chosen by a location such as
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
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import geopandas as gpd
import pandas as pd
import psycopg
from psycopg import sql
from pyproj import CRS

from townmap import pg_frames
from townmap.catalog import Catalog
from townmap.errors import WorkspaceError
from townmap.workspace import (
    _INTERNAL,
    _REGISTER_COLUMNS,
    INTERNAL_PREFIX,
    LAYERS_TABLE,
    META_TABLE,
    OWN_TABLES,
    LayerInfo,
    TransactionBase,
    _now,
)

RASTERS_TABLE = "townmap_rasters"
STATE_TABLE = "townmap_state"
_SYSTEM = _INTERNAL | {RASTERS_TABLE, STATE_TABLE}
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
DEFAULT_SCHEMA = "townmap"

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
]


def is_postgis(location: str | os.PathLike) -> bool:
    return str(location).startswith(("postgresql://", "postgres://"))


def parse_location(location: str) -> tuple[str, str]:
    """(libpq connection URL, schema) from a workspace location."""
    parts = urlsplit(str(location))
    query = dict(parse_qsl(parts.query))
    schema = query.pop("schema", DEFAULT_SCHEMA)
    if not _SCHEMA_NAME.match(schema):
        raise WorkspaceError(
            f"schema {schema!r}: use lower-case letters, digits and '_' (at most 63)"
        )
    return urlunsplit(parts._replace(query=urlencode(query))), schema


def redact(location: str | os.PathLike) -> str:
    """The location without its password, for messages and logs."""
    text = str(location)
    if not is_postgis(text):
        return text
    parts = urlsplit(text)
    if parts.password is None:
        return text
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


#: per thread: one open read connection per server (libpq connection string)
_READERS = threading.local()


def _lock_key(schema: str) -> int:
    return zlib.crc32(f"townmap:{schema}".encode()) - 2**31


def _connect(conninfo: str, location: str, autocommit: bool) -> psycopg.Connection:
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


class PostgisWorkspace:
    """An opened PostGIS workspace. Reads are direct; writes go through ``transaction()``."""

    def __init__(self, location: str, catalog: Catalog | None = None) -> None:
        self.location = str(location)
        self.conninfo, self.schema = parse_location(self.location)
        self.catalog = catalog
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
        if "crs" not in self.metadata():
            raise WorkspaceError(f"{redact(self.location)} has no CRS in its metadata")

    def __repr__(self) -> str:
        return f"PostgisWorkspace({redact(self.location)!r})"

    @property
    def name(self) -> str:
        return self.schema

    # ------------------------------------------------------------------ connections
    def connect(self, autocommit: bool = True) -> psycopg.Connection:
        """A new connection of its own to this workspace's server (the caller closes it)."""
        return _connect(self.conninfo, self.location, autocommit=autocommit)

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
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(self.schema),))
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
    ) -> PostgisWorkspace:
        """Create an empty workspace (its schema); refuses to overwrite an existing one."""
        conninfo, schema = parse_location(location)
        crs = CRS.from_user_input(crs)
        meta = {"crs": crs.to_wkt(), "created": _now(), **(metadata or {})}
        con = _connect(conninfo, location, autocommit=False)
        try:
            with con.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(schema),))
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

    @property
    def crs(self) -> CRS:
        return CRS.from_wkt(self.metadata()["crs"])

    @property
    def is_fictional(self) -> bool:
        return self.metadata().get("fictional", "").lower() == "true"

    def revision(self) -> int:
        """Grows with every committed change (a cache key for pages)."""
        with self._cursor() as cur:
            cur.execute(sql.SQL("SELECT revision FROM {}").format(self._id(STATE_TABLE)))
            return int(cur.fetchone()[0])

    def layer_register(self) -> pd.DataFrame:
        with self._cursor() as cur:
            cur.execute(
                sql.SQL("SELECT {} FROM {} ORDER BY position").format(
                    sql.SQL(", ").join(map(sql.Identifier, _REGISTER_COLUMNS)),
                    self._id(LAYERS_TABLE),
                )
            )
            rows = cur.fetchall()
        return pd.DataFrame(rows, columns=_REGISTER_COLUMNS).astype("str")

    def _stored(self) -> set[str]:
        with self._cursor() as cur:
            return _tables(cur, self.schema)

    def layer_names(self) -> list[str]:
        names = [n for n in self._stored() if not n.startswith(INTERNAL_PREFIX)]
        rasters = [r for r in self.raster_names() if not r.startswith(INTERNAL_PREFIX)]
        return sorted(names + rasters)

    def stored_names(self) -> list[str]:
        """Every stored table, Townmap's own included (for copies and backups)."""
        return sorted(self._stored() - _SYSTEM)

    def has_layer(self, name: str) -> bool:
        return name in self.layer_names()

    def has_table(self, name: str) -> bool:
        return name in self._stored() - _SYSTEM

    def raster_names(self) -> list[str]:
        with self._cursor() as cur:
            cur.execute(
                sql.SQL("SELECT name FROM {} ORDER BY name").format(self._id(RASTERS_TABLE))
            )
            return [str(r[0]) for r in cur.fetchall()]

    def has_raster(self, name: str) -> bool:
        return name in self.raster_names()

    def raster_path(self, name: str) -> Path:
        """A local GeoTIFF of the stored raster (written once per content into the cache)."""
        from townmap.settings import cache_dir

        with self._cursor() as cur:
            cur.execute(
                sql.SQL("SELECT sha256 FROM {} WHERE name = %s").format(self._id(RASTERS_TABLE)),
                (name,),
            )
            row = cur.fetchone()
            if row is None:
                raise WorkspaceError(f"the workspace has no raster {name!r}")
            folder = cache_dir() / "postgis-rasters"
            path = folder / f"{row[0]}.tif"
            if not path.is_file():
                cur.execute(
                    sql.SQL("SELECT data FROM {} WHERE name = %s").format(self._id(RASTERS_TABLE)),
                    (name,),
                )
                folder.mkdir(parents=True, exist_ok=True)
                tmp = folder / f".{uuid.uuid4().hex}.tif"
                tmp.write_bytes(bytes(cur.fetchone()[0]))
                os.replace(tmp, path)
        return path

    def _check_vector(self, name: str) -> None:
        if name in _SYSTEM or name not in self._stored():
            raise WorkspaceError(f"the workspace has no layer {name!r}")

    def read_layer(
        self,
        name: str,
        *,
        bbox: tuple[float, float, float, float] | None = None,
        columns: list[str] | None = None,
    ) -> gpd.GeoDataFrame:
        """A vector layer in the workspace CRS (``bbox`` in that CRS, via the GiST index)."""
        self._check_vector(name)
        where = None
        if bbox is not None:
            where = sql.SQL("{} && ST_MakeEnvelope({}, ST_SRID({}))").format(
                sql.Identifier(pg_frames.GEOMETRY),
                sql.SQL(", ").join(sql.Literal(float(v)) for v in bbox),
                sql.Identifier(pg_frames.GEOMETRY),
            )
        with self._cursor() as cur:
            return pg_frames.read_frame(
                cur, self.schema, name, self.crs, columns=columns, where=where
            )

    def read_table(self, name: str) -> pd.DataFrame:
        self._check_vector(name)
        with self._cursor() as cur:
            return pd.DataFrame(pg_frames.read_frame(cur, self.schema, name, self.crs))

    def read_internal_table(self, name: str) -> pd.DataFrame | None:
        """One of Townmap's own tables, or None when it was never written."""
        if name not in self._stored():
            return None
        with self._cursor() as cur:
            return pd.DataFrame(pg_frames.read_frame(cur, self.schema, name, None))

    def layer_info(self, name: str) -> LayerInfo:
        if name in self.raster_names():
            import rasterio

            with rasterio.open(self.raster_path(name)) as src:
                crs = f"EPSG:{src.crs.to_epsg()}" if src.crs and src.crs.to_epsg() else None
                return LayerInfo(name, src.width * src.height, crs, "raster")
        self._check_vector(name)
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
            con.execute("SELECT pg_advisory_lock(%s)", (_lock_key(self.schema),))
            yield
        finally:
            con.close()  # ends the session, which releases the lock

    @contextlib.contextmanager
    def transaction(self) -> Iterator[PostgisTransaction]:
        """All writes inside the block land together at its end, or none do."""
        con = self.connect(autocommit=False)
        tx = None
        try:
            con.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(self.schema),))
            tx = PostgisTransaction(self, con)
            yield tx
            tx._commit()
        finally:
            if tx is not None:
                tx._discard()
            con.close()  # without a commit the server rolls everything back


def _tables(cur, schema: str) -> set[str]:
    cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))
    return {str(r[0]) for r in cur.fetchall()}


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
        self._con = con
        self._schema = workspace.schema
        self._crs = CRS.from_wkt(self._meta_now()["crs"])
        self._meta = self._meta_now()
        self._register = self._register_now()
        self._rasters: dict[str, Path] = {}
        self._deleted_rasters: set[str] = set()
        self._tmpdir = Path(tempfile.mkdtemp(prefix="townmap-pg-tx-"))
        self._dirty = False

    def _meta_now(self) -> dict[str, str]:
        with self._con.cursor() as cur:
            cur.execute(sql.SQL("SELECT key, value FROM {}").format(self._id(META_TABLE)))
            return {str(k): str(v) for k, v in cur.fetchall()}

    def _register_now(self) -> pd.DataFrame:
        with self._con.cursor() as cur:
            cur.execute(
                sql.SQL("SELECT {} FROM {} ORDER BY position").format(
                    sql.SQL(", ").join(map(sql.Identifier, _REGISTER_COLUMNS)),
                    self._id(LAYERS_TABLE),
                )
            )
            return pd.DataFrame(cur.fetchall(), columns=_REGISTER_COLUMNS).astype("str")

    def _id(self, name: str) -> sql.Identifier:
        return sql.Identifier(self._schema, name)

    def _stored(self) -> set[str]:
        with self._con.cursor() as cur:
            return _tables(cur, self._schema) - _SYSTEM

    def has_table(self, name: str) -> bool:
        return name in self._stored()

    def read_table(self, name: str) -> pd.DataFrame:
        if not self.has_table(name):
            raise WorkspaceError(f"the workspace has no layer {name!r}")
        with self._con.cursor() as cur:
            return pd.DataFrame(pg_frames.read_frame(cur, self._schema, name, self._crs))

    def _store(self, name, frame, kind, fictional, source, description) -> None:
        self._dirty = True
        if name in _SYSTEM:
            raise WorkspaceError(f"{name!r} is reserved for Townmap's own records")
        self._validate(name, frame)
        desc = description or ("FICTIONAL demo data / 虚构示例数据" if fictional else "")
        self._create(name, frame)
        if not name.startswith(INTERNAL_PREFIX):
            self._record(name, kind, fictional, source, desc)

    def _create(self, name: str, frame: pd.DataFrame) -> None:
        srid = self._crs.to_epsg() if isinstance(frame, gpd.GeoDataFrame) else None
        if isinstance(frame, gpd.GeoDataFrame) and srid is None:
            raise WorkspaceError("a PostGIS workspace needs a CRS with an EPSG code")
        try:
            with self._con.cursor() as cur:
                pg_frames.create_table(cur, self._schema, name, frame, srid)
        except psycopg.Error as exc:
            raise WorkspaceError(f"could not store {name!r}: {exc}".strip()) from None

    def write_internal_table(self, name: str, table: pd.DataFrame) -> None:
        if name not in OWN_TABLES:
            raise WorkspaceError(f"{name!r} is not one of Townmap's own tables")
        self._dirty = True
        self._create(name, pd.DataFrame(table))

    def delete_layer(self, name: str) -> None:
        self._dirty = True
        if name in _SYSTEM:
            raise WorkspaceError(f"{name!r} is reserved for Townmap's own records")
        if name not in self._stored():
            raise WorkspaceError(f"the workspace has no layer {name!r}")
        with self._con.cursor() as cur:
            cur.execute(sql.SQL("DROP TABLE {}").format(self._id(name)))
        self._register = self._register[self._register["layer_id"] != name]

    def write_raster(self, name: str, writer, *, fictional: bool = False, source: str = "",
                     description: str = "") -> Path:  # fmt: skip
        """Call ``writer(path)`` to write a GeoTIFF; stored in the database at commit."""
        self._dirty = True
        tmp = self._tmpdir / f"{name}.tif"
        writer(tmp)
        self._rasters[name] = tmp
        self._deleted_rasters.discard(name)
        if not name.startswith(INTERNAL_PREFIX):
            self._record(name, "raster", fictional, source, description)
        return tmp

    def delete_raster(self, name: str) -> None:
        self._dirty = True
        if name not in self.ws.raster_names() and name not in self._rasters:
            raise WorkspaceError(f"the workspace has no raster {name!r}")
        self._rasters.pop(name, None)
        self._deleted_rasters.add(name)
        self._register = self._register[self._register["layer_id"] != name]

    def _commit(self) -> None:
        if not self._dirty:
            self._con.rollback()
            return
        with self._con.cursor() as cur:
            _write_meta(cur, self._schema, self._meta)
            cur.execute(sql.SQL("DELETE FROM {}").format(self._id(LAYERS_TABLE)))
            cur.executemany(
                sql.SQL("INSERT INTO {} ({}) VALUES (%s, %s, %s, %s, %s, %s)").format(
                    self._id(LAYERS_TABLE),
                    sql.SQL(", ").join(map(sql.Identifier, _REGISTER_COLUMNS)),
                ),
                self._register[_REGISTER_COLUMNS].astype(str).itertuples(index=False),
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
