"""The Import page under AppTest: targets (catalog, own and new layers), the mapping
editor (one column for several attributes, fixed values), the mode question, the source
picker, loose Shapefiles, previews, own layers and the import log — on a copy of the demo."""

from __future__ import annotations

import json
import shutil

import geopandas as gpd
import pytest
from shapely.geometry import box
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.errors import AppTestError

from tests.helpers import as_read, fingerprint
from townmap import PROJECT_ROOT
from townmap.io.importer import ImportOptions, NewLayer, commit_import, plan_import
from townmap.own_layers import own_specs
from townmap.store import open_workspace

PAGE = str(PROJECT_ROOT / "townmap" / "ui" / "import_page.py")
KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>调查</name>
  <Folder><name>企业</name>
    <Placemark><name>湖滨印染</name><Point><coordinates>119.95,31.40</coordinates></Point></Placemark>
    <Placemark><name>西山水泥</name><Point><coordinates>119.96,31.41</coordinates></Point></Placemark>
  </Folder>
  <Folder><name>排口</name>
    <Placemark><name>DP01</name><Point><coordinates>119.97,31.42</coordinates></Point></Placemark>
  </Folder>
</Document></kml>
"""


@pytest.fixture
def ws(demo_ws, tmp_path, monkeypatch, catalog):
    folder = tmp_path / "ws"
    shutil.copytree(demo_ws.folder, folder)
    monkeypatch.setenv("TOWNMAP_WORKSPACE", str(folder))
    return open_workspace(folder, catalog=catalog)


def _page(lang: str = "en") -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params["lang"] = lang
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _run(widget) -> AppTest:
    at = widget.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _districts(ws) -> bytes:
    """Two districts covering the town, named by one column (as consultants send them)."""
    minx, miny, maxx, maxy = ws.read_layer("town").to_crs(4326).total_bounds
    mid = (minx + maxx) / 2
    frame = gpd.GeoDataFrame(
        {"district": ["东区 East", "西区 West"], "人口": [5200, 4100], "备注": ["新区", ""]},
        geometry=[box(mid, miny, maxx, maxy), box(minx, miny, mid, maxy)],
        crs=4326,
    )
    return frame.to_json().encode()


def _upload(at: AppTest, name: str, data: bytes | list) -> AppTest:
    files = data if isinstance(data, list) else (name, data, "application/octet-stream")
    return _run(at.file_uploader[0].set_value(files))


def _widget(at: AppTest, kind: str, prefix: str, name: str = ""):
    """The page's widget whose key starts with ``prefix`` (keys carry the file, target and
    source) and ends with ``_name``."""
    found = [
        w
        for w in getattr(at, kind)
        if str(w.key).startswith(prefix) and (not name or str(w.key).endswith(f"_{name}"))
    ]
    assert len(found) == 1, [w.key for w in getattr(at, kind)]
    return found[0]


def _column(select, column: str) -> int:
    """The value a mapping select takes for one of the file's columns."""
    return select.options.index(column) - 2


def _choose(at: AppTest, attribute: str, column: str) -> AppTest:
    select = _widget(at, "selectbox", "imp_map_", attribute)
    return _run(select.set_value(_column(select, column)))


def _commit_button(at: AppTest):
    return at.button(key="imp_commit")


def _texts(elements) -> list[str]:
    return [as_read(e.value) for e in elements]


def test_one_column_fills_two_attributes_and_a_fixed_value_survives_reruns(ws):
    at = _page("zh")
    _run(at.selectbox(key="imp_layer").set_value("villages"))
    at = _upload(at, "districts.geojson", _districts(ws))
    zh = _widget(at, "selectbox", "imp_map_", "name_zh")
    assert zh.label.startswith("村名") and "name\\_zh" in zh.label  # label first, id small
    assert "district" in zh.options and "人口" in zh.options  # the file's own columns
    _choose(at, "name_zh", "district")
    _choose(at, "name_en", "district")  # the same column again: the page must not fall over
    _run(_widget(at, "selectbox", "imp_map_", "admin_code").set_value(-1))
    _run(_widget(at, "text_input", "imp_fix_", "admin_code").set_value("320481"))
    pop = _widget(at, "selectbox", "imp_map_", "population")
    assert pop.value == _column(pop, "人口")  # guessed as the population
    assert not at.error
    assert any("admin_code = 320481" in i for i in _texts(at.info))
    assert any("文件中未导入的列" in c and "备注" in c for c in _texts(at.caption))
    # a rerun for another reason keeps every choice
    _run(at.selectbox(key="imp_encoding").set_value("utf-8"))
    for attribute in ("name_zh", "name_en"):
        select = _widget(at, "selectbox", "imp_map_", attribute)
        assert select.value == _column(select, "district")
    assert _widget(at, "text_input", "imp_fix_", "admin_code").value == "320481"
    choices = at.session_state["imp_choices"]
    assert choices["mapping"]["name_zh"] == choices["mapping"]["name_en"] == "district"
    assert choices["fixed"] == {"admin_code": "320481"}
    # only the page's language on screen
    assert "Replace" not in " ".join(r.label for r in at.radio)
    # another target starts afresh
    _run(at.selectbox(key="imp_layer").set_value("town"))
    assert not [w for w in at.text_input if str(w.key).startswith("imp_fix_")]
    assert _widget(at, "selectbox", "imp_map_", "admin_code").value != -1


def test_the_mode_question_blocks_the_commit_until_answered(ws):
    before = fingerprint(ws)
    at = _page("en")
    _run(at.selectbox(key="imp_layer").set_value("villages"))
    at = _upload(at, "districts.geojson", _districts(ws))
    _choose(at, "name_zh", "district")
    _choose(at, "name_en", "district")
    _run(_widget(at, "selectbox", "imp_map_", "admin_code").set_value(-1))
    _run(_widget(at, "text_input", "imp_fix_", "admin_code").set_value("320481"))
    mode = _widget(at, "radio", "imp_mode_")
    assert mode.value is None  # nothing pre-selected
    assert "holds 12 feature(s)" in mode.label
    assert [o.split(":")[0] for o in mode.options] == [
        "Replace them",
        "Be appended",
        "Update them by “Village id”",
    ]
    assert _commit_button(at).disabled
    assert any("Choose replace, append or update" in i for i in _texts(at.info))
    assert not any("--mode" in e for e in _texts(at.error))  # the question asks instead
    with pytest.raises(AppTestError, match="disabled"):
        _commit_button(at).click()  # nobody can press it
    assert fingerprint(ws) == before
    _run(_widget(at, "radio", "imp_mode_").set_value("append"))
    assert any("12 feature(s) there now stay and 2 are added" in i for i in _texts(at.info))
    _run(_widget(at, "radio", "imp_mode_").set_value("replace"))
    replaced = [w for w in _texts(at.warning) if "replaced by the file's 2" in w]
    assert replaced and "10 feature(s) fewer" in replaced[0]  # 12 → 2: a warning, not info
    assert not _commit_button(at).disabled
    _run(_commit_button(at).click())
    assert any("Imported 2 feature(s) into “Villages”" in s for s in _texts(at.success))
    stored = open_workspace(ws.location).read_layer("villages")
    assert sorted(stored["name_zh"]) == sorted(stored["name_en"]) == ["东区 East", "西区 West"]
    assert set(stored["admin_code"]) == {"320481"}
    assert sorted(stored["population"]) == [4100, 5200]
    assert not at.file_uploader[0].value  # a fresh uploader after the commit
    log = next(d.value for d in at.dataframe if "File" in d.value.columns)
    assert {"Time (UTC)", "Layer", "Mode", "Status"} <= set(log.columns)
    assert not {"sha256", "had_previous", "choices", "previous"} & set(log.columns)
    assert log.iloc[0]["Layer"] == "Villages" and log.iloc[0]["Mode"] == "Replace"
    cells = log.astype(str).to_numpy().ravel().tolist()
    assert not {"None", "nan", "<NA>"} & set(cells)


def test_a_csv_with_chinese_columns_becomes_a_new_layer(ws, tmp_path):
    data = (
        "井编号,井名,深度米,类型,经度,纬度\n"
        "W1,东村井,35,饮用,119.95,31.40\n"
        "W2,西村井,42,灌溉,119.93,31.39\n"
    ).encode("gbk")
    at = _page("zh")
    _run(at.radio(key="imp_into").set_value("new"))
    assert any("请填写新图层的编号" in i for i in _texts(at.info))
    _run(at.text_input(key="imp_new_id").set_value("Wells!"))
    assert any("小写字母开头" in w for w in _texts(at.warning))
    _run(at.text_input(key="imp_new_id").set_value("villages"))
    assert any("行政村" in w for w in _texts(at.warning))  # taken, named by its label
    _run(at.text_input(key="imp_new_id").set_value("wells"))
    _run(at.text_input(key="imp_new_zh").set_value("水井"))
    _run(at.text_input(key="imp_new_en").set_value("Wells"))
    _run(at.selectbox(key="imp_new_group").set_value("water"))
    at = _upload(at, "水井.csv", data)
    assert not at.error, _texts(at.error)
    assert not [s for s in at.selectbox if str(s.key).startswith("imp_map_")]  # all columns
    assert not _commit_button(at).disabled
    _run(_commit_button(at).click())
    assert any("水井" in s and "2" in s for s in _texts(at.success)), _texts(at.success)
    again = open_workspace(ws.location)
    spec = next(s for s in own_specs(again.metadata()) if s.id == "wells")
    assert spec.label.zh == "水井" and spec.group == "water" and spec.geometry == "Point"
    stored = again.read_layer("wells")
    assert list(stored["井名"]) == ["东村井", "西村井"] and list(stored["井编号"]) == ["W1", "W2"]
    # the fields start empty for the next file, not with the id just used ("taken")
    assert at.text_input(key="imp_new_id").value == ""
    assert not [w for w in _texts(at.warning) if "已使用这个编号" in w]
    assert at.text_input(key="imp_new_zh").value == ""
    # the new layer is now a target, marked as an own layer
    _run(at.radio(key="imp_into").set_value("existing"))
    assert "水井（自有图层）" in at.selectbox(key="imp_layer").options


def _own_layer(ws, tmp_path, catalog):
    path = tmp_path / "zones.geojson"
    path.write_bytes(_districts(ws))
    options = ImportOptions("flood_zones", new_layer=NewLayer("洪水区", "Flood zones", "water"))
    plan = plan_import(path, options, catalog, ws=ws)
    assert plan.ok, plan.blocking
    commit_import(ws, plan)


def test_an_own_layer_is_renamed_restyled_and_deleted(ws, tmp_path, catalog):
    _own_layer(ws, tmp_path, catalog)
    at = _page("en")
    assert any("Flood zones" in as_read(e.label) and "2 feature(s)" in e.label for e in at.expander)
    at.text_input[-2].set_value("淹没区")  # the rename form: Chinese, English
    at.text_input[-1].set_value("Inundation zones")
    rename = next(b for b in at.button if b.label == "Save the names")
    _run(rename.click())
    assert any("Renamed to “Inundation zones”" in s for s in _texts(at.success))
    spec = own_specs(open_workspace(ws.location).metadata())[0]
    assert (spec.label.zh, spec.label.en) == ("淹没区", "Inundation zones")
    at.color_picker[0].set_value("#123456")
    next(s for s in at.selectbox if s.label == "Colours by column").set_value("district")
    style_button = next(b for b in at.button if b.label == "Save the style")
    _run(style_button.click())
    spec = own_specs(open_workspace(ws.location).metadata())[0]
    assert spec.style.color == "#123456" and spec.style.by == "district"
    assert set(spec.style.categories) == {"东区 East", "西区 West"}
    delete = at.button(key="own_delete_flood_zones")
    assert delete.disabled  # not without the confirmation
    _run(at.checkbox(key="own_delete_ok_flood_zones").check())
    _run(at.button(key="own_delete_flood_zones").click())
    assert any("was deleted" in s for s in _texts(at.success))
    again = open_workspace(ws.location)
    assert own_specs(again.metadata()) == [] and not again.has_layer("flood_zones")
    assert any("no own layers yet" in c for c in _texts(at.caption))


def test_a_kml_offers_its_folders_and_all_of_them_together(ws):
    at = _page("en")
    _run(at.selectbox(key="imp_layer").set_value("enterprises"))
    at = _upload(at, "survey.kml", KML.encode())
    source = _widget(at, "selectbox", "imp_source_")
    assert source.options == [
        "All folders together (a folder column says which folder)",
        "企业",
        "排口",
    ]
    assert source.value is None or source.index == 0
    assert any("'folder'" in i for i in _texts(at.info))  # all folders read together
    # a coded attribute's fixed value is chosen by its label and stored as its code
    _run(_widget(at, "selectbox", "imp_map_", "sector").set_value(-1))
    fixed = _widget(at, "selectbox", "imp_fix_", "sector")
    assert "Printing & dyeing" in fixed.options and fixed.value is None
    _run(fixed.set_value("printing_dyeing"))
    assert any("sector = printing_dyeing" in i for i in _texts(at.info)), _texts(at.info)
    _run(_widget(at, "selectbox", "imp_source_").set_value("排口"))
    assert not at.exception
    assert _widget(at, "selectbox", "imp_source_").value == "排口"


def test_a_loose_shapefile_is_planned_from_its_parts(ws, tmp_path):
    minx, miny, maxx, maxy = ws.read_layer("town").to_crs(4326).total_bounds
    frame = gpd.GeoDataFrame(
        {"名称": ["东区"], "code": ["320481"]},
        geometry=[box(minx, miny, (minx + maxx) / 2, maxy)],
        crs=4326,
    )
    frame.to_file(tmp_path / "districts.shp", encoding="gbk")
    (tmp_path / "districts.cpg").write_text("GBK")
    parts = [
        (p.name, p.read_bytes(), "application/octet-stream")
        for p in sorted(tmp_path.glob("districts.*"))
    ]
    assert {p[0].rsplit(".", 1)[1] for p in parts} >= {"shp", "dbf", "shx", "prj", "cpg"}
    at = _page("en")
    _run(at.selectbox(key="imp_layer").set_value("villages"))
    at = _upload(at, "", parts)
    assert not at.error, _texts(at.error)  # the parts were found side by side
    zh = _widget(at, "selectbox", "imp_map_", "name_zh")
    assert zh.options[2:] == ["名称", "code"]  # the .dbf read as GBK, by its .cpg


def test_a_plain_gauss_krueger_table_is_judged_by_the_towns_longitude(ws):
    """As ``townmap import`` does: the town's longitude names the zones that fit a plain
    6-digit easting (without it, none does), and the CRS box settles it."""
    town = ws.read_layer("town").to_crs(ws.crs).geometry.iloc[0].representative_point()
    data = f"编号,名称,英文名,类型,人数,X,Y\nSRX,新小学,New School,school,300,{town.x},{town.y}\n"
    at = _page("en")
    _run(at.selectbox(key="imp_layer").set_value("sensitive_receptors"))
    at = _upload(at, "gk.csv", data.encode())
    errors = " ".join(_texts(at.error))
    assert "EPSG:4549 (3-degree Gauss–Krüger without zone prefix" in errors, errors
    _run(at.text_input(key="imp_crs").set_value("EPSG:4549"))
    assert not at.error, _texts(at.error)
    _run(_widget(at, "radio", "imp_mode_").set_value("append"))
    assert not _commit_button(at).disabled
    _run(_commit_button(at).click())
    stored = open_workspace(ws.location).read_layer("sensitive_receptors")
    assert stored.geometry.iloc[-1].distance(town) < 1  # placed where it is, in metres


def test_a_point_preview_survives_an_unmapped_id_and_far_points_are_flagged(ws):
    data = (
        "编号,名称,英文名,类型,人数,经度,纬度\n"
        "SRX,新小学,New School,school,300,119.95,31.40\n"
        "SRY,远处,Far away,school,30,119.40,31.90\n"
    ).encode()
    at = _page("en")
    _run(at.selectbox(key="imp_layer").set_value("sensitive_receptors"))
    at = _upload(at, "r.csv", data)
    key = _widget(at, "selectbox", "imp_map_", "receptor_id")
    _run(key.set_value(-2))  # the id left empty
    assert not at.exception
    assert any("far from the town" in w for w in _texts(at.warning)), _texts(at.warning)


def test_a_dem_speaks_of_cells(ws, tmp_path):
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    dem = tmp_path / "dem.tif"
    z = np.linspace(2, 30, 40 * 40, dtype="float32").reshape(40, 40)
    profile = {
        "driver": "GTiff",
        "width": 40,
        "height": 40,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:4326",
        "transform": from_origin(119.90, 31.42, 0.002, 0.002),
        "nodata": -9999,
    }
    with rasterio.open(dem, "w", **profile) as dst:
        dst.write(z, 1)
    at = _page("zh")
    _run(at.selectbox(key="imp_layer").set_value("dem"))
    at = _upload(at, "dem.tif", dem.read_bytes())
    captions = " ".join(_texts(at.caption))
    assert "1,600 个栅格单元" in captions and "要素" not in captions
    _run(_commit_button(at).click())
    assert any("已导入 1600 个栅格单元" in s for s in _texts(at.success)), _texts(at.error)
    log = next(d.value for d in at.dataframe if "文件" in d.value.columns)
    assert log.iloc[0]["图层"] == "数字高程模型" and log.iloc[0]["文件"] == "dem.tif"
    assert "sha256" not in json.dumps(list(log.columns))


def test_a_kml_of_points_and_areas_asks_which_kind_before_anything_is_planned(ws):
    from tests.test_own_layers import KML_MIXED

    at = _page("zh")
    _run(at.radio(key="imp_into").set_value("new"))
    _run(at.text_input(key="imp_new_id").set_value("survey"))
    at = _upload(at, "踏勘.kml", KML_MIXED.encode())
    assert any("3 个点、1 个面" in w for w in _texts(at.warning)), _texts(at.warning)
    assert not [b for b in at.button if b.key == "imp_commit"]  # nothing to commit yet
    choice = _widget(at, "radio", "imp_geom_")
    assert choice.value is None  # not guessed
    _run(choice.set_value("Point"))
    assert not _commit_button(at).disabled
    _run(_commit_button(at).click())
    spec = next(s for s in own_specs(open_workspace(ws.location).metadata()) if s.id == "survey")
    assert spec.geometry == "Point"
    assert len(open_workspace(ws.location).read_layer("survey")) == 3
