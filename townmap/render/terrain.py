"""The DEM as map images the app serves itself: a hillshade basemap and elevation colours.

The hillshade is computed on the DEM's own metric grid (true ground distances), then the
image is reprojected to Web Mercator, because Leaflet stretches an image overlay linearly
between its corner coordinates in that projection; an image left in Gauss–Krüger or
lat/lon would drift away from the rivers towards its edges.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from PIL import Image
from pyproj import Transformer
from rasterio.enums import Resampling
from rasterio.warp import calculate_default_transform, reproject

from townmap.errors import CRSError

WEB_MERCATOR = "EPSG:3857"
_VERSION = "2"
#: hypsometric ramp: (elevation m, RGB)
_RAMP = [
    (0, (44, 123, 182)),
    (3.5, (171, 221, 164)),
    (15, (255, 255, 191)),
    (60, (253, 174, 97)),
    (150, (166, 97, 26)),
    (300, (245, 245, 245)),
]


@dataclass(frozen=True)
class TerrainImages:
    hillshade: Path
    elevation: Path
    #: ((south, west), (north, east)) in WGS 84, as Leaflet wants them
    bounds: tuple[tuple[float, float], tuple[float, float]]


def hillshade(
    z: np.ndarray,
    cell: float,
    azimuth: float = 315.0,
    altitude: float = 45.0,
    z_factor: float = 1.0,
) -> np.ndarray:
    """Illumination 0..1 of a grid with square cells of ``cell`` metres (north up)."""
    gy, gx = np.gradient(z.astype("float64"), cell)  # gy: towards the south (row order)
    slope = np.arctan(z_factor * np.hypot(gx, gy))
    aspect = np.arctan2(gy, -gx)
    zenith = np.radians(90.0 - altitude)
    az = np.radians(360.0 - azimuth + 90.0)
    shade = np.cos(zenith) * np.cos(slope) + np.sin(zenith) * np.sin(slope) * np.cos(az - aspect)
    return np.clip(shade, 0, 1)


def _colourise(z: np.ndarray) -> np.ndarray:
    stops = np.array([s for s, _ in _RAMP])
    rgb = np.stack([np.interp(z, stops, [c[i] for _, c in _RAMP]) for i in range(3)], axis=-1)
    return rgb.astype("uint8")


def _to_mercator(data: np.ndarray, src) -> tuple[np.ndarray, object, tuple]:
    transform, width, height = calculate_default_transform(
        src.crs, WEB_MERCATOR, src.width, src.height, *src.bounds
    )
    out = np.full((height, width), np.nan, dtype="float32")
    reproject(
        data.astype("float32"),
        out,
        src_transform=src.transform,
        src_crs=src.crs,
        dst_transform=transform,
        dst_crs=WEB_MERCATOR,
        resampling=Resampling.bilinear,
        src_nodata=np.nan,
        dst_nodata=np.nan,
    )
    west, north = transform * (0, 0)
    east, south = transform * (width, height)
    return out, transform, (west, south, east, north)


def render_terrain(dem_path: Path, out_dir: Path) -> TerrainImages:
    """Write (or reuse) the hillshade and elevation PNGs for a DEM; returns their bounds."""
    stat = dem_path.stat()
    tag = hashlib.sha256(
        f"{dem_path.resolve()}|{stat.st_mtime_ns}|{stat.st_size}|{_VERSION}".encode()
    ).hexdigest()[:16]
    out_dir.mkdir(parents=True, exist_ok=True)
    shade_path = out_dir / f"hillshade-{tag}.png"
    elev_path = out_dir / f"elevation-{tag}.png"
    with rasterio.open(dem_path) as src:
        if src.crs is None or not src.crs.is_projected:
            raise CRSError(f"{dem_path.name}: the DEM needs a projected CRS in metres")
        z = src.read(1, masked=True).filled(np.nan).astype("float64")
        shade = hillshade(np.nan_to_num(z, nan=np.nanmin(z)), abs(src.res[0]), z_factor=2.0)
        shade[np.isnan(z)] = np.nan
        shade_m, _, (west, south, east, north) = _to_mercator(shade, src)
        z_m, _, _ = _to_mercator(z, src)
    to_ll = Transformer.from_crs(WEB_MERCATOR, "EPSG:4326", always_xy=True)
    w, s = to_ll.transform(west, south)
    e, n = to_ll.transform(east, north)
    if not (shade_path.exists() and elev_path.exists()):
        valid = ~np.isnan(shade_m)
        grey = (255 * (0.45 + 0.55 * np.nan_to_num(shade_m, nan=1.0))).clip(0, 255).astype("uint8")
        rgba = np.dstack([grey, grey, grey, np.where(valid, 255, 0).astype("uint8")])
        Image.fromarray(rgba, "RGBA").save(shade_path, optimize=True)
        colours = _colourise(np.nan_to_num(z_m))
        alpha = np.where(~np.isnan(z_m), 255, 0).astype("uint8")
        Image.fromarray(np.dstack([colours, alpha]), "RGBA").save(elev_path, optimize=True)
    return TerrainImages(shade_path, elev_path, ((s, w), (n, e)))
