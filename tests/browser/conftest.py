"""Browser tests: `streamlit run app.py` on a free loopback port, Debian's chromium driven
by Playwright, and every request to a non-loopback host blocked and counted as a failure."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from townmap import PROJECT_ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
HOSTILE_NAME = "<img src=x onerror=alert(1)>"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    raise TimeoutError(f"streamlit did not become healthy at {url}")


@pytest.fixture(scope="session")
def hostile_ws(demo_ws, tmp_path_factory):
    """A copy of the demo with an enterprise named like an XSS payload."""
    from townmap.workspace import Workspace

    folder = tmp_path_factory.mktemp("browser") / "ws"
    shutil.copytree(demo_ws.folder, folder)
    ws = Workspace(folder, catalog=demo_ws.catalog)
    tve = ws.read_layer("enterprises")
    tve.loc[0, "name_zh"] = HOSTILE_NAME
    tve.loc[0, "name_en"] = "`${alert(2)}`"
    with ws.transaction() as tx:
        tx.write_layer("enterprises", tve, fictional=True)
    return ws


@pytest.fixture(scope="session")
def app_url(hostile_ws, tmp_path_factory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("logs") / "streamlit.log"
    env = {**os.environ, "TOWNMAP_WORKSPACE": str(hostile_ws.folder)}
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    text = log.read_text()
    assert "External URL" not in text, "streamlit looked up its external address"


class Guard:
    """Blocks and records every request that would leave the machine."""

    def __init__(self) -> None:
        self.blocked: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []

    def route(self, route) -> None:
        url = route.request.url
        host = urlparse(url).hostname
        if url.startswith(("data:", "blob:", "about:")) or host in LOOPBACK:
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()


@pytest.fixture
def browser_page(app_url) -> Iterator[tuple]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: run `make test`, which installs it")
    guard = Guard()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-gpu",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        context = browser.new_context(viewport={"width": 1600, "height": 1100}, locale="zh-CN")
        context.route("**/*", guard.route)
        page = context.new_page()
        page.on("dialog", lambda d: (guard.dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: guard.errors.append(str(e)))
        try:
            yield page, guard, app_url
        finally:
            context.close()
            browser.close()
    assert guard.blocked == [], f"requests left the machine: {guard.blocked}"
