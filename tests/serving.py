"""Helpers for tests and benchmarks that drive the real app in Debian's chromium.

`serve` starts `streamlit run` on a free loopback port and waits on /_stcore/health
(never a fixed sleep); `Guard` blocks and records every request that would leave the
machine; `launch` starts chromium headless with networking chatter disabled.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from townmap import PROJECT_ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def peak_rss_mb(self) -> float:
        """Peak resident memory of the server process (VmHWM), in MB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
        return kb / 1024


@contextlib.contextmanager
def serve(script: str, env: dict[str, str], log: Path, timeout: float = 120) -> Iterator[Server]:
    port = free_port()
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port)],
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited early: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"streamlit did not become healthy at {url}") from None
                time.sleep(0.25)
        yield Server(url, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def http_status(url: str) -> int:
    """HTTP status of a plain GET, as curl would make it: no cookie, no headers."""
    import urllib.error

    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


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

    def attach(self, context, page) -> None:
        context.route("**/*", self.route)
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: self.errors.append(str(e)))


def launch(playwright):
    if not Path(CHROMIUM).exists():
        raise RuntimeError("Debian's chromium is missing: run `make test`, which installs it")
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


# ------------------------------------------------------------------ waiting in the browser
# A test reads the page only once the state it asserts on is there: these conditions stand
# in for fixed sleeps. Timeouts are generous, for a busy machine.
SLOW = 120_000
MAP_IFRAME = "iframe[title='streamlit_folium.st_folium']"

#: the script run is over (not running, no element of a previous run left stale)
IDLE = """() => { const app = document.querySelector('[data-testid=stApp]');
    return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
        && !document.querySelector('[data-stale=true]'); }"""

#: every frame of the page has loaded, and every image in it has loaded or failed (so any
#: load or error handler an image carries has run)
LOADED = """() => [document, ...[...document.querySelectorAll('iframe')].map((f) => {
        try { return f.contentDocument; } catch (e) { return null; } })]
    .every((d) => !d || (d.readyState === 'complete'
        && [...d.images].every((i) => i.complete)
        && (!d.defaultView.map || (d.defaultView.townmapPending || 0) === 0)))"""

#: a Leaflet map in this frame is drawn: no layer data on its way, no zoom animation,
#: every point layer on it drawn
MAP_READY = """() => !!window.map && !!window.map._loaded && !window.map._animatingZoom
    && (window.townmapPending || 0) === 0
    && (window.townmapPointLayers || []).every((l) => !l._map || l._drawn !== undefined)"""

#: run in every frame before its scripts (``page.add_init_script``): what the page sends to
#: the server (``townmapSent``, as text), how many script runs began (``townmapRuns``), and
#: the timers still due (``townmapTimers()``: e.g. a debounce that has not fired yet)
WATCH = """(() => {
    window.townmapSent = [];
    window.townmapRuns = 0;
    const text = (d) => typeof d === 'string' ? d : new TextDecoder().decode(
        d instanceof ArrayBuffer ? new Uint8Array(d)
            : new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
        window.townmapSent.push(text(data));
        return send.call(this, data);
    };
    const later = window.setTimeout, clear = window.clearTimeout, due = new Set();
    window.setTimeout = function (fn, ms, ...rest) {
        if (typeof fn !== 'function') return later(fn, ms, ...rest);
        const id = later((...a) => { due.delete(id); fn(...a); }, ms, ...rest);
        due.add(id);
        return id;
    };
    window.clearTimeout = function (id) { due.delete(id); return clear(id); };
    window.townmapTimers = () => due.size;
    new MutationObserver((changes) => {
        for (const c of changes) {
            if (c.target.getAttribute('data-test-script-state') === 'running'
                && c.oldValue !== 'running') window.townmapRuns += 1;
        }
    }).observe(document, {subtree: true, attributes: true, attributeOldValue: true,
                          attributeFilter: ['data-test-script-state']});
})();"""


def settled(page, until: str | None = None, arg=None, timeout: float = SLOW) -> None:
    """Wait until the page shows what the predicate ``until`` (JavaScript, given ``arg``)
    asks for — the content an action produces: right after a click its rerun may not have
    begun — and the script run that drew it is over."""
    js = IDLE if until is None else f"(arg) => ({IDLE})() && ({until})(arg)"
    page.wait_for_function(js, arg=arg, timeout=timeout)


def map_frame(page, ready: str = MAP_READY, timeout: float = SLOW):
    """The map's frame once its map is drawn (``ready``: a further predicate in it)."""
    page.wait_for_selector(MAP_IFRAME, timeout=timeout)
    frame = page.query_selector(MAP_IFRAME).content_frame()
    frame.wait_for_function(f"() => ({MAP_READY})() && ({ready})()", timeout=timeout)
    return frame


#: the select box (the element the function is called on) shows ``text``
BOX_SHOWS = """(box, text) => box.innerText.includes(text)
    || [...box.querySelectorAll('input')].some((i) => i.value === text)"""
#: how long one try at clicking an option may take before it is tried again
OPTION_TRY = 20_000


def choose(page, box, option: str, typed: str | None = None, timeout: float = SLOW) -> None:
    """Pick ``option`` in the select ``box`` (a locator), then wait for the run it starts.

    A select's list is placed against its box: while the page still moves (an expander
    opening, a map frame growing) the option can be detached under the pointer and the
    click lost, which on a busy machine happens. So the choice is made again while the
    box does not show it (a condition, never a pause), until ``timeout``.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.monotonic() + timeout / 1000
    while not box.evaluate(BOX_SHOWS, option):
        settled(page, timeout=timeout)
        box.click()
        page.keyboard.type(typed or option)  # long lists are virtualised: filter them
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=OPTION_TRY)
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                raise
            page.keyboard.press("Escape")  # the list left open is closed before the next try
        if time.monotonic() > deadline and not box.evaluate(BOX_SHOWS, option):
            raise AssertionError(f"the select never showed {option!r}")
    settled(page, timeout=timeout)
