"""The ISO 14001 register: clause numbers per edition as data, obligations generated from
layers/, significance, indicators and objective progress, status per clause; editing with
validation, one transaction and a change log (who, when, old → new); nonconformities
raised from a conflict or an exceedance."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from tests.helpers import fingerprint
from townmap.errors import UploadError
from townmap.management.editing import LOG, raise_nonconformity, save_edits
from townmap.management.register import (
    clause_status,
    clauses,
    indicators,
    objective_progress,
    obligations,
    significance,
)
from townmap.store import Actor, open_workspace


@pytest.fixture
def ws(demo_copy):
    """A private copy of the demo workspace on each back end (these tests write to it)."""
    return demo_copy


def test_clause_numbers_are_data_per_edition():
    old, new = clauses("2015").set_index("key"), clauses("2026").set_index("key")
    assert old.loc["planning_action", "clause"] == "6.1.4"
    assert new.loc["planning_action", "clause"] == "6.1.5"
    assert new.loc["risks_opportunities", "clause"] == "6.1.4" and "changes" not in old.index
    assert new.loc["changes", "clause"] == "6.3"
    assert new.loc["roles", "title_en"] == "Roles, responsibilities and authorities"
    assert list(new["clause"])[:2] == ["4.1", "4.2"] and list(new["clause"])[-1] == "10.3"
    with pytest.raises(ValueError, match="edition"):
        clauses("2004")


def test_obligations_are_generated_from_every_rule_and_standard():
    from townmap.analysis.rules import load_rules

    ob = obligations()
    assert {f"rule:{r.id}" for r in load_rules()} <= set(ob["obligation"])
    assert {
        "standard:gb18918_2002",
        "standard:gb8978_1996",
        "standard:db32_1072_2018",
        "standard:gb3838_2002",
    } <= set(ob["obligation"])
    assert ob["version"].notna().all() and ob["verification"].notna().all()


def test_significance_by_score_and_obligation():
    aspects = pd.DataFrame(
        {
            "severity": [3, 4, 1, 2],
            "likelihood": [4, 2, 1, 2],
            "obligation": [False, False, True, "false"],
        }
    )
    got = significance(aspects)
    assert got["score"].tolist() == [12, 8, 1, 4]
    assert got["significant"].tolist() == [True, False, True, False]  # 12 = threshold


def test_objective_progress_against_computed_indicators():
    current = pd.DataFrame(
        {
            "indicator": ["a", "b", "c"],
            "value": [60.0, 900.0, None],
            "better": ["higher", "lower", "higher"],
        }
    )
    obj = pd.DataFrame(
        {"indicator": ["a", "b", "c"], "baseline": [40, 1000, 1], "target": [80, 800, 2]}
    )
    got = objective_progress(obj, current)
    assert got["progress_pct"].round(6).tolist()[:2] == [50.0, 50.0]
    assert got["achieved"].tolist() == [False, False, False]
    current.loc[1, "value"] = 790.0
    assert objective_progress(obj, current)["achieved"].tolist()[1]


def test_demo_indicators_and_clause_status(demo_ws):
    ind = indicators(demo_ws).set_index("indicator")
    assert 0 <= ind.loc["stations_class_iii_or_better", "value"] <= 100
    assert ind.loc["cod_load_tpa", "value"] == pytest.approx(
        demo_ws.read_layer("enterprises")["cod_tpa"].sum()
    )
    assert pd.isna(ind.loc["prohibited_conflicts", "value"])  # not computed: no value, not 0
    status = clause_status(demo_ws, "2026", today=dt.date(2026, 11, 24)).set_index("clause")
    assert (
        status.loc["10.2", "status"] == "attention" and "overdue" in status.loc["10.2", "attention"]
    )
    assert status.loc["6.1.3", "status"] == "evidence" and status.loc["6.3", "status"] == "gap"
    early = clause_status(demo_ws, "2015", today=dt.date(2024, 1, 1)).set_index("clause")
    assert early.loc["10.2", "status"] == "evidence"  # nothing overdue yet


def test_an_edit_is_validated_written_and_logged(ws):
    before = ws.read_table("ems_aspects")
    edited = before.copy()
    edited.loc[0, "severity"] = 2
    edited.loc[1, "control"] = "<script>alert(1)</script> 每日巡查"
    edited = edited[edited["aspect_id"] != "A07"]
    edited = pd.concat(
        [
            edited,
            pd.DataFrame(
                [
                    {
                        "aspect_id": "A99",
                        "activity": "new",
                        "aspect": "noise",
                        "impact": "residents",
                        "condition": "normal",
                        "severity": 2,
                        "likelihood": 2,
                        "obligation": False,
                    }
                ]
            ),
            pd.DataFrame([{c: None for c in edited.columns}]),
        ],
        ignore_index=True,
    )
    result = save_edits(
        ws.as_actor(Actor("planner Li")), "ems_aspects", edited, reason="annual review"
    )
    assert (result.inserted, result.updated, result.deleted) == (1, 2, 1)
    stored = ws.read_table("ems_aspects").set_index("aspect_id")
    assert stored.loc["A01", "severity"] == 2 and "A07" not in stored.index
    assert stored.loc["A02", "control"].startswith(
        "<script>"
    )  # stored as typed, escaped on display
    log = ws.read_table(LOG)
    log = log[log["user"] == "planner Li"]
    sev = log[(log["record"] == "A01") & (log["field"] == "severity")].iloc[0]
    assert (sev["old"], sev["new"], sev["user"]) == ("5", "2", "planner Li")
    assert (
        set(log["action"]) == {"insert", "update", "delete"}
        and (log["reason"] == "annual review").all()
    )
    assert (
        save_edits(ws.as_actor(Actor("x")), "ems_aspects", ws.read_table("ems_aspects")).changed
        is False
    )
    assert len(ws.read_table(LOG)) == len(log) + 1  # nothing changed, nothing logged


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.assign(severity=[9, *list(f["severity"][1:])]), "severity"),
        (lambda f: f.assign(condition=["sometimes", *list(f["condition"][1:])]), "condition"),
        (lambda f: pd.concat([f, f.iloc[[0]]]), "unique"),
        (lambda f: f.assign(aspect_id=[None, *list(f["aspect_id"][1:])]), "aspect_id"),
        (lambda f: f.assign(control=["x" * 5000, *list(f["control"][1:])]), "characters"),
    ],
)
def test_a_bad_edit_changes_nothing(ws, change, message):
    before, revision = fingerprint(ws), ws.revision()
    with pytest.raises(UploadError, match=message):
        save_edits(
            ws.as_actor(Actor("planner")), "ems_aspects", change(ws.read_table("ems_aspects"))
        )
    assert fingerprint(ws) == before and ws.revision() == revision  # nothing written


def test_edits_need_a_user_and_an_editable_table(ws):
    table = ws.read_table("ems_aspects")
    with pytest.raises(UploadError, match="who"):
        save_edits(ws.as_actor(Actor("  ")), "ems_aspects", table)
    with pytest.raises(UploadError, match="not an editable"):
        save_edits(ws.as_actor(Actor("x")), LOG, table)
    with pytest.raises(UploadError, match="not an editable"):
        save_edits(ws.as_actor(Actor("x")), "enterprises", table)


def test_a_date_is_checked_and_stored_as_iso(ws):
    table = ws.read_table("ems_nonconformities")
    bad = table.assign(due=["next week", *list(table["due"][1:])])
    with pytest.raises(UploadError, match="date"):
        save_edits(ws.as_actor(Actor("x")), "ems_nonconformities", bad)
    good = table.assign(due=[pd.Timestamp("2027-01-05"), *list(table["due"][1:])])
    save_edits(ws.as_actor(Actor("x")), "ems_nonconformities", good)
    assert ws.read_table("ems_nonconformities")["due"].iloc[0] == "2027-01-05"


def test_nonconformity_raised_from_an_exceedance(ws):
    nc_id = raise_nonconformity(
        ws.as_actor(Actor("inspector Wang")),
        source_kind="exceedance",
        source_ref="D00001 2025-02-03",
        clause="9.1.2",
        description="COD 5.8× the limit",
    )
    assert nc_id == "NC-0004"
    nc = ws.read_table("ems_nonconformities").set_index("nc_id").loc[nc_id]
    assert nc["status"] == "open" and nc["source_kind"] == "exceedance"
    log = ws.read_table(LOG)
    assert log.iloc[-1]["action"] == "insert" and log.iloc[-1]["user"] == "inspector Wang"


def test_caps_are_edited_by_catchment_parameter_and_year(ws):
    keys = ["catchment_id", "parameter", "year"]
    caps = ws.read_table("load_caps")
    first = caps.iloc[0]
    edited = caps.copy()
    edited.loc[0, "cap_tpa"] = 123.0
    result = save_edits(ws.as_actor(Actor("county")), "load_caps", edited, keys=keys)
    assert result.updated == 1
    row = ws.read_table(LOG).iloc[-1]
    assert row["record"] == f"{first['catchment_id']}|{first['parameter']}|2025"
    assert row["field"] == "cap_tpa" and row["new"] == "123"
    with pytest.raises(UploadError, match="unique"):
        save_edits(
            ws.as_actor(Actor("c")), "load_caps", pd.concat([edited, edited.iloc[[0]]]), keys=keys
        )
    with pytest.raises(UploadError, match="no key"):
        save_edits(ws.as_actor(Actor("county")), "load_caps", edited)
    with pytest.raises(UploadError, match="number"):
        save_edits(ws.as_actor(Actor("c")), "load_caps", edited.assign(cap_tpa="lots"), keys=keys)


def test_the_change_log_cannot_be_imported_over(ws, tmp_path):
    from townmap.catalog import load_catalog
    from townmap.io.importer import ImportOptions, plan_import

    csv = tmp_path / "log.csv"
    csv.write_text("changed_at,user,table_id,record,action\nx,y,z,w,insert\n", encoding="utf-8")
    with pytest.raises(UploadError, match="written only by Townmap"):
        plan_import(csv, ImportOptions(layer_id=LOG), load_catalog())


def test_a_stale_edit_is_refused_and_different_records_merge(ws):
    from townmap.management.editing import StaleEditError

    base = ws.read_table("ems_aspects")  # two planners open the table at the same time
    mine = base.copy()
    mine.loc[mine["aspect_id"] == "A01", "severity"] = 2
    save_edits(ws.as_actor(Actor("Li")), "ems_aspects", mine, base=base)
    theirs = base.copy()
    theirs.loc[theirs["aspect_id"] == "A01", "likelihood"] = 1
    with pytest.raises(StaleEditError, match=r"A01: severity '5' → '2'"):
        save_edits(ws.as_actor(Actor("Wang")), "ems_aspects", theirs, base=base)
    other = base.copy()
    other.loc[other["aspect_id"] == "A02", "control"] = "daily checks"
    save_edits(
        ws.as_actor(Actor("Wang")), "ems_aspects", other, base=base
    )  # another record: merged
    now = ws.read_table("ems_aspects").set_index("aspect_id")
    assert now.loc["A01", "severity"] == 2 and now.loc["A02", "control"] == "daily checks"
    gone = base[base["aspect_id"] != "A02"]  # deleting what someone just edited: refused
    with pytest.raises(StaleEditError, match="A02"):
        save_edits(ws.as_actor(Actor("Zhao")), "ems_aspects", gone, base=base)


def test_concurrent_saves_lose_no_update(ws):
    import threading

    from townmap.management.editing import StaleEditError

    base = ws.read_table("ems_aspects")
    outcomes = []

    def edit(aspect: str, field: str, value, user: str) -> None:
        frame = base.copy()
        frame.loc[frame["aspect_id"] == aspect, field] = value
        try:
            save_edits(
                open_workspace(ws.location).as_actor(Actor(user)), "ems_aspects", frame, base=base
            )
            outcomes.append((user, "saved"))
        except StaleEditError:
            outcomes.append((user, "stale"))

    jobs = [
        ("A03", "severity", 1, "a"),
        ("A04", "severity", 1, "b"),
        ("A05", "likelihood", 1, "c"),
        ("A05", "likelihood", 2, "d"),
    ]
    threads = [threading.Thread(target=edit, args=job) for job in jobs]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    done = dict(outcomes)
    now = ws.read_table("ems_aspects").set_index("aspect_id")
    assert done["a"] == done["b"] == "saved" and now.loc["A03", "severity"] == 1
    assert now.loc["A04", "severity"] == 1  # both changes to different records survive
    assert sorted([done["c"], done["d"]]) == ["saved", "stale"]  # one wins, one is told
    assert now.loc["A05", "likelihood"] == (1 if done["c"] == "saved" else 2)
