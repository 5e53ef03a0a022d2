"""Browser tests: the app under `streamlit run`, Debian's chromium driven by Playwright,
every request to a non-loopback host blocked and counted as a failure."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.serving import SLOW, Guard, launch, serve
from townmap.store import open_workspace

HOSTILE_NAME = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="session")
def hostile_ws(demo_ws, tmp_path_factory):
    """A copy of the demo with an enterprise named like an XSS payload."""

    folder = tmp_path_factory.mktemp("browser") / "ws"
    shutil.copytree(demo_ws.folder, folder)
    ws = open_workspace(folder, catalog=demo_ws.catalog)
    tve = ws.read_layer("enterprises")
    tve.loc[0, "name_zh"] = HOSTILE_NAME
    tve.loc[0, "name_en"] = "`${alert(2)}`"
    aspects = ws.read_table("ems_aspects")
    aspects.loc[0, "control"] = HOSTILE_NAME + "<script>alert(3)</script>"
    comments = ws.read_layer("public_comments")
    comments.loc[comments["status"] == "approved", "text"] = (
        HOSTILE_NAME + "<script>alert(4)</script>"
    )
    with ws.transaction() as tx:
        tx.write_layer("enterprises", tve, fictional=True)
        tx.write_table("ems_aspects", aspects, fictional=True)
        tx.write_layer("public_comments", comments, fictional=True)
    from tests.hostile import poison_workspace

    poison_workspace(ws, demo_ws.catalog)  # the whole corpus in every free-text field
    return ws


@pytest.fixture(scope="session")
def app_url(hostile_ws, tmp_path_factory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("logs") / "streamlit.log"
    env = {
        "TOWNMAP_WORKSPACE": str(hostile_ws.folder),
        "TOWNMAP_CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
    }
    with serve("app.py", env, log) as server:
        yield server.url
    assert "External URL" not in log.read_text(), "streamlit looked up its external address"


@pytest.fixture
def browser_page(app_url) -> Iterator[tuple]:
    from playwright.sync_api import sync_playwright

    guard = Guard()
    with sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context(viewport={"width": 1600, "height": 1100}, locale="zh-CN")
        context.set_default_timeout(SLOW)  # every wait: the machine may be busy
        page = context.new_page()
        guard.attach(context, page)
        try:
            yield page, guard, app_url
        finally:
            context.close()
            browser.close()
    assert guard.blocked == [], f"requests left the machine: {guard.blocked}"
