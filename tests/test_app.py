"""The map page under Streamlit's AppTest (the page runs on its own, without navigation)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers import as_read
from townmap import PROJECT_ROOT
from townmap.store import open_workspace

PAGE = str(PROJECT_ROOT / "townmap" / "ui" / "map_page.py")


@pytest.fixture
def page(demo_ws, monkeypatch) -> AppTest:
    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(demo_ws.folder))
    return AppTest.from_file(PAGE, default_timeout=120)


def test_map_page_opens_in_chinese_with_the_fiction_banner(page):
    page.run()
    assert not page.exception
    assert "乡镇环境规划与监测" in page.title[0].value
    assert any("虚构示例数据" in w.value for w in page.warning)
    table = next(d.value for d in page.dataframe if "图层" in d.value.columns)
    counts = dict(zip(table["图层"], table["要素数"], strict=True))
    assert counts["乡镇企业"] == 600
    assert any("EPSG:4549" in as_read(c.value) for c in page.caption)


def test_language_comes_from_the_url(page):
    page.query_params["lang"] = "en"
    page.run()
    assert not page.exception
    assert "town environmental planning" in page.title[0].value
    assert any("Fictional demo data" in w.value for w in page.warning)
    assert page.radio(key="townmap_lang").value == "en"


def test_switching_language_updates_the_url(page):
    page.run()
    page.radio(key="townmap_lang").set_value("en").run()
    assert not page.exception
    assert page.query_params["lang"] == ["en"] or page.query_params["lang"] == "en"
    assert "town environmental planning" in page.title[0].value


def test_unknown_language_falls_back_to_chinese(page):
    page.query_params["lang"] = "<script>"
    page.run()
    assert not page.exception
    assert "乡镇环境规划与监测" in page.title[0].value


def test_missing_workspace_explains_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(tmp_path / "nothing"))
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["lang"] = "en"
    at.run()
    assert not at.exception
    assert "No workspace found" in at.error[0].value
    assert "townmap demo" in at.info[0].value
    assert at.button[0].label == "Build the demo town"


def test_build_button_creates_the_demo_and_shows_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(tmp_path / "new"))
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.run()
    at.button[0].click().run()
    assert not at.exception
    assert (tmp_path / "new" / "workspace.gpkg").is_file()
    assert not at.error
    assert any("虚构示例数据" in w.value for w in at.warning)


def test_a_corrupt_workspace_is_an_error_message_not_a_crash(tmp_path, monkeypatch):
    (tmp_path / "workspace.gpkg").write_bytes(b"garbage")
    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(tmp_path))
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception
    assert "not a Townmap workspace" in at.error[0].value


def _caption_with(at, text):
    return next(c.value for c in at.caption if text in c.value)


def test_filters_change_the_count_and_totals(page, demo_ws):
    tve = demo_ws.read_layer("enterprises")
    page.query_params["lang"] = "en"
    page.run()
    assert "Showing 600 of 600" in _caption_with(page, "Showing")
    page.multiselect(key="flt_sector").set_value(["printing_dyeing", "tanning"]).run()
    page.multiselect(key="flt_treatment").set_value(["none"]).run()
    assert not page.exception
    want = tve[tve["sector"].isin(["printing_dyeing", "tanning"]) & (tve["treatment"] == "none")]
    assert f"Showing {len(want)} of 600" in _caption_with(page, "Showing")
    sums = next(
        d.value for d in page.dataframe if "Totals of the filtered enterprises" in d.value.columns
    )
    cod = sums.set_index("Totals of the filtered enterprises").iloc[:, 0]["COD load"]
    assert cod == f"{want['cod_tpa'].sum():,.2f} t/a"


def test_load_range_and_colour_by_do_not_fail(page, demo_ws):
    page.run()
    page.selectbox(key="flt_load_field").set_value("tp_tpa").run()
    lo, hi = page.slider(key="flt_range_tp_tpa").value
    page.slider(key="flt_range_tp_tpa").set_value((lo, (lo + hi) / 10)).run()
    page.selectbox(key="style_colour").set_value("cod_tpa").run()
    page.selectbox(key="style_size").set_value("wastewater_m3d").run()
    assert not page.exception
    tve = demo_ws.read_layer("enterprises")
    cap = _caption_with(page, "显示")
    shown = int(cap.split("显示")[1].split("/")[0].strip().replace(",", ""))
    assert 0 < shown < len(tve)


def test_search_finds_by_name_and_id(page, demo_ws):
    ent = demo_ws.read_layer("enterprises").iloc[11]
    page.run()
    page.text_input(key="search_query").set_value(ent["name_en"]).run()
    assert not page.exception
    pick = page.selectbox(key="search_pick")
    assert pick.value.key == ent["ent_id"]
    page.text_input(key="search_query").set_value("no such thing at all").run()
    assert any("没有找到" in c.value for c in page.caption)


def test_a_bad_tianditu_key_is_rejected_with_a_message(page):
    page.query_params["lang"] = "en"
    page.run()
    page.text_input(key="tianditu_key").set_value("not-a-key").run()
    assert not page.exception
    assert any("32 hexadecimal" in e.value for e in page.error)


IMPORT_PAGE = str(PROJECT_ROOT / "townmap" / "ui" / "import_page.py")


def test_import_page_opens_and_undo_is_reported(tmp_path, demo_ws, monkeypatch, catalog):
    import shutil

    from townmap.io.importer import ImportOptions, commit_import, plan_import

    folder = tmp_path / "ws"
    shutil.copytree(demo_ws.folder, folder)
    csv = tmp_path / "r.csv"
    csv.write_text(
        "编号,名称,英文名,类型,人数,经度,纬度\nSRX,新小学,New School,school,300,119.95,31.40\n",
        encoding="utf-8",
    )
    ws = open_workspace(folder, catalog=catalog)
    commit_import(
        ws, plan_import(csv, ImportOptions("sensitive_receptors", mode="replace"), catalog)
    )
    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(folder))
    at = AppTest.from_file(IMPORT_PAGE, default_timeout=60)
    at.query_params["lang"] = "en"
    at.run()
    assert not at.exception
    assert at.title[0].value == "Import data"
    assert any(s.value == "Import log" for s in at.subheader)
    label = as_read(at.button(key="imp_undo").label)  # says which import it takes back
    assert "r.csv" in label and "Sensitive receptors" in label, label
    at.button(key="imp_undo").click().run()
    assert not at.exception
    assert any("r.csv" in as_read(s.value) for s in at.success)
    assert not [b for b in at.button if b.key == "imp_undo"]  # nothing left to undo
    assert any("no import to undo" in c.value for c in at.caption)
    assert len(open_workspace(folder).read_layer("sensitive_receptors")) == len(
        demo_ws.read_layer("sensitive_receptors")
    )


EXPORT_PAGE = str(PROJECT_ROOT / "townmap" / "ui" / "export_page.py")


def test_export_page_offers_a_layer_and_the_whole_workspace(demo_ws, monkeypatch):
    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(demo_ws.folder))
    at = AppTest.from_file(EXPORT_PAGE, default_timeout=60)
    at.query_params["lang"] = "en"
    at.run()
    assert not at.exception
    assert at.title[0].value == "Export data"
    layers = at.selectbox(key="exp_layer")
    assert not any("(dem)" in o for o in layers.options)
    assert "Township & village enterprises (enterprises)" in layers.options
    layers.set_value("enterprises").run()
    said = {}
    for suffix in (".gpkg", ".zip", ".kml", ".geojson"):
        at.selectbox(key="exp_format_vector").set_value(suffix).run()
        said[suffix] = [c.value for c in at.caption if "style" in c.value or "colours" in c.value]
    assert "opens styled in QGIS" in said[".gpkg"][0]
    assert ".qml" in said[".zip"][0] and "KML" in said[".kml"][0]
    assert "carries no style" in said[".geojson"][0]
    at.selectbox(key="exp_layer").set_value("water_samples").run()
    assert at.selectbox(key="exp_format_table").options[0] == "Excel (.xlsx)"  # a table
    at.button(key="exp_go").click().run()
    assert not at.exception and not at.error
    downloads = at.get("download_button")
    assert len(downloads) == 1
    assert "water_samples.xlsx" in as_read(downloads[0].proto.label)
    at.button(key="exp_all_go").click().run()
    assert not at.exception and not at.error
    labels = [d.proto.label for d in at.get("download_button")]
    assert any(label.endswith(".gpkg") and "workspace" in label for label in labels)


CONFLICTS_PAGE = str(PROJECT_ROOT / "townmap" / "ui" / "conflicts_page.py")


def test_conflicts_page_filters_zones_and_precheck(demo_ws, monkeypatch):
    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(demo_ws.folder))
    at = AppTest.from_file(CONFLICTS_PAGE, default_timeout=120)
    at.query_params["lang"] = "en"
    at.run()
    assert not at.exception
    count = next(m.value for m in at.markdown if "finding(s) from" in m.value)
    total = int(count.split()[0])
    assert total > 0
    at.multiselect(key="cf_verification").set_value(["unverified"]).run()
    assert not at.exception
    fewer = next(m.value for m in at.markdown if "finding(s) from" in m.value)
    assert int(fewer.split()[0]) < total
    at.session_state["cf_section"] = "zones"
    at.run()
    assert not at.exception and any("Summary by land use" in s.value for s in at.subheader)
    at.session_state["cf_section"] = "precheck"
    at.run()
    assert not at.exception and not at.error  # the pre-check runs as soon as the site is set
    assert any("Applicable discharge standard" in m.value for m in at.markdown)


def test_a_site_drawn_on_the_precheck_map_is_checked_as_an_area(demo_ws, monkeypatch):
    from shapely.geometry import box, mapping

    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(demo_ws.folder))
    at = AppTest.from_file(CONFLICTS_PAGE, default_timeout=120)
    at.query_params["lang"] = "en"
    at.session_state["cf_section"] = "precheck"
    town = demo_ws.read_layer("town").to_crs(4326).geometry.iloc[0].centroid
    site = box(town.x - 0.002, town.y - 0.002, town.x + 0.002, town.y + 0.002)
    at.session_state["pc_map_en"] = {
        "all_drawings": [{"type": "Feature", "geometry": mapping(site), "properties": {}}]
    }
    at.run()
    assert not at.exception and not at.error
    assert any("Using the site drawn on the map" in c.value for c in at.caption)
    assert any("Applicable discharge standard" in m.value for m in at.markdown)
