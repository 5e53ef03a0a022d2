"""Suitability of plant sites and the shared-treatment plan on the demo town; the CLI."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio

from tests.helpers import as_read
from townmap.analysis.checks import workspace_layers
from townmap.analysis.siting import load_effluent, plan
from townmap.analysis.suitability import load_settings, suitability
from townmap.cli import main
from townmap.store import open_workspace


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
    res = plan(layers, result.candidates, 3, dem=dem, capacity_m3d=5000, time_limit=5)
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
    with rasterio.open(tmp_path / "plan_suitability.tif") as src:
        score = src.read(1, masked=True)
    assert score.min() >= 0 and score.max() <= 1 and score.mask.any()  # excluded cells
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["proven_optimal"] and summary["k"] == 3
    assert main([*args[:-2], "--out", str(tmp_path / "plan.csv")]) == 2


def test_scenarios_are_saved_replaced_and_deleted_in_the_workspace(town, demo_ws, tmp_path,
                                                                   catalog):  # fmt: skip
    import shutil

    from townmap.analysis.scenarios import (
        delete_scenario,
        list_scenarios,
        load_scenario,
        save_scenario,
    )
    from townmap.errors import UploadError

    layers, dem, result = town
    shutil.copytree(demo_ws.folder, tmp_path / "ws")
    ws = open_workspace(tmp_path / "ws", catalog=catalog)
    two = plan(layers, result.candidates, 2, dem=dem)
    three = plan(layers, result.candidates, 3, dem=dem)
    save_scenario(ws, "两厂", two, {"k": 2})
    save_scenario(ws, "three", three, {"k": 3})
    save_scenario(ws, "两厂", three, {"k": 3})  # same name: replaced, not doubled
    table = list_scenarios(ws)
    assert sorted(table["scenario"]) == ["three", "两厂"]
    back = load_scenario(ws, "两厂")
    assert len(back["plants"]) == 3 and back["summary"]["k"] == 3
    assert len(ws.read_layer("scenario_plants")) == 6
    delete_scenario(ws, "three")
    assert list(list_scenarios(ws)["scenario"]) == ["两厂"]
    assert set(ws.read_layer("scenario_sewers")["scenario"]) == {"两厂"}
    before = (tmp_path / "ws" / "workspace.gpkg").read_bytes()
    for bad in ("", "   ", "x" * 61):
        with pytest.raises(UploadError):
            save_scenario(ws, bad, two, {})
    with pytest.raises(UploadError, match="no scenario"):
        load_scenario(ws, "nope")
    assert (tmp_path / "ws" / "workspace.gpkg").read_bytes() == before


def test_treatment_page_compares_plans_and_saves_one(demo_ws, tmp_path, monkeypatch):
    import shutil

    from streamlit.testing.v1 import AppTest

    from townmap import PROJECT_ROOT

    shutil.copytree(demo_ws.folder, tmp_path / "ws")
    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(tmp_path / "ws"))
    at = AppTest.from_file(str(PROJECT_ROOT / "townmap/ui/treatment_page.py"), default_timeout=300)
    at.query_params["lang"] = "en"
    at.run()
    assert not at.exception
    at.slider(key="tr_kmax").set_value(2).run()
    at.button(key="tr_go").click().run()
    assert not at.exception and not at.error
    plans = next(d.value for d in at.dataframe if "Plants" in d.value.columns)
    assert list(plans["Plants"]) == [1, 2]  # one row per plan
    at.text_input(key="tr_name").input("<b>two</b>").run()
    at.button(key="tr_save").click().run()
    assert not at.exception and not at.error
    assert any("<b>two</b>" in as_read(s.value) for s in at.success)
    assert any(s.value == "Saved scenarios" for s in at.subheader)


def test_treatment_page_compares_capacity_options_side_by_side(demo_ws, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from townmap import PROJECT_ROOT

    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(demo_ws.folder))
    at = AppTest.from_file(str(PROJECT_ROOT / "townmap/ui/treatment_page.py"), default_timeout=300)
    at.query_params["lang"] = "en"
    at.run()
    at.slider(key="tr_kmax").set_value(2).run()
    at.number_input(key="tr_limit").set_value(2.0).run()  # capacitated plans stop early
    at.text_input(key="tr_cap").input("8000，20000").run()
    at.button(key="tr_go").click().run()
    assert not at.exception and not at.error
    plans = next(d.value for d in at.dataframe if "Plants" in d.value.columns)
    assert len(plans) == 4 and set(plans["Capacity"]) == {"8000 m³/d", "20000 m³/d"}
    at.text_input(key="tr_cap").input("-5, abc").run()
    assert any("Capacity limits must be numbers" in e.value for e in at.error)
