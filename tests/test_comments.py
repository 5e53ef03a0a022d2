"""Public comments: placed, validated (hostile and oversized text, control and direction
characters, no place), pending until moderated, logged, public view without names, in the
report once approved, exported to CSV and GeoPackage."""

from __future__ import annotations

import shutil

import pytest
import shapely

from townmap.errors import UploadError
from townmap.io.export import export_frame
from townmap.participation.comments import add_comment, moderate, public_view, read_comments
from townmap.store import Actor, open_workspace


@pytest.fixture
def ws(demo_ws, tmp_path):
    shutil.copytree(demo_ws.folder, tmp_path / "ws")
    return open_workspace(tmp_path / "ws")


HOSTILE = "<script>alert(1)</script>\u202e gnp.exe \u0007 河水很臭"


def test_a_comment_is_pending_until_approved_and_every_step_is_logged(ws):
    before = len(read_comments(ws))
    cid = add_comment(
        ws.as_actor(Actor("facilitator")),
        shapely.Point(119.93, 31.38),
        category="water",
        text=HOSTILE,
        name="李 Li",
    )
    stored = read_comments(ws).set_index("comment_id").loc[cid]
    assert len(read_comments(ws)) == before + 1 and stored["status"] == "pending"
    assert "\u202e" not in stored["text"] and "\u0007" not in stored["text"]
    assert stored["text"].startswith("<script>")  # kept as typed: escaped when shown
    assert cid not in set(public_view(ws)["comment_id"])
    assert moderate(ws.as_actor(Actor("chair")), {cid: "approved"}) == 1
    public = public_view(ws)
    assert cid in set(public["comment_id"]) and "name" not in public.columns
    log = ws.read_table("change_log")
    mine = log[log["record"] == cid]
    assert list(mine["action"]) == ["insert", "update"] and mine.iloc[-1]["user"] == "chair"
    assert moderate(ws.as_actor(Actor("chair")), {cid: "approved"}) == 0  # nothing changed


def test_an_area_comment_keeps_its_area(ws):
    area = shapely.box(119.92, 31.37, 119.94, 31.39)
    cid = add_comment(ws.as_actor(Actor("f")), area, category="land_use", text="公园 / park")
    row = read_comments(ws).set_index("comment_id").loc[cid]
    assert shapely.from_wkt(row["area_wkt"]).equals(area)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"category": "gossip", "text": "x"}, "category"),
        ({"category": "water", "text": "   "}, "empty"),
        ({"category": "water", "text": "x" * 1001}, "1000"),
        ({"category": "water", "text": "ok", "name": "n" * 41}, "40"),
    ],
)
def test_bad_comments_are_refused_and_nothing_is_written(ws, kwargs, message):
    gpkg = ws.folder / "workspace.gpkg"
    before = gpkg.read_bytes()
    with pytest.raises(UploadError, match=message):
        add_comment(ws.as_actor(Actor("f")), shapely.Point(119.93, 31.38), **kwargs)
    with pytest.raises(UploadError, match="map"):
        add_comment(ws.as_actor(Actor("f")), shapely.Point(), category="water", text="x")
    with pytest.raises(UploadError, match="no comment"):
        moderate(ws.as_actor(Actor("chair")), {"C-9999": "approved"})
    with pytest.raises(UploadError, match="pending, approved or rejected"):
        moderate(ws.as_actor(Actor("chair")), {"C-0001": "deleted"})
    assert gpkg.read_bytes() == before


def test_approved_comments_reach_the_report_and_the_exports(ws, tmp_path):
    from townmap.report.build import build_report
    from townmap.report.model import Table

    cid = add_comment(
        ws.as_actor(Actor("f")), shapely.Point(119.93, 31.38), category="noise", text=HOSTILE
    )
    moderate(ws.as_actor(Actor("chair")), {cid: "approved"})
    report = build_report(ws, lang="en")
    table = next(t for t in report.tables if t.caption == "Public comments")
    assert any(HOSTILE[:25] in str(v) for v in table.frame.iloc[:, 1])
    assert "pending" not in set(table.frame.iloc[:, 0])
    from townmap.report.render_html import render_html

    assert "<script>alert(1)" not in render_html(report) and isinstance(table, Table)
    csv = export_frame(public_view(ws), tmp_path / "comments.csv", "comments")
    assert "noise" in csv.read_text(encoding="utf-8-sig")
    gpkg = export_frame(public_view(ws), tmp_path / "comments.gpkg", "comments")
    import geopandas as gpd

    assert cid in set(gpd.read_file(gpkg)["comment_id"])


def test_comments_page_records_a_clicked_comment_and_moderates_it(ws, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from townmap import PROJECT_ROOT

    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(ws.folder))
    page = str(PROJECT_ROOT / "townmap/ui/comments_page.py")
    at = AppTest.from_file(page, default_timeout=120)
    at.query_params["lang"] = "en"
    at.session_state["cm_map_en"] = {
        "last_clicked": {"lat": 31.38, "lng": 119.93},
        "all_drawings": None,
    }
    at.run()
    at.text_area[0].set_value("河边堆了垃圾 / rubbish by the river")
    next(b for b in at.button if b.label == "Save the comment").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("waiting for moderation" in s.value for s in at.success)
    stored = read_comments(ws)
    assert stored["text"].str.contains("rubbish").any()
    at = AppTest.from_file(page, default_timeout=120)
    at.query_params["lang"] = "en"
    at.session_state["cm_section"] = "moderate"
    at.run()
    assert not at.exception
    next(b for b in at.button if b.label == "Save").click().run()  # nothing decided yet
    assert any("0 comment(s) moderated" in s.value for s in at.success)
    at = AppTest.from_file(page, default_timeout=120)
    at.session_state["cm_section"] = "slides"
    at.run()
    assert not at.exception
