"""The demo town's physical and administrative shape, in CGCS2000 / GK CM 120°E metres.

A town on the western shore of Lake Tai (about 31.33–31.48 N, 119.87–120.02 E): hills in
the west, a plain falling to the lake, four rivers flowing east into the lake, a stream
joining one of them and a canal draining north towards the Yangtze. Everything is drawn
from a seeded random generator, so two builds are identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box
from shapely.ops import substring, unary_union

from townmap.demo import names

#: DEM and drawing frame (EPSG:4549): 22 km × 22 km.
FRAME = (484_000.0, 3_464_000.0, 506_000.0, 3_486_000.0)
LAKE_LEVEL = 3.0
#: y above which the land drains north to the Yangtze (a low divide just south of it).
DIVIDE_Y = 3_480_300.0


@dataclass
class Geography:
    shoreline: LineString
    lake: Polygon
    town: Polygon
    rivers: dict[str, LineString]  # river id -> line drawn from source to mouth
    village_centres: list[Point]
    villages: list[Polygon]
    town_centre: Point
    industrial_zone: Polygon
    roads: list[tuple[str, str, str, str, LineString]]  # id, zh, en, class, line


def _shore_x(y: np.ndarray) -> np.ndarray:
    t = (y - FRAME[1]) / 1000.0
    return 500_400.0 - 0.07 * (y - FRAME[1]) + 700 * np.sin(t / 3.1) + 250 * np.sin(t / 1.3 + 1)


def _shoreline() -> LineString:
    ys = np.linspace(FRAME[1] - 100, FRAME[3] + 100, 240)
    return LineString(np.column_stack([_shore_x(ys), ys]))


def _lake(shore: LineString) -> Polygon:
    coords = list(shore.coords)
    return Polygon([*coords, (FRAME[2] + 100, FRAME[3] + 100), (FRAME[2] + 100, FRAME[1] - 100)])


def _smooth_noise(rng: np.random.Generator, n: int, knots: int, amp: float) -> np.ndarray:
    """Periodic smooth 1-D noise: a few random Fourier terms."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    out = np.zeros(n)
    for k in range(1, knots + 1):
        out += rng.normal(0, amp / k) * np.sin(k * t + rng.uniform(0, 2 * np.pi))
    return out


def _town(rng: np.random.Generator, lake: Polygon) -> Polygon:
    n = 180
    theta = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = 1 + _smooth_noise(rng, n, 7, 0.05)
    xs = 493_800 + 6_900 * r * np.cos(theta)
    ys = 3_475_000 + 7_900 * r * np.sin(theta)
    shape = Polygon(np.column_stack([xs, ys])).buffer(0)
    return shape.difference(lake)


def _meander(
    rng: np.random.Generator,
    start: tuple[float, float],
    end: tuple[float, float],
    amp: float,
    n: int = 220,
) -> LineString:
    a, b = np.asarray(start), np.asarray(end)
    t = np.linspace(0, 1, n)
    base = a + np.outer(t, b - a)
    d = b - a
    normal = np.array([-d[1], d[0]]) / np.hypot(*d)
    envelope = np.sin(np.pi * t) ** 0.6
    wiggle = amp * np.sin(
        2 * np.pi * rng.uniform(1.5, 2.5) * t + rng.uniform(0, 6)
    ) + amp * 0.35 * np.sin(2 * np.pi * rng.uniform(5, 8) * t + rng.uniform(0, 6))
    pts = base + np.outer(envelope * wiggle, normal)
    return LineString(pts)


def _to_mouth(line: LineString, shore: LineString, lake: Polygon) -> LineString:
    """Cut a river where it first meets the lake, so its last vertex is on the shore."""
    if not line.intersects(lake):
        return line
    hit = line.intersection(shore)
    first = min(shapely.get_parts(hit), key=lambda p: line.project(p))
    return substring(line, 0, line.project(first))


def _rivers(rng: np.random.Generator, shore: LineString, lake: Polygon) -> dict[str, LineString]:
    rivers: dict[str, LineString] = {}
    mouths_y = {"R01": 3_469_300, "R02": 3_472_400, "R03": 3_475_600, "R04": 3_478_900}
    sources = {
        "R01": (484_300, 3_468_400),
        "R02": (484_200, 3_471_000),
        "R03": (484_500, 3_476_800),
        "R04": (485_200, 3_480_100),
    }
    for rid, my in mouths_y.items():
        mouth = (float(_shore_x(np.array([my]))[0]) + 600, my)
        line = _meander(rng, sources[rid], mouth, amp=420)
        rivers[rid] = _to_mouth(line, shore, lake)
    canal_pts = [
        (493_300, 3_480_900),
        (493_500, 3_482_400),
        (493_900, 3_484_000),
        (494_100, 3_486_200),
    ]
    rivers["R05"] = LineString(canal_pts).segmentize(100)
    # a hill stream joining the Hujing River about 9 km above its mouth
    r03 = rivers["R03"]
    junction = r03.interpolate(r03.length - 9_000)
    rivers["R06"] = _meander(rng, (486_600, 3_471_600), (junction.x, junction.y), amp=250, n=120)
    return rivers


def _village_centres(
    rng: np.random.Generator, town: Polygon, centre: Point, rivers: dict[str, LineString]
) -> list[Point]:
    inner = town.buffer(-900)
    minx, miny, maxx, maxy = inner.bounds
    water = unary_union(list(rivers.values()))
    pts = [centre]
    tries = 0
    while len(pts) < len(names.VILLAGES) and tries < 20_000:
        tries += 1
        p = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if not inner.contains(p) or water.distance(p) < 150:
            continue
        if min(p.distance(q) for q in pts) < 2_600:
            continue
        pts.append(p)
    if len(pts) < len(names.VILLAGES):
        raise RuntimeError("could not place the demo villages; the seed or spacing is wrong")
    return pts


def _villages(town: Polygon, centres: list[Point]) -> list[Polygon]:
    cells = shapely.voronoi_polygons(shapely.MultiPoint(centres), extend_to=town.buffer(5_000))
    out = []
    for c in centres:
        cell = next(g for g in shapely.get_parts(cells) if g.contains(c))
        out.append(cell.intersection(town))
    return out


def _bent(rng: np.random.Generator, a: Point, b: Point, jitter: float) -> LineString:
    mid = Point((a.x + b.x) / 2 + rng.normal(0, jitter), (a.y + b.y) / 2 + rng.normal(0, jitter))
    return LineString([a, mid, b])


def _roads(
    rng: np.random.Generator, town: Polygon, centre: Point, centres: list[Point], lake: Polygon
) -> list[tuple[str, str, str, str, LineString]]:
    roads = []
    ns = LineString([(495_900, FRAME[1]), (centre.x, centre.y), (495_200, FRAME[3])])
    roads.append(("RD01", "滨湖公路", "Binhu Highway", "provincial", ns.difference(lake)))
    ew = LineString(
        [
            (FRAME[0], 3_474_000),
            (centre.x, centre.y),
            (float(_shore_x(np.array([centre.y]))[0]) - 50, centre.y + 300),
        ]
    )
    roads.append(("RD02", "太滨大道", "Taibin Avenue", "county", ew.difference(lake)))
    # town roads: a minimum spanning tree over village centres (Prim's algorithm)
    xy = np.array([[p.x, p.y] for p in centres])
    in_tree, edges = [0], []
    while len(in_tree) < len(xy):
        best = None
        for i in in_tree:
            d = np.hypot(*(xy - xy[i]).T)
            d[in_tree] = np.inf
            j = int(np.argmin(d))
            if best is None or d[j] < best[0]:
                best = (d[j], i, j)
        _, i, j = best
        in_tree.append(j)
        edges.append((i, j))
    for k, (i, j) in enumerate(edges, start=3):
        line = _bent(rng, centres[i], centres[j], 350).intersection(town)
        a, b = names.VILLAGES[i][0][:-1], names.VILLAGES[j][0][:-1]
        ea, eb = names.VILLAGES[i][1], names.VILLAGES[j][1]
        roads.append((f"RD{k:02d}", f"{a}{b}路", f"{ea}–{eb} Road", "town", line))
    return roads


def build_geography(rng: np.random.Generator) -> Geography:
    shore = _shoreline()
    lake = _lake(shore)
    town = _town(rng, lake)
    rivers = _rivers(rng, shore, lake)
    centre = Point(496_300, 3_474_600)
    centres = _village_centres(rng, town, centre, rivers)
    villages = _villages(town, centres)
    industrial = box(492_600, 3_473_300, 494_100, 3_474_300)
    roads = _roads(rng, town, centre, centres, lake)
    return Geography(shore, lake, town, rivers, centres, villages, centre, industrial, roads)


def river_segment(line: LineString, from_mouth: float, to_mouth: float) -> LineString:
    """The part of a river between two distances measured upstream from its mouth."""
    length = line.length
    return substring(line, max(0.0, length - to_mouth), max(0.0, length - from_mouth))


def polygonal(geom) -> Polygon | MultiPolygon:
    """Only the areal parts of an overlay result (drops stray lines and points)."""
    parts = [
        g
        for g in shapely.get_parts(shapely.make_valid(geom))
        if g.geom_type in ("Polygon", "MultiPolygon") and g.area > 1.0
    ]
    merged = unary_union(parts) if parts else Polygon()
    return merged
