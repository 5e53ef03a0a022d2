"""Every page that writes, under AppTest, on a workspace with users: the signed-in
planner's change lands and the change log names them; a signed-in member of the public
is refused on the server side and nothing is written. (The Comments, EMS and
Dischargers pages used to forget the role: everyone was refused.)"""

from __future__ import annotations

import shutil

import pytest
import shapely
from streamlit.testing.v1 import AppTest

from tests.helpers import as_read, fingerprint
from townmap import PROJECT_ROOT
from townmap.auth.users import add_user
from townmap.settings import shell_actor
from townmap.store import IMPORT_LOG, Actor, open_workspace

UI = PROJECT_ROOT / "townmap" / "ui"
SECRET = "correct horse battery staple"
PLANNER = {"user": "li.planner", "role": "planner"}
PUBLIC = {"user": "visitor", "role": "public"}


@pytest.fixture(scope="module")
def with_users(demo_ws, tmp_path_factory):
    folder = tmp_path_factory.mktemp("users") / "ws"
    shutil.copytree(demo_ws.folder, folder)
    admin = open_workspace(folder, actor=shell_actor())
    add_user(admin, "admin", "administrator", SECRET)
    for who in (PLANNER, PUBLIC):
        add_user(admin, who["user"], who["role"], SECRET)
    return folder


@pytest.fixture
def ws(with_users, tmp_path, monkeypatch):
    shutil.copytree(with_users, tmp_path / "ws")
    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(tmp_path / "ws"))
    return open_workspace(tmp_path / "ws")


def _page(name: str, who: dict, **state) -> AppTest:
    at = AppTest.from_file(str(UI / f"{name}.py"), default_timeout=240)
    at.query_params["lang"] = "en"
    at.session_state["townmap_user"] = dict(who)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _press(at: AppTest, label: str, index: int = 0) -> AppTest:
    buttons = [b for b in at.button if b.label == label]
    buttons[index].click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _refused(at: AppTest, ws, before: str) -> None:
    errors = [as_read(e.value) for e in at.error]
    assert any("'public' may not" in e for e in errors), errors
    assert fingerprint(ws) == before  # nothing written


def _logged_by(ws, user: str, table: str) -> None:
    log = ws.read_table("change_log")
    assert log.iloc[-1]["user"] == user and log.iloc[-1]["table_id"] == table


EDITORS = [
    ("ems_page", {"ems_section": "aspects"}, "ems_aspects", "control", "moved indoors", 0),
    ("cleaner_page", {"cp_section": "records"}, "cp_options", "title", "closed-loop rinse", 1),
    ("loads_page", {"ld_section": "caps"}, "load_caps", "basis", "county notice 2026", 0),
    ("comments_page", {"cm_section": "slides"}, "public_slides", "title_en", "Our river", 0),
]


@pytest.mark.parametrize(("page", "state", "table", "field", "value", "form"), EDITORS)
@pytest.mark.parametrize("who", [PLANNER, PUBLIC], ids=["planner", "public"])
def test_register_editors_write_as_the_signed_in_user(ws, who, page, state, table, field,
                                                      value, form):  # fmt: skip
    before = fingerprint(ws)
    edits = {"edited_rows": {0: {field: value}}, "added_rows": [], "deleted_rows": []}
    at = _page(page, who, **state, **{f"editor_{table}": edits})
    _press(at, "Save", form)
    if who is PUBLIC:
        return _refused(at, ws, before)
    assert any("1 changed" in s.value for s in at.success), [s.value for s in at.success]
    assert ws.read_table(table)[field].astype(str).iloc[0] == value
    _logged_by(ws, PLANNER["user"], table)


@pytest.mark.parametrize("who", [PLANNER, PUBLIC], ids=["planner", "public"])
def test_comments_page_adds_and_moderates_as_the_signed_in_user(ws, who):
    from townmap.participation.comments import read_comments

    before = fingerprint(ws)
    click = {"last_clicked": {"lat": 31.38, "lng": 119.93}, "all_drawings": None}
    at = _page("comments_page", who, cm_map_en=click)
    assert not [t for t in at.text_input if t.label == "Your name"]  # known: signed in
    at.text_area[0].set_value("鱼死了 / dead fish")
    _press(at, "Save the comment")
    if who is PUBLIC:
        return _refused(at, ws, before)
    cid = read_comments(ws)["comment_id"].iloc[-1]
    _logged_by(ws, PLANNER["user"], "public_comments")
    edits = {"edited_rows": {len(read_comments(ws)) - 1: {"decision": "approved"}}}
    at = _page("comments_page", who, cm_section="moderate", cm_moderation=edits)
    _press(at, "Save")
    assert any("1 comment(s) moderated" in s.value for s in at.success)
    assert read_comments(ws).set_index("comment_id").loc[cid, "status"] == "approved"
    _logged_by(ws, PLANNER["user"], "public_comments")


@pytest.mark.parametrize("who", [PLANNER, PUBLIC], ids=["planner", "public"])
def test_dischargers_page_raises_a_nonconformity_as_the_signed_in_user(ws, who):
    before = fingerprint(ws)
    at = _page("dischargers_page", who, dc_section="offenders")
    worst = at.dataframe[0].value["owner_id"].iloc[0]
    at.selectbox(key="dc_owner").set_value(worst).run()
    _press(at, "Raise a nonconformity")
    if who is PUBLIC:
        return _refused(at, ws, before)
    assert any("NC-0004" in as_read(s.value) for s in at.success)
    _logged_by(ws, PLANNER["user"], "ems_nonconformities")


@pytest.mark.parametrize("who", [PLANNER, PUBLIC], ids=["planner", "public"])
def test_ems_page_raises_a_nonconformity_from_a_conflict_as_the_signed_in_user(ws, who):
    before = fingerprint(ws)
    at = _page("ems_page", who, ems_section="nonconformities")
    _press(at, "Raise a nonconformity")
    if who is PUBLIC:
        return _refused(at, ws, before)
    assert any("NC-0004" in as_read(s.value) for s in at.success), [s.value for s in at.success]
    nc = ws.read_table("ems_nonconformities").set_index("nc_id").loc["NC-0004"]
    assert nc["source_kind"] == "conflict"
    _logged_by(ws, PLANNER["user"], "ems_nonconformities")


@pytest.mark.parametrize("who", [PLANNER, PUBLIC], ids=["planner", "public"])
def test_import_page_undoes_as_the_signed_in_user(ws, who, tmp_path, catalog):
    from townmap.io.importer import ImportOptions, commit_import, plan_import

    csv = tmp_path / "r.csv"
    csv.write_text("编号,名称,英文名,类型,人数,经度,纬度\nSRX,新小学,New School,school,300,119.95,"
                   "31.40\n", encoding="utf-8")  # fmt: skip
    admin = open_workspace(ws.location, catalog=catalog, actor=shell_actor())
    commit_import(
        admin, plan_import(csv, ImportOptions("sensitive_receptors", mode="replace"), catalog)
    )
    before = fingerprint(ws)
    at = _page("import_page", who)
    at.button(key="imp_undo").click().run()
    if who is PUBLIC:
        return _refused(at, ws, before)
    assert any("r.csv" in as_read(s.value) for s in at.success)
    assert (ws.read_table(IMPORT_LOG)["undone"] == "true").all()


@pytest.mark.parametrize("who", [PLANNER, PUBLIC], ids=["planner", "public"])
def test_treatment_page_saves_a_scenario_as_the_signed_in_user(ws, who):
    from townmap.analysis.scenarios import list_scenarios

    before = fingerprint(ws)
    at = _page("treatment_page", who, tr_kmax=1, tr_limit=5.0)
    at.button(key="tr_go").click().run()
    at.text_input(key="tr_name").set_value("一厂 / one plant").run()
    at.button(key="tr_save").click().run()
    assert not at.exception, [e.message for e in at.exception]
    if who is PUBLIC:
        return _refused(at, ws, before)
    assert list(list_scenarios(ws)["scenario"]) == ["一厂 / one plant"]


def test_a_register_edit_keeps_the_map_caches_and_a_layer_write_renews_them(ws):
    """Caches are keyed per workspace and table: the map's caches (the vector layers)
    survive an edit of a register table and are rebuilt when a layer changes."""
    from townmap.management.editing import save_edits
    from townmap.ui.map_data import Stamp, _vectors

    planner = ws.as_actor(Actor(PLANNER["user"], PLANNER["role"]))
    before = Stamp.of(ws)
    table = ws.read_table("ems_aspects").assign(control="checked monthly")
    save_edits(planner, "ems_aspects", table)
    edited = Stamp.of(ws)
    assert edited != before and _vectors(edited) == _vectors(before)
    with planner.transaction() as tx:
        tx.write_layer("rivers", tx.read_layer("rivers"))
    assert _vectors(Stamp.of(ws)) != _vectors(edited)


def test_two_moderators_deciding_the_same_comment_the_second_is_refused(ws):
    from townmap.participation.comments import add_comment, moderate, read_comments

    facilitator = ws.as_actor(Actor(PLANNER["user"], PLANNER["role"]))
    cid = add_comment(facilitator, shapely.Point(119.93, 31.38), category="air", text="smoke")
    row = len(read_comments(ws)) - 1
    at = _page("comments_page", PLANNER, cm_section="moderate")  # opens the list
    moderate(facilitator, {cid: "rejected"}, seen={cid: "pending"})  # someone else, meanwhile
    at.session_state["cm_moderation"] = {"edited_rows": {row: {"decision": "approved"}}}
    _press(at, "Save")
    assert any("someone else moderated" in e.value for e in at.error), [e.value for e in at.error]
    assert read_comments(ws).set_index("comment_id").loc[cid, "status"] == "rejected"
