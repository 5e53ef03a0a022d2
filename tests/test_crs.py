"""CRS choices: the right CGCS2000 Gauss–Krüger zone, never degrees for measuring."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import Point

from townmap import crs
from townmap.errors import CRSError


@pytest.mark.parametrize(
    ("lon", "cm", "epsg", "epsg_prefixed"),
    [
        (119.95, 120, 4549, 4528),
        (120.6, 120, 4549, 4528),
        (118.9, 120, 4549, 4528),
        (117.2, 117, 4548, 4527),
        (75.0, 75, 4534, 4513),
        (135.0, 135, 4554, 4533),
    ],
)
def test_gk3_zone_for_longitude(lon, cm, epsg, epsg_prefixed):
    assert crs.gk3_central_meridian(lon) == cm
    assert crs.gk3_crs(lon).to_epsg() == epsg
    assert crs.gk3_crs(lon, zone_prefix=True).to_epsg() == epsg_prefixed
    assert f"{cm}E" in crs.gk3_crs(lon).name or f"zone {cm // 3}" in crs.gk3_crs(lon).name


def test_gk6_zone_for_lake_tai():
    assert crs.gk6_crs(120.0).name == "CGCS2000 / Gauss-Kruger CM 123E"
    assert crs.gk6_crs(120.0, zone_prefix=True).name == "CGCS2000 / Gauss-Kruger zone 21"


@pytest.mark.parametrize("lon", [10.0, 140.0, float("nan"), 200.0])
def test_longitudes_outside_china_are_refused(lon):
    with pytest.raises(CRSError):
        crs.gk3_crs(lon)


def test_metric_crs_chosen_from_geographic_data():
    pts = gpd.GeoDataFrame(geometry=[Point(119.9, 31.4), Point(120.0, 31.45)], crs=4326)
    assert crs.metric_crs_for(pts).to_epsg() == 4549
    metric = crs.to_metric(pts)
    # 0.1° of longitude at 31.4 N is about 9.5 km, measured in metres, not degrees
    assert 9_000 < metric.geometry.iloc[0].distance(metric.geometry.iloc[1]) < 12_000


def test_metric_data_keeps_its_crs_and_display_is_wgs84():
    pts = gpd.GeoDataFrame(geometry=[Point(495_000, 3_475_000)], crs=4549)
    assert crs.to_metric(pts) is pts
    shown = crs.to_display(pts)
    assert shown.crs.to_epsg() == 4326
    lon, lat = shown.geometry.iloc[0].x, shown.geometry.iloc[0].y
    assert 119.9 < lon < 120.0 and 31.3 < lat < 31.5


def test_missing_crs_is_an_error_not_a_guess():
    pts = gpd.GeoDataFrame(geometry=[Point(1, 1)])
    with pytest.raises(CRSError, match="no coordinate reference system"):
        crs.to_display(pts)
    with pytest.raises(CRSError):
        crs.metric_crs_for(pts)


def test_is_metric_and_describe():
    assert crs.is_metric(crs.DEMO_CRS)
    assert not crs.is_metric(crs.CGCS2000)
    assert not crs.is_metric(None)
    assert crs.describe(crs.DEMO_CRS).startswith("EPSG:4549 CGCS2000")
    assert crs.describe(None) == "no CRS"
