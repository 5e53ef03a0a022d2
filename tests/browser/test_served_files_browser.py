"""Published layer files (enterprise names and loads for the map) reach only the browser
session they were published for: no cookie and no token → 403, a signed-out or closed
session's token → 403, while the signed-in session's map keeps drawing."""

from __future__ import annotations

import shutil
import time

import pytest

from tests.serving import Guard, launch, serve
from tests.serving import http_status as _status
from townmap.auth.users import add_user
from townmap.settings import shell_actor
from townmap.store import open_workspace

pytestmark = pytest.mark.browser

SECRET = "correct horse battery staple"
SCRIPT_DONE = "[data-testid='stApp'][data-test-script-state='notRunning']"
MAP = "iframe[title='streamlit_folium.st_folium']"


def _until(check, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@pytest.fixture(scope="module")
def guarded_app(demo_ws, tmp_path_factory):
    folder = tmp_path_factory.mktemp("served") / "ws"
    shutil.copytree(demo_ws.folder, folder)
    ws = open_workspace(folder, catalog=demo_ws.catalog, actor=shell_actor())
    add_user(ws, "li", "planner", SECRET)
    env = {
        "TOWNMAP_WORKSPACE": str(folder),
        "TOWNMAP_CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
    }
    log = tmp_path_factory.mktemp("logs") / "served.log"
    with serve("app.py", env, log) as server:
        yield server.url


def test_layer_files_need_a_live_signed_in_session(guarded_app):
    from playwright.sync_api import sync_playwright

    published: list[tuple[int, str]] = []
    guard = Guard()
    with sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
        page = context.new_page()
        guard.attach(context, page)
        page.on(
            "response",
            lambda r: published.append((r.status, r.url)) if ".json.gz" in r.url else None,
        )
        page.goto(f"{guarded_app}/?lang=en")
        page.get_by_label("User name").fill("li")
        page.get_by_label("Password", exact=True).fill(SECRET)
        with page.expect_response(lambda r: ".json.gz" in r.url, timeout=120_000):
            page.get_by_role("button", name="Sign in").click()
        page.frame_locator(MAP).locator(".leaflet-container canvas").first.wait_for(timeout=120_000)
        assert all(status == 200 for status, _ in published), published
        url = published[0][1]
        assert "?t=" in url
        bare = url.split("?")[0]
        assert _status(url) == 200  # the session's own token, while it lives
        assert _status(bare) == 403  # a URL copied without its token
        assert _status(bare + "?t=guessed-token") == 403
        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("button", name="Sign in").wait_for()
        assert _status(url) == 403  # signed out: the token is gone at once
        context.close()
        browser.close()
    assert guard.blocked == [], guard.blocked


def test_a_closed_browsers_token_stops_working(guarded_app):
    from playwright.sync_api import sync_playwright

    published: list[str] = []
    with sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context(locale="en-US")
        page = context.new_page()
        Guard().attach(context, page)
        page.goto(f"{guarded_app}/?lang=en")
        page.get_by_label("User name").fill("li")
        page.get_by_label("Password", exact=True).fill(SECRET)
        with page.expect_response(lambda r: ".json.gz" in r.url, timeout=120_000) as first:
            page.get_by_role("button", name="Sign in").click()
        published.append(first.value.url)
        assert first.value.status == 200 and _status(published[0]) == 200
        context.close()
        browser.close()
    # the server notices the closed WebSocket; from then on the token is refused
    _until(lambda: _status(published[0]) == 403, "a closed session's token still works")
