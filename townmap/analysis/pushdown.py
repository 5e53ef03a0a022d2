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

import numpy as np
from psycopg import sql
from pyproj import CRS

from townmap.pg_frames import FID, GEOMETRY

_FIXED = "CASE WHEN ST_IsValid({g}) THEN {g} ELSE ST_MakeValid({g}) END"


class PostgisPairs:
    """Pair finder for ``find_conflicts`` backed by a ``PostgisWorkspace``."""

    def __init__(self, ws, crs: CRS) -> None:
        self.ws = ws
        self.usable = CRS.from_user_input(crs) == ws.crs
        self._aligned: dict[str, bool] = {}
        self.pushed = 0  # joins answered by the server (for tests and benchmarks)

    def _ok(self, *layers: str) -> bool:
        if not self.usable:
            return False
        for name in layers:
            if name not in self._aligned:
                with self.ws._cursor() as cur:
                    cur.execute(
                        sql.SQL("SELECT count(*) = coalesce(max({}), 0) FROM {}").format(
                            sql.Identifier(FID), self.ws._id(name)
                        )
                    )
                    self._aligned[name] = bool(cur.fetchone()[0])
            if not self._aligned[name]:
                return False
        return True

    def _query(self, statement: sql.Composable, params: tuple) -> list[tuple]:
        with self.ws._cursor() as cur:
            cur.execute(statement, params)
            rows = cur.fetchall()
        self.pushed += 1
        return rows

    def within_distance(
        self, sub: str, s_idx: np.ndarray, limit: np.ndarray, con: str, c_idx: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Pairs (position in s_idx, position in c_idx, distance) with distance ≤ limit."""
        if not self._ok(sub, con):
            return None
        return self._pairs(
            "ST_Distance({fa}, {fb})",
            "{b} && ST_Expand({fa}, s.lim) AND ST_DWithin({fa}, {fb}, s.lim)",
            sub, s_idx, limit, con, c_idx,
        )  # fmt: skip

    def inside(
        self, sub: str, s_idx: np.ndarray, con: str, c_idx: np.ndarray, kind: str
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Intersecting pairs and the area (polygons) or length (lines) they share."""
        if not self._ok(sub, con):
            return None
        measure = {"polygon": "ST_Area", "line": "ST_Length"}.get(kind)
        value = f"{measure}(ST_Intersection({{fa}}, {{fb}}))" if measure else "0.0"
        return self._pairs(
            value, "{b} && {fa} AND ST_Intersects({fa}, {fb})",
            sub, s_idx, np.zeros(len(s_idx)), con, c_idx,
        )  # fmt: skip

    def _pairs(
        self, value: str, join: str, sub: str, s_idx: np.ndarray, limit: np.ndarray,
        con: str, c_idx: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        a = sql.SQL("a.{}").format(sql.Identifier(GEOMETRY))
        b = sql.SQL("b.{}").format(sql.Identifier(GEOMETRY))
        fa, fb = sql.SQL(_FIXED).format(g=a), sql.SQL(_FIXED).format(g=b)
        statement = sql.SQL(
            "SELECT s.pos - 1, c.pos - 1, " + value + " "
            "FROM unnest(%s::bigint[], %s::float8[]) WITH ORDINALITY AS s(fid, lim, pos) "
            "JOIN {sub} a ON a.{fid} = s.fid "
            "JOIN {con} b ON " + join + " "
            "JOIN unnest(%s::bigint[]) WITH ORDINALITY AS c(fid, pos) ON c.fid = b.{fid}"
        ).format(
            sub=self.ws._id(sub), con=self.ws._id(con), fid=sql.Identifier(FID),
            fa=fa, fb=fb, b=b,
        )  # fmt: skip
        params = (
            (s_idx.astype(np.int64) + 1).tolist(),
            np.asarray(limit, dtype=float).tolist(),
            (c_idx.astype(np.int64) + 1).tolist(),
        )
        rows = self._query(statement, params)
        if not rows:
            return np.array([], dtype=np.int64), np.array([], dtype=np.int64), np.array([])
        i, j, measured = (np.asarray(col) for col in zip(*rows, strict=True))
        return i.astype(np.int64), j.astype(np.int64), measured.astype(float)
