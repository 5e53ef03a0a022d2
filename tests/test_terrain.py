"""Hillshade from a DEM with known answers, and images that line up with the rivers."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from PIL import Image
from pyproj import Transformer
from rasterio.transform import rowcol

from townmap.crs import gauss_kruger_params
from townmap.errors import CRSError
from townmap.render.terrain import _to_mercator, hillshade, render_terrain


def test_flat_ground_gets_the_sine_of_the_sun_altitude():
    flat = np.zeros((20, 20))
    assert hillshade(flat, 10.0, altitude=45) == pytest.approx(np.full((20, 20), np.sqrt(0.5)))
    assert hillshade(flat, 10.0, altitude=90) == pytest.approx(np.ones((20, 20)))


def test_slopes_facing_the_sun_are_brighter_than_slopes_facing_away():
    x = np.arange(50, dtype=float)
    plane_west_up = np.tile(50.0 - x, (50, 1))  # high in the west: faces east
    plane_east_up = np.tile(x, (50, 1))  # high in the east: faces west
    sun_west = dict(azimuth=270.0, altitude=30.0)
    assert (
        hillshade(plane_east_up, 1.0, **sun_west).mean()
        > hillshade(plane_west_up, 1.0, **sun_west).mean()
    )
    # a 45° slope facing the sun at 45° altitude is lit head-on
    facing = np.tile(x, (50, 1))  # rises to the east, faces west
    lit = hillshade(facing, 1.0, azimuth=270.0, altitude=45.0)
    assert lit[5:-5, 5:-5] == pytest.approx(1.0, abs=1e-9)


def test_terrain_images_line_up_with_the_rivers(demo_ws, tmp_path):
    images = render_terrain(demo_ws.raster_path("dem"), tmp_path)
    assert images.hillshade.is_file() and images.elevation.is_file()
    (south, west), (north, east) = images.bounds
    assert 119.8 < west < east < 120.1 and 31.2 < south < north < 31.6
    with rasterio.open(demo_ws.raster_path("dem")) as src:
        z = src.read(1).astype("float64")
        z_m, transform, _ = _to_mercator(z, src)
    shade = np.asarray(Image.open(images.hillshade))
    assert shade.shape[:2] == z_m.shape
    # sample the Web Mercator elevation along each river and 300 m beside it: valleys
    to_m = Transformer.from_crs(4549, 3857, always_xy=True)
    rivers = demo_ws.read_layer("rivers")
    for _, river in rivers[rivers["flows_into_lake"]].iterrows():
        line = river.geometry
        on, side = [], []
        for d in np.linspace(0.15, 0.6, 8) * line.length:
            p, a, b = line.interpolate(d), line.interpolate(d - 20), line.interpolate(d + 20)
            nx, ny = -(b.y - a.y), b.x - a.x
            n = np.hypot(nx, ny)
            on.append(to_m.transform(p.x, p.y))
            side.append(to_m.transform(p.x + 300 * nx / n, p.y + 300 * ny / n))
        r1, c1 = rowcol(transform, *zip(*on, strict=True))
        r2, c2 = rowcol(transform, *zip(*side, strict=True))
        assert (z_m[r1, c1] < z_m[r2, c2]).mean() >= 0.75, river["river_id"]
    again = render_terrain(demo_ws.raster_path("dem"), tmp_path)
    assert again == images  # cached by the DEM's identity


def test_a_dem_without_projected_crs_is_refused(tmp_path):
    path = tmp_path / "geo.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=4,
        height=4,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=rasterio.transform.from_origin(120, 31, 0.1, 0.1),
    ) as dst:
        dst.write(np.zeros((4, 4), dtype="float32"), 1)
    with pytest.raises(CRSError, match="projected"):
        render_terrain(path, tmp_path / "out")


def test_gauss_kruger_parameters_for_the_cursor_readout():
    assert gauss_kruger_params(4549, 120.0)["cm"] == 120.0
    assert gauss_kruger_params(4528, 120.0)["falseEasting"] == 40_500_000.0
    assert gauss_kruger_params(4326, 117.1)["cm"] == 117.0
