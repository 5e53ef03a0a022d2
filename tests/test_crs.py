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


def _gk_bounds(epsg: int) -> tuple[float, float, float, float]:
    from pyproj import Transformer

    t = Transformer.from_crs(4326, epsg, always_xy=True)
    return t.transform_bounds(119.87, 31.33, 120.02, 31.48)


def test_degrees_propose_wgs84_and_cgcs2000():
    cands = crs.propose_crs((119.87, 31.33, 120.02, 31.48))
    assert [c.crs.to_epsg() for c in cands] == [4326, 4490]


def test_swapped_degrees_are_recognised():
    cands = crs.propose_crs((31.33, 119.87, 31.48, 120.02))
    assert len(cands) == 1 and "swapped" in cands[0].reason
    assert cands[0].lonlat_bounds[0] == pytest.approx(119.87)


@pytest.mark.parametrize(("epsg", "words"), [(4528, "3-degree"), (4498, "6-degree")])
def test_zone_prefix_names_the_zone_exactly(epsg, words):
    cands = crs.propose_crs(_gk_bounds(epsg))
    assert [c.crs.to_epsg() for c in cands] == [epsg]
    assert words in cands[0].reason
    minx, _miny, _maxx, maxy = cands[0].lonlat_bounds
    # the right place (a wrong zone would be hundreds of km away)
    assert minx == pytest.approx(119.87, abs=0.01) and maxy == pytest.approx(31.48, abs=0.01)


def test_plain_eastings_need_the_place_and_offer_neighbouring_zones():
    bounds = _gk_bounds(4549)
    assert crs.propose_crs(bounds) == []  # ambiguous without a hint: nothing is guessed
    cands = crs.propose_crs(bounds, hint_lon=119.95)
    codes = [c.crs.to_epsg() for c in cands]
    # 3° and 6° zones with the same central meridian are the same projection: listed once
    assert codes[0] == 4549 and ({4548, 4509} & set(codes)) and 4550 in codes
    assert len({c.crs.to_wkt() for c in cands}) == len(cands)
    right = cands[0].lonlat_bounds
    assert right[0] == pytest.approx(119.87, abs=1e-3)


@pytest.mark.parametrize(
    "bounds", [(1e7, 1e7, 2e7, 2e7), (-5e5, 3e6, 5e5, 4e6), (0.0, 0.0, 1.0, 1.0)]
)
def test_implausible_coordinates_get_no_candidate(bounds):
    assert crs.propose_crs(bounds, hint_lon=120.0) == []


def test_missing_coordinates_are_an_error():
    with pytest.raises(CRSError):
        crs.propose_crs((float("nan"),) * 4)
