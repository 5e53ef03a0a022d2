"""Discharge standards as data and discharge compliance: limits by rule (receiving water,
plant class, Taihu tables), the NH3-N temperature bracket, the TP construction-date split,
indicative phosphate, boundaries, offenders; broken standard files; the CLI."""

from __future__ import annotations

import datetime as dt
import shutil

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from townmap.cli import main
from townmap.errors import CatalogError
from townmap.monitoring.compliance import check_samples, choose_limits, compliance, summarise
from townmap.monitoring.standards import (
    current,
    limit_of,
    limits_table,
    load_discharge_standards,
    standards_dir,
)

STDS = load_discharge_standards()
CRS = 4549


def test_every_limit_has_its_standard_version_source_and_verification():
    table = limits_table(STDS)
    assert {"GB 8978-1996", "GB 18918-2002", "DB32/1072-2018"} <= set(table["standard_id"])
    assert table["verification"].isin(["verified", "partly_verified", "unverified"]).all()
    assert table["version"].notna().all() and all(s.source for s in STDS.values())
    # GB 18918 class 3 has no NH3-N limit; GB 8978 limits phosphate, measured as TP
    g = table[table["standard"] == "gb18918_2002"]
    assert g[(g["class"] == "3") & (g["parameter"] == "NH3-N")].empty
    po4 = table[table["parameter"] == "PO4-P"].iloc[0]
    assert po4["measured_by"] == "TP" and po4["standard_id"] == "GB 8978-1996"


def test_nh3n_bracket_and_tp_construction_split():
    g = STDS["gb18918_2002"]
    assert limit_of(g, "1A", "NH3-N", water_temp_c=12.0)[0] == 8  # ≤ 12 °C: bracket value
    assert limit_of(g, "1A", "NH3-N", water_temp_c=12.1)[0] == 5
    assert limit_of(g, "1B", "NH3-N", water_temp_c=3)[0] == 15
    assert limit_of(g, "1A", "TP", built=dt.date(2005, 12, 31)) == (1, "partly_verified")
    assert limit_of(g, "1A", "TP", built=dt.date(2006, 1, 1))[0] == 0.5
    assert limit_of(g, "1B", "TP")[0] == 1  # construction date unknown: the stricter
    assert limit_of(g, "2", "TP", built=dt.date(2000, 1, 1)) == (3, "verified")
    assert limit_of(g, "3", "NH3-N") == (None, "unverified")


def test_a_new_version_is_a_new_file_chosen_by_date(tmp_path):
    folder = tmp_path / "standards"
    shutil.copytree(standards_dir(), folder)
    text = (folder / "gb18918_2002.toml").read_text(encoding="utf-8")
    new = (
        text.replace('id = "gb18918_2002"', 'id = "gb18918_2030"')
        .replace('version = "2002"', 'version = "2030"')
        .replace('valid_from = ""', "valid_from = 2030-01-01")
    )
    (folder / "gb18918_2030.toml").write_text(new.replace('"1A" = 50,', '"1A" = 30,'), "utf-8")
    stds = load_discharge_standards(folder)
    assert current(stds, "GB 18918-2002", dt.date(2026, 1, 1)).version == "2002"
    later = current(stds, "GB 18918-2002", dt.date(2031, 1, 1))
    assert later.version == "2030" and limit_of(later, "1A", "COD")[0] == 30
    assert limit_of(stds["gb18918_2002"], "1A", "COD")[0] == 50  # the old one unchanged


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('"1A" = 50,', '"1A" = -50,'), "positive"),
        (('"1A" = 50,', '"9Z" = 50,'), "unknown class"),
        (('verification = "verified"', 'verification = "probably"'), "verification"),
        (("[[limits]]", "[[limit]]"), "limit"),
    ],
)
def test_a_broken_standard_file_is_named_not_used(tmp_path, edit, message):
    folder = tmp_path / "standards"
    shutil.copytree(standards_dir(), folder)
    path = folder / "gb18918_2002.toml"
    path.write_text(path.read_text(encoding="utf-8").replace(*edit, 1), encoding="utf-8")
    with pytest.raises(CatalogError, match=r"gb18918_2002\.toml") as err:
        load_discharge_standards(folder)
    assert message in str(err.value)


def _pt(dp_id: str, owner: str, water: str, xy: tuple) -> dict:
    kind = "plant" if owner.startswith("P") else "enterprise"
    key = "plant_id" if kind == "plant" else "ent_id"
    return {"dp_id": dp_id, "source_kind": kind, key: owner, "receiving_water": water, "xy": xy}


def _layers(points: list[dict], plants=None, ents=None) -> dict:
    """Two rivers (III in the Taihu basin, IV outside it), a lake, a level-1 zone."""
    rivers = gpd.GeoDataFrame(
        {"river_id": ["R3", "R4"], "target_class": ["III", "IV"], "basin": ["taihu", "yangtze"]},
        geometry=[shapely.LineString([(0, 0), (0, 5000)]),
                  shapely.LineString([(9000, 0), (9000, 5000)])],
        crs=CRS,
    )  # fmt: skip
    lake = gpd.GeoDataFrame({"target_class": ["III"], "basin": ["taihu"]},
                            geometry=[shapely.box(-6000, 0, -3000, 5000)], crs=CRS)  # fmt: skip
    zones = gpd.GeoDataFrame({"level": ["1"]}, geometry=[shapely.box(-7000, 0, 500, 5000)], crs=CRS)
    dps = gpd.GeoDataFrame(
        [{k: v for k, v in p.items() if k != "xy"} for p in points],
        geometry=[shapely.Point(p["xy"]) for p in points], crs=CRS,
    )  # fmt: skip
    layers = {"discharge_points": dps, "rivers": rivers, "lake": lake, "taihu_zones": zones}
    layers["enterprises"] = gpd.GeoDataFrame(
        ents or [], geometry=[shapely.Point(0, 0)] * len(ents or []), crs=CRS
    )
    layers["treatment_plants"] = gpd.GeoDataFrame(
        plants or [], geometry=[shapely.Point(0, 0)] * len(plants or []), crs=CRS
    )
    return layers


ENTS = [
    {"ent_id": "E1", "sector": "machinery", "founded": 2005, "treatment": "own"},
    {"ent_id": "E2", "sector": "electroplating", "founded": 2005, "treatment": "own"},
    {"ent_id": "E3", "sector": "food", "founded": 1990, "treatment": "own"},
    {"ent_id": "E4", "sector": "food", "founded": 2010, "treatment": "sewer"},
]


def test_the_limit_at_each_outfall_is_chosen_by_rule():
    pts = [
        _pt("A", "E1", "R3", (10, 10)),
        _pt("B", "E1", "R4", (9010, 10)),
        _pt("C", "E2", "R3", (10, 10)),
        _pt("D", "E3", "R3", (10, 10)),
        _pt("E", "E4", "R3", (10, 10)),
        _pt("F", "E1", "??", (8800, 10)),
        _pt("G", "E1", None, (8800, 10)),
        _pt("S", "E4", "sewer", (10, 10)),
        _pt("T", "E4", "P1", (10, 10)),
        _pt("U", "E1", "LAKE", (-3100, 10)),
        _pt("P", "P1", "R3", (20, 10)),
        _pt("Q", "P2", "R4", (9020, 10)),
        _pt("L", "P3", "lake", (-3100, 10)),
    ]  # fmt: skip
    plants = [{"plant_id": "P1", "built": 2001, "discharge_class": "1B"},
              {"plant_id": "P2", "built": 2010, "discharge_class": "1A"},
              {"plant_id": "P3", "built": 2010, "discharge_class": ""}]  # fmt: skip
    got = choose_limits(_layers(pts, plants, ENTS))
    one = got.drop_duplicates("dp_id").set_index("dp_id")
    assert one.loc["A", ["standard", "class"]].tolist() == ["gb8978_1996", "1"]
    assert one.loc["B", "class"] == "2" and one.loc["A", "choice_verification"] == "verified"
    # electroplating has its own standard: GB 21900, Table 3 (special limits) in Taihu
    assert one.loc["C", ["standard", "class"]].tolist() == ["gb21900_2008", "table3"]
    assert bool(one.loc["C", "sector_standard"]) and not bool(one.loc["C", "screening"])
    assert one.loc["C", "choice_verification"] == "unverified"  # special limits: recalled
    assert one.loc["D", "choice_verification"] == "unverified"  # pre-1998: Table 2 absent
    # a sewered firm's outfall to a river is a river outfall: class 1 on class III water;
    # class 3 only where the outfall itself goes into the sewer (or names the plant)
    assert one.loc["E", "class"] == "1"
    assert one.loc["S", "class"] == "3" and one.loc["T", "class"] == "3"
    # an id that names nothing is a data error, not the nearest river
    assert bool(one.loc["F", "receiving_unknown"]) and not bool(one.loc["F", "receiving_nearest"])
    assert pd.isna(one.loc["F", "receiving"]) and one.loc["F", "class"] == "1"
    assert "data error" in one.loc["F", "basis_en"]
    # no id at all: the nearest water, flagged
    assert one.loc["G", "receiving"] == "R4" and bool(one.loc["G", "receiving_nearest"])
    assert one.loc["U", "receiving"] == "lake"  # LAKE is the lake, whatever the case
    p = got[got["dp_id"] == "P"].set_index("standard")
    assert p.loc["gb18918_2002", "class"] == "1A"  # Taihu key basin beats III → 1B
    assert p.loc["db32_1072_2018", "class"] == "table1"  # inside the level-1 zone
    q = got[got["dp_id"] == "Q"]
    assert q["standard"].tolist() == ["gb18918_2002"]  # outside Taihu: no DB32
    assert q["class"].iloc[0] == "1A"  # the declared class is stricter than IV → 2
    lake = got[got["dp_id"] == "L"].set_index("standard")
    assert lake.loc["gb18918_2002", "class"] == "1A"  # lake → 1B, key basin → 1A


def _samples(rows):
    return pd.DataFrame(
        rows, columns=["dp_id", "sampled_at", "parameter", "value", "unit", "qualifier"]
    )


def test_samples_against_the_stricter_applicable_limit_with_temperature_and_boundaries():
    pts = [
        _pt("P", "P1", "R3", (20, 10)),
        _pt("A", "E1", "R3", (10, 10)),
    ]  # fmt: skip
    layers = _layers(pts, [{"plant_id": "P1", "built": 2001, "discharge_class": "1A"}], ENTS)
    jan, jul, aug = (
        pd.Timestamp("2024-01-10"),
        pd.Timestamp("2024-07-10"),
        pd.Timestamp("2024-08-10"),
    )
    samples = _samples([
        ("P", jan, "NH3N", 4.9, "mg/L", ""), ("P", jan, "temperature", 10, "°C", ""),
        ("P", jul, "NH3N", 3.0, "mg/L", ""), ("P", jul, "temperature", 25, "°C", ""),
        ("P", jul, "TP", 0.31, "mg/L", ""), ("P", jul, "pH", 9.2, "", ""),
        ("P", aug, "NH3N", 3.5, "mg/L", ""),  # no temperature: warm value, flagged
        ("A", jul, "COD", 100, "mg/L", ""), ("A", jul, "TP", 0.8, "mg/L", ""),
        ("A", aug, "COD", "<200", "mg/L", ""), ("A", aug, "NH3-N", 15.01, "mg/L", ""),
    ])  # fmt: skip
    f = check_samples(samples, choose_limits(layers), STDS).set_index(
        ["dp_id", "sampled_at", "parameter"]
    )
    cold = f.loc[("P", jan, "NH3-N")]
    assert cold["limit"] == 5 and cold["standard_id"] == "DB32/1072-2018" and cold["compliant"]
    warm = f.loc[("P", jul, "NH3-N")]
    assert warm["limit"] == 3 and warm["compliant"] and not warm["temperature_assumed"]
    assert f.loc[("P", aug, "NH3-N"), "temperature_assumed"]
    assert not f.loc[("P", aug, "NH3-N"), "compliant"]
    tp = f.loc[("P", jul, "TP")]
    assert tp["limit"] == 0.3 and not tp["compliant"]  # DB32 0.3 stricter than 1A (pre-2006) 1
    assert not f.loc[("P", jul, "pH"), "compliant"]
    cod = f.loc[("A", jul, "COD")]
    assert cod["limit"] == 100 and cod["compliant"] and cod["ratio"] == 1.0  # equal meets it
    po4 = f.loc[("A", jul, "TP")]
    assert po4["indicative"] and not po4["compliant"]
    # "<200" against a limit of 100: below 200 may or may not be over 100 — no verdict
    below = f.loc[("A", aug, "COD")]
    assert below["value"] == 200 and below["below_detection"] and pd.isna(below["compliant"])
    assert below["limit_below_detection"]
    assert not f.loc[("A", aug, "NH3-N"), "compliant"]
    per_sample, monthly, offenders = summarise(f.reset_index())
    a = per_sample.set_index(["dp_id", "sampled_at"])
    assert a.loc[("A", jul), "compliant"]  # an indicative phosphate value does not fail it
    assert not a.loc[("A", aug), "compliant"] and a.loc[("A", aug), "failed_parameters"] == "NH3-N"
    assert set(offenders["owner_id"]) == {"P1"}  # failed in July and August
    m = monthly.set_index(["owner_id", "month"])
    assert m.loc[("P1", "2024-01"), "compliance_rate"] == 1.0
    assert m.loc[("E1", "2024-08"), "compliance_rate"] == 0.0


def test_no_effluent_samples_gives_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no discharge points"):
        from townmap.monitoring.compliance import workspace_compliance

        class Empty:
            def has_layer(self, name):
                return False

            def has_table(self, name):
                return False

        workspace_compliance(Empty())


def test_compliance_cli_on_the_demo(demo_ws, tmp_path, capsys):
    from openpyxl import load_workbook

    out = tmp_path / "c.xlsx"
    ws = ["compliance", "--workspace", str(demo_ws.folder), "--out"]
    assert main([*ws, str(out)]) == 0
    book = load_workbook(out, read_only=True)
    assert book.sheetnames == ["findings", "samples", "monthly", "offenders", "limits"]
    assert "repeat offender" in capsys.readouterr().out
    assert main([*ws, str(tmp_path / "c.csv")]) == 0
    findings = pd.read_csv(tmp_path / "c.csv")
    assert {"limit", "compliant", "verification", "standard_id", "version"} <= set(findings.columns)
    assert (tmp_path / "c_offenders.csv").is_file()
    assert main([*ws, str(tmp_path / "c.pdf")]) == 2


def test_the_vectorised_engine_agrees_with_the_plain_lookup():
    pts = [
        {
            "dp_id": "P",
            "source_kind": "plant",
            "plant_id": "P1",
            "receiving_water": "R4",
            "xy": (9020, 10),
        }
    ]
    layers = _layers(pts, [{"plant_id": "P1", "built": 2010, "discharge_class": "1B"}], ENTS)
    rows = []
    for i, temp in enumerate([2.0, 11.9, 12.0, 12.5, 20.0]):
        t = pd.Timestamp("2024-01-01") + pd.Timedelta(days=i)
        rows += [("P", t, p, 1.0, "mg/L", "") for p in ("COD", "NH3N", "TP", "TN", "BOD5", "SS")]
        rows.append(("P", t, "temperature", temp, "°C", ""))
    f = compliance(layers, _samples(rows), STDS).findings
    g = STDS["gb18918_2002"]
    for r in f.itertuples():
        expected, _ = limit_of(
            g, "1B", r.parameter, built=dt.date(2010, 1, 1), water_temp_c=r.water_temp_c
        )
        assert r.limit == expected, (r.parameter, r.water_temp_c)


def test_outfalls_of_enterprises_missing_from_the_register_are_still_assessed():
    pts = [_pt("A", "E404", "R3", (10, 10)), _pt("B", "E1", "R4", (9010, 10))]
    layers = _layers(pts, [], ENTS)
    layers["enterprises"] = layers["enterprises"].drop(columns=["founded", "treatment"])
    got = choose_limits(layers).set_index("dp_id")
    assert got.loc["A", "class"] == "1" and got.loc["B", "class"] == "2"
    assert not got.loc["A", "screening"]


SECTOR_ENTS = [
    {"ent_id": "D1", "sector": "printing_dyeing", "founded": 2012},
    {"ent_id": "Y1", "sector": "dyestuffs", "founded": 2012},
    {"ent_id": "M1", "sector": "machinery", "founded": 2012},
    {"ent_id": "EP1", "sector": "electroplating", "founded": 2012},
    {"ent_id": "B1", "sector": "brewing", "founded": 2012},
    {"ent_id": "T1", "sector": "tanning", "founded": 2012},
]


def test_sector_standards_decide_and_an_unencoded_one_gives_no_verdict():
    pts = [
        _pt("DT", "D1", "R3", (10, 10)),  # dyeing, Taihu: GB 4287 special limits
        _pt("DY", "D1", "R4", (9010, 10)),  # dyeing, Yangtze: GB 4287 direct
        _pt("YY", "Y1", "R4", (9010, 10)),  # dyestuffs into class IV: GB 8978 class 2
        _pt("MM", "M1", "R4", (9010, 10)),  # other units into class IV: class 2
        _pt("PT", "EP1", "R3", (10, 10)),  # electroplating, Taihu: GB 21900 Table 3
        _pt("BS", "B1", "sewer", (10, 10)),  # brewery into the sewer: pre-treatment
        _pt("TT", "T1", "R4", (9010, 10)),  # tannery: GB 30486, nothing encoded
    ]  # fmt: skip
    day = pd.Timestamp("2024-06-03")
    samples = _samples([
        ("DT", day, "COD", 70, "mg/L", ""),
        ("DY", day, "COD", 70, "mg/L", ""), ("DY", day, "总锑", 0.2, "mg/L", ""),
        ("YY", day, "COD", 180, "mg/L", ""), ("YY", day, "NH3-N", 40, "mg/L", ""),
        ("MM", day, "COD", 180, "mg/L", ""), ("MM", day, "pH", 11.5, "", ""),
        ("PT", day, "Ni", 0.2, "mg/L", ""), ("PT", day, "COD", 50, "mg/L", ""),
        ("BS", day, "COD", 400, "mg/L", ""),
        ("TT", day, "COD", 50, "mg/L", ""),
    ])  # fmt: skip
    layers = _layers(pts, [], SECTOR_ENTS)
    f = check_samples(samples, choose_limits(layers), STDS).set_index(["dp_id", "parameter"])
    # GB 4287's direct and special limits are not encoded: no GB 8978 verdict instead
    cod = f.loc[("DT", "COD")]
    assert bool(cod["not_encoded"]) and pd.isna(cod["compliant"]) and pd.isna(cod["limit"])
    assert cod["standard_id"] == "GB 4287-2012" and "not encoded" in cod["basis"]
    assert bool(f.loc[("DY", "COD"), "not_encoded"])
    sb = f.loc[("DY", "Sb")]  # the 2015 amendment's antimony: 0.2 > 0.10
    assert sb["limit"] == pytest.approx(0.10) and not sb["compliant"]
    # GB 8978's dyestuff row: COD 200 and NH3-N 50 at class 2 (other units: 150 and 25)
    assert f.loc[("YY", "COD"), "limit"] == 200 and f.loc[("YY", "COD"), "compliant"]
    assert f.loc[("YY", "NH3-N"), "limit"] == 50 and f.loc[("YY", "NH3-N"), "compliant"]
    assert f.loc[("MM", "COD"), "limit"] == 150 and not f.loc[("MM", "COD"), "compliant"]
    assert not f.loc[("MM", "pH"), "compliant"]  # pH 11.5 is outside 6–9, every class
    assert (
        f.loc[("PT", "Ni"), "limit"] == pytest.approx(0.1) and not f.loc[("PT", "Ni"), "compliant"]
    )
    assert bool(f.loc[("PT", "COD"), "not_encoded"])
    assert f.loc[("BS", "COD"), "limit"] == 500 and f.loc[("BS", "COD"), "compliant"]
    assert (
        bool(f.loc[("TT", "COD"), "not_encoded"])
        and "GB 30486-2013" in f.loc[("TT", "COD"), "basis"]
    )
    per_sample, _, _ = summarise(f.reset_index())
    tannery = per_sample.set_index("dp_id").loc["TT"]
    assert pd.isna(tannery["compliant"])  # nothing assessed is not "compliant"
    assert tannery["not_encoded_parameters"] == "COD"


def test_a_plant_on_a_lake_meets_1a_by_the_2006_amendment_not_1b():
    """GB 18918's 4.1.2 said lakes and reservoirs → 1B; SEPA announcement 2006 No. 21
    made it 1A (references §13a). A lake outside any key basin shows it on its own."""
    layers = _layers([_pt("L", "P3", "lake", (-3100, 10))], [{"plant_id": "P3", "built": 2010}])
    layers["lake"] = layers["lake"].assign(basin="other")
    row = choose_limits(layers).set_index("standard").loc["gb18918_2002"]
    assert row["class"] == "1A" and "2006" in row["basis_en"]
    assert row["choice_verification"] == "partly_verified"  # one page quotes the clause


@pytest.mark.parametrize(
    ("code", "applies"),
    [("320506100", True), ("321181102", True), ("321002100", False), ("329901100", True)],
)
def test_db32_1072_applies_by_the_taihu_area_as_divisions_define_it(code, applies):
    """A Suzhou (3205) or Danyang (321181) plant meets DB32/1072 even on a Yangtze river;
    a Yangzhou (3210) one does not, even on a Taihu-basin river; a division not listed
    (the demo's fictional 3299) falls back to the basin of the receiving water (Taihu)."""
    layers = _layers([_pt("P", "P1", "R3" if code.startswith(("3210", "3299")) else "R4",
                          (20, 10) if code.startswith(("3210", "3299")) else (9020, 10))],
                     [{"plant_id": "P1", "built": 2010}])  # fmt: skip
    layers["town"] = gpd.GeoDataFrame(
        {"admin_code": [code]}, geometry=[shapely.box(-9000, -9000, 9000, 9000)], crs=CRS
    )
    got = choose_limits(layers)
    assert ("db32_1072_2018" in set(got["standard"])) is applies
    if applies:
        basis = got.set_index("standard").loc["db32_1072_2018", "basis_en"]
        listed = not code.startswith("3299")
        assert ("by administrative division" in basis) is listed
