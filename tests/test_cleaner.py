"""Cleaner-production programme: phases reached (with gaps), statuses, mandatory audits
from each trigger, options by cost class, the programme per year; the demo's audits agree
with its enterprises' phase attribute."""

from __future__ import annotations

import pandas as pd

from townmap.management.cleaner import (
    PHASE_COLUMNS,
    audit_status,
    load_programme,
    mandatory,
    options_summary,
    programme_view,
    workspace_programme,
)


def _audit(ent, rnd, done: int, accepted=None, start="2022-01-01", gap_at=None):
    row = {"ent_id": ent, "round": rnd, "kind": "mandatory", "accepted": accepted}
    for i, col in enumerate(PHASE_COLUMNS):
        day = pd.Timestamp(start) + pd.Timedelta(days=30 * i)
        row[col] = str(day.date()) if i < done and i != gap_at else None
    return row


AUDITS = pd.DataFrame(
    [
        _audit("A", 1, 0),  # registered, nothing done yet
        _audit("B", 1, 3),
        _audit("C", 1, 6, accepted="2023-01-01"),
        _audit("D", 1, 7, accepted="2022-12-01"),
        _audit("E", 1, 6, accepted="2022-10-01"), _audit("E", 2, 2, start="2024-03-01"),
        _audit("F", 1, 5, gap_at=2),  # phase 3 not recorded, phase 5 done: 5 reached
    ]
)  # fmt: skip


def test_phase_reached_and_status_per_enterprise():
    s = audit_status(AUDITS).set_index("ent_id")
    assert s.loc["A", "phase"] == 0 and s.loc["A", "phase_code"] == "cp1_preparation"
    assert s.loc["B", "phase"] == 3 and s.loc["B", "phase_code"] == "cp4_options"
    assert s.loc["B", "status"] == "in_progress"
    assert s.loc["C", "status"] == "accepted" and s.loc["C", "phase_code"] == "cp7_continuous"
    assert s.loc["D", "status"] == "continuing" and s.loc["D", "phase"] == 7
    assert s.loc["E", "round"] == 2 and s.loc["E", "status"] == "continuing"
    assert s.loc["F", "phase"] == 5
    assert audit_status(AUDITS.iloc[:0]).empty


def test_mandatory_triggers_are_computed_per_year():
    ents = pd.DataFrame({"ent_id": ["X", "Y", "Z", "W"],
                         "sector": ["food", "electroplating", "food", "machinery"]})  # fmt: skip
    failed = pd.DataFrame({"owner_id": ["X"], "sampled_at": [pd.Timestamp("2024-05-01")]})
    out = mandatory(
        ents, failed_samples=failed, catchments_over={2024: {"C9"}},
        enterprise_catchment=pd.Series({"Z": "C9", "W": "C1"}), years=[2023, 2024],
    ).set_index(["ent_id", "year"])  # fmt: skip
    assert (
        out.loc[("X", 2024), "mandatory"] and out.loc[("X", 2024), "reasons"] == "exceeds_standards"
    )
    assert not out.loc[("X", 2023), "mandatory"]  # the exceedance was in 2024
    assert out.loc[("Y", 2023), "reasons"] == "toxic"  # electroplating: every year
    assert out.loc[("Z", 2024), "exceeds_quota"] and not out.loc[("Z", 2023), "mandatory"]
    assert not out.loc[("W", 2024), "mandatory"]
    assert "not computed" in load_programme()["triggers"]["energy"]["computed_from"]


def test_options_by_cost_class_and_programme_per_year():
    options = pd.DataFrame(
        {
            "option_id": ["o1", "o2", "o3", "o4"], "ent_id": ["B", "B", "B", "C"],
            "cost_class": ["no_low", "no_low", "medium_high", "medium_high"],
            "status": ["implemented", "proposed", "implemented", "rejected"],
            "cod_reduction_tpa": [1.5, None, 2.0, 9.0],
            "reason": ["cost_saving", "", "compliance", "compliance"],
        }
    )  # fmt: skip
    s = options_summary(options).set_index("ent_id")
    assert s.loc["B"].tolist() == [2, 1, 1, 1, 3.5]
    assert s.loc["C", "implemented_medium_high"] == 0 and s.loc["C", "cod_reduction_tpa"] == 0
    required = pd.DataFrame({"ent_id": ["B", "G", "B", "G"], "year": [2022, 2022, 2024, 2024],
                             "mandatory": [True, True, True, False]})  # fmt: skip
    per_year, reasons = programme_view(AUDITS, options, required)
    y = per_year.set_index("year")
    assert y.loc[2022, "required"] == 2 and y.loc[2022, "coverage"] == 0.5  # B begun, G not
    assert y.loc[2022, "completed"] == 2  # D and E; C was accepted in 2023, F is at phase 5
    assert y.loc[2024, "required"] == 1 and y.loc[2024, "continuing"] == 1
    assert dict(zip(reasons["reason"], reasons["options"], strict=True)) == {
        "cost_saving": 1,
        "compliance": 1,
    }  # rejected options cite no reason


def test_the_demo_programme_agrees_with_the_enterprise_attribute(demo_ws):
    result = workspace_programme(demo_ws)
    view = result["enterprises"]
    ents = demo_ws.read_layer("enterprises").set_index("ent_id")
    started = view[view["status"] != "not_started"].set_index("ent_id")
    first = started[started["round"] == 1]
    assert (first["phase_code"] == ents.loc[first.index, "cp_audit_phase"]).all()
    assert (ents.loc[view.loc[view["status"] == "not_started", "ent_id"], "cp_audit_phase"]
            == "not_started").all()  # fmt: skip
    assert view["mandatory"].any() and view["missing_audit"].any()
    assert len(result["per_year"]) and result["reasons"]["options"].sum() > 0
