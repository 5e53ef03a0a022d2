"""GCJ-02 and BD-09 ⇄ WGS 84, for points copied from Chinese web maps.

AMap, Tencent and most Chinese web maps publish GCJ-02 ("Mars") coordinates, offset from
WGS 84 by a few hundred metres by a published obfuscation formula; Baidu adds a further
BD-09 shift. The forward formulas below are the widely reproduced public ones; the inverse
is found by fixed-point iteration. Accuracy: the iteration recovers WGS 84 to about 1e-7°
(~1 cm) of what the forward formula implies; the formula itself is an approximation of
the official one, so treat corrected points as good to about a metre — fine for siting,
not for surveying. Outside mainland China no shift is applied (as the web maps do).
"""

from __future__ import annotations

import numpy as np

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by the GCJ-02 formula
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0
#: stated accuracy of a corrected position, metres (see the module docstring)
ACCURACY_M = 1.0


def in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The rough mainland box where web maps apply the shift."""
    return (lon > 72.004) & (lon < 137.8347) & (lat > 0.8293) & (lat < 55.8271)


def _delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = lon - 105.0, lat - 35.0
    dlat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    rad = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    return dlon, dlat


def _arrays(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    if lon.shape != lat.shape:
        raise ValueError("longitude and latitude arrays differ in length")
    return lon, lat


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = _arrays(lon, lat)
    dlon, dlat = _delta(lon, lat)
    inside = in_china(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def gcj02_to_wgs84(lon, lat, iterations: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Invert the GCJ-02 shift by fixed-point iteration (converges to ~1e-9° here)."""
    lon, lat = _arrays(lon, lat)
    wlon, wlat = lon.copy(), lat.copy()
    for _ in range(iterations):
        glon, glat = wgs84_to_gcj02(wlon, wlat)
        wlon, wlat = wlon - (glon - lon), wlat - (glat - lat)
    return wlon, wlat


def gcj02_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = _arrays(lon, lat)
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon, lat, iterations: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The published closed-form inverse (≈0.1 m off), refined by fixed-point iteration."""
    lon, lat = _arrays(lon, lat)
    x, y = lon - 0.0065, lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    glon, glat = z * np.cos(theta), z * np.sin(theta)
    for _ in range(iterations):
        blon, blat = gcj02_to_bd09(glon, glat)
        glon, glat = glon - (blon - lon), glat - (blat - lat)
    return glon, glat


def bd09_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def wgs84_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def to_wgs84(lon, lat, datum: str) -> tuple[np.ndarray, np.ndarray]:
    """Correct web-map coordinates: ``datum`` is ``gcj02`` or ``bd09``."""
    if datum == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if datum == "bd09":
        return bd09_to_wgs84(lon, lat)
    raise ValueError(f"datum must be 'gcj02' or 'bd09', not {datum!r}")


def from_wgs84(lon, lat, datum: str) -> tuple[np.ndarray, np.ndarray]:
    """Web-map coordinates from WGS 84 (for handing points back to AMap or Baidu users):
    ``datum`` is ``gcj02`` or ``bd09``; the inverse of ``to_wgs84``."""
    if datum == "gcj02":
        return wgs84_to_gcj02(lon, lat)
    if datum == "bd09":
        return wgs84_to_bd09(lon, lat)
    raise ValueError(f"datum must be 'gcj02' or 'bd09', not {datum!r}")
