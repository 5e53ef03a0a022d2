"""GeoTIFF DEM import: checked, warped into the workspace CRS, logged, undoable, atomic."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin

from tests.helpers import fingerprint
from townmap.errors import UploadError
from townmap.io import raster_import
from townmap.io.importer import (
    IMPORT_LOG,
    ImportOptions,
    commit_import,
    plan_import,
    undo_last_import,
)
from townmap.store import Actor, Workspace, is_postgis

# a plane rising 1 m per 0.001° eastwards and 0.5 m per 0.001° northwards
WEST, NORTH, STEP = 119.90, 31.42, 0.0005


def _plane(lon, lat):
    return 10.0 + (lon - WEST) * 1000 + (lat - (NORTH - 0.05)) * 500


def _write(path, data, *, crs="EPSG:4326", transform=None, nodata=None, dtype="float32"):
    data = np.asarray(data)
    bands = data if data.ndim == 3 else data[None]
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=bands.shape[2],
        height=bands.shape[1],
        count=bands.shape[0],
        dtype=dtype,
        crs=crs,
        transform=transform or from_origin(WEST, NORTH, STEP, STEP),
        nodata=nodata,
    ) as dst:
        dst.write(bands.astype(dtype))
    return path


def _wgs84_dem(path):
    rows, cols = np.mgrid[0:100, 0:120]
    lon = WEST + (cols + 0.5) * STEP
    lat = NORTH - (rows + 0.5) * STEP
    z = _plane(lon, lat)
    z[0, 0] = -32768  # a declared nodata cell
    return _write(path, z, nodata=-32768)


@pytest.fixture
def ws(demo_copy, catalog) -> Workspace:
    """The demo on each back end: every raster import test runs on both."""
    demo_copy.catalog = catalog
    return demo_copy


def _snapshot(ws: Workspace) -> dict[str, str]:
    """Every raster byte for byte, and the rest of the workspace (its file, or a hash of
    everything a PostGIS schema holds)."""
    out = {
        f"{name}.tif": hashlib.sha256(ws.raster_path(name).read_bytes()).hexdigest()
        for name in ws.raster_names()
    }
    out["workspace"] = (
        hashlib.sha256(ws.gpkg.read_bytes()).hexdigest()
        if not is_postgis(ws.location)
        else fingerprint(ws)
    )
    return out


def test_a_wgs84_dem_is_stored_in_the_workspace_crs_with_its_heights(tmp_path, ws, catalog):
    plan = plan_import(_wgs84_dem(tmp_path / "dem.tif"), ImportOptions("dem"), catalog)
    assert plan.ok, plan.blocking
    assert plan.count == 120 * 100
    assert plan.value_range[0] > 0  # the nodata cell is not an elevation
    record = commit_import(ws.as_actor(Actor("tester")), plan)
    assert record["features"] == 12_000
    with rasterio.open(ws.raster_path("dem")) as src:
        assert src.crs.to_epsg() == 4549 and src.nodata == raster_import.NODATA
        assert src.res[0] == pytest.approx(src.res[1]) and 40 < src.res[0] < 60
        to_gk = Transformer.from_crs(4326, 4549, always_xy=True)
        x, y = to_gk.transform([119.92, 119.94, 119.93], [31.40, 31.39, 31.38])
        rows, cols = rasterio.transform.rowcol(src.transform, x, y)
        values = src.read(1)[rows, cols]
        cx, cy = rasterio.transform.xy(src.transform, rows, cols)  # centres of those cells
    lon, lat = to_gk.transform(cx, cy, direction="INVERSE")
    # bilinear resampling reproduces a plane: every stored cell is the plane at its centre
    assert values == pytest.approx(_plane(np.array(lon), np.array(lat)), abs=0.02)
    log = ws.read_table(IMPORT_LOG)
    assert log["layer_id"].iloc[-1] == "dem" and log["user"].iloc[-1] == "tester"


def test_undo_puts_the_previous_dem_back_byte_for_byte(tmp_path, ws, catalog):
    before = _snapshot(ws)
    plan = plan_import(_wgs84_dem(tmp_path / "dem.tif"), ImportOptions("dem"), catalog)
    commit_import(ws, plan)
    assert _snapshot(ws)["dem.tif"] != before["dem.tif"]
    assert "townmap_prev_dem" not in ws.layer_names()
    undo_last_import(ws)
    after = _snapshot(ws)
    assert after["dem.tif"] == before["dem.tif"]
    assert "townmap_prev_dem.tif" not in after


def test_a_failed_raster_commit_leaves_the_workspace_as_it_was(tmp_path, ws, catalog, monkeypatch):
    plan = plan_import(_wgs84_dem(tmp_path / "dem.tif"), ImportOptions("dem"), catalog)
    before = _snapshot(ws)

    def broken(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("townmap.io.importer.warp_into", broken)
    with pytest.raises(OSError):
        commit_import(ws, plan)
    assert _snapshot(ws) == before
    if not is_postgis(ws.location):
        assert not list(ws.folder.glob(".*tx-*")) and not list(ws.raster_folder.glob(".*"))


def test_a_dem_without_crs_gets_candidates_and_takes_a_chosen_one(tmp_path, catalog):
    path = _write(
        tmp_path / "nocrs.tif",
        np.full((20, 20), 3.0),
        crs=None,
        transform=from_origin(490_000, 3_480_000, 20, 20),
    )
    with pytest.raises(UploadError, match="EPSG:4549"):
        plan_import(path, ImportOptions("dem"), catalog, hint_lon=119.9)
    plan = plan_import(path, ImportOptions("dem", crs="EPSG:4549"), catalog)
    assert plan.ok and plan.crs.to_epsg() == 4549


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: _write(p, np.zeros((3, 10, 10)), dtype="uint8"), "picture, not elevations"),
        (lambda p: p.write_bytes(_wgs84_dem(p).read_bytes()[:600]) and p, "truncated|could not"),
        (lambda p: p.write_bytes(b"<html>not a tiff</html>") and p, "could not be read"),
        (lambda p: _write(p, np.full((5, 5), -32768.0)), None),  # undeclared nodata: blocks
        (lambda p: _write(p, np.full((5, 5), -9999.0), nodata=-9999), "no elevation values"),
    ],
)
def test_bad_geotiffs_are_refused_in_one_line(tmp_path, catalog, make, words):
    path = tmp_path / "bad.tif"
    make(path)
    if words is None:
        plan = plan_import(path, ImportOptions("dem"), catalog)
        assert not plan.ok and "not metres" in plan.blocking[0]
        return
    with pytest.raises(UploadError, match=words) as err:
        plan_import(path, ImportOptions("dem"), catalog)
    assert "\n" not in str(err.value)


def test_raster_limits_and_wrong_kinds(tmp_path, catalog, monkeypatch):
    dem = _wgs84_dem(tmp_path / "dem.tif")
    monkeypatch.setattr(raster_import, "MAX_CELLS", 1000)
    with pytest.raises(UploadError, match="12,000 cells; the limit is 1,000"):
        plan_import(dem, ImportOptions("dem"), catalog)
    with pytest.raises(UploadError, match="not to a raster"):
        plan_import(dem, ImportOptions("dem", datum="gcj02"), catalog)
    csv = tmp_path / "x.csv"
    csv.write_text("a,b\n1,2\n")
    with pytest.raises(UploadError, match="upload a GeoTIFF"):
        plan_import(csv, ImportOptions("dem"), catalog)
    with pytest.raises(UploadError, match="is a raster"):
        plan_import(dem, ImportOptions("enterprises"), catalog)
