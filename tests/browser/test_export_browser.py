"""The Export page in a real browser: points handed back to AMap users in GCJ-02, chosen
by name, with the page saying what that means; the DEM downloaded as GeoTIFF with its
no-data value."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.serving import choose, settled
from townmap.datums import wgs84_to_gcj02
from townmap.render.escape import WORD_JOINER

pytestmark = pytest.mark.browser

GCJ_LABEL = "AMap/Tencent map coordinates (GCJ-02 web-map offset)"

#: the selectbox ``arg[0]`` shows the option ``arg[1]``
SHOWS = """([i, text]) => {
    const box = document.querySelectorAll('[data-testid=stSelectbox]')[i];
    return !!box && (box.innerText.includes(text)
        || [...box.querySelectorAll('input')].some((x) => x.value.includes(text))); }"""


def _choose(page, index: int, typed: str, option: str) -> None:
    choose(page, page.locator("[data-testid='stSelectbox']").nth(index), option, typed)
    settled(page, SHOWS, [index, option])  # the rerun that shows the choice is over


def test_points_for_amap_users_come_in_gcj02_with_a_note(browser_page, hostile_ws, tmp_path):
    page, guard, url = browser_page
    page.goto(f"{url}/export_page?lang=en")
    page.wait_for_selector("text=The whole workspace")
    settled(page)
    _choose(page, 0, "Township", "Township & village enterprises (enterprises)")
    _choose(page, 1, "CSV", "CSV (UTF-8)")
    _choose(page, 2, "AMap", GCJ_LABEL)
    page.get_by_role("button", name="Prepare the file").first.click()
    button = page.get_by_role("button", name="Download enterprises.csv")
    button.wait_for()
    shown = page.inner_text("body").replace(WORD_JOINER, "")
    assert "coordinates are GCJ-02 web-map coordinates" in shown
    with page.expect_download() as info:
        button.click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    table = pd.read_csv(path, encoding="utf-8-sig")
    assert set(table["coord_sys"]) == {"GCJ-02"}
    tve = hostile_ws.read_layer("enterprises").to_crs(4326)
    lon, lat = wgs84_to_gcj02(tve.geometry.x.iloc[0], tve.geometry.y.iloc[0])
    assert abs(table["lon"].iloc[0] - float(lon)) < 1e-6
    assert abs(table["lat"].iloc[0] - float(lat)) < 1e-6
    assert guard.dialogs == []


def test_the_dem_downloads_as_geotiff_with_its_nodata(browser_page, hostile_ws, tmp_path):
    import rasterio

    page, guard, url = browser_page
    page.goto(f"{url}/export_page?lang=en")
    page.wait_for_selector("text=Rasters (GeoTIFF)")
    settled(page)
    page.get_by_role("button", name="Prepare the file").last.click()
    button = page.get_by_role("button", name="Download dem.tif")
    button.wait_for()
    with page.expect_download() as info:
        button.click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    with rasterio.open(path) as got, rasterio.open(hostile_ws.raster_path("dem")) as src:
        assert got.nodata == src.nodata and got.crs == src.crs
    assert guard.dialogs == []
