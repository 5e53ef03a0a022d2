"""Build the fictional demo town into a workspace folder, deterministically.

Each part of the town draws from its own random stream derived from one seed, so two
builds hold identical features, attributes and raster values, and changing one part
(say, the monitoring) does not reshuffle another (the enterprises).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from shapely.geometry import box
from shapely.ops import linemerge

from townmap import __version__
from townmap.catalog import Catalog, load_catalog
from townmap.crs import DEMO_CRS
from townmap.demo import constraints, management, monitoring, names, sources, terrain
from townmap.demo.geography import FRAME, build_geography, polygonal
from townmap.errors import WorkspaceError
from townmap.settings import DEMO_ENTERPRISES, DEMO_SEED
from townmap.store import Workspace, open_workspace, staged

FICTION_NOTE = (
    "虚构示例数据：太滨镇及其中所有企业、数据均为虚构，仅供演示。 / "
    "FICTIONAL demo data: Taibin Town, its enterprises and all data are invented "
    "for demonstration."
)


def _stream(seed: int, part: int) -> np.random.Generator:
    return np.random.default_rng([seed, part])


def build_layers(seed: int = DEMO_SEED, n_enterprises: int = DEMO_ENTERPRISES) -> dict:
    """Every demo layer and table as GeoDataFrames/DataFrames, plus the DEM."""
    geo = build_geography(_stream(seed, 1))
    rng = _stream(seed, 2)
    vids = [f"V{i + 1:02d}" for i in range(len(names.VILLAGES))]
    density = rng.uniform(280, 520, len(vids))  # persons per km²
    pops = [int(round(v.area / 1e6 * d, -1)) for v, d in zip(geo.villages, density, strict=True)]
    pops[0] += 14_000  # the town seat lies in the first village
    villages = gpd.GeoDataFrame(
        {
            "village_id": vids,
            "name_zh": [v[0] for v in names.VILLAGES],
            "name_en": [f"{v[1]} Village" for v in names.VILLAGES],
            "admin_code": [f"{names.TOWN_CODE}{200 + i + 1:03d}" for i in range(len(vids))],
            "population": pops,
            "households": [int(p / rng.uniform(2.6, 3.2)) for p in pops],
        },
        geometry=geo.villages,
        crs=DEMO_CRS,
    )
    town = gpd.GeoDataFrame(
        {
            "name_zh": [names.TOWN[0]],
            "name_en": [names.TOWN[1]],
            "admin_code": [names.TOWN_CODE],
            "population": [sum(pops)],
            "area_km2": [round(geo.town.area / 1e6, 2)],
        },
        geometry=[geo.town],
        crs=DEMO_CRS,
    )
    rivers = gpd.GeoDataFrame(
        {
            "river_id": [r[0] for r in names.RIVERS],
            "name_zh": [r[1] for r in names.RIVERS],
            "name_en": [r[2] for r in names.RIVERS],
            "kind": [r[3] for r in names.RIVERS],
            "target_class": [r[4] for r in names.RIVERS],
            "basin": [r[5] for r in names.RIVERS],
            "yangtze_reach": [None] * len(names.RIVERS),  # the town's streams are neither
            "flows_into_lake": [r[6] for r in names.RIVERS],
            "length_km": [round(geo.rivers[r[0]].length / 1000, 2) for r in names.RIVERS],
        },
        geometry=[geo.rivers[r[0]] for r in names.RIVERS],
        crs=DEMO_CRS,
    )
    lake = gpd.GeoDataFrame(
        {
            "name_zh": ["太湖（局部）"],
            "name_en": ["Lake Tai (part)"],
            "target_class": ["III"],
            "basin": ["taihu"],
        },
        geometry=[geo.lake.intersection(box(*FRAME))],
        crs=DEMO_CRS,
    )
    roads = gpd.GeoDataFrame(
        [
            {"road_id": rid, "name_zh": zh, "name_en": en, "road_class": cls, "geometry": line}
            for rid, zh, en, cls, line in geo.roads
        ],
        crs=DEMO_CRS,
    )
    src = sources.build_sources(_stream(seed, 3), geo, n_enterprises, vids)
    crng = _stream(seed, 4)
    source_zones, intakes = constraints.water_source(geo)
    redline = constraints.eco_redline(crng, geo)
    urban = constraints.urban_boundary(geo)
    farmland = constraints.basic_farmland(crng, geo, redline, urban)
    plant = src["treatment_plants"].geometry.iloc[0]
    layers = {
        "town": town,
        "villages": villages,
        "roads": roads,
        "rivers": rivers,
        "lake": lake,
        "water_intakes": intakes,
        **src,
        "taihu_zones": constraints.taihu_zones(geo),
        "water_source_zones": source_zones,
        "eco_redline": redline,
        "basic_farmland": farmland,
        "urban_boundary": urban,
        "flood_areas": constraints.flood_areas(geo),
        "sensitive_receptors": constraints.receptors(
            crng, geo, [(v[0], v[1]) for v in names.VILLAGES], pops
        ),
        "planning_zones": constraints.planning_zones(geo, redline, plant, farmland),
    }
    layers["public_comments"] = management.public_comments(layers["villages"])
    mrng = _stream(seed, 5)
    stations, factor = monitoring.stations(geo, intakes.geometry.iloc[0])
    layers["monitoring_stations"] = stations
    grng = _stream(seed, 7)
    audits = management.cp_audits(grng, src["enterprises"])
    tables = {
        "cp_audits": audits,
        "cp_options": management.cp_options(grng, audits, src["enterprises"]),
        **management.ems_register(),
        "public_slides": management.public_slides(),
        "water_samples": monitoring.water_samples(mrng, stations, factor),
        "effluent_samples": monitoring.effluent_samples(
            mrng, src["discharge_points"], src["enterprises"]
        ),
    }
    dem, transform = terrain.build_dem(_stream(seed, 6), geo)
    return {"layers": layers, "tables": tables, "dem": (dem, transform)}


def _keep_kind(gdf: gpd.GeoDataFrame, geometry: str | None) -> gpd.GeoDataFrame:
    """Overlay results can hold stray parts of other kinds; keep the layer's own kind."""
    if geometry == "Polygon":
        gdf = gdf.set_geometry(gdf.geometry.map(polygonal))
    elif geometry == "LineString":
        gdf = gdf.set_geometry(
            gdf.geometry.map(
                lambda g: linemerge(
                    [p for p in shapely.get_parts(g) if p.geom_type == "LineString"]
                )
            )
        )
    return gdf[~gdf.geometry.is_empty].reset_index(drop=True)


def _write_dem(dem: np.ndarray, transform) -> callable:
    def write(path: Path) -> None:
        profile = {
            "driver": "GTiff",
            "dtype": "float32",
            "count": 1,
            "height": dem.shape[0],
            "width": dem.shape[1],
            "crs": DEMO_CRS.to_wkt(),
            "transform": transform,
            "nodata": terrain.NODATA,
            "compress": "deflate",
            "predictor": 3,
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
        }
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(dem, 1)
            dst.update_tags(FICTIONAL="true", NOTE=FICTION_NOTE, UNITS="metre")
            dst.set_band_description(1, "elevation (m), fictional")

    return write


def build_demo(
    out: str | Path,
    *,
    seed: int = DEMO_SEED,
    n_enterprises: int = DEMO_ENTERPRISES,
    force: bool = False,
    catalog: Catalog | None = None,
    stress: bool = False,
    data: dict | None = None,
    label: str | None = None,
) -> Workspace:
    """Write the demo workspace to ``out``; built aside and moved in, so a failure leaves
    no half-built workspace, and an existing one is replaced only with ``force``.
    ``data``/``label``: layers already built (the county demo assembles fifty towns)."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise WorkspaceError(f"{out} already exists and is not empty; use --force to rebuild it")
    if n_enterprises < 1:
        raise ValueError("the demo needs at least one enterprise")
    catalog = catalog or load_catalog()
    data = data or build_layers(seed, n_enterprises)
    label = label or f"{names.TOWN[0]} / {names.TOWN[1]}"
    if stress:
        label += f" (压力测试 {n_enterprises:,} 家企业 / stress test, {n_enterprises:,} TVEs)"
    meta = {
        "name": label,
        "stress_test": str(stress).lower(),
        "fictional": "true",
        "note": FICTION_NOTE,
        "seed": str(seed),
        "generator": f"townmap {__version__}",
    }
    with staged(out, DEMO_CRS, meta, catalog=catalog) as ws:
        with ws.transaction("import") as tx:
            for name, gdf in data["layers"].items():
                gdf = _keep_kind(gdf, catalog[name].geometry if name in catalog else None)
                tx.write_layer(name, gdf, fictional=True, source="townmap.demo")
            for name, table in data["tables"].items():
                tx.write_table(name, table, fictional=True, source="townmap.demo")
            dem, transform = data["dem"]
            tx.write_raster(
                "dem",
                _write_dem(dem, transform),
                fictional=True,
                source="townmap.demo",
                description=FICTION_NOTE,
            )
        if "catchments" in catalog:  # derived from the demo's own DEM, rivers and lake
            from townmap.analysis.derive import derive_catchments

            frame = derive_catchments(ws, fictional=True)
            if "load_caps" in catalog:
                with ws.transaction("import") as tx:
                    tx.write_table(
                        "load_caps",
                        monitoring.load_caps(frame, seed),
                        fictional=True,
                        source="townmap.demo",
                    )
    return open_workspace(out, catalog=catalog)
