"""GB 3838 classification: hand-computed classes, every limit as a boundary, DO as a
minimum, below-detection values, lake against river rows, missing parameters; the CLI."""

from __future__ import annotations

import pandas as pd
import pytest

from townmap.cli import main
from townmap.monitoring.quality import (
    WORSE_THAN_V,
    classify,
    classify_values,
    exceedance,
    load_standard,
    normalise,
    parse_values,
)

STD = load_standard()
# (parameter, water type, limits I..V, direction) as in domain.md §1
TABLE = [
    ("CODMn", "river", [2, 4, 6, 10, 15], "max"),
    ("COD", "river", [15, 15, 20, 30, 40], "max"),
    ("BOD5", "river", [3, 3, 4, 6, 10], "max"),
    ("NH3-N", "river", [0.15, 0.5, 1.0, 1.5, 2.0], "max"),
    ("TP", "river", [0.02, 0.1, 0.2, 0.3, 0.4], "max"),
    ("TP", "lake", [0.01, 0.025, 0.05, 0.1, 0.2], "max"),
    ("TN", "lake", [0.2, 0.5, 1.0, 1.5, 2.0], "max"),
    ("DO", "river", [7.5, 6, 5, 3, 2], "min"),
]


def _one(parameter, water, value) -> float:
    frame = pd.DataFrame({"parameter": [parameter], "water_type": [water], "value": [value]})
    return classify_values(frame, STD)["class"].iloc[0]


@pytest.mark.parametrize(("parameter", "water", "limits", "direction"), TABLE)
def test_a_value_equal_to_a_limit_meets_that_class(parameter, water, limits, direction):
    def meets(lim, value):
        return value <= lim if direction == "max" else value >= lim

    for limit in limits:
        expected = min(c for c, lim in enumerate(limits, start=1) if lim == limit)
        assert _one(parameter, water, limit) == expected  # equal limits: the better class
        worse = limit * 1.001 if direction == "max" else limit * 0.999
        first_met = next((c for c, lim in enumerate(limits, start=1) if meets(lim, worse)), 6)
        assert first_met > expected  # just past the limit is a worse class …
        assert _one(parameter, water, worse) == first_met  # … the first one it meets
    beyond = limits[-1] * 1.01 if direction == "max" else limits[-1] * 0.99
    assert _one(parameter, water, beyond) == WORSE_THAN_V


def test_do_is_a_minimum_and_ph_a_range():
    assert _one("DO", "river", 8.0) == 1
    assert _one("DO", "river", 5.5) == 3
    assert _one("DO", "river", 1.9) == WORSE_THAN_V
    assert _one("pH", "river", 7.2) == 1
    assert _one("pH", "lake", 9.0) == 1
    assert _one("pH", "river", 9.1) == WORSE_THAN_V


def test_lake_and_river_rows_differ_and_tn_counts_for_lakes_only():
    assert _one("TP", "river", 0.05) == 2 and _one("TP", "lake", 0.05) == 3
    assert pd.isna(_one("TN", "river", 5.0))  # not assessed for rivers
    assert _one("TN", "lake", 5.0) == WORSE_THAN_V


def test_a_sample_takes_its_worst_parameter():
    frame = pd.DataFrame(
        {
            "station": ["S1"] * 5 + ["S2"] * 2,
            "time": ["2024-01"] * 7,
            "water_type": ["river"] * 5 + ["lake"] * 2,
            "parameter": ["DO", "COD", "NH3-N", "TP", "TN", "TP", "TN"],
            "value": [6.5, 18, 0.4, 0.31, 9.0, 0.03, 1.2],
        }
    )
    out = classify(frame, STD).set_index("station")
    # S1: DO II, COD III, NH3-N II, TP(river) V; TN ignored for a river → V, decided by TP
    assert out.loc["S1", "class"] == 5 and out.loc["S1", "deciding_parameter"] == "TP"
    assert out.loc["S1", "parameters"] == 4
    assert out.loc["S1", "class_with_tn"] == 5 and pd.isna(out.loc["S1", "tn_class"])
    # S2 (lake): TP 0.03 → III, TN 1.2 → IV. The bulletins' lake class leaves TN out
    # (Ⅲ类，不计总氮) and gives TN apart; with TN the lake is IV
    assert out.loc["S2", "class"] == 3 and out.loc["S2", "deciding_parameter"] == "TP"
    assert out.loc["S2", "class_with_tn"] == 4 and out.loc["S2", "tn_class"] == 4


def test_missing_parameters_and_below_detection_values():
    values, below = parse_values(pd.Series(["0.31", "ND", "<0.05", "", "abc"]),
                                 pd.Series([None, "0.02", None, None, None]))  # fmt: skip
    assert values[0] == pytest.approx(0.31)
    assert values[1] == pytest.approx(0.01) and values[2] == pytest.approx(0.025)  # half the DL
    assert list(below) == [False, True, True, False, False]
    assert pd.isna(values[3]) and pd.isna(values[4])
    frame = pd.DataFrame({"station": ["S"], "time": [1], "water_type": ["river"],
                          "parameter": ["NH3-N"], "value": [float("nan")]})  # fmt: skip
    assert classify(frame, STD).empty  # nothing measured: no class rather than a guess


def test_names_and_units_are_normalised_and_exceedance_is_against_the_target():
    frame = normalise(
        pd.DataFrame(
            {
                "parameter": ["NH3N", "总磷", "codmn"],
                "value": [500.0, 0.2, 3.0],
                "unit": ["μg/L", "mg/L", "mg/L"],
            }
        )
    )
    assert list(frame["parameter"]) == ["NH3-N", "TP", "CODMn"]
    assert frame["value"].iloc[0] == pytest.approx(0.5)
    assert exceedance(1.5, "NH3-N", "river", 3, STD) == pytest.approx(0.5)
    assert exceedance(0.8, "NH3-N", "river", 3, STD) == 0
    assert exceedance(2.5, "DO", "river", 3, STD) == pytest.approx(0.5)


def test_cli_classifies_a_plain_csv(tmp_path, capsys):
    csv = tmp_path / "samples.csv"
    csv.write_text(
        "station,water_type,time,parameter,value,unit\n"
        "A,river,2024-05-01,DO,6.0,mg/L\n"
        "A,river,2024-05-01,NH3-N,<0.05,mg/L\n"
        "A,river,2024-05-01,TP,0.2,mg/L\n"
        "B,lake,2024-05-01,TN,ND,mg/L\n"
        "B,lake,2024-05-01,TP,0.12,mg/L\n",
        encoding="utf-8",
    )
    out = tmp_path / "classes.csv"
    assert main(["classify", "--samples", str(csv), "--out", str(out)]) == 0
    table = pd.read_csv(out).set_index("station")
    assert table.loc["A", "class"] == 3 and table.loc["A", "deciding_parameter"] == "TP"
    assert table.loc["B", "class"] == 5 and table.loc["B", "deciding_parameter"] == "TP"
    assert list(table.columns[:4]) == ["time", "class", "class_bound", "deciding_parameter"]
    said = capsys.readouterr().out
    # TN "ND" with no detection limit cannot be classified: refused, with its line
    assert "refused: row 5: TN = ND mg/L: not detected, with no detection limit" in said
    bad = tmp_path / "bad.csv"
    bad.write_text("station,time,parameter,value\nA,1,DO,5\n", encoding="utf-8")
    assert main(["classify", "--samples", str(bad), "--out", str(out)]) == 2
    assert "water_type" in capsys.readouterr().err
    bad.write_text("station,water_type,time,parameter,value\nA,sea,1,DO,5\n", encoding="utf-8")
    assert main(["classify", "--samples", str(bad), "--out", str(out)]) == 2


def test_cli_classifies_the_demo_workspace(demo_ws, tmp_path):
    out = tmp_path / "c.csv"
    assert main(["classify", "--workspace", str(demo_ws.folder), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert table["class"].between(1, 6).all()
    assert len(table) == demo_ws.read_table("water_samples")[["station_id", "sampled_at"]]\
        .drop_duplicates().shape[0]  # fmt: skip


def test_periods_are_classified_on_mean_concentrations_and_checked_against_targets():
    from townmap.monitoring.quality import attainment, classify_periods

    frame = pd.DataFrame(
        {
            "station": ["S1"] * 4,
            "water_type": ["river"] * 4,
            "time": ["2024-03-02", "2024-03-20", "2024-04-02", "2024-04-20"],
            "parameter": ["NH3-N"] * 4,
            "value": [0.9, 1.3, 0.4, 0.5],  # March mean 1.1 → IV; April mean 0.45 → II
        }
    )
    months = classify_periods(frame, STD, "M").set_index("period")
    assert months.loc["2024-03", "class"] == 4 and months.loc["2024-04", "class"] == 2
    year = classify_periods(frame, STD, "Y")
    assert year["class"].iloc[0] == 3  # mean 0.775
    checked = attainment(months.reset_index(), pd.Series({"S1": "III"}))
    assert list(checked["attained"]) == [False, True]


def test_seasonal_mann_kendall_by_hand_and_on_known_trends():
    import numpy as np

    from townmap.monitoring.quality import seasonal_mann_kendall

    one = seasonal_mann_kendall(
        pd.Series(pd.to_datetime(["2020-06-01", "2021-06-01", "2022-06-01"])),
        pd.Series([1.0, 2.0, 3.0]),
    )
    # one season, n = 3: S = 3, Var = 3·2·11/18, Z = (S − 1)/√Var
    assert one["S"] == 3 and one["Z"] == pytest.approx(2 / np.sqrt(66 / 18))
    assert one["slope_per_year"] == pytest.approx(1.0)
    times = pd.Series(pd.date_range("2015-01-15", periods=120, freq="MS"))
    rng = np.random.default_rng(0)
    season = 0.3 * np.sin(np.arange(120) * 2 * np.pi / 12)
    rising = seasonal_mann_kendall(times, pd.Series(1 + 0.05 * np.arange(120) / 12 + season))
    assert rising["trend"] == "increasing" and rising["slope_per_year"] == pytest.approx(0.05)
    flat = seasonal_mann_kendall(times, pd.Series(rng.normal(1, 0.2, 120)))
    assert flat["trend"] == "none" and flat["p"] > 0.05


def _reference(frame: pd.DataFrame) -> dict:
    """The plain loop the benchmark races: limits looked up row by row."""
    rows = {}
    for i, r in enumerate(STD.table.itertuples()):
        rows.setdefault((r.parameter, r.water_type), (i, r))
    worst: dict = {}
    for row in frame.itertuples():
        found = rows.get((row.parameter, row.water_type))
        if found is None or pd.isna(row.value):
            continue
        i, spec = found
        limits = [spec.l1, spec.l2, spec.l3, spec.l4, spec.l5]
        if spec.direction == "range":
            cls = 1 if spec.l1 <= row.value <= spec.l2 else WORSE_THAN_V
        elif spec.direction == "min":
            cls = next((k + 1 for k, lim in enumerate(limits) if row.value >= lim), 6)
        else:
            cls = next((k + 1 for k, lim in enumerate(limits) if row.value <= lim), 6)
        key = (row.station, row.time)
        if key not in worst or (cls, -i) > (worst[key][0], -worst[key][2]):
            worst[key] = (cls, spec.parameter, i)
    return {k: v[:2] for k, v in worst.items()}


@pytest.mark.parametrize("dtype", ["str", object])
def test_the_compiled_path_equals_a_plain_loop_on_random_and_boundary_values(dtype):
    import numpy as np

    rng = np.random.default_rng(3)
    params = ["DO", "CODMn", "COD", "BOD5", "NH3-N", "TP", "TN", "pH", "Cl"]
    n = 6000
    param = rng.choice(params, n)
    limit_values = STD.table[["l1", "l2", "l3", "l4", "l5"]].to_numpy().ravel()
    boundary = rng.choice(limit_values[~np.isnan(limit_values)], n)
    value = np.where(rng.random(n) < 0.4, boundary, rng.uniform(0, 12, n))
    value[rng.random(n) < 0.02] = np.nan
    frame = pd.DataFrame(
        {
            "station": rng.choice(["S1", "S2", "S3", None], n),
            "time": rng.integers(0, 40, n),
            "water_type": rng.choice(["river", "lake", "sea"], n),
            "parameter": param,
            "value": value,
        }
    ).astype({"station": dtype, "water_type": dtype, "parameter": dtype})
    expected = _reference(frame.dropna(subset=["station"]))
    got = classify(frame, STD)
    got = got[got["station"].notna()]
    assert {(s, t): (c, p) for s, t, c, p in got[["station", "time", "class",
            "deciding_parameter"]].itertuples(index=False)} == expected  # fmt: skip
    assert set(got["station"]) <= {"S1", "S2", "S3"}


def test_exceedance_multiple_against_the_target_class():
    from townmap.monitoring.quality import exceedances

    frame = pd.DataFrame(
        {
            "station": ["A", "A", "A", "B", "B", "C"],
            "time": [1, 1, 1, 1, 1, 1],
            "water_type": ["river", "river", "river", "lake", "lake", "river"],
            "parameter": ["NH3-N", "DO", "pH", "TP", "COD", "NH3-N"],
            "value": [1.5, 4.0, 9.5, 0.05, 20.0, 0.3],
        }
    )  # fmt: skip
    targets = pd.Series({"A": "III", "B": "II", "C": "III"})
    got = exceedances(frame, STD, targets).set_index("station")
    # A: NH3-N (1.5 − 1.0) / 1.0 = 0.5 beats DO (5 − 4) / 5 = 0.2; pH has no multiple
    assert got.loc["A", "exceedance"] == pytest.approx(0.5)
    assert got.loc["A", "exceeding_parameter"] == "NH3-N"
    # B (lake, target II): TP (0.05 − 0.025) / 0.025 = 1.0; COD (20 − 15) / 15 = 0.33
    assert got.loc["B", "exceedance"] == pytest.approx(1.0)
    assert got.loc["B", "exceeding_parameter"] == "TP"
    assert got.loc["C", "exceedance"] == 0 and pd.isna(got.loc["C", "exceeding_parameter"])
    assert exceedance(1.5, "NH3-N", "river", 3, STD) == pytest.approx(0.5)  # same as scalar
