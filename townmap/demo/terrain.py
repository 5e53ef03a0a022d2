"""The demo DEM: hills in the west, a plain falling gently to Lake Tai, a low divide in the
north beyond which the land drains to the Yangtze canal, and valleys cut along the vector
rivers so the terrain and the river layer agree (beds fall monotonically to the mouth).
"""

from __future__ import annotations

import numpy as np
from rasterio.features import rasterize
from rasterio.transform import from_origin, rowcol
from scipy import ndimage
from shapely.geometry import LineString

from townmap.demo.geography import DIVIDE_Y, FRAME, LAKE_LEVEL, Geography

CELL = 20.0  # metres
NODATA = -9999.0


def _fractal_noise(
    rng: np.random.Generator, shape: tuple[int, int], octaves: int = 5
) -> np.ndarray:
    """Smooth value noise in [-1, 1]: random grids upsampled with cubic splines."""
    out = np.zeros(shape)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        n = 4 * 2**o
        grid = rng.uniform(-1, 1, (n + 1, n + 1))
        out += (
            amp
            * ndimage.zoom(grid, (shape[0] / (n + 1), shape[1] / (n + 1)), order=3)[
                : shape[0], : shape[1]
            ]
        )
        total += amp
        amp *= 0.5
    return out / total


def _river_bed(elev: np.ndarray, line: LineString, transform, floor: float) -> list[tuple]:
    """Cells along a river with a bed elevation that only falls downstream."""
    n = max(int(line.length / (CELL / 2)), 2)
    pts = [line.interpolate(d) for d in np.linspace(0, line.length, n)]
    rows, cols = rowcol(transform, [p.x for p in pts], [p.y for p in pts])
    cells, beds = [], []
    for r, c in zip(rows, cols, strict=True):
        if 0 <= r < elev.shape[0] and 0 <= c < elev.shape[1]:
            cells.append((int(r), int(c)))
            beds.append(elev[r, c] - 2.0)
    if not beds:
        return []
    beds = np.minimum.accumulate(np.asarray(beds))
    grade = np.linspace(len(beds) * 0.002, 0, len(beds))  # keep a small fall on the flats
    beds = np.maximum(beds, floor + grade)
    beds = np.minimum.accumulate(beds)
    return [(r, c, b) for (r, c), b in zip(cells, beds, strict=True)]


def build_dem(rng: np.random.Generator, geo: Geography) -> tuple[np.ndarray, object]:
    """Elevation (float32, metres) and its affine transform in the demo CRS."""
    minx, miny, maxx, maxy = FRAME
    width, height = int((maxx - minx) / CELL), int((maxy - miny) / CELL)
    transform = from_origin(minx, maxy, CELL, CELL)
    xs = minx + (np.arange(width) + 0.5) * CELL
    ys = maxy - (np.arange(height) + 0.5) * CELL
    x, y = np.meshgrid(xs, ys)

    lake = rasterize([(geo.lake, 1)], out_shape=(height, width), transform=transform) == 1
    dist_lake = ndimage.distance_transform_edt(~lake) * CELL
    noise = _fractal_noise(rng, (height, width))
    plain = LAKE_LEVEL + 0.8 + 0.00042 * dist_lake + 0.6 * noise
    # the north: a low divide, then a gentle fall towards the Yangtze
    north = y > DIVIDE_Y
    plain = plain + 1.8 * np.exp(-(((y - DIVIDE_Y) / 500.0) ** 2))
    plain = np.where(north, plain - 0.0006 * (y - DIVIDE_Y), plain)
    hills = 290 / (1 + np.exp((x - 487_600) / 700.0)) * (0.65 + 0.35 * noise)
    knoll = 45 * np.exp(-(((x - 491_500) / 700) ** 2 + ((y - 3_470_200) / 500) ** 2))
    elev = plain + hills + knoll

    for rid, line in geo.rivers.items():
        floor = LAKE_LEVEL if rid != "R05" else 1.0
        bed = _river_bed(elev, line, transform, floor)
        if not bed:
            continue
        mask = np.ones_like(elev, dtype=bool)
        bed_grid = np.full(elev.shape, np.nan)
        for r, c, b in bed:
            mask[r, c] = False
            bed_grid[r, c] = b if np.isnan(bed_grid[r, c]) else min(bed_grid[r, c], b)
        dist, (ir, ic) = ndimage.distance_transform_edt(mask, return_indices=True)
        dist = dist * CELL
        side = np.where(hills > 20, 0.10, 0.03)
        valley = bed_grid[ir, ic] + side * np.maximum(dist - CELL, 0)
        elev = np.where(dist < 4_000, np.minimum(elev, valley), elev)
    elev = np.where(lake, LAKE_LEVEL, elev)
    return elev.astype("float32"), transform
