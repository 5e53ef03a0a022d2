"""Pollution sources of the demo town: TVEs, the town sewage plant, sewer and outfalls.

Enterprises cluster along roads and rivers near village centres, with larger ones in the
industrial zone. Loads are flow × concentration for the sector, size and treatment, so
they are plausible in ratio (a dye works of a given size emits far more COD than a
machinery shop). Everything here is fictional.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import LineString, Point
from shapely.ops import unary_union

from townmap.crs import DEMO_CRS
from townmap.demo import names
from townmap.demo.geography import Geography

SECTOR_SHARE = {
    "machinery": 0.19,
    "textiles": 0.13,
    "food": 0.09,
    "building_materials": 0.08,
    "chemicals": 0.08,
    "printing_dyeing": 0.11,
    "electroplating": 0.07,
    "cement": 0.03,
    "chemical_pulp_paper": 0.04,
    "tanning": 0.04,
    "brewing": 0.05,
    "dyestuffs": 0.08,
}
#: wastewater of a "small" enterprise, m³/d
BASE_FLOW = {
    "printing_dyeing": 300,
    "electroplating": 50,
    "chemical_pulp_paper": 500,
    "tanning": 150,
    "brewing": 200,
    "dyestuffs": 150,
    "chemicals": 100,
    "cement": 5,
    "building_materials": 10,
    "machinery": 15,
    "food": 80,
    "textiles": 60,
}
#: untreated effluent, mg/L: COD, NH3-N, TP, TN
RAW_CONC = {
    "printing_dyeing": (1000, 20, 5, 40),
    "electroplating": (200, 30, 8, 50),
    "chemical_pulp_paper": (2000, 15, 4, 30),
    "tanning": (3000, 150, 10, 250),
    "brewing": (3000, 50, 15, 80),
    "dyestuffs": (2500, 80, 6, 120),
    "chemicals": (1200, 60, 5, 100),
    "cement": (100, 5, 1, 10),
    "building_materials": (150, 5, 1, 10),
    "machinery": (300, 20, 3, 35),
    "food": (1500, 40, 10, 60),
    "textiles": (500, 15, 3, 30),
}
#: air and waste of a "small" enterprise, t/a: SO2, dust, solid waste
BASE_AIR_WASTE = {
    "printing_dyeing": (8, 2, 150),
    "electroplating": (0.5, 0.3, 40),
    "chemical_pulp_paper": (10, 4, 600),
    "tanning": (3, 1, 200),
    "brewing": (6, 2, 300),
    "dyestuffs": (5, 2, 120),
    "chemicals": (6, 3, 200),
    "cement": (30, 80, 500),
    "building_materials": (4, 20, 300),
    "machinery": (1, 3, 80),
    "food": (3, 1, 150),
    "textiles": (5, 1.5, 60),
}
#: sectors the Taihu ordinance (Art. 43) bans; the demo gives them audits more often
TAIHU_BANNED_SECTORS = [
    "printing_dyeing",
    "electroplating",
    "chemical_pulp_paper",
    "tanning",
    "brewing",
    "dyestuffs",
]
SIZE_MULT = {"micro": 0.3, "small": 1.0, "medium": 3.5, "large": 10.0}
REMOVAL_OWN = np.array([0.85, 0.6, 0.6, 0.4])  # a working own plant: COD, NH3-N, TP, TN
SEWER_CAP = np.array([500.0, 45.0, 8.0, 70.0])  # pre-treated to a sewer-acceptance level
CP_PHASES = [
    "not_started",
    "cp1_preparation",
    "cp2_pre_assessment",
    "cp3_assessment",
    "cp4_options",
    "cp5_feasibility",
    "cp6_implementation",
    "cp7_continuous",
]


def _sewer(geo: Geography, plant: Point) -> list[LineString]:
    """Trunk from the industrial zone through the town centre to the plant."""
    iz = geo.industrial_zone.centroid
    c = geo.town_centre
    main = LineString([iz, (iz.x + 800, iz.y + 150), c, plant]).segmentize(200)
    nearest = sorted(geo.village_centres[1:], key=lambda p: p.distance(c))[:2]
    return [main] + [LineString([p, c]) for p in nearest]


def _anchor_lines(geo: Geography) -> list[LineString]:
    lines = [r[4] for r in geo.roads]
    lines += [g.intersection(geo.town) for g in geo.rivers.values()]
    return [g for part in lines for g in shapely.get_parts(part) if g.length > 0]


def _village_anchors(geo: Geography) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per village: the roads and rivers within 1.6 km of its centre, with cumulative lengths."""
    anchors = unary_union(_anchor_lines(geo))
    out = []
    for centre, village in zip(geo.village_centres, geo.villages, strict=True):
        zone = centre.buffer(1_600).intersection(village)
        lines = np.array(
            [
                g
                for g in shapely.get_parts(anchors.intersection(zone))
                if g.geom_type == "LineString" and g.length > 50
            ],
            dtype=object,
        )
        out.append((lines, np.cumsum([g.length for g in lines]) if len(lines) else np.array([])))
    return out


def _candidates(
    rng: np.random.Generator, geo: Geography, anchors, weights: np.ndarray, m: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``m`` candidate points: mostly beside roads and rivers near a village centre."""
    v = rng.choice(len(geo.villages), size=m, p=weights)
    on_line = rng.random(m) < 0.85
    angle = rng.uniform(0, 2 * np.pi, m)
    dist = rng.uniform(40, 220, m)
    jitter = rng.normal(0, 500, (m, 2))
    along = rng.random(m)
    x = np.empty(m)
    y = np.empty(m)
    for k in np.unique(v):
        sel = v == k
        lines, cum = anchors[k]
        cx, cy = geo.village_centres[k].x, geo.village_centres[k].y
        x[sel], y[sel] = cx + jitter[sel, 0], cy + jitter[sel, 1]
        use = sel & on_line
        if len(lines) and use.any():
            target = along[use] * cum[-1]
            which = np.searchsorted(cum, target, side="right").clip(max=len(lines) - 1)
            start = np.concatenate([[0.0], cum[:-1]])[which]
            pts = shapely.line_interpolate_point(lines[which], target - start)
            x[use] = shapely.get_x(pts) + dist[use] * np.cos(angle[use])
            y[use] = shapely.get_y(pts) + dist[use] * np.sin(angle[use])
    return x, y, v


def _locations(rng: np.random.Generator, geo: Geography, n: int) -> tuple[list[Point], list[int]]:
    """Points along roads and rivers near village centres; a tenth in the industrial zone
    (spaced apart at town scale; at county scale they may crowd, as real zones do)."""
    n_zone = int(n * 0.1)
    minx, miny, maxx, maxy = geo.industrial_zone.bounds
    spacing = 60.0 if n_zone <= 150 else 0.0
    zx: list[float] = []
    zy: list[float] = []
    while len(zx) < n_zone:
        px, py = rng.uniform(minx + 40, maxx - 40), rng.uniform(miny + 40, maxy - 40)
        if spacing == 0 or all(
            np.hypot(px - a, py - b) > spacing for a, b in zip(zx, zy, strict=True)
        ):
            zx.append(px)
            zy.append(py)
    anchors = _village_anchors(geo)
    areas = np.array([v.area for v in geo.villages])
    weights = areas / areas.sum()
    water = unary_union(list(geo.rivers.values()))
    shapely.prepare(geo.town)
    xs, ys, vs = [np.array(zx)], [np.array(zy)], [np.full(n_zone, -1)]
    have = n_zone
    while have < n:
        m = max(2 * (n - have), 64)
        x, y, v = _candidates(rng, geo, anchors, weights, m)
        pts = shapely.points(x, y)
        ok = (
            shapely.contains(geo.town, pts)
            & ~shapely.dwithin(geo.lake, pts, 80)
            & ~shapely.dwithin(water, pts, 25)
        )
        take = np.flatnonzero(ok)[: n - have]
        xs.append(x[take])
        ys.append(y[take])
        vs.append(v[take])
        have += len(take)
    x, y, v = np.concatenate(xs), np.concatenate(ys), np.concatenate(vs)
    return [Point(a, b) for a, b in zip(x, y, strict=True)], [int(k) for k in v]


def _names(rng: np.random.Generator, sectors: list[str], villages: list[int]) -> tuple[list, list]:
    zh_names, en_names, seen = [], [], set()
    for sector, v in zip(sectors, villages, strict=True):
        vzh, ven = names.VILLAGES[max(v, 0)]
        if v < 0:
            vzh, ven = "太滨开发区", "Taibin Development Zone "
        else:
            vzh, ven = vzh[:-1], ven + " "
        number = ""
        for attempt in range(60):
            wzh, wen = names.FIRM_WORDS[int(rng.integers(len(names.FIRM_WORDS)))]
            szh, sen = names.FIRM_SUFFIX[int(rng.random() < 0.3)]
            if attempt >= 20:  # a crowded name space (county-scale demo): number them
                number = str(int(rng.integers(2, 10_000)))
            zh = f"{vzh}{wzh}{names.SECTOR_WORDS[sector][0]}{number}{szh}"
            if zh not in seen:
                break
        else:  # pragma: no cover - only with an impossible name space
            raise RuntimeError("ran out of unique enterprise names")
        seen.add(zh)
        zh_names.append(zh)
        en_sector = f"{names.SECTOR_WORDS[sector][1]}{' No. ' + number if number else ''}"
        en_names.append(f"{ven}{wen} {en_sector} {sen}")
    return zh_names, en_names


def build_sources(
    rng: np.random.Generator, geo: Geography, n_enterprises: int, village_ids: list[str]
) -> dict[str, gpd.GeoDataFrame]:
    """Enterprises, sewage plant, sewer trunk and discharge points."""
    r03 = geo.rivers["R03"]
    plant_on_river = r03.interpolate(r03.length - 1_300)
    plant = Point(plant_on_river.x + 120, plant_on_river.y - 160)
    sewer_lines = _sewer(geo, plant)
    sewer_union = unary_union(sewer_lines)

    pts, vidx = _locations(rng, geo, n_enterprises)
    n = len(pts)
    sector_names = list(SECTOR_SHARE)
    share = np.array(list(SECTOR_SHARE.values()))
    sectors = [sector_names[i] for i in rng.choice(len(share), size=n, p=share / share.sum())]
    in_zone = np.array([v < 0 for v in vidx])
    sizes = np.where(
        in_zone,
        rng.choice(["small", "medium", "large"], size=n, p=[0.3, 0.5, 0.2]),
        rng.choice(["micro", "small", "medium", "large"], size=n, p=[0.38, 0.42, 0.16, 0.04]),
    )
    mult = np.array([SIZE_MULT[s] for s in sizes])
    flow = np.array([BASE_FLOW[s] for s in sectors]) * mult * rng.lognormal(0, 0.45, n)
    near_sewer = np.array([sewer_union.distance(p) < 1_500 for p in pts])
    treat_p = {
        "micro": [0.55, 0.2, 0.25],
        "small": [0.3, 0.45, 0.25],
        "medium": [0.1, 0.6, 0.3],
        "large": [0.0, 0.7, 0.3],
    }
    treatment = np.array([rng.choice(["none", "own", "sewer"], p=treat_p[s]) for s in sizes])
    treatment = np.where((treatment == "sewer") & ~near_sewer, "own", treatment)
    treatment = np.where(in_zone, "sewer", treatment)

    raw = np.array([RAW_CONC[s] for s in sectors], dtype=float) * rng.lognormal(0, 0.3, (n, 4))
    failing = rng.random(n) < 0.3
    own = raw * (1 - REMOVAL_OWN * np.where(failing, 0.5, 1.0)[:, None])
    conc = np.where((treatment == "none")[:, None], raw * 0.95, own)
    conc = np.where((treatment == "sewer")[:, None], np.minimum(raw, SEWER_CAP), conc)
    loads = flow[:, None] * conc * 365 / 1e6  # g/d -> t/a
    air = np.array([BASE_AIR_WASTE[s] for s in sectors]) * mult[:, None]
    air = air * rng.lognormal(0, 0.4, (n, 3))

    big = np.isin(sizes, ["medium", "large"])
    banned = np.isin(sectors, TAIHU_BANNED_SECTORS)
    cp_p = np.where(
        (big | banned)[:, None],
        [0.25, 0.08, 0.08, 0.1, 0.1, 0.1, 0.15, 0.14],
        [0.7, 0.06, 0.05, 0.05, 0.04, 0.04, 0.03, 0.03],
    )
    cp = [CP_PHASES[rng.choice(8, p=p / p.sum())] for p in cp_p]
    iso_p = np.where(big[:, None], [0.35, 0.2, 0.35, 0.1], [0.85, 0.07, 0.05, 0.03])
    iso = [["none", "preparing", "certified", "expired"][rng.choice(4, p=p)] for p in iso_p]
    founded = np.clip(np.round(rng.normal(1993, 8, n)), 1978, 2022).astype(int)
    ownership = rng.choice(
        ["collective", "private", "shareholding_coop", "joint_venture", "foreign"],
        size=n,
        p=[0.12, 0.62, 0.14, 0.08, 0.04],
    )
    zh_names, en_names = _names(rng, sectors, vidx)
    ent_ids = [f"E{i + 1:05d}" for i in range(n)]
    village_of = [village_ids[max(v, 0)] for v in vidx]
    enterprises = gpd.GeoDataFrame(
        {
            "ent_id": ent_ids,
            "name_zh": zh_names,
            "name_en": en_names,
            "village_id": village_of,
            "sector": sectors,
            "size": sizes,
            "ownership": ownership,
            "founded": founded,
            "wastewater_m3d": flow.round(1),
            "cod_tpa": loads[:, 0].round(3),
            "nh3n_tpa": loads[:, 1].round(3),
            "tp_tpa": loads[:, 2].round(3),
            "tn_tpa": loads[:, 3].round(3),
            "so2_tpa": air[:, 0].round(3),
            "dust_tpa": air[:, 1].round(3),
            "solid_waste_tpa": air[:, 2].round(1),
            # a cement works' output (the sanitary-distance rule's input), from its dust:
            # fictional like the rest, and drawn without the generator
            "output_tpa": np.where(
                np.asarray(sectors) == "cement", (air[:, 1] * 4000).round(-3), np.nan
            ),
            "treatment": treatment,
            "cp_audit_phase": cp,
            "iso14001": iso,
            "public": rng.random(n) > 0.08,
        },
        geometry=[Point(round(p.x, 1), round(p.y, 1)) for p in pts],
        crs=DEMO_CRS,
    )

    # outfalls: every enterprise not on the sewer discharges at the nearest water
    waters = [(rid, geo.rivers[rid]) for rid in geo.rivers] + [("LAKE", geo.lake.exterior)]
    tree = shapely.STRtree([w for _, w in waters])
    rows = []
    direct = enterprises[enterprises["treatment"] != "sewer"]
    nearest = tree.nearest(direct.geometry.values)
    for (_, ent), wi in zip(direct.iterrows(), nearest, strict=True):
        rid, water = waters[int(wi)]
        on = water.interpolate(water.project(ent.geometry))
        rows.append(
            {
                "dp_id": f"D{len(rows) + 1:05d}",
                "source_kind": "enterprise",
                "ent_id": ent["ent_id"],
                "plant_id": None,
                "receiving_water": rid,
                "flow_m3d": round(ent["wastewater_m3d"] * 0.95, 1),
                "geometry": Point(round(on.x, 1), round(on.y, 1)),
            }
        )
    plant_flow = (
        float(enterprises.loc[enterprises["treatment"] == "sewer", "wastewater_m3d"].sum())
        + 6_000.0
    )
    rows.append(
        {
            "dp_id": f"D{len(rows) + 1:05d}",
            "source_kind": "plant",
            "ent_id": None,
            "plant_id": "P001",
            "receiving_water": "R03",
            "flow_m3d": round(plant_flow, 1),
            "geometry": plant_on_river,
        }
    )
    river_names = {r[0]: r[1] for r in names.RIVERS} | {"LAKE": "太湖"}
    dps = gpd.GeoDataFrame(rows, crs=DEMO_CRS)
    dps["receiving_name"] = dps["receiving_water"].map(river_names)

    plants = gpd.GeoDataFrame(
        {
            "plant_id": ["P001"],
            "name_zh": ["太滨镇污水处理厂"],
            "name_en": ["Taibin Town Sewage Treatment Plant"],
            "capacity_m3d": [max(20_000.0, round(plant_flow * 1.3, -3))],
            "built": [2008],
            "discharge_class": ["1A"],
        },
        geometry=[plant],
        crs=DEMO_CRS,
    )
    sewer = gpd.GeoDataFrame(
        {
            "sewer_id": [f"S{i + 1:02d}" for i in range(len(sewer_lines))],
            "diameter_mm": [800] + [400] * (len(sewer_lines) - 1),
            "status": ["existing"] + ["planned"] * (len(sewer_lines) - 1),
        },
        geometry=sewer_lines,
        crs=DEMO_CRS,
    )
    return {
        "enterprises": enterprises,
        "discharge_points": dps,
        "treatment_plants": plants,
        "sewer_trunk": sewer,
    }
