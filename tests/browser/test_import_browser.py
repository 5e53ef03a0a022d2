"""The import page in a real browser: upload a GBK table, read the report, commit, undo."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_upload_check_commit_and_undo(browser_page, tmp_path, artifacts):
    page, guard, url = browser_page
    csv = tmp_path / "receptors.csv"
    csv.write_bytes(
        "编号,名称,英文名,类型,人数,经度,纬度\nSRX,新小学,New School,school,300,"
        "119.95,31.40\nSRY,坏行,Bad,school,x,abc,31.4\n".encode("gbk")
    )
    page.goto(f"{url}/import_page?lang=en")
    page.wait_for_selector("[data-testid='stFileUploader']", timeout=60_000)
    page.locator("[data-testid='stSelectbox']").first.click()
    page.keyboard.type("Sensitive")  # the list is long and virtualised: filter it
    page.get_by_role("option", name="Sensitive receptors").click()
    page.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(str(csv))
    page.wait_for_function(
        "() => document.body.innerText.includes('1 row(s) skipped')", timeout=60_000
    )
    body = page.inner_text("body")
    assert "gb18030" in body and "'经度' and '纬度'" in body
    page.wait_for_selector("iframe[title='streamlit_folium.st_folium']", timeout=60_000)
    page.screenshot(path=str(artifacts / "import.png"), full_page=True)
    page.get_by_role("button", name="Import now").click()
    page.wait_for_function(
        "() => document.body.innerText.includes('Imported 1 feature')", timeout=60_000
    )
    page.get_by_role("button", name="Undo the last import").click()
    page.wait_for_function("() => document.body.innerText.includes('was undone')", timeout=60_000)
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
    page.wait_for_selector("[data-testid='stFileUploader']", timeout=60_000)
    page.locator("[data-testid='stSelectbox']").first.click()
    page.keyboard.type("Elevation")  # the list is long and virtualised: filter it
    page.get_by_role("option", name="Elevation (DEM)").click()
    page.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(str(dem))
    page.wait_for_function(
        "() => document.body.innerText.includes('40,000 cell(s) to import')", timeout=60_000
    )
    page.wait_for_selector("[data-testid='stImage'] img", timeout=60_000)
    widths = page.locator("[data-testid='stImage'] img").evaluate_all(
        "imgs => imgs.map(i => i.naturalWidth)"
    )
    assert len(widths) == 2 and min(widths) > 100  # hillshade and elevation colours
    page.screenshot(path=str(artifacts / "import_dem.png"), full_page=True)
    page.get_by_role("button", name="Import now").click()
    page.wait_for_function(
        "() => document.body.innerText.includes('Imported 40000')", timeout=60_000
    )
    page.get_by_role("button", name="Undo the last import").click()
    page.wait_for_function("() => document.body.innerText.includes('was undone')", timeout=60_000)
    assert guard.dialogs == []


def test_export_page_downloads_the_whole_workspace(browser_page, tmp_path):
    import sqlite3

    page, guard, url = browser_page
    page.goto(f"{url}/export_page?lang=en")
    page.wait_for_selector("text=The whole workspace", timeout=60_000)
    page.get_by_role("button", name="Prepare the file").nth(1).click()
    button = page.get_by_role("button", name="Download townmap-workspace")
    button.wait_for(timeout=60_000)
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
