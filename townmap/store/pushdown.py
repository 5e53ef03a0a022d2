"""The conflicts engine's spatial joins run inside PostGIS when the workspace is there.

Why: on a county workspace the subject and constraint layers are large, and the server
already holds them with GiST indexes; only one row per matched feature travels back. The
engine asks for pairs exactly as it would from shapely's STRtree — same geometries (stored
in the workspace CRS, repaired with ST_MakeValid where invalid), same predicates
(``ST_DWithin`` ≤ limit, ``ST_Intersects``), same measures (distance, area or length of the
intersection) — so the findings are equal row for row (tested).

Joins are independent, so the finder runs up to ``WORKERS`` of them at once, each on its
own connection (the server's cores work while the engine waits; measured at county scale).

When a join cannot be pushed (the analysis CRS is not the workspace CRS, or a table's row
ids are not its read order) the finder answers ``None`` and the engine does it in memory.
"""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import psycopg
from psycopg import sql
from pyproj import CRS

from townmap.store.pg_frames import FID, GEOMETRY

#: joins run at once, each on its own connection
WORKERS = 2


class PostgisPairs:
    """Pair finder for ``find_conflicts`` backed by a ``PostgisWorkspace``; safe to call
    from several threads (``workers`` tells the engine how many are worth using).

    A layer with invalid geometries is first copied into a temporary table of repaired
    geometries with its own GiST index, once per connection (repairing inside the join
    would defeat the index and repeat ``ST_IsValid`` for every candidate pair). The server
    returns one row per subject feature — the engine's choice (nearest constraint, or
    largest overlap, ties by constraint order) with the overlap summed."""

    workers = WORKERS

    def __init__(self, ws, crs: CRS) -> None:
        self.ws = ws
        self.usable = CRS.from_user_input(crs) == ws.crs
        self._idle: queue.SimpleQueue[psycopg.Connection] = queue.SimpleQueue()
        self._opened: list[psycopg.Connection] = []
        self._lock = threading.Lock()
        self._aligned: dict[str, bool] = {}
        self._count: dict[str, int] = {}
        self._valid: dict[str, bool] = {}
        self._fixed: dict[tuple[int, str], str] = {}  # (connection, layer) -> temp table
        self.pushed = 0  # joins answered by the server (for tests and benchmarks)

    @contextmanager
    def _cursor(self) -> Iterator[psycopg.Cursor]:
        """A cursor on one of this finder's own connections (opened as needed)."""
        try:
            con = self._idle.get_nowait()
        except queue.Empty:
            con = self.ws.connect()
            with self._lock:
                self._opened.append(con)
        try:
            with con.cursor() as cur:
                yield cur
        finally:
            self._idle.put(con)

    def _ok(self, *layers: str) -> bool:
        if not self.usable:
            return False
        for name in layers:
            if name not in self._aligned:
                with self._cursor() as cur:
                    cur.execute(
                        sql.SQL("SELECT count(*), coalesce(max({}), 0) FROM {}").format(
                            sql.Identifier(FID), self.ws._id(name)
                        )
                    )
                    count, top = cur.fetchone()
                self._count[name] = int(count)
                self._aligned[name] = count == top
            if not self._aligned[name]:
                return False
        return True

    def _is_valid(self, cur, layer: str) -> bool:
        if layer not in self._valid:
            # points are valid by construction; testing 100,000 of them took 0.3 s
            cur.execute(
                sql.SQL(
                    "SELECT coalesce(bool_and(ST_IsValid({g})), true) FROM {t} "
                    "WHERE ST_Dimension({g}) > 0"
                ).format(g=sql.Identifier(GEOMETRY), t=self.ws._id(layer))
            )
            self._valid[layer] = bool(cur.fetchone()[0])
        return self._valid[layer]

    def _source(self, cur, layer: str) -> sql.Composable:
        """The layer as ``(fid, g)`` with valid geometries: the stored table itself (its GiST
        index) when every geometry is valid, else a repaired copy on this connection."""
        g, fid = sql.Identifier(GEOMETRY), sql.Identifier(FID)
        if self._is_valid(cur, layer):
            return sql.SQL("(SELECT {fid} AS fid, {g} AS g FROM {t})").format(
                fid=fid, g=g, t=self.ws._id(layer)
            )
        key = (id(cur.connection), layer)
        if key not in self._fixed:
            name = f"townmap_fixed_{uuid.uuid4().hex[:12]}"
            table = sql.Identifier(name)
            cur.execute(
                sql.SQL(
                    "CREATE TEMP TABLE {t} AS SELECT {fid} AS fid, CASE WHEN "
                    "ST_IsValid({g}) THEN {g} ELSE ST_MakeValid({g}) END AS g FROM {src}"
                ).format(t=table, fid=fid, g=g, src=self.ws._id(layer))
            )
            cur.execute(sql.SQL("CREATE INDEX ON {} USING gist (g)").format(table))
            cur.execute(sql.SQL("CREATE UNIQUE INDEX ON {} (fid)").format(table))
            cur.execute(sql.SQL("ANALYZE {}").format(table))
            self._fixed[key] = name
        return sql.Identifier(self._fixed[key])

    def close(self) -> None:
        """Close this finder's connections (their temporary tables go with them)."""
        with self._lock:
            for con in self._opened:
                con.close()
            self._opened.clear()
        self._fixed.clear()

    def within_distance(
        self, sub: str, s_idx: np.ndarray, limit: np.ndarray, con: str, c_idx: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Per subject within its limit of a constraint: (position in s_idx, position in
        c_idx of the nearest, distance)."""
        if not self._ok(sub, con) or len(s_idx) == 0:
            return None
        lim = np.full(self._count[sub], -1.0)
        lim[s_idx] = limit
        params = {"top": float(np.max(limit)), "lim": _array_text(lim)}
        member, flags = self._member("b", con, c_idx)

        def query(cur) -> sql.Composable:
            # constraints drive the join (few rows; GiST on the subjects); each subject's
            # own limit is looked up by its row id in one array (-1: not asked), so no join
            # brings the limits in; nearest first, ties by constraint order
            return sql.SQL(
                "SELECT DISTINCT ON (a.fid) a.fid, b.fid, ST_Distance(a.g, b.g) AS d "
                "FROM {con} b JOIN {sub} a ON a.g && ST_Expand(b.g, %(top)s) "
                "WHERE " + member + " AND (%(lim)s::float8[])[a.fid] >= 0 "
                "AND ST_DWithin(a.g, b.g, (%(lim)s::float8[])[a.fid]) "
                "ORDER BY a.fid, d, b.fid"
            ).format(sub=self._source(cur, sub), con=self._source(cur, con))

        return self._run(query, {**params, **flags}, s_idx, c_idx)

    def inside(
        self,
        sub: str,
        s_idx: np.ndarray,
        con: str,
        c_idx: np.ndarray,
        kind: str,
        min_shared: float,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Per subject intersecting a constraint (by at least ``min_shared`` m² or m for
        areas and lines): (position, position of the largest overlap, summed overlap)."""
        if not self._ok(sub, con) or len(s_idx) == 0:
            return None
        in_b, b_flags = self._member("b", con, c_idx)
        in_a, a_flags = self._member("a", sub, s_idx)
        measure = {"polygon": "ST_Area", "line": "ST_Length"}.get(kind)

        def query(cur) -> sql.Composable:
            pairs = sql.SQL(
                "FROM {con} b JOIN {sub} a ON a.g && b.g AND ST_Intersects(b.g, a.g) "
                "WHERE " + in_b + " AND " + in_a
            ).format(sub=self._source(cur, sub), con=self._source(cur, con))
            if measure is None:  # points: the first constraint holding each, nothing to sum
                return sql.SQL("SELECT a.fid, min(b.fid), 0.0::float8 {} GROUP BY a.fid").format(
                    pairs
                )
            # the largest overlap (ties by constraint order) and the overlaps summed
            return sql.SQL(
                "SELECT i, (array_agg(j ORDER BY shared DESC, j))[1], sum(shared) FROM ("
                "SELECT a.fid AS i, b.fid AS j, " + measure + "(ST_Intersection(a.g, b.g)) "
                "AS shared {}) p WHERE shared >= %(min)s GROUP BY i"
            ).format(pairs)

        params = {"min": float(min_shared), **a_flags, **b_flags}
        return self._run(query, params, s_idx, c_idx)

    def _member(self, alias: str, layer: str, idx: np.ndarray) -> tuple[str, dict[str, str]]:
        """SQL that keeps the asked rows of a layer, and its parameters: nothing when every
        row is asked, else a lookup by row id in one flag array (no join to misjudge)."""
        if len(idx) == self._count[layer]:
            return "true", {}
        flags = np.isin(np.arange(self._count[layer]), idx).astype(int)
        return f"(%(in_{alias})s::int2[])[{alias}.fid] = 1", {f"in_{alias}": _array_text(flags)}

    def _run(self, query, params: dict, s_idx: np.ndarray, c_idx: np.ndarray):
        """Rows (subject fid, constraint fid, value) as positions in s_idx and c_idx."""
        with self._cursor() as cur:
            cur.execute(query(cur), params)
            rows = cur.fetchall()
        with self._lock:
            self.pushed += 1
        if not rows:
            return np.array([], dtype=np.int64), np.array([], dtype=np.int64), np.array([])
        a, b, value = (np.asarray(col) for col in zip(*rows, strict=True))
        order = np.argsort(a.astype(np.int64), kind="stable")
        i = np.searchsorted(s_idx, a.astype(np.int64)[order] - 1)
        j = np.searchsorted(c_idx, b.astype(np.int64)[order] - 1)
        return i.astype(np.int64), j.astype(np.int64), value.astype(float)[order]


def _array_text(values: np.ndarray) -> str:
    """A PostgreSQL array literal. psycopg adapts a Python list element by element (0.5 s
    for the county's arrays); ``repr`` of a float is exact, so no value changes."""
    return "{" + ",".join(map(repr, values.tolist())) + "}"
