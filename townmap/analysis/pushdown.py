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
        self._flags: dict[str, str] = {}  # row-id flag arrays for the next query
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
                    # points are valid by construction; testing 100,000 of them took 0.3 s
                    sql.SQL(
                        "SELECT coalesce(bool_and(ST_IsValid({g})), true) FROM {t} "
                        "WHERE ST_Dimension({g}) > 0"
                    ).format(g=g, t=self.ws._id(layer))
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
        if not self._ok(sub, con) or len(s_idx) == 0:
            return None
        # constraints drive the join (few rows; GiST on the subjects); each subject's own
        # limit is looked up by its row id in one array (-1: not asked), so no join is
        # needed to bring the limits in; nearest first, ties by constraint order
        query = sql.SQL(
            "SELECT DISTINCT ON (a.fid) a.fid, b.fid, ST_Distance(a.g, b.g) AS d "
            "FROM {con} b JOIN {sub} a ON a.g && ST_Expand(b.g, %(top)s) "
            "WHERE " + self._member("b", con, c_idx) + " AND (%(lim)s::float8[])[a.fid] >= 0 "
            "AND ST_DWithin(a.g, b.g, (%(lim)s::float8[])[a.fid]) "
            "ORDER BY a.fid, d, b.fid"
        ).format(sub=self._source(sub), con=self._source(con))
        lim = np.full(self._count[sub], -1.0)
        lim[s_idx] = limit
        params = {"top": float(np.max(limit)), "lim": _array_text(lim)}
        return self._run(query, params, s_idx, c_idx)

    def inside(
        self, sub: str, s_idx: np.ndarray, con: str, c_idx: np.ndarray, kind: str,
        min_shared: float,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:  # fmt: skip
        """Per subject intersecting a constraint (by at least ``min_shared`` m² or m for
        areas and lines): (position, position of the largest overlap, summed overlap)."""
        if not self._ok(sub, con) or len(s_idx) == 0:
            return None
        pairs = sql.SQL(
            "FROM {con} b JOIN {sub} a ON a.g && b.g AND ST_Intersects(b.g, a.g) "
            "WHERE " + self._member("b", con, c_idx) + " AND " + self._member("a", sub, s_idx)
        ).format(sub=self._source(sub), con=self._source(con))
        measure = {"polygon": "ST_Area", "line": "ST_Length"}.get(kind)
        if measure is None:  # points: the first constraint holding each, nothing to sum
            query = sql.SQL("SELECT a.fid, min(b.fid), 0.0::float8 {} GROUP BY a.fid").format(pairs)
        else:  # the largest overlap (ties by constraint order) and the overlaps summed
            query = sql.SQL(
                "SELECT i, (array_agg(j ORDER BY shared DESC, j))[1], sum(shared) FROM ("
                "SELECT a.fid AS i, b.fid AS j, " + measure + "(ST_Intersection(a.g, b.g)) "
                "AS shared {}) p WHERE shared >= %(min)s GROUP BY i"
            ).format(pairs)
        return self._run(query, {"min": float(min_shared)}, s_idx, c_idx)

    def _member(self, alias: str, layer: str, idx: np.ndarray) -> str:
        """SQL that keeps the asked rows of a layer: nothing when every row is asked, else a
        lookup by row id in one flag array (no join for the planner to misjudge)."""
        if len(idx) == self._count[layer]:
            return "true"
        key = f"in_{alias}"
        self._flags[key] = _array_text(np.isin(np.arange(self._count[layer]), idx).astype(int))
        return f"(%({key})s::int2[])[{alias}.fid] = 1"

    def _run(self, query, params: dict, s_idx: np.ndarray, c_idx: np.ndarray):
        """Rows (subject fid, constraint fid, value) as positions in s_idx and c_idx."""
        params = {**params, **self._flags}
        self._flags = {}
        with self.ws._cursor() as cur:
            cur.execute(query, params)
            rows = cur.fetchall()
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
