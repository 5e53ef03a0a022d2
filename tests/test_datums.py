"""GCJ-02 / BD-09 corrections: consistent, the right size near Lake Tai, none abroad."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

from townmap import datums

GEOD = Geod(ellps="WGS84")
RNG = np.random.default_rng(7)
LON = RNG.uniform(119.8, 120.6, 200)
LAT = RNG.uniform(30.9, 31.6, 200)


def _metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


def test_gcj02_shift_near_lake_tai_is_hundreds_of_metres():
    glon, glat = datums.wgs84_to_gcj02(LON, LAT)
    shift = _metres(LON, LAT, glon, glat)
    assert shift.min() > 200 and shift.max() < 900


@pytest.mark.parametrize(
    ("forward", "back"),
    [
        (datums.wgs84_to_gcj02, datums.gcj02_to_wgs84),
        (datums.wgs84_to_bd09, datums.bd09_to_wgs84),
    ],
)
def test_corrections_undo_the_shift_within_the_stated_accuracy(forward, back):
    slon, slat = forward(LON, LAT)
    wlon, wlat = back(slon, slat)
    assert _metres(LON, LAT, wlon, wlat).max() < datums.ACCURACY_M / 100


def test_bd09_adds_a_further_shift_over_gcj02():
    glon, glat = datums.wgs84_to_gcj02(LON, LAT)
    blon, blat = datums.gcj02_to_bd09(glon, glat)
    assert 300 < _metres(glon, glat, blon, blat).mean() < 1200
    back = datums.bd09_to_gcj02(blon, blat)
    assert _metres(glon, glat, *back).max() < 0.05


def test_no_shift_outside_china():
    lon, lat = np.array([2.35, -74.0, 151.2]), np.array([48.85, 40.7, -33.9])
    glon, glat = datums.wgs84_to_gcj02(lon, lat)
    assert np.array_equal(glon, lon) and np.array_equal(glat, lat)


def test_to_wgs84_names_the_allowed_datums():
    assert datums.to_wgs84([120.0], [31.4], "gcj02")[0].shape == (1,)
    with pytest.raises(ValueError, match="gcj02"):
        datums.to_wgs84([120.0], [31.4], "wgs84-ish")
    with pytest.raises(ValueError, match="differ in length"):
        datums.wgs84_to_gcj02([1, 2], [3])
