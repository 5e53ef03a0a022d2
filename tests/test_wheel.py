"""Townmap as a pip user gets it: the wheel built from this repository, installed with its
dependencies into a fresh virtual environment, run from a folder outside the checkout
whose own ``.streamlit/config.toml`` asks for everything Townmap must not do.

`townmap demo`, `townmap layers`, `townmap serve` and every page plus the public display
in chromium must work there, with no request leaving the machine, the server on loopback
only, and nothing read from the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.serving import Guard, free_port, launch
from tests.serving import http_status as _status
from townmap import PROJECT_ROOT
from townmap.ui.navigation import PAGES
from townmap.ui.server import ENFORCED

pytestmark = pytest.mark.browser

#: a folder's config that would open the server to the network and send usage statistics
HOSTILE_CONFIG = """
[browser]
gatherUsageStats = true
[server]
address = "0.0.0.0"
enableXsrfProtection = false
enableCORS = false
maxUploadSize = 4000
"""

#: the page has run to its end (Streamlit marks its root with the script's state)
SCRIPT_DONE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 900):
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{cmd}: {out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    return out


def _listening_addresses(port: int) -> set[str]:
    """Local addresses a socket listens on for ``port`` (from /proc/net/tcp{,6})."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                found.add(address)
    return found


#: what builds and runs leave in a checkout (by name anywhere; by path from the root)
LEFT_BEHIND = {".venv", "build", "dist", ".git", "__pycache__", ".pytest_cache", ".ruff_cache"}
LEFT_BEHIND_PATHS = {"data/demo", "data/workspaces", "tests/artifacts"}


def _left_behind(folder: str, names: list[str]) -> set[str]:
    here = Path(folder).relative_to(PROJECT_ROOT).as_posix()
    return {
        n
        for n in names
        if n in LEFT_BEHIND
        or n.endswith(".egg-info")
        or (f"{here}/{n}" if here != "." else n) in LEFT_BEHIND_PATHS
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """Build the wheel, install it into a new venv, and give a clean outside folder."""
    root = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOWNMAP_", "PYTHON"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    pip = [sys.executable, "-m", "pip"]
    # built from a copy of the checkout without what builds and runs leave behind: a
    # build/ folder from an earlier build would add files the repository no longer holds
    source = root / "source"
    shutil.copytree(PROJECT_ROOT, source, symlinks=True, ignore=_left_behind)
    _run([*pip, "wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(source)], root, env)
    (wheel,) = (root / "dist").glob("townmap-*.whl")
    _run([sys.executable, "-m", "venv", str(root / "venv")], root, env)
    venv_bin = root / "venv" / "bin"
    install = [str(venv_bin / "python"), "-m", "pip", "install", "-q", "--no-compile"]
    _run([*install, str(wheel)], root, env)
    outside = root / "elsewhere"
    (outside / ".streamlit").mkdir(parents=True)
    (outside / ".streamlit" / "config.toml").write_text(HOSTILE_CONFIG)
    env |= {"XDG_DATA_HOME": str(root / "data"), "XDG_CACHE_HOME": str(root / "cache")}
    return {"wheel": wheel, "bin": venv_bin, "cwd": outside, "env": env, "root": root}


def test_the_wheel_holds_what_townmap_reads_at_run_time(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    shipped = {
        p.relative_to(PROJECT_ROOT).as_posix()
        for folder in ("townmap/layers", "townmap/ui/components", "townmap/render/assets")
        for p in (PROJECT_ROOT / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert shipped - names == set(), "files the app reads are missing from the wheel"
    assert "townmap/ui/main.py" in names and "townmap/__main__.py" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def test_the_installed_command_builds_and_lists_the_demo(installed):
    py = str(installed["bin"] / "python")
    code = "import townmap; print(townmap.__file__)"
    where = _run([py, "-c", code], installed["cwd"], installed["env"])
    assert str(installed["root"] / "venv") in where.stdout, "imported the checkout, not the wheel"
    # --force: in a shuffled run another test of this module may have built it first
    demo = _run(
        [str(installed["bin"] / "townmap"), "demo", "--force"], installed["cwd"], installed["env"]
    )
    assert str(installed["root"] / "data" / "townmap" / "demo") in demo.stdout
    listing = _run([py, "-m", "townmap", "layers"], installed["cwd"], installed["env"])
    assert "enterprises" in listing.stdout and "error" not in listing.stderr


def test_townmap_serve_is_private_and_every_page_works(installed):
    from playwright.sync_api import sync_playwright

    if not (installed["root"] / "data" / "townmap" / "demo").exists():
        _run([str(installed["bin"] / "townmap"), "demo"], installed["cwd"], installed["env"])
    port = free_port()
    log = installed["root"] / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(installed["bin"] / "townmap"), "serve", "--port", str(port)],
            cwd=installed["cwd"],
            env=installed["env"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                assert time.monotonic() < deadline, "townmap serve did not become healthy"
                time.sleep(0.25)
        assert _listening_addresses(port) == {"0100007F"}, "listens beyond 127.0.0.1"
        guard = Guard()
        with sync_playwright() as p:
            browser = launch(p)
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            guard.attach(context, page)
            with page.expect_response(lambda r: ".json.gz" in r.url, timeout=120_000) as layer:
                page.goto(url)
            assert layer.value.status == 200 and "?t=" in layer.value.url
            assert _status(layer.value.url.split("?")[0]) == 403, "layer file served to anyone"
            page.wait_for_selector(SCRIPT_DONE, timeout=120_000)
            frame = page.frame_locator("iframe[title='streamlit_folium.st_folium']")
            frame.locator(".leaflet-container canvas").first.wait_for(timeout=120_000)
            for file, _title, _icon in PAGES[1:]:
                page.goto(f"{url}/{Path(file).stem}")
                page.wait_for_selector(f"{SCRIPT_DONE} h1", timeout=180_000)
                assert page.locator("[data-testid='stException']").count() == 0, file
            page.goto(f"{url}/?mode=public")
            page.wait_for_selector(SCRIPT_DONE, timeout=120_000)
            frame.locator(".leaflet-container").first.wait_for(timeout=120_000)
            assert page.locator("[data-testid='stException']").count() == 0
            assert page.locator("[data-testid='stSidebarNav']").count() == 0
            context.close()
            browser.close()
        assert guard.blocked == [], f"requests left the machine: {guard.blocked}"
        assert guard.errors == [], guard.errors
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = log.read_text()
    assert "Traceback" not in text and "External URL" not in text, text[-3000:]


def test_the_checkout_config_holds_the_enforced_settings():
    """``streamlit run app.py`` in the checkout reads .streamlit/config.toml: it must say
    what ``townmap serve`` enforces (the file watcher aside: the checkout is for editing)."""
    config = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())
    for key, value in ENFORCED.items():
        if key == "server.fileWatcherType":
            continue
        section, name = key.split(".")
        assert config[section][name] == value, key
    assert config["server"]["address"] == "127.0.0.1"


def test_every_cited_source_ships_with_townmap():
    """Rule and standard files cite Townmap's own reference, never a file users lack."""
    layers = PROJECT_ROOT / "townmap" / "layers"
    for path in layers.rglob("*.toml"):
        assert "shared/reference" not in path.read_text(encoding="utf-8"), path
    assert (layers / "references.md").is_file()
