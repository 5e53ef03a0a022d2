"""Planning zones against the compatibility matrix; the pre-check of a proposed project;
the ``conflicts``, ``zones`` and ``precheck`` commands."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, box

from townmap import PROJECT_ROOT
from townmap.analysis.precheck import OUTFALL_ID, PROJECT_ID, precheck
from townmap.analysis.rules import load_rules
from townmap.analysis.zones import check_zones, load_matrix, summarise
from townmap.cli import main
from townmap.errors import CatalogError

CRS = "EPSG:4549"
X0, Y0 = 490_000.0, 3_470_000.0


def _gdf(rows, geoms, crs=CRS):
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=crs)


@pytest.fixture(scope="module")
def matrix():
    return load_matrix(PROJECT_ROOT / "layers" / "zoning" / "compatibility.toml")


@pytest.fixture(scope="module")
def rules(catalog):
    return load_rules(PROJECT_ROOT / "layers" / "rules", catalog)


def test_zone_overlap_verdicts_follow_the_matrix(matrix):
    redline = box(X0, Y0, X0 + 1000, Y0 + 1000)
    zones = _gdf(
        [
            {"zone_id": "IND", "land_use": "industrial"},
            {"zone_id": "GRN", "land_use": "green"},
            {"zone_id": "AGR", "land_use": "agricultural"},
            {"zone_id": "FAR", "land_use": "industrial"},
            {"zone_id": "EDGE", "land_use": "industrial"},
        ],
        [
            box(X0 + 900, Y0, X0 + 1100, Y0 + 100),  # half in the red line
            box(X0 + 100, Y0 + 100, X0 + 200, Y0 + 200),
            box(X0 + 300, Y0 + 300, X0 + 400, Y0 + 400),
            box(X0 + 5000, Y0, X0 + 5100, Y0 + 100),
            box(X0 + 1000, Y0 + 500, X0 + 1100, Y0 + 600),  # touches the edge only
        ],
    )
    villages = _gdf(
        [{"village_id": "V1"}, {"village_id": "V2"}],
        [
            box(X0 - 10_000, Y0 - 10_000, X0 + 950, Y0 + 10_000),
            box(X0 + 950, Y0 - 10_000, X0 + 10_000, Y0 + 10_000),
        ],
    )
    checks = check_zones(
        {"planning_zones": zones, "eco_redline": _gdf([{}], [redline]), "villages": villages},
        matrix,
    ).set_index("zone_id")
    red = checks[checks["constraint"] == "eco_redline"]
    assert set(red.index) == {"IND", "GRN", "AGR"}
    assert red.loc["IND", "verdict"] == "prohibited" and red.loc["IND", "overlap_pct"] == 50
    assert red.loc["IND", "overlap_m2"] == pytest.approx(10_000)
    assert red.loc["IND", "village_id"] == "V2"  # 150 m of its 200 m lie in V2
    assert red.loc["GRN", "verdict"] == "allowed" and red.loc["AGR", "verdict"] == "review"
    assert red.loc["IND", "verification"] == "verified" and "Art" not in red.loc["GRN", "basis"]
    by_use = summarise(checks.reset_index(), "land_use").set_index("land_use")
    assert by_use.loc["industrial", "prohibited_zones"] == 1
    assert by_use.loc["industrial", "prohibited_ha"] == pytest.approx(1.0)


def test_overlapping_constraint_polygons_are_not_counted_twice(matrix):
    zone = _gdf([{"zone_id": "Z", "land_use": "industrial"}], [box(X0, Y0, X0 + 100, Y0 + 100)])
    farmland = _gdf([{}, {}], [box(X0, Y0, X0 + 60, Y0 + 100), box(X0 + 40, Y0, X0 + 80, Y0 + 100)])
    checks = check_zones({"planning_zones": zone, "basic_farmland": farmland}, matrix)
    assert checks["overlap_pct"].iloc[0] == pytest.approx(80)


def test_outside_the_urban_boundary_measures_the_part_outside(matrix):
    zones = _gdf(
        [{"zone_id": "A", "land_use": "industrial"}, {"zone_id": "B", "land_use": "residential"}],
        [box(X0 - 50, Y0, X0 + 50, Y0 + 100), box(X0 + 10, Y0 + 10, X0 + 20, Y0 + 20)],
    )
    boundary = _gdf([{}], [box(X0, Y0 - 500, X0 + 500, Y0 + 500)])
    checks = check_zones({"planning_zones": zones, "urban_boundary": boundary}, matrix)
    assert list(checks["zone_id"]) == ["A"]
    assert checks["overlap_pct"].iloc[0] == pytest.approx(50)
    assert checks["verdict"].iloc[0] == "prohibited"


def test_a_matrix_naming_an_unknown_constraint_is_refused(tmp_path):
    text = (PROJECT_ROOT / "layers" / "zoning" / "compatibility.toml").read_text(encoding="utf-8")
    bad = tmp_path / "m.toml"
    bad.write_text(text.replace('constraint = "flood_areas"', 'constraint = "floods"'), "utf-8")
    with pytest.raises(CatalogError, match="unknown constraint"):
        load_matrix(bad)
    bad.write_text(text.replace('verdict = "review"', 'verdict = "maybe"', 1), "utf-8")
    with pytest.raises(CatalogError, match="verdict"):
        load_matrix(bad)


def _town():
    lake_edge = X0 + 3000
    return {
        "taihu_zones": _gdf([{"level": "1"}], [box(X0 - 5000, Y0 - 5000, lake_edge, Y0 + 5000)]),
        "rivers": _gdf(
            [
                {"river_id": "R1", "name_en": "Clear", "target_class": "II", "basin": "taihu"},
                {"river_id": "R2", "name_en": "Grey", "target_class": "IV", "basin": "taihu"},
            ],
            [
                LineString([(X0 + 80, Y0 - 5000), (X0 + 80, Y0 + 5000)]),
                LineString([(X0 + 20_000, Y0 - 5000), (X0 + 20_000, Y0 + 5000)]),
            ],
        ),
        "sewer_trunk": _gdf(
            [{"status": "existing"}, {"status": "planned"}],
            [
                LineString([(X0 + 30_000, Y0), (X0 + 31_000, Y0)]),
                LineString([(X0 + 19_000, Y0 + 3000), (X0 + 19_500, Y0 + 3000)]),
            ],
        ),
        "town": _gdf([{}], [box(X0 - 6000, Y0 - 6000, X0 + 32_000, Y0 + 6000)]),
        # a level-1 drinking-water source zone on the class IV river
        "water_source_zones": _gdf(
            [{"level": "1"}], [box(X0 + 19_800, Y0 - 5000, X0 + 21_000, Y0 - 3000)]
        ),
    }


def test_precheck_of_a_dyeing_works_in_level_1_next_to_a_class_ii_river(rules):
    site = gpd.GeoSeries([Point(X0, Y0)], crs=CRS).to_crs(4326).iloc[0]
    result = precheck(_town(), rules, site, sector="printing_dyeing", size="small", flow_m3d=300)
    found = result.findings.set_index("rule_id")
    assert found.loc["taihu_art43_banned_sectors", "severity"] == "prohibited"
    assert found.loc["taihu_l1_new_discharging", "verification"] == "partly_verified"
    outfall = found.loc["gb8978_no_outfalls_class_i_ii_rivers"]
    assert outfall["feature_id"] == OUTFALL_ID and outfall["distance_m"] == pytest.approx(0)
    assert set(result.findings["feature_id"]) <= {PROJECT_ID, OUTFALL_ID}
    assert result.receiving["id"] == "R1" and result.receiving["distance_m"] == pytest.approx(80)
    assert result.standard["class"] == "none"  # no new outfall into class II water
    assert any(
        "GB 4287-2012" in n["en"] and "not GB 8978" in n["en"] for n in result.standard["notes"]
    )


def test_precheck_near_the_sewer_discharges_to_it_and_far_away_is_clean(rules):
    town = _town()
    near_sewer = gpd.GeoSeries([Point(X0 + 30_500, Y0 + 200)], crs=CRS).to_crs(4326).iloc[0]
    result = precheck(town, rules, near_sewer, sector="machinery", size="small", flow_m3d=50)
    assert result.standard["class"] == "3" and result.standard["route"] == "sewer"
    assert result.findings.empty
    assert any("no new outfall" in n for n in result.notes)
    grey = gpd.GeoSeries([Point(X0 + 19_000, Y0)], crs=CRS).to_crs(4326).iloc[0]
    result = precheck(town, rules, grey, sector="machinery", size="small", flow_m3d=50)
    assert result.standard["class"] == "2" and result.receiving["target_class"] == "IV"


def _at(dx, dy):
    return gpd.GeoSeries([Point(X0 + dx, Y0 + dy)], crs=CRS).to_crs(4326).iloc[0]


def test_a_planned_sewer_is_not_a_connection(rules):
    """Review: a planned trunk 200 m away made the site 'sewered', class 3."""
    result = precheck(_town(), rules, _at(19_200, 3200), sector="machinery", size="small",
                      flow_m3d=50)  # fmt: skip
    assert result.standard["route"] == "direct" and result.standard["class"] == "2"
    assert any("planned sewer trunk" in n["en"] for n in result.standard["notes"])


def test_a_site_outside_the_town_is_refused_not_judged(rules):
    """Review: a site in Nanjing got 'class 1, Beitang Creek 119,678 m away'."""
    with pytest.raises(ValueError, match="outside the town"):
        precheck(_town(), rules, _at(120_000, 0), sector="food", size="small", flow_m3d=5)
    assert precheck(_town(), rules, _at(33_000, 0), sector="food", size="small", flow_m3d=5)


def test_inside_a_source_zone_the_zone_decides_the_class_not_the_water_beside_it(rules):
    # the nearest water is the class IV river (class 2 outside the zone); inside the
    # level-1 zone the water is class II: no new outfall (GB 8978 4.1.4)
    inside = precheck(_town(), rules, _at(19_900, -4000), sector="machinery", size="small",
                      flow_m3d=50)  # fmt: skip
    assert inside.receiving["target_class"] == "IV"
    assert inside.standard["class"] == "none"
    assert any("level-1 drinking-water source zone" in n["en"] for n in inside.standard["notes"])


def test_precheck_takes_a_drawn_site_and_refuses_bad_input(rules):
    town = _town()
    site = gpd.GeoSeries([box(X0 + 2900, Y0, X0 + 3100, Y0 + 100)], crs=CRS).iloc[0]
    result = precheck(
        town, rules, site, sector="electroplating", size="small", flow_m3d=0, site_crs=CRS
    )
    assert "taihu_art43_banned_sectors" in set(result.findings["rule_id"])  # half inside
    with pytest.raises(ValueError, match="flow"):
        precheck(town, rules, site, sector="food", size="small", flow_m3d=-5, site_crs=CRS)
    with pytest.raises(ValueError, match="no geometry"):
        precheck(town, rules, Point(), sector="food", size="small", flow_m3d=1)


def test_cli_conflicts_zones_and_precheck(tmp_path, demo_ws, capsys):
    out = tmp_path / "c.csv"
    assert main(["conflicts", "--workspace", str(demo_ws.folder), "--out", str(out)]) == 0
    table = pd.read_csv(out, encoding="utf-8-sig")
    for col in ("layer", "feature_id", "rule_id", "severity", "distance_m", "overlap_m2",
                "overlap_pct", "article", "verification", "village_id"):  # fmt: skip
        assert col in table.columns
    assert len(table) > 0 and f"{len(table)} finding(s)" in capsys.readouterr().out
    xlsx = tmp_path / "c.xlsx"  # text columns with missing values (valid_from) included
    assert main(["conflicts", "--workspace", str(demo_ws.folder), "--out", str(xlsx)]) == 0
    assert len(pd.read_excel(xlsx)) == len(table)
    gpkg = tmp_path / "c.gpkg"
    assert main(["conflicts", "--workspace", str(demo_ws.folder), "--out", str(gpkg)]) == 0
    assert len(gpd.read_file(gpkg)) == len(table)
    zones = tmp_path / "z.xlsx"
    assert main(["zones", "--workspace", str(demo_ws.folder), "--out", str(zones)]) == 0
    assert "verdict" in pd.read_excel(zones).columns
    capsys.readouterr()
    args = ["precheck", "--workspace", str(demo_ws.folder), "--lon", "119.93", "--lat", "31.39"]
    assert main([*args, "--sector", "printing_dyeing", "--flow", "100", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"findings", "receiving_water", "discharge_standard"} <= set(data)
    assert main([*args, "--sector", "food", "--flow", "-3"]) == 2
    assert "flow" in capsys.readouterr().err
    # a sector as the planner writes it; an unknown one is refused, not let through
    assert main([*args, "--sector", "印染", "--flow", "100", "--json"]) == 0
    as_label = json.loads(capsys.readouterr().out)
    assert data["findings"]  # the dyeing works meets rules there, so the sets can differ
    assert {f["rule_id"] for f in as_label["findings"]} == {f["rule_id"] for f in data["findings"]}
    assert main([*args, "--sector", "shipbuilding", "--flow", "1"]) == 2
    said = capsys.readouterr().err
    assert "unknown sector 'shipbuilding'" in said and "印染 / Printing & dyeing" in said
    assert main(["conflicts", "--workspace", str(demo_ws.folder), "--out", "x.doc"]) == 2
