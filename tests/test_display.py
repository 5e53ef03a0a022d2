"""The public display's data: only public fields, approved anonymous comments, outfalls
without owners, slides in order with unknown layers named and left out, a colour-blind-safe
palette."""

from __future__ import annotations

import shutil

import geopandas as gpd
import shapely

from townmap.catalog import load_catalog
from townmap.participation.display import (
    CLASS_COLOURS,
    OKABE_ITO,
    load_slides,
    public_frame,
    public_spec,
)
from townmap.store import open_workspace


def test_enterprises_show_names_only_where_public_and_nothing_else():
    ents = gpd.GeoDataFrame(
        {"ent_id": ["E1", "E2"], "name_zh": ["甲厂", "乙厂"], "name_en": ["A", "B"],
         "sector": ["food", "tanning"], "cod_tpa": [1.0, 2.0], "public": [True, False]},
        geometry=[shapely.Point(0, 0), shapely.Point(1, 1)], crs=4549,
    )  # fmt: skip
    out = public_frame("enterprises", ents)
    assert set(out.columns) == {"ent_id", "name_zh", "name_en", "sector", "geometry"}
    assert not set(out["ent_id"]) & set(ents["ent_id"])  # the real ids stay private
    assert list(out["name_zh"]) == ["甲厂", "—"] and list(out["name_en"]) == ["A", "—"]
    spec = public_spec(load_catalog()["enterprises"])
    assert set(spec.tooltip) | set(spec.popup) <= {"name_zh", "name_en", "sector"}
    assert spec.style.fill_color in OKABE_ITO.values() and not spec.style.categories


def test_comments_and_outfalls_in_public():
    comments = gpd.GeoDataFrame(
        {"comment_id": ["C1", "C2"], "text": ["ok", "secret"], "name": ["Li", "Wang"],
         "category": ["water", "air"], "status": ["approved", "pending"]},
        geometry=[shapely.Point(0, 0)] * 2, crs=4549,
    )  # fmt: skip
    out = public_frame("public_comments", comments)
    assert list(out["text"]) == ["ok"] and "name" not in out.columns
    dps = gpd.GeoDataFrame({"dp_id": ["D1"], "ent_id": ["E1"]}, geometry=[shapely.Point(0, 0)],
                           crs=4549)  # fmt: skip
    outfalls = public_frame("discharge_points", dps)
    assert list(outfalls.columns) == ["dp_id", "geometry"] and outfalls["dp_id"][0] != "D1"
    stations = public_spec(load_catalog()["monitoring_stations"])
    assert all(not f.endswith("_id") for f in stations.tooltip)
    assert set(CLASS_COLOURS.values()) <= set(OKABE_ITO.values())


def test_slides_keep_their_order_and_name_unknown_layers(demo_ws, tmp_path):
    shutil.copytree(demo_ws.folder, tmp_path / "ws")
    ws = open_workspace(tmp_path / "ws")
    slides = ws.read_table("public_slides")
    slides.loc[0, "layers"] = "rivers,nonsense"
    slides.loc[0, "position"] = 9
    with ws.transaction() as tx:
        tx.write_table("public_slides", slides)
    got, problems = load_slides(ws, load_catalog())
    assert [s.slide_id for s in got][-1] == slides.loc[0, "slide_id"]
    assert got[-1].layers == ("rivers",) and "nonsense" in problems[0]


def test_every_demo_view_renders_without_inputs(demo_ws, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from townmap import PROJECT_ROOT

    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(demo_ws.folder))
    for slide in ("1", "2", "3", "4", "99", "x"):
        at = AppTest.from_file(str(PROJECT_ROOT / "townmap/ui/public_page.py"),
                               default_timeout=120)  # fmt: skip
        at.query_params["slide"] = slide
        at.run()
        assert not at.exception, (slide, [e.message for e in at.exception])
        assert not (at.text_input or at.selectbox or at.button or at.radio or at.checkbox)
        assert any("pub-title" in m.value for m in at.markdown)
