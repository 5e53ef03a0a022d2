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
