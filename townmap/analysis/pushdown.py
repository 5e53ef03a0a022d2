"""The conflicts engine's spatial joins run inside PostGIS when the workspace is there.

Why: on a county workspace the subject and constraint layers are large, and the server
already holds them with GiST indexes; only the matched pairs (a few thousand rows) travel
back. The engine asks for pairs exactly as it would from shapely's STRtree — same
geometries (stored in the workspace CRS, repaired with ST_MakeValid where invalid), same
predicates (``ST_DWithin`` ≤ limit, ``ST_Intersects``), same measures (GEOS distance,
area or length of the intersection) — so the findings are equal row for row (tested).

When a join cannot be pushed (the analysis CRS is not the workspace CRS, or a table's row
ids are not its read order) the finder answers ``None`` and the engine does it in memory.
"""

from __future__ import annotations

import uuid

import numpy as np
from psycopg import sql
from pyproj import CRS

from townmap.pg_frames import FID, GEOMETRY


class PostgisPairs:
    """Pair finder for ``find_conflicts`` backed by a ``PostgisWorkspace``.

    Each layer a rule uses is first copied once into a temporary table of its repaired
    geometries with its own GiST index (repairing inside the join would defeat the index
    and repeat ``ST_IsValid`` for every candidate pair). The server then returns one row
    per subject feature — the engine's choice (nearest constraint, or largest overlap, ties
    by constraint order) with the overlap summed — instead of every pair."""

    def __init__(self, ws, crs: CRS) -> None:
        self.ws = ws
        self.usable = CRS.from_user_input(crs) == ws.crs
        self._aligned: dict[str, bool] = {}
        self._count: dict[str, int] = {}
        self._fixed: dict[str, str | None] = {}
        self.pushed = 0  # joins answered by the server (for tests and benchmarks)

    def _ok(self, *layers: str) -> bool:
        if not self.usable:
            return False
        for name in layers:
            if name not in self._aligned:
                with self.ws._cursor() as cur:
                    cur.execute(
                        sql.SQL("SELECT count(*), coalesce(max({}), 0) FROM {}").format(
                            sql.Identifier(FID), self.ws._id(name)
                        )
                    )
                    count, top = cur.fetchone()
                    self._aligned[name] = count == top
                    self._count[name] = int(count)
            if not self._aligned[name]:
                return False
        return True

    def _source(self, layer: str) -> sql.Composable:
        """The layer as ``(fid, g)`` with valid geometries: the stored table itself (its GiST
        index) when every geometry is valid, else a temporary repaired copy, indexed."""
        if layer not in self._fixed:
            g, fid = sql.Identifier(GEOMETRY), sql.Identifier(FID)
            with self.ws._cursor() as cur:
                cur.execute(
                    sql.SQL("SELECT coalesce(bool_and(ST_IsValid({})), true) FROM {}").format(
                        g, self.ws._id(layer)
                    )
                )
                if cur.fetchone()[0]:
                    self._fixed[layer] = None
                else:
                    name = f"townmap_fixed_{uuid.uuid4().hex[:12]}"
                    self._fixed[layer] = name
                    cur.execute(
                        sql.SQL(
                            "CREATE TEMP TABLE {t} AS SELECT {fid} AS fid, CASE WHEN "
                            "ST_IsValid({g}) THEN {g} ELSE ST_MakeValid({g}) END AS g FROM {src}"
                        ).format(t=sql.Identifier(name), fid=fid, g=g, src=self.ws._id(layer))
                    )
                    table = sql.Identifier(name)
                    cur.execute(sql.SQL("CREATE INDEX ON {} USING gist (g)").format(table))
                    cur.execute(sql.SQL("CREATE UNIQUE INDEX ON {} (fid)").format(table))
                    cur.execute(sql.SQL("ANALYZE {}").format(table))
        name = self._fixed[layer]
        if name is None:
            return sql.SQL("(SELECT {fid} AS fid, {g} AS g FROM {t})").format(
                fid=sql.Identifier(FID), g=sql.Identifier(GEOMETRY), t=self.ws._id(layer)
            )
        return sql.Identifier(name)

    def close(self) -> None:
        """Drop the temporary tables (they would end with the connection anyway)."""
        with self.ws._cursor() as cur:
            for name in filter(None, self._fixed.values()):
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
        self._fixed.clear()

    def within_distance(
        self, sub: str, s_idx: np.ndarray, limit: np.ndarray, con: str, c_idx: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Per subject within its limit of a constraint: (position in s_idx, position in
        c_idx of the nearest, distance)."""
        if not self._ok(sub, con):
            return None
        # nearest first through the GiST index (KNN), bounded by the limit's box; ties by
        # feature order (c_idx ascends, so its positions follow the row ids)
        query = sql.SQL(
            "SELECT s.pos - 1, n.fid, n.d "
            "FROM unnest(%s::bigint[], %s::float8[]) WITH ORDINALITY AS s(fid, lim, pos) "
            "JOIN {sub} a ON a.fid = s.fid "
            "CROSS JOIN LATERAL (SELECT b.fid, ST_Distance(a.g, b.g) AS d FROM {con} b "
            "WHERE b.g && ST_Expand(a.g, s.lim) AND (%s OR b.fid = ANY(%s::bigint[])) "
            "AND ST_DWithin(a.g, b.g, s.lim) ORDER BY b.g <-> a.g, b.fid LIMIT 1) n "
            "ORDER BY s.pos"
        ).format(sub=self._source(sub), con=self._source(con))
        c_fids = (c_idx.astype(np.int64) + 1).tolist()
        every = len(c_idx) == self._count[con]  # no subset: skip the per-row array test
        i, fid, d = self._run(query, s_idx, limit, None, extra=(every, [] if every else c_fids))
        return i, np.searchsorted(c_idx.astype(np.int64) + 1, fid.astype(np.int64)), d

    def inside(
        self, sub: str, s_idx: np.ndarray, con: str, c_idx: np.ndarray, kind: str,
        min_shared: float,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:  # fmt: skip
        """Per subject intersecting a constraint (by at least ``min_shared`` m² or m for
        areas and lines): (position, position of the largest overlap, summed overlap)."""
        if not self._ok(sub, con):
            return None
        measure = {"polygon": "ST_Area", "line": "ST_Length"}.get(kind)
        shared = f"{measure}(ST_Intersection(a.g, b.g))" if measure else "0.0::float8"
        keep = "shared >= %s" if measure else "%s IS NOT NULL"
        query = sql.SQL(
            "SELECT i, j, total FROM (SELECT i, j, sum(shared) OVER w AS total, "
            "row_number() OVER (w ORDER BY shared DESC, j) AS rn FROM ("
            "SELECT s.pos - 1 AS i, c.pos - 1 AS j, " + shared + " AS shared "
            "FROM unnest(%s::bigint[], %s::float8[]) WITH ORDINALITY AS s(fid, lim, pos) "
            "JOIN {sub} a ON a.fid = s.fid "
            "JOIN {con} b ON b.g && a.g AND ST_Intersects(a.g, b.g) "
            "JOIN unnest(%s::bigint[]) WITH ORDINALITY AS c(fid, pos) ON c.fid = b.fid"
            ") p WHERE " + keep + " WINDOW w AS (PARTITION BY i)) x WHERE rn = 1 ORDER BY i"
        ).format(sub=self._source(sub), con=self._source(con))
        return self._run(query, s_idx, np.zeros(len(s_idx)), c_idx, (float(min_shared),))

    def _run(self, query, s_idx, limit, c_idx, extra=()):
        params = (
            (s_idx.astype(np.int64) + 1).tolist(),
            np.asarray(limit, dtype=float).tolist(),
            *(() if c_idx is None else ((c_idx.astype(np.int64) + 1).tolist(),)),
            *extra,
        )
        with self.ws._cursor() as cur:
            cur.execute(query, params)
            rows = cur.fetchall()
        self.pushed += 1
        if not rows:
            return np.array([], dtype=np.int64), np.array([], dtype=np.int64), np.array([])
        i, j, value = (np.asarray(col) for col in zip(*rows, strict=True))
        return i.astype(np.int64), j.astype(np.int64), value.astype(float)
