"""Hydrology on synthetic DEMs with known answers, and on the demo town."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from shapely.geometry import LineString, Point, box

from townmap.analysis.hydrology import LAKE, OUTSIDE, YANGTZE, drainage, summarise_catchments
from townmap.cli import main

CRS = "EPSG:4549"
CELL = 10.0


def _plane(rows=6, cols=8):
    _, c = np.mgrid[0:rows, 0:cols]
    return (100.0 - c).astype("float32"), Affine(CELL, 0, 0, 0, -CELL, rows * CELL)


def test_a_plane_tilted_east_drains_each_row_straight_to_the_east_edge():
    z, tr = _plane()
    flow = drainage(z, tr, CRS)
    d8 = flow.flw.to_array("d8")
    assert (d8[:, :-1] == 1).all()  # 1 = east
    assert (d8[:, -1] == 0).all()  # the east edge: every cell its own outlet
    area = flow.catchment(45, 25)  # row 3, column 4: the five cells west of it, itself
    assert area.area == pytest.approx(5 * CELL * CELL)
    assert area.bounds == pytest.approx((0, 20, 50, 30))
    outlets = flow.outlet_of([5, 5, 75], [55, 5, 35])
    assert list(np.divmod(outlets, 8)[0]) == [0, 5, 2] and (np.divmod(outlets, 8)[1] == 7).all()
    acc = flow.accumulation_km2()
    assert acc[0, -1] == pytest.approx(8 * CELL * CELL / 1e6)


def test_a_cone_drains_outwards_into_its_four_corners():
    n = 21
    r, c = np.mgrid[0:n, 0:n]
    z = 100 - np.hypot(r - 10, c - 10)
    flow = drainage(z, Affine(CELL, 0, 0, 0, -CELL, n * CELL), CRS)
    d8 = flow.flw.to_array("d8")
    steps = {1: (0, 1), 2: (1, 1), 4: (1, 0), 8: (1, -1), 16: (0, -1), 32: (-1, -1), 64: (-1, 0),
             128: (-1, 1)}  # fmt: skip
    for (row, col), code in np.ndenumerate(d8):
        if code in steps:  # every step leads away from the peak (or along an edge)
            dr, dc = steps[code]
            assert dr * (row - 10) + dc * (col - 10) >= 0
    acc = flow.flw.upstream_area("cell")
    assert acc[10, 10] == 1  # nothing drains onto the peak
    pits = set(map(tuple, np.column_stack(np.divmod(flow.flw.idxs_pit, n))))
    assert pits == {(0, 0), (0, n - 1), (n - 1, 0), (n - 1, n - 1)}
    assert acc.sum() > 0 and acc.max() >= (n // 2) ** 2


def test_a_pit_inside_a_plane_is_filled_and_drains_on():
    z, tr = _plane(10, 10)
    z[5, 5] = 50.0  # a sink far below its neighbours
    flow = drainage(z, tr, CRS)
    pits = np.column_stack(np.divmod(flow.flw.idxs_pit, 10))
    assert (pits[:, 1] == 9).all()  # only the east edge holds outlets


def test_lake_cells_are_outlets_and_rivers_give_their_basin():
    z, tr = _plane(6, 10)
    lake = gpd.GeoDataFrame(geometry=[box(80, 0, 100, 60)], crs=CRS)
    canal = gpd.GeoDataFrame(
        {"basin": ["yangtze"]}, geometry=[LineString([(0, 5), (30, 5)])], crs=CRS
    )
    flow = drainage(z, tr, CRS, lake=lake)
    assert np.isnan(flow.filled[:, 8:]).all()
    outlets = flow.outlet_of([5], [35])
    assert flow.drains_to(outlets)[0] == LAKE
    # a west-flowing plane 200 m tall: outlets on the west edge, the southern one on the canal
    tall, tall_tr = _plane(20, 10)
    west = drainage(tall[:, ::-1].copy(), tall_tr, CRS, rivers=canal, burn_m=0)
    kinds = west.drains_to(west.outlet_of([95, 95], [5, 195]))
    assert list(kinds) == [YANGTZE, OUTSIDE]


def test_bad_dems_are_refused():
    z, tr = _plane()
    with pytest.raises(ValueError, match="projected"):
        drainage(z, tr, "EPSG:4326")
    with pytest.raises(ValueError, match="square"):
        drainage(z, Affine(10, 0, 0, 0, -20, 0), CRS)


def test_catchments_carry_their_enterprises_and_loads():
    z, tr = _plane(6, 8)
    flow = drainage(z, tr, CRS)
    sheds = flow.catchments(min_area_km2=0)
    assert len(sheds) == 6 and sheds.geometry.area.sum() == pytest.approx(48 * CELL**2)
    tve = gpd.GeoDataFrame(
        {"cod_tpa": [1.0, 2.0, 4.0]},
        geometry=[Point(15, 55), Point(35, 55), Point(15, 5)],
        crs=CRS,
    )
    summary = summarise_catchments(sheds, tve, ("cod_tpa", "tp_tpa"))
    top = summary.set_index(summary["outlet_y"].round())
    assert top.loc[55, "tve_count"] == 2 and top.loc[55, "cod_tpa"] == pytest.approx(3.0)
    assert top.loc[5, "cod_tpa"] == pytest.approx(4.0) and summary["tp_tpa"].sum() == 0


def test_the_demo_town_drains_to_lake_tai_and_the_yangtze(demo_ws, tmp_path, capsys):
    sheds = demo_ws.read_layer("catchments")
    assert {"taihu", "yangtze"} <= set(sheds["drains_to"])
    assert sheds["tve_count"].sum() <= len(demo_ws.read_layer("enterprises"))
    assert sheds.loc[sheds["drains_to"] == "taihu", "tve_count"].sum() > 500
    outlets = demo_ws.read_table("enterprise_outlets")
    tve = demo_ws.read_layer("enterprises")
    assert sorted(outlets["ent_id"]) == sorted(tve["ent_id"])
    assert set(outlets["drains_to"]) <= {"taihu", "yangtze", "outside"}
    stations = demo_ws.read_layer("monitoring_stations").to_crs(4326)
    lon, lat = stations.geometry.iloc[0].x, stations.geometry.iloc[0].y
    out = tmp_path / "c.gpkg"
    args = ["catchment", "--workspace", str(demo_ws.folder), "--lon", str(lon), "--lat", str(lat)]
    assert main([*args, "--out", str(out)]) == 0
    assert "upstream area" in capsys.readouterr().out
    assert gpd.read_file(out).geometry.iloc[0].area > 0
    assert (
        main(["catchment", "--workspace", str(demo_ws.folder), "--lon", "100", "--lat", "20"]) == 2
    )


def test_the_compiled_d8_follows_the_same_rule_as_the_array_version():
    import pyflwdir.dem
    from scipy import ndimage

    from townmap.analysis.hydrology import steepest_d8, steepest_d8_numpy

    rng = np.random.default_rng(1)
    z = ndimage.gaussian_filter(rng.normal(size=(120, 150)), 3) * 100
    z[:, :2] = np.nan  # nodata along an edge and a hole inside
    z[40:55, 60:80] = np.nan
    filled, fill_d8 = pyflwdir.dem.fill_depressions(np.where(np.isnan(z), -9999, z), nodata=-9999)
    filled = np.where(np.isnan(z), np.nan, filled)
    compiled = steepest_d8(filled, fill_d8, 20.0)
    assert (compiled == steepest_d8_numpy(filled, fill_d8, 20.0)).all()
    assert (compiled[np.isnan(z)] == 247).all()
