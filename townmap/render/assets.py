"""Front-end assets Townmap serves itself (never a CDN), pinned and vendored.

- Leaflet 1.9.4, from the npm package ``leaflet`` (BSD-2-Clause);
- Leaflet.draw 1.0.4, from the npm package ``leaflet-draw`` (MIT);
- ``townmap/``: Townmap's own canvas point layer, legend, coordinates and click reporter.

The UI layer makes this folder reachable over HTTP and passes its base URL here;
everything else is plain data.
"""

from __future__ import annotations

from pathlib import Path

ASSET_DIR = Path(__file__).resolve().parent / "assets"
LEAFLET = "leaflet-1.9.4"
LEAFLET_DRAW = "leaflet-draw-1.0.4"
TOWNMAP = "townmap"


def _base(base_url: str) -> str:
    return base_url if base_url.endswith("/") else base_url + "/"


def offline_links(base_url: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(js, css) link lists for a folium map, pointing at ``base_url``."""
    b = _base(base_url)
    js = [("leaflet", f"{b}{LEAFLET}/leaflet.js"), ("townmap", f"{b}{TOWNMAP}/townmap.js")]
    css = [
        ("leaflet_css", f"{b}{LEAFLET}/leaflet.css"),
        ("townmap_css", f"{b}{TOWNMAP}/townmap.css"),
    ]
    return js, css


def draw_links(base_url: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(js, css) for folium's Draw plugin, from the vendored Leaflet.draw."""
    b = _base(base_url)
    return (
        [("leaflet_draw_js", f"{b}{LEAFLET_DRAW}/leaflet.draw.js")],
        [("leaflet_draw_css", f"{b}{LEAFLET_DRAW}/leaflet.draw.css")],
    )


def asset_files() -> list[Path]:
    """Every vendored file (for checks that nothing is missing from an install)."""
    return sorted(p for p in ASSET_DIR.rglob("*") if p.is_file())
