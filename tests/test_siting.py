"""Suitability of plant sites and the shared-treatment plan on the demo town; the CLI."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio

from townmap.analysis.checks import workspace_layers
from townmap.analysis.siting import load_effluent, plan
from townmap.analysis.suitability import load_settings, suitability
from townmap.cli import main


@pytest.fixture(scope="module")
def town(demo_ws, catalog):
    layers = workspace_layers(demo_ws, catalog)
    with rasterio.open(demo_ws.raster_path("dem")) as src:
        dem = (src.read(1), src.transform, src.crs, src.nodata)
    return layers, dem, suitability(layers, demo_ws.crs, dem=dem)


def test_excluded_land_scores_nothing_and_candidates_keep_their_distance(town):
    layers, _dem, result = town
    settings = load_settings()
    score = result.score
    assert np.nanmin(score) >= 0 and np.nanmax(score) <= 1
    redline = layers["eco_redline"].to_crs(result.crs).union_all()
    sites = result.candidates
    assert 0 < len(sites) <= settings["max_candidates"]
    assert not sites.within(redline).any()
    farmland = layers["basic_farmland"].to_crs(result.crs).union_all()
    assert not sites.within(farmland).any()
    receptors = layers["sensitive_receptors"].to_crs(result.crs)
    assert sites.distance(receptors.union_all()).min() >= settings["receptor_setback_m"] - 100
    xy = np.column_stack([sites.geometry.x, sites.geometry.y])
    gaps = np.linalg.norm(xy[:, None] - xy[None], axis=2) + np.eye(len(xy)) * 1e9
    assert gaps.min() >= settings["candidate_spacing_m"]
    assert sites["score"].iloc[0] == pytest.approx(np.nanmax(score), abs=1e-3)
    assert sites["reasons"].str.len().min() > 0


def test_suitability_needs_a_town_boundary(town):
    layers, dem, _ = town
    with pytest.raises(ValueError, match="town boundary"):
        suitability({k: v for k, v in layers.items() if k != "town"}, "EPSG:4549", dem=dem)


def test_more_plants_connect_more_factories_and_remove_more_load(town):
    layers, dem, result = town
    one = plan(layers, result.candidates, 1, dem=dem)
    four = plan(layers, result.candidates, 4, dem=dem)
    for res in (one, four):
        assert res.summary["status"] == "optimal"
        assert len(res.plants) == res.summary["k"]
        assert res.plants["factories"].sum() == res.summary["factories_connected"]
        assert len(res.sewers) == res.summary["factories_connected"]
        assert set(res.factories["choice"]) <= {"shared", "own"}
        assert (res.factories["treatment"] != "sewer").all()  # already-connected left out
        assert all(v >= 0 for v in res.summary["load_removed_tpa"].values())
    assert four.summary["total_cost_cny"] <= one.summary["total_cost_cny"]
    assert four.summary["factories_connected"] >= one.summary["factories_connected"]
    stricter = plan(layers, result.candidates, 4, dem=dem,
                    effluent=load_effluent("db32_1072_table1"))  # fmt: skip
    assert (stricter.summary["load_removed_tpa"]["NH3-N"]
            >= four.summary["load_removed_tpa"]["NH3-N"])  # fmt: skip
    assert stricter.summary["effluent_verification"] == "unverified"


def test_a_capacity_limits_every_plant(town):
    layers, dem, result = town
    res = plan(layers, result.candidates, 3, dem=dem, capacity_m3d=5000, time_limit=30)
    assert res.summary["status"] in ("optimal", "time_limit")
    assert (res.plants["design_m3d"] <= 5000 + 1e-6).all()


def test_unknown_standard_and_no_sites_are_refused(town):
    layers, dem, result = town
    with pytest.raises(ValueError, match="no effluent standard"):
        load_effluent("gb99999")
    with pytest.raises(ValueError, match="no candidate sites"):
        plan(layers, result.candidates.iloc[0:0], 2, dem=dem)


def test_cli_siting_writes_sites_sewers_areas_and_a_summary(demo_ws, tmp_path, capsys):
    out = tmp_path / "plan.gpkg"
    args = ["siting", "--workspace", str(demo_ws.folder), "--plants", "3", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "proven optimal" in printed and "load removed" in printed
    names = {str(n) for n, _ in pyogrio.list_layers(out)}
    assert names == {"plants", "sewers", "service_areas", "candidate_sites"}
    assert len(gpd.read_file(out, layer="plants")) == 3
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["proven_optimal"] and summary["k"] == 3
    assert main([*args[:-2], "--out", str(tmp_path / "plan.csv")]) == 2
