"""The import page in a real browser: upload a GBK table, read the report, answer the
mode question, commit, undo; a DEM; districts mapped onto the villages (one column for two
attributes, a fixed value, replace) on a server of its own."""

from __future__ import annotations

import shutil

import geopandas as gpd
import pytest
from shapely.geometry import box

from tests.serving import MAP_IFRAME, SLOW, Guard, choose, launch, map_frame, serve, settled
from townmap.store import open_workspace

pytestmark = pytest.mark.browser

#: a select whose text (label and current value) holds ``arg[0]`` shows ``arg[1]``
SELECT_SHOWS = """([label, text]) => [...document.querySelectorAll('[data-testid=stSelectbox]')]
    .some((b) => b.innerText.includes(label) && (b.innerText.includes(text)
        || [...b.querySelectorAll('input')].some((i) => i.value === text)))"""
BODY_HAS = "(text) => document.body.innerText.includes(text)"
#: the column headers of the tables on the page (the grid keeps them in its DOM)
HEADERS = """() => [...document.querySelectorAll('[data-testid=stDataFrame] [role=columnheader]')]
    .map((h) => h.innerText).join(' | ')"""
LOG_HEADERS = f"(names) => names.every((n) => ({HEADERS})().includes(n))"


def test_upload_check_commit_and_undo(browser_page, tmp_path, artifacts):
    page, guard, url = browser_page
    csv = tmp_path / "receptors.csv"
    csv.write_bytes(
        "编号,名称,英文名,类型,人数,经度,纬度\nSRX,新小学,New School,school,300,"
        "119.95,31.40\nSRY,坏行,Bad,school,x,abc,31.4\n".encode("gbk")
    )
    page.goto(f"{url}/import_page?lang=en")
    page.wait_for_selector("[data-testid='stFileUploader']")
    page.locator("[data-testid='stSelectbox']").first.click()
    page.keyboard.type("Sensitive")  # the list is long and virtualised: filter it
    page.get_by_role("option", name="Sensitive receptors").click()
    settled(page, SELECT_SHOWS, ["Import into layer", "Sensitive receptors"])
    page.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(str(csv))
    settled(page, BODY_HAS, "1 row(s) skipped")
    body = page.inner_text("body")
    assert "gb18030" in body and "'经度' and '纬度'" in body
    page.wait_for_selector("iframe[title='streamlit_folium.st_folium']")
    page.screenshot(path=str(artifacts / "import.png"), full_page=True)
    assert page.get_by_role("button", name="Import now").is_disabled()  # replace or append?
    page.locator("[data-testid=stRadio] label").filter(has_text="Be appended").click()
    settled(page, BODY_HAS, "stay and 1 are added")
    page.get_by_role("button", name="Import now").click()
    settled(page, BODY_HAS, "Imported 1 feature")  # the run after the commit is over
    page.get_by_role("button", name="Undo the import of receptors.csv into Sensitive").click()
    settled(page, BODY_HAS, "was undone")
    assert guard.dialogs == []


def test_dem_upload_shows_a_hillshade_and_is_undone(browser_page, tmp_path, artifacts):
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    page, guard, url = browser_page
    dem = tmp_path / "dem.tif"
    rows, cols = np.mgrid[0:200, 0:200]
    z = (20 + 15 * np.sin(cols / 20.0) * np.cos(rows / 25.0)).astype("float32")
    with rasterio.open(
        dem, "w", driver="GTiff", width=200, height=200, count=1, dtype="float32",
        crs="EPSG:4326", transform=from_origin(119.90, 31.42, 0.0003, 0.0003), nodata=-9999,
    ) as dst:  # fmt: skip
        dst.write(z, 1)
    page.goto(f"{url}/import_page?lang=en")
    page.wait_for_selector("[data-testid='stFileUploader']")
    page.locator("[data-testid='stSelectbox']").first.click()
    page.keyboard.type("Elevation")  # the list is long and virtualised: filter it
    page.get_by_role("option", name="Elevation (DEM)").click()
    settled(page, SELECT_SHOWS, ["Import into layer", "Elevation (DEM)"])
    page.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(str(dem))
    settled(page, BODY_HAS, "40,000 cell(s) to import")
    page.wait_for_selector("[data-testid='stImage'] img")
    widths = page.locator("[data-testid='stImage'] img").evaluate_all(
        "imgs => imgs.map(i => i.naturalWidth)"
    )
    assert len(widths) == 2 and min(widths) > 100  # hillshade and elevation colours
    page.screenshot(path=str(artifacts / "import_dem.png"), full_page=True)
    page.get_by_role("button", name="Import now").click()
    settled(page, BODY_HAS, "Imported 40000")  # the run after the commit is over
    page.get_by_role("button", name="Undo the import of").click()
    settled(page, BODY_HAS, "was undone")
    assert guard.dialogs == []


def test_export_page_downloads_the_whole_workspace(browser_page, tmp_path):
    import sqlite3

    page, guard, url = browser_page
    page.goto(f"{url}/export_page?lang=en")
    page.wait_for_selector("text=The whole workspace")
    page.get_by_role("button", name="Prepare the file").nth(1).click()
    button = page.get_by_role("button", name="Download townmap-workspace")
    button.wait_for()
    with page.expect_download() as info:
        button.click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    con = sqlite3.connect(path)
    try:
        styled = {r[0] for r in con.execute("select f_table_name from layer_styles")}
    finally:
        con.close()
    assert {"enterprises", "town", "rivers"} <= styled
    assert guard.dialogs == []


@pytest.fixture(scope="module")
def own_server(demo_ws, tmp_path_factory):
    """A server of its own on a copy of the demo: this module replaces its villages."""
    folder = tmp_path_factory.mktemp("import-browser") / "ws"
    shutil.copytree(demo_ws.folder, folder)
    log = tmp_path_factory.mktemp("import-logs") / "streamlit.log"
    env = {
        "TOWNMAP_WORKSPACE": str(folder),
        "TOWNMAP_CACHE_DIR": str(tmp_path_factory.mktemp("import-cache")),
    }
    with serve("app.py", env, log) as server:
        yield server.url, folder


@pytest.fixture
def own_page(own_server):
    from playwright.sync_api import sync_playwright

    url, folder = own_server
    guard = Guard()
    with sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context(viewport={"width": 1400, "height": 1100}, locale="zh-CN")
        context.set_default_timeout(SLOW)
        page = context.new_page()
        guard.attach(context, page)
        try:
            yield page, guard, url, folder
        finally:
            context.close()
            browser.close()
    assert guard.blocked == [], f"requests left the machine: {guard.blocked}"


def _districts(folder, tmp_path):
    town = open_workspace(folder).read_layer("town").to_crs(4326)
    minx, miny, maxx, maxy = town.total_bounds
    mid = (minx + maxx) / 2
    frame = gpd.GeoDataFrame(
        {"district": ["东区", "西区"]},
        geometry=[box(mid, miny, maxx, maxy), box(minx, miny, mid, maxy)],
        crs=4326,
    )
    path = tmp_path / "districts.geojson"
    path.write_text(frame.to_json(drop_id=True), encoding="utf-8")
    return path


def _pick(page, label: str, typed: str, option: str) -> None:
    """Choose ``option`` in the select labelled ``label`` (filtered by ``typed``)."""
    choose(page, page.locator("[data-testid=stSelectbox]").filter(has_text=label), option, typed)
    settled(page, SELECT_SHOWS, [label, option])


def test_districts_fill_the_villages_in_chinese(own_page, tmp_path, artifacts):
    page, guard, url, folder = own_page
    geojson = _districts(folder, tmp_path)
    page.goto(f"{url}/import_page?lang=zh")
    page.wait_for_selector("[data-testid='stFileUploader']", timeout=SLOW)
    settled(page)
    _pick(page, "导入到图层", "行政村", "行政村")
    page.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(str(geojson))
    settled(page, BODY_HAS, "图层“行政村”现有 12 个要素")
    mapping = page.locator("[data-testid=stSelectbox]").filter(has_text="name_zh")
    if not mapping.is_visible():
        page.get_by_text("字段对应").click()  # the editor is folded while the plan is fine
    _pick(page, "name_zh", "district", "district")
    _pick(page, "name_en", "district", "district")  # the same column for a second attribute
    _pick(page, "admin_code", "固定", "固定值…")
    value = page.locator("[data-testid=stTextInput]").filter(has_text="固定值").locator("input")
    value.fill("320481")
    value.press("Enter")
    settled(page, BODY_HAS, "admin_code = 320481")
    button = page.get_by_role("button", name="确认导入")
    assert button.is_disabled()  # not before the mode question is answered
    page.locator("[data-testid=stRadio] label").filter(has_text="替换").click()
    settled(page, BODY_HAS, "导入后：现有 12 个要素被文件的 2 个要素取代")
    map_frame(page)  # the preview is drawn
    page.locator(MAP_IFRAME).screenshot(path=str(artifacts / "import_districts_map.png"))
    body = page.inner_text("body")
    assert "Replace" not in body and "Import now" not in body  # Chinese only on screen
    page.screenshot(path=str(artifacts / "import_districts.png"), full_page=True)
    assert not button.is_disabled()
    button.click()
    settled(page, BODY_HAS, "已导入 2 个要素到“行政村”")
    page.wait_for_function(LOG_HEADERS, arg=["文件", "图层", "状态"], timeout=SLOW)
    page.screenshot(path=str(artifacts / "import_districts_done.png"), full_page=True)
    stored = open_workspace(folder).read_layer("villages")
    assert sorted(stored["name_zh"]) == sorted(stored["name_en"]) == ["东区", "西区"]
    assert set(stored["admin_code"]) == {"320481"}
    headers = page.evaluate(HEADERS)
    assert "sha256" not in headers and "had_previous" not in headers
    assert guard.dialogs == [] and guard.errors == []


RADIO_CHECKED = """(text) => [...document.querySelectorAll(
    '[data-testid=stMain] [data-testid=stRadio] label')]
    .some((l) => l.innerText.includes(text) && l.querySelector('input').checked)"""


def test_switching_language_mid_import_keeps_every_choice(own_page, tmp_path):
    """Walkthrough: switching to English after choosing "new layer" and typing its names
    showed nothing chosen, and the next click went back to "an existing layer"."""
    page, guard, url, folder = own_page
    page.goto(f"{url}/import_page?lang=zh")
    page.wait_for_selector("[data-testid='stFileUploader']", timeout=SLOW)
    settled(page)
    page.locator("[data-testid=stRadio] label").filter(has_text="新建图层").click()
    settled(page, BODY_HAS, "新图层编号")
    page.get_by_label("新图层编号（小写字母、数字和 _）").fill("survey_pts")
    page.get_by_label("新图层编号（小写字母、数字和 _）").press("Enter")
    settled(page, BODY_HAS, "中文名称")
    _pick(page, "类别", "环境", "环境约束")
    page.locator("[data-testid=stSidebar] label").filter(has_text="English").click()
    settled(page, RADIO_CHECKED, "A new layer")
    settled(page, SELECT_SHOWS, ["Group", "Environmental constraints"])  # in the new labels
    page.get_by_label("English name").fill("Survey points")
    page.get_by_label("English name").press("Enter")  # the next run keeps the choice
    settled(page, BODY_HAS, "A new layer keeps every column")
    assert page.evaluate(RADIO_CHECKED, "A new layer")
    new_id = page.get_by_label("Id of the new layer (lower-case letters, digits and _)")
    assert new_id.input_value() == "survey_pts"
    assert page.evaluate(SELECT_SHOWS, ["Group", "Environmental constraints"])
    csv = tmp_path / "点.csv"
    csv.write_text("名称,经度,纬度\n甲,119.95,31.40\n", encoding="utf-8")
    page.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(str(csv))
    page.get_by_role("button", name="Import now").wait_for()
    settled(page)
    assert "survey_pts" not in open_workspace(folder).layer_names()  # nothing written yet
    page.get_by_role("button", name="Import now").click()
    settled(page, BODY_HAS, "Survey points")
    assert "survey_pts" in open_workspace(folder).layer_names()
    # the boxes are empty for the next file, in the browser too (they kept the old text),
    # and stay empty after a language switch (the old values came back)
    settled(page, "() => [...document.querySelectorAll('[data-testid=stMain] input')]"
            ".every((i) => i.value !== 'survey_pts')")  # fmt: skip
    assert (
        new_id.input_value() == "" and page.get_by_label("English name").first.input_value() == ""
    )
    page.locator("[data-testid=stSidebar] label").filter(has_text="中文").click()
    settled(page, BODY_HAS, "导入数据")
    box = page.get_by_label("新图层编号（小写字母、数字和 _）").first
    assert box.input_value() == "" and "已使用这个编号" not in page.inner_text("body")
    assert guard.dialogs == [] and guard.errors == []


def test_the_page_menu_keeps_the_language(own_page):
    """Walkthrough: every menu link opened the next page in Chinese (no ?lang= in it)."""
    page, guard, url, _ = own_page
    page.goto(f"{url}/import_page?lang=en")
    settled(page, BODY_HAS, "Import data")
    page.locator("[data-testid=stSidebarNav] a").filter(has_text="Export").click()
    settled(page, BODY_HAS, "Export data")
    assert "导出数据" not in page.inner_text("[data-testid=stMain]")
    page.wait_for_function("() => location.search.includes('lang=en')")
    assert guard.dialogs == [] and guard.errors == []
