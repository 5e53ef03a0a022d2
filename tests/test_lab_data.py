"""Lab results as Chinese labs write them: units (µ and μ), names (NH₃-N, 氨氮, "Total
phosphorus"), below-detection notations, DO in % saturation, every GB 3838 Table 1 item,
and the class as the bulletins report it. Every expectation is worked out by hand from
GB 3838-2002 Table 1 (layers/references.md §1) in the comment beside it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from townmap.monitoring.lab_data import (
    load_vocabulary,
    oxygen_saturation_mg_l,
    parse_value,
    read_lab_values,
)
from townmap.monitoring.quality import (
    class_text,
    classify,
    classify_periods,
    exceedances,
    load_standard,
)

STD = load_standard()
MICRO_SIGN, GREEK_MU = "\u00b5", "\u03bc"


def _sheet(rows, water="river", station="S1", time="2024-05-06"):
    """A lab sheet: one row per parameter as (parameter, value, unit)."""
    return pd.DataFrame(
        {
            "station": station,
            "time": time,
            "water_type": water,
            "parameter": [r[0] for r in rows],
            "value": [r[1] for r in rows],
            "unit": [r[2] for r in rows],
        }
    )


def _read(rows, **kw):
    return read_lab_values(_sheet(rows, **kw), ["station", "time"])


def _class(rows, **kw):
    out = classify(_read(rows, **kw).frame, STD)
    assert len(out) == 1
    return out.iloc[0]


# ------------------------------------------------------------------------------ units


@pytest.mark.parametrize("micro", [MICRO_SIGN, GREEK_MU, "u"])
def test_60_micrograms_of_tp_are_0_06_mg_and_class_ii_in_a_river(micro):
    """Read as 60 mg/L this sample was 劣Ⅴ; 0.06 mg/L is river class II (0.02 < 0.06 ≤
    0.1) and lake class IV (0.05 < 0.06 ≤ 0.1)."""
    river = _read([("TP", "60", f"{micro}g/L")])
    assert river.frame["value"].iloc[0] == pytest.approx(0.06)
    assert river.frame["unit"].iloc[0] == "mg/L" and river.refused.empty
    assert _class([("TP", "60", f"{micro}g/L")])["class"] == 2
    assert _class([("TP", "60", f"{micro}g/L")], water="lake")["class"] == 4


def test_an_unknown_or_wrong_unit_is_a_refused_row_never_mg_per_litre():
    reading = _read(
        [
            ("COD", "15", "mmol/L"),  # not in units.toml
            ("TP", "0.1", ""),  # a concentration without a unit
            ("TP", "0.1", "个/L"),  # a count is not a concentration
            ("pH", "7.1", ""),  # pH has no unit: fine
            ("NH3-N", "0.2", "MG/L"),  # case does not matter
        ]
    )
    assert list(reading.refused["reason"]) == ["unknown_unit", "no_unit", "wrong_unit"]
    assert list(reading.refused["row"]) == [0, 1, 2]
    assert list(reading.frame["parameter"]) == ["pH", "NH3-N"]
    assert any("3 result(s) refused" in n for n in reading.notes)


def test_counts_per_100_ml_are_counts_per_litre():
    reading = _read([("粪大肠菌群", "2,500", "MPN/100mL"), ("fecal coliform", "2.4×10³", "个/L")])
    assert list(reading.frame["value"]) == [25000.0, 2400.0]


# ---------------------------------------------------------------------- parameter names


def test_names_as_labs_write_them_and_unknown_ones_listed_with_their_sample():
    reading = _read(
        [
            ("NH₃-N", "0.4", "mg/L"),
            ("Total phosphorus", "0.05", "mg/L"),
            ("总磷（以P计）", "0.05", "mg/L"),
            ("pH值", "7.4", "无量纲"),
            ("AMMONIA NITROGEN", "0.4", "mg/L"),
            ("Cr⁶⁺", "0.004", "mg/L"),
            ("叶绿素a", "12", "mg/m3"),
        ]
    )
    assert list(reading.frame["parameter"]) == ["NH3-N", "TP", "TP", "pH", "NH3-N", "Cr6"]
    assert list(reading.ignored["parameter"]) == ["叶绿素a"]
    assert list(reading.ignored["station"]) == ["S1"]  # with its sample
    assert any("叶绿素a" in n for n in reading.notes)


def test_two_parameters_with_one_alias_are_an_error(tmp_path):
    from townmap.errors import CatalogError
    from townmap.settings import layers_dir

    folder = tmp_path / "standards"
    folder.mkdir()
    source = layers_dir() / "standards"
    (folder / "units.toml").write_text((source / "units.toml").read_text("utf-8"), "utf-8")
    text = (source / "parameters.toml").read_text("utf-8")
    (folder / "parameters.toml").write_text(
        text.replace('aliases = ["TN",', 'aliases = ["TP", "TN",'), "utf-8"
    )
    with pytest.raises(CatalogError, match="'TP' names both"):
        load_vocabulary(str(folder))


# ------------------------------------------------------------------ every Table 1 item


@pytest.mark.parametrize(
    ("parameter", "value", "expected"),
    [
        ("Hg", "0.002", 6),  # V is 0.001: worse than V (was class I)
        ("石油类", "0.6", 5),  # IV 0.5 < 0.6 ≤ V 1.0 (was class I)
        ("Cd", "0.005", 2),  # II, III and IV are all 0.005: the better class
        ("六价铬", "0.06", 5),  # IV 0.05 < 0.06 ≤ V 0.1
        ("铅", "0.05", 3),  # I and II 0.01, III 0.05
        ("As", "0.05", 1),  # I–III 0.05
        ("铜", "0.02", 2),  # I 0.01, II 1.0
        ("锌", "1.5", 4),  # III 1.0, IV 2.0
        ("氟化物", "1.2", 4),  # III 1.0, IV 1.5
        ("硒", "0.011", 4),  # III 0.01, IV 0.02
        ("氰化物", "0.1", 3),  # II 0.05, III 0.2
        ("挥发酚", "0.004", 3),  # II 0.002, III 0.005
        ("阴离子表面活性剂", "0.25", 4),  # III 0.2, IV 0.3
        ("硫化物", "0.15", 3),  # II 0.1, III 0.2
        ("BOD5", "4", 3),
        ("高锰酸盐指数", "6", 3),
    ],
)
def test_each_table_1_item_is_classified_by_its_own_limits(parameter, value, expected):
    assert _class([(parameter, value, "mg/L")])["class"] == expected


def test_water_temperature_is_read_but_has_no_class():
    out = _class([("水温", "18.5", "℃"), ("COD", "16", "mg/L")])
    assert out["class"] == 3 and out["parameters"] == 1  # COD III; temperature not a class


# -------------------------------------------------------------------- below detection


@pytest.mark.parametrize(
    ("text", "number", "below"),
    [
        ("0.025L", 0.025, True),
        ("0.025 L", 0.025, True),
        ("<0.05", 0.05, True),
        ("＜0.05", 0.05, True),  # a full-width sign, as Chinese input methods type it
        ("≤0.05", 0.05, True),
        ("ND", np.nan, True),
        ("未检出", np.nan, True),
        ("0.31", 0.31, False),
    ],
)
def test_below_detection_notations(text, number, below):
    parsed = parse_value(text)
    assert parsed.below is below and parsed.problem is None
    assert parsed.number == pytest.approx(number, nan_ok=True)


def test_a_detection_limit_above_a_class_boundary_gives_a_bound_not_a_class():
    # NH3-N "0.8L": the value is below 0.8, which is over II (0.5) and within III (1.0):
    # "Ⅲ or better". Half the limit (0.4) would have said II.
    alone = _class([("氨氮", "0.8L", "mg/L"), ("COD", "12", "mg/L")])
    assert alone["class"] == 3 and alone["class_bound"] and alone["deciding_parameter"] == "NH3-N"
    assert alone["below_detection"]
    assert class_text(alone["class"], alone["class_bound"], "zh") == "Ⅲ类或更好"
    assert class_text(alone["class"], alone["class_bound"], "en") == "Ⅲ or better"
    # a certain class III from COD 18 (15 < 18 ≤ 20) makes the sample certainly III
    certain = _class([("氨氮", "0.8L", "mg/L"), ("COD", "18", "mg/L")])
    assert certain["class"] == 3 and not certain["class_bound"]
    # a limit at or under the class-I limit decides nothing: class I, certain
    low = _class([("NH3-N", "0.025L", "mg/L")])
    assert low["class"] == 1 and not low["class_bound"]


def test_not_detected_with_a_detection_limit_column_and_without_one():
    frame = _sheet([("TP", "ND", "mg/L"), ("NH3-N", "未检出", "mg/L")])
    frame["detection_limit"] = [0.01, None]
    reading = read_lab_values(frame, ["station", "time"])
    assert list(reading.frame["parameter"]) == ["TP"]
    assert reading.frame["detection_limit"].iloc[0] == pytest.approx(0.01)
    assert list(reading.refused["reason"]) == ["nd_without_limit"]  # nothing to classify by


def test_means_take_half_the_limit_and_say_so():
    frame = pd.concat(
        [
            _sheet([("NH3-N", "0.8L", "mg/L")], time="2024-03-02"),
            _sheet([("NH3-N", "0.6", "mg/L")], time="2024-03-20"),
        ]
    )
    samples = read_lab_values(frame, ["station", "time"]).frame
    months = classify_periods(samples, STD, "M")
    # (0.4 + 0.6) / 2 = 0.5 → II, a certain class of the mean, one value at half its limit
    assert months["class"].iloc[0] == 2 and not months["class_bound"].iloc[0]
    from townmap.monitoring.quality import period_means

    assert period_means(samples, "M")["half_limit_values"].iloc[0] == 1


def test_a_below_detection_value_over_the_target_limit_is_not_an_exceedance():
    samples = _read([("NH3-N", "1.2L", "mg/L"), ("TP", "0.3", "mg/L")]).frame
    over = exceedances(samples, STD, pd.Series({"S1": "III"}))
    # TP 0.3 against III's 0.2: (0.3 − 0.2) / 0.2 = 0.5; NH3-N below 1.2 may or may not
    # exceed 1.0, so it is not the exceeding parameter
    assert over["exceedance"].iloc[0] == pytest.approx(0.5)
    assert over["exceeding_parameter"].iloc[0] == "TP"


# ----------------------------------------------------------------- DO in % saturation


def test_oxygen_solubility_matches_the_standard_methods_table():
    # APHA 4500-O table at 1 atm: 14.621 mg/L at 0 °C, 9.092 at 20 °C, 8.263 at 25 °C
    assert oxygen_saturation_mg_l([0, 20, 25]) == pytest.approx([14.621, 9.092, 8.263], abs=1e-3)


def test_do_in_percent_saturation_is_converted_with_the_samples_temperature():
    # 60 % at 25 °C: 0.60 × 8.263 = 4.96 mg/L, under III's 5 and over IV's 3 → IV
    warm = _class([("溶解氧", "60", "%"), ("水温", "25", "℃")])
    assert warm["class"] == 4 and warm["deciding_parameter"] == "DO"
    # 95 % at 30 °C is 7.18 mg/L (< 7.5) but ≥ 90 % saturation meets class I
    hot = _class([("DO", "95", "%"), ("WT", "30", "°C")])
    assert hot["class"] == 1
    refused = _read([("DO", "60", "%")])  # no temperature in the sample
    assert refused.frame.empty
    assert list(refused.refused["reason"]) == ["saturation_without_temperature"]


# ------------------------------------------------------- the class as bulletins report it


def test_a_lake_class_without_and_with_tn_and_fecal_coliform_apart():
    lake = _class(
        [
            ("TP", "0.04", "mg/L"),  # lake III (0.025 < 0.04 ≤ 0.05)
            ("TN", "1.8", "mg/L"),  # V (1.5 < 1.8 ≤ 2.0)
            ("粪大肠菌群", "2500", "MPN/100mL"),  # 25,000 /L: V (20,000 < 25,000 ≤ 40,000)
        ],
        water="lake",
    )
    assert lake["class"] == 3 and lake["deciding_parameter"] == "TP"  # 不计总氮
    assert lake["class_with_tn"] == 5 and lake["tn_class"] == 5
    assert lake["fecal_coliform_class"] == 5
    river = _class([("TP", "0.04", "mg/L"), ("TN", "9", "mg/L")])
    assert river["class"] == 2 and river["class_with_tn"] == 2  # TN is not a river item


def test_table_2_limits_apply_at_drinking_water_sources_only():
    from townmap.monitoring.quality import source_water_exceedances

    rows = [("硫酸盐", "300", "mg/L"), ("铁", "0.2", "mg/L"), ("锰", "0.15", "mg/L")]
    frame = pd.concat([_sheet(rows, station="W1"), _sheet(rows, station="R1")])
    frame["drinking_source"] = [True] * 3 + [False] * 3
    samples = read_lab_values(frame, ["station", "time"]).frame
    over = source_water_exceedances(samples, STD)
    # sulfate 300 > 250: (300 − 250) / 250 = 0.2; manganese 0.15 > 0.1: 0.5; iron 0.2 ≤ 0.3
    assert list(over["station"]) == ["W1", "W1"]
    assert list(over["parameter"]) == ["sulfate", "Mn"]
    assert list(over["multiple"]) == pytest.approx([0.2, 0.5])
    assert classify(samples, STD).empty  # Table 2 items make no class
