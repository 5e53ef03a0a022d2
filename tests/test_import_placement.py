"""Where imported data lands: refused outside the workspace CRS's area, flagged far from
the town, hinted when it comes from a Chinese web map, warned when a DEM does not suit
the town — and the catchment command's one-line answer for a point off the DEM."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import Transformer
from shapely.geometry import LineString, Point, box

from townmap.analysis.hydrology import drainage
from townmap.cli import main
from townmap.crs import DEMO_CRS
from townmap.datums import wgs84_to_bd09, wgs84_to_gcj02
from townmap.io.placement import (
    FAR_M,
    RasterFootprint,
    check_dem,
    check_extent,
    datum_offset_m,
    raster_footprint,
    web_map_hint,
)
from townmap.io.readers import read_file

#: the demo town's box in EPSG:4549 (22 × 22 km on the Lake Tai shore near 120°E)
TOWN = (484_000.0, 3_464_000.0, 506_000.0, 3_486_000.0)
TO_WS = Transformer.from_crs(4326, DEMO_CRS, always_xy=True)


def feature(i: int) -> str:
    return f"feature {i + 1}"


def _points(lonlat: list[tuple[float, float]], crs=DEMO_CRS) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(
        {"name": [f"p{i}" for i in range(len(lonlat))]},
        geometry=gpd.points_from_xy(*zip(*lonlat, strict=True)),
        crs=4326,
    )
    return frame.to_crs(crs)


# ------------------------------------------------------------------- extents

JIANGSU = [(119.95, 31.38), (120.00, 31.40), (119.90, 31.42)]
NEW_YORK, NULL_ISLAND, QINGHAI, NANJING = (
    (-74.006, 40.713),
    (0.0, 0.0),
    (96.0, 36.0),
    (
        118.78,
        32.06,
    ),
)


def test_points_in_new_york_at_zero_zero_and_in_qinghai_are_refused_in_a_jiangsu_workspace():
    frame = _points([*JIANGSU, NEW_YORK, NULL_ISLAND, QINGHAI, NANJING])
    report = check_extent(frame, DEMO_CRS, box(*TOWN), feature)

    assert report.refused_rows == [3, 4, 5]
    assert [p.split(":")[0] for p in report.problems] == ["feature 4", "feature 5", "feature 6"]
    assert "74.01°W 40.71°N, outside China" in report.problems[0]
    assert "0°/0° (missing coordinates written as zeros?)" in report.problems[1]
    assert "96.00°E 36.00°N" in report.problems[2]
    assert all("EPSG:4549" in p and p.endswith("row refused") for p in report.problems)
    # Nanjing is inside the zone the CRS is made for, but 150 km from the town: kept, flagged
    assert report.outside_rows == [6]
    assert len(report.warnings) == 1
    warning = report.warnings[0]
    assert warning.startswith("1 feature(s) lie far outside the town (more than 50 km")
    assert "feature 7 at 118.78°E 32.06°N" in warning


def test_a_line_with_one_vertex_at_zero_zero_is_refused():
    # a classic: one vertex lost its coordinates and was written as 0, 0
    good = [TO_WS.transform(120.0, 31.4), TO_WS.transform(120.01, 31.41)]
    frame = gpd.GeoDataFrame(
        geometry=[LineString(good), LineString([*good, TO_WS.transform(0, 0)])], crs=DEMO_CRS
    )
    report = check_extent(frame, DEMO_CRS, box(*TOWN), feature)
    assert report.refused_rows == [1] and "0°/0°" in report.problems[0]
    assert report.outside_rows == []


def test_a_lake_reaching_far_beyond_the_town_but_touching_it_is_not_flagged():
    lake = box(TOWN[0] - 70_000, TOWN[1], TOWN[0] + 1_000, TOWN[3])  # Lake Tai is 70 km wide
    far = box(TOWN[2] + FAR_M + 1_000, TOWN[1], TOWN[2] + FAR_M + 2_000, TOWN[1] + 1_000)
    frame = gpd.GeoDataFrame(geometry=[lake, far], crs=DEMO_CRS)
    report = check_extent(frame, DEMO_CRS, box(*TOWN), feature)
    assert report.refused_rows == [] and report.outside_rows == [1]


def test_without_a_town_the_rest_of_the_data_is_the_reference():
    # a CGCS2000 geographic workspace covers all China: Qinghai is not refused, but it
    # lies far from every other point of a Jiangsu dataset
    frame = _points([*JIANGSU, (120.02, 31.37), QINGHAI, NULL_ISLAND], crs=4490)
    report = check_extent(frame, 4490, None, lambda i: f"row {i + 2}")
    assert report.refused_rows == [5]
    assert report.outside_rows == [4]
    assert "far outside the rest of the data" in report.warnings[0]
    assert "row 6 at 96.00°E 36.00°N" in report.warnings[0]


def test_many_far_features_are_counted_after_the_first_ten():
    frame = _points(JIANGSU * 5 + [NANJING] * 12)
    report = check_extent(frame, DEMO_CRS, box(*TOWN), feature)
    assert len(report.outside_rows) == 12
    assert report.warnings[0].startswith("12 feature(s) lie far outside the town")
    assert report.warnings[0].endswith("… and 2 more")


def test_empty_frames_and_crs_without_an_area_of_use():
    empty = gpd.GeoDataFrame(geometry=[], crs=DEMO_CRS)
    assert check_extent(empty, DEMO_CRS, box(*TOWN), feature).problems == []
    custom = "+proj=tmerc +lon_0=120 +ellps=GRS80 +units=m +no_defs"
    frame = _points(JIANGSU, crs=custom)
    report = check_extent(frame, custom, None, feature)
    assert report.refused_rows == [] and "declares no area of use" in report.notes[0]


# --------------------------------------------------------------- web-map data

AMAP_CSV = (
    "id,name,type,typecode,address,pname,cityname,adname,adcode,lng,lat\n"
    "B0FFG1,太滨镇卫生院,医疗保健服务;医院,090100,滨湖路8号,江苏省,无锡市,滨湖区,320211,{0},{1}\n"
    "B0FFG2,太滨中学,科教文化服务;学校,141202,太湖大道12号,江苏省,无锡市,滨湖区,320211,{2},{3}\n"
)


def test_an_amap_poi_export_gets_a_gcj02_hint_with_the_local_offset(tmp_path):
    true_lon, true_lat = np.array([119.95, 119.97]), np.array([31.40, 31.39])
    glon, glat = wgs84_to_gcj02(true_lon, true_lat)
    path = tmp_path / "amap_poi.csv"
    path.write_text(AMAP_CSV.format(glon[0], glat[0], glon[1], glat[1]), encoding="utf-8")
    raw = read_file(path).frame
    frame = gpd.GeoDataFrame(
        raw,
        geometry=gpd.points_from_xy(raw["lng"].astype(float), raw["lat"].astype(float)),
        crs=4326,
    )
    hint = web_map_hint(list(raw.columns), "", frame)
    assert hint is not None and "\n" not in hint
    assert "'typecode', 'pname', 'cityname'" in hint and "GCJ-02" in hint
    assert "--datum gcj02" in hint and "web-map datum correction 'GCJ-02'" in hint
    offset = datum_offset_m(frame)
    truth = gpd.GeoSeries(shapely.points(true_lon, true_lat), crs=4326).to_crs(DEMO_CRS)
    assert offset == pytest.approx(frame.to_crs(DEMO_CRS).distance(truth).median(), rel=0.01)
    assert 400 < offset < 700 and f"about {offset:,.0f} m off" in hint


def test_baidu_signs_suggest_bd09_and_its_larger_shift():
    blon, blat = wgs84_to_bd09([119.95], [31.40])
    frame = gpd.GeoDataFrame(geometry=[Point(blon[0], blat[0])], crs=4326)
    hint = web_map_hint(["name", "bd_lng", "bd_lat"], "", frame)
    assert "--datum bd09" in hint and "BD-09" in hint
    text_hint = web_map_hint(["名称"], "坐标拾取自百度地图", frame)
    assert "--datum bd09" in text_hint and "'百度'" in text_hint
    assert datum_offset_m(frame, "bd09") > datum_offset_m(frame, "gcj02") + 300


def test_ordinary_data_and_data_outside_china_get_no_hint():
    jiangsu = _points(JIANGSU, crs=4326)
    assert (
        web_map_hint(["station_id", "name", "code", "bdry_type"], "field survey", jiangsu) is None
    )
    paris = _points([(2.35, 48.85)], crs=4326)
    assert web_map_hint(["adcode", "pname"], "amap", paris) is None
    assert datum_offset_m(paris) is None
    assert datum_offset_m(jiangsu[:0]) is None
    # the hint reads a frame in any CRS (the importer may hold it in the workspace CRS)
    assert web_map_hint(["gcj_x", "gcj_y"], "", jiangsu.to_crs(DEMO_CRS)) is not None


# ------------------------------------------------------------------------ DEMs


def _tif(path, crs, transform, shape, value=10.0):
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=shape[1],
        height=shape[0],
        count=1,
        dtype="float32",
        crs=crs,
        transform=transform,
        nodata=-9999,
    ) as dst:
        dst.write(np.full(shape, value, dtype="float32"), 1)
    return path


@pytest.fixture
def current_dem(tmp_path) -> RasterFootprint:
    """The town's own 20 m DEM, already in the workspace."""
    path = _tif(
        tmp_path / "town20m.tif", "EPSG:4549", Affine(20, 0, TOWN[0], 0, -20, TOWN[3]), (1100, 1100)
    )
    return raster_footprint(path, DEMO_CRS)


def test_an_all_china_dem_of_20_km_cells_gets_every_warning(tmp_path, current_dem):
    # 0.2° cells (about 20 km) over 73–135°E, 18–54°N, in WGS 84, as national portals offer
    path = _tif(tmp_path / "china.tif", "EPSG:4326", Affine(0.2, 0, 73, 0, -0.2, 54), (180, 310))
    china = raster_footprint(path, DEMO_CRS)
    assert china.crs == DEMO_CRS and china.cells == 180 * 310
    assert china.resolution_m == pytest.approx(0.2 * 110_574, rel=0.01)
    assert current_dem.resolution_m == 20
    warnings = check_dem(china, current_dem, TOWN)
    text = " | ".join(warnings)
    assert len(warnings) == 3, text
    assert "22.1 km, the current DEM's 20 m (1,106× coarser)" in warnings[0]
    assert "too coarse for the town: it is only 1.0 cells across" in warnings[1]
    assert "the new DEM covers 2" in warnings[2] and "× the town's 484 km²" in warnings[2]
    assert "warps and stores all 55,800 cells" in warnings[2] and "clip it" in warnings[2]


def test_a_tile_elsewhere_does_not_cover_the_town(tmp_path, current_dem):
    # a 30 m SRTM-like tile of Beijing
    path = _tif(
        tmp_path / "beijing.tif",
        "EPSG:4326",
        Affine(1 / 3600, 0, 116, 0, -1 / 3600, 40.5),
        (360, 360),
    )
    warnings = check_dem(raster_footprint(path, DEMO_CRS), current_dem, TOWN)
    assert len(warnings) == 1
    assert warnings[0].startswith("the new DEM does not cover the town at all")
    assert "km away" in warnings[0]


def test_a_fine_dem_over_half_the_town_says_how_much_it_covers(tmp_path, current_dem):
    west = (TOWN[0], TOWN[1], (TOWN[0] + TOWN[2]) / 2, TOWN[3])
    path = _tif(
        tmp_path / "west5m.tif", "EPSG:4549", Affine(5, 0, west[0], 0, -5, west[3]), (4400, 2200)
    )
    assert check_dem(raster_footprint(path, DEMO_CRS), current_dem, TOWN) == [
        "the new DEM covers only 50 % of the town"
    ]


def test_a_dem_like_the_current_one_gets_no_warning(tmp_path, current_dem):
    assert check_dem(current_dem, current_dem, TOWN) == []
    assert check_dem(current_dem, None, None) == []


# --------------------------------------- catchments for points off the DEM


def test_snapping_never_reaches_around_the_grid():
    # a point 60 m west of a 10 m grid with a 50 m snap: the window is wholly off the
    # grid (before, its negative end index wrapped and took a catchment from the far side)
    rows, cols = 6, 8
    _, c = np.mgrid[0:rows, 0:cols]
    flow = drainage((100.0 - c).astype("float32"), Affine(10, 0, 0, 0, -10, rows * 10), DEMO_CRS)
    assert flow.snap(-60, 25, 50) == -1
    assert flow.catchment(-60, 25, snap_m=50).is_empty
    assert flow.why_no_catchment(-60, 25, 50) == "lies outside the DEM"
    assert flow.why_no_catchment(-60, 25, 100) is None  # a snap that reaches the grid
    assert flow.why_no_catchment(float("nan"), 25) == "has no finite coordinates"
    assert flow.bounds == (0.0, 0.0, 80.0, 60.0)
    holed = (100.0 - c).astype("float32")
    holed[:, :3] = np.nan
    flow = drainage(holed, Affine(10, 0, 0, 0, -10, rows * 10), DEMO_CRS)
    assert flow.why_no_catchment(5, 25, 10) == (
        "lies on DEM cells without elevation (the lake or nodata) within 10 m"
    )


@pytest.mark.parametrize(("lon", "lat"), [("121", "31.4"), ("0", "0"), ("119.82", "31.4")])
def test_the_catchment_command_names_a_point_outside_the_dem_in_one_line(demo_ws, capsys, lon, lat):
    args = ["catchment", "--workspace", str(demo_ws.folder), "--lon", lon, "--lat", lat]
    assert main([*args, "--snap", "500"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "zero-size" not in err and "Traceback" not in err
    assert err.startswith(f"townmap: no catchment: the point {float(lon):.4f}°E")
    assert "lies outside the DEM (the DEM covers 119.8" in err
    assert err.endswith("choose a point on the DEM or import a DEM that covers it")
