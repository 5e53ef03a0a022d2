"""The demo town: deterministic, rich enough for every later feature, valid, fictional."""

from __future__ import annotations

import sqlite3

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import rowcol
from shapely.ops import unary_union

from townmap.catalog import validate_frame
from townmap.demo.build import build_demo, build_layers
from townmap.demo.geography import river_segment
from townmap.errors import WorkspaceError

BANNED = {
    "printing_dyeing",
    "electroplating",
    "chemical_pulp_paper",
    "tanning",
    "brewing",
    "dyestuffs",
}


def test_two_builds_are_identical(tmp_path, demo_ws, catalog):
    again = build_demo(tmp_path / "again", catalog=catalog)
    assert again.layer_names() == demo_ws.layer_names()
    for spec in catalog:
        if spec.kind == "vector":
            a, b = demo_ws.read_layer(spec.id), again.read_layer(spec.id)
            pd.testing.assert_frame_equal(
                pd.DataFrame(a.drop(columns="geometry")), pd.DataFrame(b.drop(columns="geometry"))
            )
            assert list(a.geometry.to_wkb()) == list(b.geometry.to_wkb()), spec.id
        elif spec.kind == "table":
            pd.testing.assert_frame_equal(demo_ws.read_table(spec.id), again.read_table(spec.id))
    with (
        rasterio.open(demo_ws.raster_path("dem")) as a,
        rasterio.open(again.raster_path("dem")) as b,
    ):
        assert np.array_equal(a.read(1), b.read(1))
        assert a.transform == b.transform


def test_another_seed_gives_another_town():
    a = build_layers(seed=1, n_enterprises=50)["layers"]["enterprises"]
    b = build_layers(seed=2, n_enterprises=50)["layers"]["enterprises"]
    assert list(a["name_zh"]) != list(b["name_zh"])


def test_every_catalog_layer_is_present_valid_and_in_the_workspace_crs(demo_ws, catalog):
    present = set(demo_ws.layer_names())
    for spec in catalog:
        assert spec.id in present, spec.id
        if spec.kind == "vector":
            gdf = demo_ws.read_layer(spec.id)
            assert not gdf.empty, spec.id
            assert gdf.crs.to_epsg() == 4549, spec.id
            assert validate_frame(spec, gdf) == [], spec.id
        elif spec.kind == "table":
            assert validate_frame(spec, demo_ws.read_table(spec.id)) == [], spec.id


def test_town_lies_on_the_western_shore_of_lake_tai(demo_ws):
    town = demo_ws.read_layer("town").to_crs(4326)
    minx, miny, maxx, maxy = town.total_bounds
    assert 119.85 <= minx < maxx <= 120.05
    assert 31.3 <= miny < maxy <= 31.5
    lake = demo_ws.read_layer("lake")
    town_m = demo_ws.read_layer("town")
    assert lake.geometry.iloc[0].centroid.x > town_m.geometry.iloc[0].centroid.x  # lake is east
    assert town_m.geometry.iloc[0].distance(lake.geometry.iloc[0]) < 1.0  # they meet
    assert len(demo_ws.read_layer("villages")) == 12


def test_enterprises_are_rich_and_plausible(demo_ws):
    tve = demo_ws.read_layer("enterprises")
    assert 400 <= len(tve) <= 800
    assert tve["ent_id"].is_unique and tve["name_zh"].is_unique
    assert set(tve["sector"]) >= BANNED
    assert {"machinery", "food", "textiles", "building_materials", "chemicals", "cement"} <= set(
        tve["sector"]
    )
    assert set(tve["treatment"]) == {"none", "own", "sewer"}
    assert tve["cp_audit_phase"].nunique() == 8 and tve["iso14001"].nunique() == 4
    # a printing-and-dyeing works emits far more COD per year than a machinery shop
    cod = tve.groupby("sector")["cod_tpa"].median()
    assert cod["printing_dyeing"] > 10 * cod["machinery"]
    assert cod["cement"] < cod["food"]
    assert tve.groupby("sector")["dust_tpa"].median().idxmax() == "cement"
    # clustered: most enterprises lie within 2 km of their village centre, none in the lake
    town = demo_ws.read_layer("town").geometry.iloc[0]
    assert tve.within(town.buffer(1)).all()


def test_discharge_points_sit_on_the_water(demo_ws):
    dps = demo_ws.read_layer("discharge_points")
    rivers = demo_ws.read_layer("rivers")
    lake = demo_ws.read_layer("lake").geometry.iloc[0]
    water = unary_union([*rivers.geometry, lake.exterior])
    assert (dps.distance(water) < 1.0).all()
    tve = demo_ws.read_layer("enterprises")
    direct = set(tve.loc[tve["treatment"] != "sewer", "ent_id"])
    assert direct == set(dps["ent_id"].dropna())
    assert (dps["source_kind"] == "plant").sum() == 1


def test_rivers_cover_both_basins_and_the_zones_follow_the_ordinance(demo_ws):
    rivers = demo_ws.read_layer("rivers")
    assert set(rivers["basin"]) == {"taihu", "yangtze"}
    assert rivers["flows_into_lake"].sum() >= 3
    zones = demo_ws.read_layer("taihu_zones").set_index("level")
    assert set(zones.index) == {"1", "2", "3"}
    lake = demo_ws.read_layer("lake").geometry.iloc[0]
    town = demo_ws.read_layer("town").geometry.iloc[0]
    l1, l2 = zones.loc["1", "geometry"], zones.loc["2", "geometry"]
    inflow = rivers[rivers["flows_into_lake"]].geometry
    near = unary_union([river_segment(g, 0, 10_000) for g in inflow])
    upper = unary_union([river_segment(g, 10_000, 50_000) for g in inflow])
    rng = np.random.default_rng(0)
    minx, miny, maxx, maxy = town.bounds
    pts = gpd.GeoSeries(
        gpd.points_from_xy(rng.uniform(minx, maxx, 4000), rng.uniform(miny, maxy, 4000)), crs=4549
    )
    pts = pts[pts.within(town)]
    d_lake, d_near, d_upper = pts.distance(lake), pts.distance(near), pts.distance(upper)
    # Art. 2: the 5 km shore belt and 1 km either side of the lowest 10 km of inflowing rivers
    assert pts[(d_lake < 4_950) | (d_near < 950)].within(l1).all()
    assert not pts[(d_lake > 5_050) & (d_near > 1_050)].within(l1).any()
    # level 2: 10–50 km upstream, 1 km either side, where not already level 1
    in_l2 = (d_upper < 950) & (d_lake > 5_050) & (d_near > 1_050)
    assert in_l2.sum() > 20 and pts[in_l2].within(l2).all()
    assert zones.loc["2", "geometry"].area > 0
    assert zones.geometry.area.sum() == pytest.approx(unary_union(zones.geometry).area, rel=1e-6)
    src = demo_ws.read_layer("water_source_zones")
    assert set(src["level"]) == {"1", "2"}
    assert not src.geometry.iloc[0].intersection(src.geometry.iloc[1]).area > 1


def test_plan_contains_deliberate_conflicts(demo_ws):
    plan = demo_ws.read_layer("planning_zones")
    industrial = unary_union(plan.loc[plan["land_use"] == "industrial"].geometry)
    redline = unary_union(demo_ws.read_layer("eco_redline").geometry)
    farmland = unary_union(demo_ws.read_layer("basic_farmland").geometry)
    urban = unary_union(demo_ws.read_layer("urban_boundary").geometry)
    assert industrial.intersection(redline).area > 10_000
    assert industrial.intersection(farmland).area > 10_000
    assert industrial.difference(urban).area > 10_000
    assert set(plan["land_use"]) == {
        "industrial",
        "residential",
        "commercial",
        "agricultural",
        "green",
        "infrastructure",
    }
    assert plan.geometry.area.sum() == pytest.approx(unary_union(plan.geometry).area, rel=1e-6)


def test_dem_shape_georeference_and_valleys(demo_ws):
    with rasterio.open(demo_ws.raster_path("dem")) as src:
        assert src.width >= 1000 and src.height >= 1000
        assert src.crs.to_epsg() == 4549
        assert src.res == (20.0, 20.0)
        dem = src.read(1)
        transform = src.transform
        town = demo_ws.read_layer("town").geometry.iloc[0]
        left, bottom, right, top = src.bounds
        tminx, tminy, tmaxx, tmaxy = town.bounds
        assert left < tminx and right > tmaxx and bottom < tminy and top > tmaxy
        assert src.tags()["FICTIONAL"] == "true"
    assert dem.max() > 150 and np.percentile(dem, 20) < 10  # hills and plain
    west = dem[:, :150].mean()
    east = dem[:, 700:850].mean()
    assert west > 5 * east  # hills in the west, plain towards the lake
    rivers = demo_ws.read_layer("rivers")
    for _, river in rivers[rivers["flows_into_lake"]].iterrows():
        line = river.geometry
        dists = np.linspace(0.1, 0.95, 12) * line.length
        on = [line.interpolate(d) for d in dists]
        rows, cols = rowcol(transform, [p.x for p in on], [p.y for p in on])
        bed = dem[rows, cols]
        assert (np.diff(bed) <= 0.05).all(), river["river_id"]  # falls towards the mouth
        side = []
        for d, p in zip(dists, on, strict=True):
            a, b = line.interpolate(d - 20), line.interpolate(d + 20)
            nx, ny = -(b.y - a.y), b.x - a.x
            norm = np.hypot(nx, ny)
            side.append((p.x + 300 * nx / norm, p.y + 300 * ny / norm))
        r2, c2 = rowcol(transform, [s[0] for s in side], [s[1] for s in side])
        assert (bed <= dem[r2, c2] + 0.01).mean() >= 0.9, river["river_id"]


def test_monitoring_has_years_gaps_detection_limits_and_exceedances(demo_ws):
    st = demo_ws.read_layer("monitoring_stations")
    assert {"river", "lake"} == set(st["water_type"])
    samples = demo_ws.read_table("water_samples")
    assert set(samples["parameter"]) == {"DO", "CODMn", "COD", "BOD5", "NH3N", "TP", "TN", "pH"}
    months = samples["sampled_at"].dt.to_period("M")
    assert months.nunique() >= 36
    per_station = samples.groupby("station_id")["sampled_at"].apply(
        lambda s: s.dt.to_period("M").nunique()
    )
    assert per_station.max() <= 36 and per_station.min() < 36  # some gaps
    assert (samples["qualifier"] == "below_dl").any()
    assert set(samples["station_id"]) == set(st["station_id"])
    nh3 = samples[samples["parameter"] == "NH3N"]["value"]
    assert (nh3 > 2.0).any()  # worse than class V at times
    effluent = demo_ws.read_table("effluent_samples")
    dps = demo_ws.read_layer("discharge_points")
    assert set(effluent["dp_id"]) <= set(dps["dp_id"])
    assert effluent["sampled_at"].dt.year.nunique() == 3


def test_every_layer_and_table_says_it_is_fictional(demo_ws):
    assert demo_ws.is_fictional
    assert "FICTIONAL" in demo_ws.metadata()["note"]
    reg = demo_ws.layer_register()
    assert set(reg["layer_id"]) == set(demo_ws.layer_names())
    assert (reg["fictional"] == "true").all()
    with sqlite3.connect(demo_ws.gpkg) as con:
        rows = dict(con.execute("select table_name, description from gpkg_contents"))
    for name in demo_ws.layer_names():
        if name != "dem":
            assert "FICTIONAL" in rows[name], name


def test_building_over_an_existing_workspace_needs_force(tmp_path, demo_ws, catalog):
    with pytest.raises(WorkspaceError, match="--force"):
        build_demo(demo_ws.folder, catalog=catalog)
    small = build_demo(tmp_path / "small", n_enterprises=40, catalog=catalog)
    assert len(small.read_layer("enterprises")) == 40
    rebuilt = build_demo(small.folder, n_enterprises=45, force=True, catalog=catalog)
    assert len(rebuilt.read_layer("enterprises")) == 45
    assert not list(tmp_path.glob(".*"))  # no staging folders left behind


def test_enterprise_count_must_be_positive(tmp_path, catalog):
    with pytest.raises(ValueError, match="at least one"):
        build_demo(tmp_path / "x", n_enterprises=0, catalog=catalog)
    assert not (tmp_path / "x").exists()


def test_layer_frames_are_geodataframes():
    layers = build_layers(n_enterprises=30)["layers"]
    assert all(isinstance(g, gpd.GeoDataFrame) for g in layers.values())
