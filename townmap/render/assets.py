"""Front-end assets Townmap serves itself (never a CDN), pinned and vendored.

Leaflet 1.9.4 comes from the npm package ``leaflet`` (BSD-2-Clause; licence file beside
it). The UI layer makes this folder reachable over HTTP and passes its base URL to
``offline_links``; everything else here is plain data.
"""

from __future__ import annotations

from pathlib import Path

ASSET_DIR = Path(__file__).resolve().parent / "assets"
LEAFLET = "leaflet-1.9.4"


def offline_links(base_url: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(js, css) link lists for a folium map, pointing at ``base_url`` (ends with ``/``)."""
    if not base_url.endswith("/"):
        base_url += "/"
    js = [("leaflet", f"{base_url}{LEAFLET}/leaflet.js")]
    css = [("leaflet_css", f"{base_url}{LEAFLET}/leaflet.css")]
    return js, css


def asset_files() -> list[Path]:
    """Every vendored file (for checks that nothing is missing from an install)."""
    return sorted(p for p in ASSET_DIR.rglob("*") if p.is_file())
