"""Loads by catchment, village and sector against caps, hand-computed: reported and
measured (flow × concentration), sewer-connected enterprises counted once (through the
plant), catchments without a cap, and the effect of a shared-treatment scenario."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from townmap.monitoring.loads import (
    against_caps,
    scenario_effect,
    scenario_loads,
    source_loads,
    totals,
)

CRS = 4549


def _gdf(rows, xy):
    return gpd.GeoDataFrame(rows, geometry=[shapely.Point(p) for p in xy], crs=CRS)


@pytest.fixture
def layers():
    ents = _gdf(
        [
            {"ent_id": "E1", "village_id": "V1", "sector": "food", "treatment": "own",
             "cod_tpa": 10.0, "nh3n_tpa": 1.0, "tp_tpa": 0.1, "tn_tpa": 2.0},
            {"ent_id": "E2", "village_id": "V1", "sector": "tanning", "treatment": "none",
             "cod_tpa": 5.0, "nh3n_tpa": 0.5, "tp_tpa": None, "tn_tpa": 1.0},
            {"ent_id": "E3", "village_id": "V2", "sector": "food", "treatment": "sewer",
             "cod_tpa": 7.0, "nh3n_tpa": 0.7, "tp_tpa": 0.07, "tn_tpa": 1.4},
        ],
        [(100, 100), (200, 100), (1100, 100)],
    )  # fmt: skip
    dps = _gdf(
        [{"dp_id": "D1", "source_kind": "enterprise", "ent_id": "E1", "plant_id": None,
          "flow_m3d": 100.0},
         {"dp_id": "DP", "source_kind": "plant", "ent_id": None, "plant_id": "P1",
          "flow_m3d": 1000.0}],
        [(110, 100), (1500, 100)],
    )  # fmt: skip
    catchments = gpd.GeoDataFrame(
        {"catchment_id": ["C1", "C2"]},
        geometry=[shapely.box(0, 0, 1000, 1000), shapely.box(1000, 0, 2000, 1000)], crs=CRS,
    )  # fmt: skip
    villages = gpd.GeoDataFrame({"village_id": ["V1", "V2"]}, geometry=list(catchments.geometry),
                                crs=CRS)  # fmt: skip
    return {"enterprises": ents, "discharge_points": dps, "catchments": catchments,
            "villages": villages}  # fmt: skip


@pytest.fixture
def samples():
    rows = [
        ("D1", "2024-03-01", "COD", "50"), ("D1", "2024-09-01", "COD", "70"),
        ("D1", "2023-03-01", "COD", "1000"), ("DP", "2024-03-01", "COD", "20"),
        ("DP", "2024-03-01", "NH3N", "ND"),
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["dp_id", "sampled_at", "parameter", "value"])
    return frame.assign(sampled_at=pd.to_datetime(frame["sampled_at"]), unit="mg/L")


CAPS = pd.DataFrame(
    {"catchment_id": ["C1", "C2", "C1"], "parameter": ["COD", "COD", "NH3N"],
     "cap_tpa": [12.0, 10.0, 5.0]}
)  # fmt: skip


def test_reported_loads_count_sewer_enterprises_through_the_plant(layers, samples):
    loads = source_loads(layers, samples, method="reported", year=2024).set_index("id")
    assert loads.loc["E3", "COD"] == 0 and loads.loc["E3", "source"] == "via_plant"
    assert loads.loc["P1", "COD"] == pytest.approx(20 * 1000 * 365 / 1e6)  # 7.3 t/a
    assert loads.loc["P1", "catchment_id"] == "C2" and loads.loc["P1", "village_id"] == "V2"
    assert loads.loc["E2", "TP"] == 0  # a missing reported load counts as nothing reported
    by_c = totals(loads.reset_index(), "catchment_id").set_index("catchment_id")
    assert by_c.loc["C1", "COD"] == 15 and by_c.loc["C2", "COD"] == pytest.approx(7.3)
    by_sector = totals(loads.reset_index(), "sector").set_index("sector")
    assert by_sector.loc["food", "COD"] == 10 and by_sector.loc["sewage_plant", "sources"] == 1


def test_measured_loads_use_the_years_mean_concentration_times_flow(layers, samples):
    loads = source_loads(layers, samples, method="measured", year=2024).set_index("id")
    assert loads.loc["E1", "COD"] == pytest.approx(60 * 100 * 365 / 1e6)  # mean of 50, 70
    assert loads.loc["E1", "source"] == "measured"
    assert loads.loc["E2", "source"] == "reported"  # no samples: its report stands
    all_years = source_loads(layers, samples, method="measured").set_index("id")
    assert all_years.loc["E1", "COD"] == pytest.approx((50 + 70 + 1000) / 3 * 100 * 365 / 1e6)
    with pytest.raises(ValueError, match="reported"):
        source_loads(layers, samples, method="guessed")


def test_caps_gap_and_catchments_without_a_cap(layers, samples):
    loads = source_loads(layers, samples, year=2024)
    caps = against_caps(loads, CAPS).set_index(["catchment_id", "parameter"])
    assert caps.loc[("C1", "COD"), "gap_tpa"] == 3 and caps.loc[("C1", "COD"), "status"] == "over"
    assert caps.loc[("C2", "COD"), "status"] == "within"
    assert caps.loc[("C2", "COD"), "gap_tpa"] == pytest.approx(7.3 - 10)
    assert caps.loc[("C1", "NH3-N"), "use"] == pytest.approx(1.5 / 5)  # NH3N cap normalised
    assert caps.loc[("C2", "TN"), "status"] == "no_cap"
    assert against_caps(loads, None)["status"].eq("no_cap").all()


def test_a_scenario_moves_connected_load_to_the_shared_plant_at_the_standard(layers, samples):
    before = source_loads(layers, samples, year=2024)
    sewers = pd.DataFrame({"ent_id": ["E1"], "plant": ["S1"], "flow_m3d": [100.0]})
    plants = gpd.GeoDataFrame({"site_id": ["S1"]}, geometry=[shapely.Point(1800, 500)], crs=CRS)
    after = scenario_loads(before, sewers, plants, {"COD": 50, "NH3-N": 5}, layers["catchments"])
    plant = after[after["kind"] == "scenario_plant"].iloc[0]
    assert plant["COD"] == pytest.approx(50 * 100 * 365 / 1e6) and plant["catchment_id"] == "C2"
    assert plant["NH3-N"] == pytest.approx(min(1.0, 5 * 100 * 365 / 1e6))
    assert plant["TP"] == pytest.approx(0.1)  # no effluent limit: the load passes unchanged
    effect = scenario_effect(before, after, CAPS).set_index(["catchment_id", "parameter"])
    assert effect.loc[("C1", "COD"), "change_tpa"] == -10
    assert effect.loc[("C1", "COD"), "status_after"] == "within"
    assert effect.loc[("C2", "COD"), "load_tpa_after"] == pytest.approx(7.3 + 1.825)


def test_a_load_is_booked_in_the_catchment_of_its_outfalls_split_by_flow():
    """A factory in C1 whose outfall is in C2 loads C2 (the water goes there); one with
    outfalls in both, at 100 and 300 m³/d, loads them 1:3. Reported COD 10 and 8 t/a."""
    ents = _gdf(
        [{"ent_id": "A", "treatment": "own", "cod_tpa": 10.0},
         {"ent_id": "B", "treatment": "own", "cod_tpa": 8.0},
         {"ent_id": "C", "treatment": "own", "cod_tpa": 1.0}],  # no outfall at all
        [(100, 100), (200, 100), (300, 100)],
    )  # fmt: skip
    dps = _gdf(
        [{"dp_id": "DA", "source_kind": "enterprise", "ent_id": "A", "flow_m3d": 50.0},
         {"dp_id": "DB1", "source_kind": "enterprise", "ent_id": "B", "flow_m3d": 100.0},
         {"dp_id": "DB2", "source_kind": "enterprise", "ent_id": "B", "flow_m3d": 300.0}],
        [(1500, 100), (900, 100), (1600, 100)],
    )  # fmt: skip
    catchments = gpd.GeoDataFrame(
        {"catchment_id": ["C1", "C2"]},
        geometry=[shapely.box(0, 0, 1000, 1000), shapely.box(1000, 0, 2000, 1000)], crs=CRS,
    )  # fmt: skip
    loads = source_loads({"enterprises": ents, "discharge_points": dps, "catchments": catchments})
    by = totals(loads, "catchment_id").set_index("catchment_id")["COD"]
    # C1: B's 8 × 100/400 = 2, and C's 1 at its location; C2: A's 10 and B's 8 × 300/400 = 6
    assert by["C1"] == pytest.approx(3.0) and by["C2"] == pytest.approx(16.0)
    assert totals(loads, "catchment_id")["sources"].sum() == 4  # B counted once in each
    c = loads[loads["id"] == "C"].iloc[0]
    assert c["booked_at"] == "location" and set(loads.loc[loads["id"] == "B", "booked_at"]) == {
        "outfall"
    }
    assert loads["COD"].sum() == pytest.approx(19.0)  # nothing counted twice or lost


def test_caps_are_matched_by_their_year():
    loads = pd.DataFrame({"id": ["A"], "catchment_id": ["C1"], "COD": [12.0], "NH3-N": [0.0],
                          "TP": [0.0], "TN": [0.0]})  # fmt: skip
    caps = pd.DataFrame({"catchment_id": ["C1", "C1"], "parameter": ["COD", "COD"],
                         "cap_tpa": [10.0, 15.0], "year": [2023, 2025]})  # fmt: skip
    cod = lambda y: against_caps(loads, caps, y).set_index("parameter").loc["COD"]  # noqa: E731
    assert cod(2023)["status"] == "over" and cod(2023)["cap_tpa"] == 10
    assert cod(2025)["status"] == "within" and cod(2025)["cap_tpa"] == 15
    assert cod(2024)["status"] == "no_cap"  # no cap set for 2024: not "within"
    latest = cod(None)  # without a year: the latest cap, once (not one row per year)
    assert latest["cap_tpa"] == 15 and len(against_caps(loads, caps)) == 4


def test_the_catchment_layer_and_the_loads_page_give_the_same_totals(demo_ws):
    """Review: C004 showed 6,446.6 t/a on the map and 2,331.8 on the Loads page (the
    map summed sewered factories as well as the plant)."""
    ws = demo_ws
    layers = {n: ws.read_layer(n) for n in ("enterprises", "discharge_points", "catchments",
                                             "villages")}  # fmt: skip
    page = totals(source_loads(layers, ws.read_table("effluent_samples")), "catchment_id")
    page = page.set_index("catchment_id")
    layer = layers["catchments"].set_index("catchment_id")
    for column, name in (("cod_tpa", "COD"), ("nh3n_tpa", "NH3-N")):
        shown = page[name].reindex(layer.index).fillna(0)
        assert layer[column].to_numpy() == pytest.approx(shown.to_numpy(), abs=1e-3)
    sewered = layers["enterprises"]["treatment"].eq("sewer")
    assert sewered.any()  # the demo has sewered firms, so the test can fail
    inside = float(pd.to_numeric(layers["enterprises"]["cod_tpa"]).sum())
    assert float(layer["cod_tpa"].sum()) < inside  # their reported loads are not added twice
