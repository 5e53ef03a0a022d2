"""Environmental constraint and planning layers of the demo town.

Taihu zones are drawn from the ordinance text (Art. 2: the lake, a 5 km shore belt and
inflowing rivers 10 km upstream with 1 km each side for level 1; 10–50 km upstream for
level 2; the rest is level 3). Real zones are published polygons (苏政办发〔2012〕221号);
these are illustrative and say so. The land-use plan contains deliberate conflicts with
the constraint layers, so later checks have something to find.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import Point, Polygon, box
from shapely.ops import unary_union

from townmap.crs import DEMO_CRS
from townmap.demo import names
from townmap.demo.geography import Geography, river_segment

TAIHU_BASIS = (
    "虚构示意：按《江苏省太湖水污染防治条例》第二条文字生成，非省政府公布的范围 / "
    "Illustrative: generated from the text of Art. 2 of the Jiangsu Taihu ordinance, "
    "not the boundary published by the province"
)
SOURCE_BASIS = (
    "虚构示意：参照 HJ 338-2018 典型尺寸（未核实） / Illustrative: typical HJ 338-2018 "
    "dimensions as recalled (unverified)"
)


def _polys(geom) -> list[Polygon]:
    return [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon" and g.area > 1]


def taihu_zones(geo: Geography) -> gpd.GeoDataFrame:
    inflow = [r for r in names.RIVERS if r[6]]
    shore_belt = geo.lake.buffer(5_000)
    l1_rivers = [river_segment(geo.rivers[r[0]], 0, 10_000).buffer(1_000) for r in inflow]
    l2_rivers = [river_segment(geo.rivers[r[0]], 10_000, 50_000).buffer(1_000) for r in inflow]
    area = geo.town.union(geo.lake.intersection(box(*geo.town.buffer(3_000).bounds)))
    level1 = unary_union([shore_belt, *l1_rivers]).intersection(area)
    level2 = unary_union(l2_rivers).difference(level1).intersection(area)
    level3 = area.difference(level1).difference(level2)
    labels = {
        "1": ("太湖一级保护区", "Taihu level-1 protection zone"),
        "2": ("太湖二级保护区", "Taihu level-2 protection zone"),
        "3": ("太湖三级保护区", "Taihu level-3 protection zone"),
    }
    rows = []
    for level, geom in (("1", level1), ("2", level2), ("3", level3)):
        zh, en = labels[level]
        rows.append(
            {"level": level, "name_zh": zh, "name_en": en, "basis": TAIHU_BASIS, "geometry": geom}
        )
    return gpd.GeoDataFrame(rows, crs=DEMO_CRS)


def water_source(geo: Geography) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """A lake intake about 800 m offshore with illustrative level-1 and level-2 zones."""
    y = 3_481_200.0
    on_shore = geo.shoreline.interpolate(geo.shoreline.project(Point(499_000, y)))
    intake = Point(on_shore.x + 800, on_shore.y)
    land = geo.town
    level1 = unary_union(
        [
            intake.buffer(500).intersection(geo.lake),
            intake.buffer(1_200)
            .intersection(geo.lake.buffer(200))
            .difference(geo.lake)
            .intersection(land),
        ]
    )
    level2 = unary_union(
        [
            intake.buffer(2_500).intersection(geo.lake),
            intake.buffer(3_000).intersection(geo.lake.buffer(1_000)).intersection(land),
        ]
    ).difference(level1)
    zones = gpd.GeoDataFrame(
        [
            {
                "level": "1",
                "intake_id": "W001",
                "name_zh": "湖滨水源地一级保护区",
                "name_en": "Hubin water source, level-1 zone",
                "basis": SOURCE_BASIS,
                "geometry": level1,
            },
            {
                "level": "2",
                "intake_id": "W001",
                "name_zh": "湖滨水源地二级保护区",
                "name_en": "Hubin water source, level-2 zone",
                "basis": SOURCE_BASIS,
                "geometry": level2,
            },
        ],
        crs=DEMO_CRS,
    )
    intakes = gpd.GeoDataFrame(
        {
            "intake_id": ["W001"],
            "name_zh": ["湖滨水厂取水口"],
            "name_en": ["Hubin waterworks intake"],
            "water_body": ["太湖"],
            "capacity_m3d": [50_000.0],
        },
        geometry=[intake],
        crs=DEMO_CRS,
    )
    return zones, intakes


def _blob(rng: np.random.Generator, cx: float, cy: float, rx: float, ry: float) -> Polygon:
    theta = np.linspace(0, 2 * np.pi, 90, endpoint=False)
    r = (
        1
        + 0.12 * np.sin(3 * theta + rng.uniform(0, 6))
        + 0.07 * np.sin(7 * theta + rng.uniform(0, 6))
    )
    return Polygon(np.column_stack([cx + rx * r * np.cos(theta), cy + ry * r * np.sin(theta)]))


def eco_redline(rng: np.random.Generator, geo: Geography) -> gpd.GeoDataFrame:
    forest = _blob(rng, 488_300, 3_475_500, 1_500, 3_600).intersection(geo.town)
    wetland = _blob(rng, 499_600, 3_470_600, 700, 1_100).intersection(geo.town)
    return gpd.GeoDataFrame(
        [
            {
                "redline_id": "EP01",
                "name_zh": "西山水源涵养林",
                "name_en": "Xishan water-conservation forest",
                "kind": "forest",
                "geometry": forest,
            },
            {
                "redline_id": "EP02",
                "name_zh": "南渎湿地",
                "name_en": "Nandu lakeshore wetland",
                "kind": "wetland",
                "geometry": wetland,
            },
        ],
        crs=DEMO_CRS,
    )


def urban_boundary(geo: Geography) -> gpd.GeoDataFrame:
    parts = [geo.town_centre.buffer(1_400), geo.industrial_zone.buffer(250)]
    parts += [c.buffer(450) for c in geo.village_centres[1:4]]
    shape = unary_union(parts).buffer(300).buffer(-300).intersection(geo.town)
    return gpd.GeoDataFrame(
        {
            "name_zh": ["太滨镇城镇开发边界"],
            "name_en": ["Taibin urban development boundary"],
            "period": ["2021–2035"],
        },
        geometry=[shape],
        crs=DEMO_CRS,
    )


def flood_areas(geo: Geography) -> gpd.GeoDataFrame:
    rows = []
    for i, rid in enumerate(("R01", "R02", "R03"), start=1):
        mouth = Point(geo.rivers[rid].coords[-1])
        pocket = mouth.buffer(1_800).intersection(geo.lake.buffer(1_300)).intersection(geo.town)
        zh, en = next((r[1], r[2]) for r in names.RIVERS if r[0] == rid)
        rows.append(
            {
                "flood_id": f"FL{i:02d}",
                "name_zh": f"{zh}口低洼易涝区",
                "name_en": f"{en} mouth low-lying area",
                "return_period": 20,
                "geometry": pocket,
            }
        )
    return gpd.GeoDataFrame(rows, crs=DEMO_CRS)


def basic_farmland(
    rng: np.random.Generator, geo: Geography, redline: gpd.GeoDataFrame, urban: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    excluded = unary_union(
        [
            *[c.buffer(450) for c in geo.village_centres],
            urban.union_all(),
            redline.union_all(),
            *[r[4].buffer(40) for r in geo.roads],
            *[g.buffer(40) for g in geo.rivers.values()],
            geo.industrial_zone.buffer(300),
            geo.lake.buffer(150),
        ]
    )
    minx, miny, maxx, maxy = geo.town.bounds
    rows = []
    for x in np.arange(minx, maxx, 600):
        for y in np.arange(miny, maxy, 450):
            if rng.random() > 0.62:
                continue
            cell = box(x + 20, y + 20, x + 580 + rng.uniform(-60, 0), y + 430)
            shape = cell.intersection(geo.town).difference(excluded)
            for part in _polys(shape):
                if part.area > 40_000:
                    rows.append(
                        {
                            "parcel_id": f"BF{len(rows) + 1:04d}",
                            "area_ha": round(part.area / 1e4, 2),
                            "geometry": part,
                        }
                    )
    return gpd.GeoDataFrame(rows, crs=DEMO_CRS)


def receptors(
    rng: np.random.Generator,
    geo: Geography,
    village_names: list[tuple[str, str]],
    populations: list[int],
) -> gpd.GeoDataFrame:
    rows = []

    def add(kind: str, zh: str, en: str, p: Point, pop: int) -> None:
        rows.append(
            {
                "receptor_id": f"SR{len(rows) + 1:03d}",
                "name_zh": zh,
                "name_en": en,
                "kind": kind,
                "population": int(pop),
                "geometry": Point(round(p.x, 1), round(p.y, 1)),
            }
        )

    for i, (c, (zh, en), pop) in enumerate(
        zip(geo.village_centres, village_names, populations, strict=True)
    ):
        add("housing", f"{zh}居民点", f"{en} Village housing", c, pop)
        if i % 2 == 0:
            off = Point(c.x + rng.uniform(-300, 300), c.y + rng.uniform(-300, 300))
            add(
                "school", f"{zh[:-1]}小学", f"{en} Primary School", off, int(rng.integers(200, 900))
            )
    c = geo.town_centre
    add("school", "太滨中学", "Taibin Middle School", Point(c.x - 450, c.y + 380), 1_400)
    add(
        "kindergarten",
        "太滨镇中心幼儿园",
        "Taibin Central Kindergarten",
        Point(c.x + 250, c.y - 300),
        320,
    )
    add("hospital", "太滨镇卫生院", "Taibin Health Centre", Point(c.x + 420, c.y + 220), 150)
    add(
        "elderly_home",
        "太滨敬老院",
        "Taibin Home for the Elderly",
        Point(c.x - 700, c.y - 500),
        120,
    )
    add(
        "hospital",
        "西山社区卫生服务站",
        "Xishan Community Clinic",
        Point(geo.village_centres[1].x + 150, geo.village_centres[1].y),
        30,
    )
    return gpd.GeoDataFrame(rows, crs=DEMO_CRS)


def planning_zones(
    geo: Geography, redline: gpd.GeoDataFrame, plant: Point, farmland: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """Land-use plan with three deliberate conflicts: industry in the red line, on basic
    farmland outside the urban boundary, and near the lake shore in Taihu level 1."""
    forest = redline.geometry.iloc[0]
    quarry = forest.centroid.buffer(450).intersection(forest)  # building-materials park
    big_parcel = farmland.loc[farmland["area_ha"].idxmax(), "geometry"]
    farm_ind = big_parcel.centroid.buffer(350).intersection(geo.town)
    lakeside = (
        geo.town_centre.buffer(600).intersection(geo.lake.buffer(1_000)).intersection(geo.town)
    )
    ordered = [
        ("infrastructure", [plant.buffer(160, cap_style="square")]),
        ("industrial", [geo.industrial_zone, quarry, farm_ind, lakeside]),
        ("commercial", [geo.town_centre.buffer(420)]),
        (
            "residential",
            [geo.town_centre.buffer(1_100)] + [c.buffer(380) for c in geo.village_centres[1:]],
        ),
        (
            "green",
            [forest]
            + [
                g.buffer(60).intersection(geo.town_centre.buffer(2_000))
                for g in geo.rivers.values()
            ],
        ),
    ]
    taken = Polygon()
    rows = []
    for use, shapes in ordered:
        for shape in shapes:
            part = shape.intersection(geo.town).difference(taken)
            for poly in _polys(part):
                rows.append({"land_use": use, "geometry": poly})
            taken = taken.union(part)
    for poly in _polys(geo.town.difference(taken)):
        rows.append({"land_use": "agricultural", "geometry": poly})
    gdf = gpd.GeoDataFrame(rows, crs=DEMO_CRS)
    gdf.insert(0, "zone_id", [f"PZ{i + 1:03d}" for i in range(len(gdf))])
    gdf["plan_name"] = "太滨镇国土空间总体规划（虚构） / Taibin Town spatial plan (fictional)"
    gdf["period"] = "2021–2035"
    return gdf
