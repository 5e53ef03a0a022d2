"""Fitting imported geometries to a workspace layer, on files made the way the outside
world makes them: self-intersecting district boundaries, GeometryCollections, curved
GeoPackages, Z/M lines from survey kit, NaN and infinite coordinates."""

from __future__ import annotations

import json
import sqlite3
import struct

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.raw
import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from townmap.catalog import validate_frame
from townmap.crs import DEMO_CRS
from townmap.errors import CRSError
from townmap.io import geometry_fix
from townmap.io.geometry_fix import fit_geometries, is_curve_error, read_linearised
from townmap.io.readers import read_file
from townmap.store import create_workspace


def feature(i: int) -> str:
    return f"feature {i + 1}"


def bowtie(x: float, y: float, size: float) -> Polygon:
    """The classic digitising slip: a ring whose edges cross in the middle."""
    return Polygon([(x, y), (x + size, y + size), (x + size, y), (x, y + size), (x, y)])


def triangles_area(x: float, y: float, size: float) -> float:
    """The area of a bow-tie's two triangles, measured in the workspace CRS."""
    mid = (x + size / 2, y + size / 2)
    left = Polygon([(x, y), mid, (x, y + size)])
    right = Polygon([(x + size, y), mid, (x + size, y + size)])
    return float(gpd.GeoSeries([left, right], crs=4326).to_crs(DEMO_CRS).area.sum())


@pytest.fixture
def ws(tmp_path, catalog):
    """A real GeoPackage workspace: its write door is what a commit passes through."""
    return create_workspace(tmp_path / "ws", DEMO_CRS, {"name": "geometry"}, catalog=catalog)


# -------------------------------------------------------------------- polygons


def test_districts_with_a_bowtie_part_keep_every_part_and_their_area(tmp_path, catalog, ws):
    # Suzhou's districts as a consultant's GeoPackage in WGS 84: 吴中区 is a MultiPolygon
    # with one bow-tie part, 相城区 a single bow-tie, 姑苏区 fine
    wuzhong = MultiPolygon([box(120.40, 31.10, 120.50, 31.20), bowtie(120.60, 31.10, 0.1)])
    frame = gpd.GeoDataFrame(
        {"village_id": ["WZ", "XC", "GS"], "name_zh": ["吴中区", "相城区", "姑苏区"]},
        geometry=[wuzhong, bowtie(120.60, 31.40, 0.1), box(120.58, 31.28, 120.66, 31.34)],
        crs=4326,
    )
    path = tmp_path / "suzhou_districts.gpkg"
    pyogrio.write_dataframe(frame, path)
    raw = read_file(path).frame
    assert not raw.geometry.is_valid.iloc[:2].any()  # what arrives is really broken

    fit = fit_geometries(raw, "Polygon", DEMO_CRS, feature)

    assert list(fit.frame["name_zh"]) == ["吴中区", "相城区", "姑苏区"]
    assert fit.dropped == 0 and fit.problems == [] and fit.blocking == []
    assert fit.repaired == 2
    assert fit.frame.crs == DEMO_CRS
    # (the GeoPackage writer made every feature a MultiPolygon)
    assert list(fit.frame.geom_type) == ["MultiPolygon"] * 3
    parts = shapely.get_num_geometries(fit.frame.geometry.array).tolist()
    assert parts == [3, 2, 1]  # box + both triangles; both triangles; the box
    square = gpd.GeoSeries([box(120.40, 31.10, 120.50, 31.20)], crs=4326).to_crs(DEMO_CRS)
    expected = square.area.iloc[0] + triangles_area(120.60, 31.10, 0.1)
    assert fit.frame.area.iloc[0] == pytest.approx(expected, rel=1e-6)
    assert fit.frame.area.iloc[1] == pytest.approx(triangles_area(120.60, 31.40, 0.1), rel=1e-6)
    assert any("2 invalid" in n and "MultiPolygon" in n for n in fit.notes)
    assert validate_frame(catalog["villages"], fit.frame) == []
    with ws.transaction() as tx:  # the commit's own door accepts what the plan accepted
        tx.write_layer("villages", fit.frame)
    assert len(ws.read_layer("villages")) == 3


def test_seven_bowtie_districts_all_survive():
    # Wuxi: every district boundary digitised with a crossing; today all seven vanish
    frame = gpd.GeoDataFrame(
        {"name_zh": [f"区{i}" for i in range(7)]},
        geometry=[bowtie(120.0 + 0.12 * i, 31.5, 0.1) for i in range(7)],
        crs=4326,
    )
    fit = fit_geometries(frame, "Polygon", DEMO_CRS, feature)
    assert len(fit.frame) == 7 and fit.repaired == 7 and fit.dropped == 0
    assert fit.frame.is_valid.all()
    for i, area in enumerate(fit.frame.area):
        assert area == pytest.approx(triangles_area(120.0 + 0.12 * i, 31.5, 0.1), rel=1e-6)


def test_an_osm_river_surface_with_a_self_touching_ring_is_kept_whole():
    # OSM multipolygons of the Yangtze are often closed so the outer ring touches itself,
    # enclosing an island the wrong way: invalid (ring self-intersection), but all water
    ring = [(0, 0), (10, 0), (10, 10), (5, 10), (7, 5), (3, 5), (5, 10), (0, 10), (0, 0)]
    surface = Polygon([(120.5 + x * 0.01, 31.9 + y * 0.001) for x, y in ring])
    assert not surface.is_valid
    frame = gpd.GeoDataFrame({"name": ["长江"]}, geometry=[surface], crs=4326)
    fit = fit_geometries(frame, "Polygon", DEMO_CRS, feature)
    assert len(fit.frame) == 1 and fit.frame.is_valid.all()
    whole = gpd.GeoSeries([surface], crs=4326).to_crs(DEMO_CRS)
    # every square metre of water is still there (the inverted island becomes a hole)
    assert fit.frame.area.iloc[0] == pytest.approx(abs(whole.area.iloc[0]), rel=1e-3)


def test_a_polygon_valid_in_degrees_but_not_in_the_workspace_crs_is_repaired():
    # a notch reaching to 50 m of a long straight edge: valid in WGS 84, but the straight
    # edge bows 430 m once projected, so in EPSG:4549 the notch crosses it. Checking in
    # the source CRS passed the dry run and the commit refused "1 invalid geometries".
    notch = Polygon(
        [
            (119, 31),
            (121, 31),
            (121, 31.3),
            (120.01, 31.3),
            (120, 31.0005),
            (119.99, 31.3),
            (119, 31.3),
        ]
    )
    frame = gpd.GeoDataFrame({"name": ["镇"]}, geometry=[notch], crs=4326)
    assert frame.is_valid.all() and not frame.to_crs(DEMO_CRS).is_valid.any()
    fit = fit_geometries(frame, "Polygon", DEMO_CRS, feature)
    assert fit.repaired == 1 and fit.frame.is_valid.all() and fit.blocking == []
    assert any("reprojected" in n and "before checking" in n for n in fit.notes)


def test_a_geometry_collection_from_a_geojson_file_keeps_its_polygons(tmp_path, catalog):
    square = [[120.0, 31.0], [120.01, 31.0], [120.01, 31.01], [120.0, 31.01], [120.0, 31.0]]
    shifted = [[x + 0.005, y] for x, y in square]
    collections = [
        [  # a polygon with a stray line and point, as some CAD converters write them
            {"type": "Polygon", "coordinates": [square]},
            {"type": "LineString", "coordinates": [[120, 31], [120.1, 31.1]]},
            {"type": "Point", "coordinates": [120.05, 31.05]},
        ],
        [  # two overlapping polygons: dissolved into one valid area
            {"type": "Polygon", "coordinates": [square]},
            {"type": "Polygon", "coordinates": [shifted]},
        ],
        [{"type": "LineString", "coordinates": [[120, 31], [120.1, 31.1]]}],  # nothing usable
    ]
    path = tmp_path / "zones.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"flood_id": f"F{i}", "name": f"z{i}"},
                        "geometry": {"type": "GeometryCollection", "geometries": parts},
                    }
                    for i, parts in enumerate(collections)
                ],
            }
        )
    )
    raw = read_file(path).frame
    assert set(raw.geom_type) == {"GeometryCollection"}

    fit = fit_geometries(raw, "Polygon", DEMO_CRS, feature)

    assert list(fit.frame["name"]) == ["z0", "z1"] and fit.dropped == 1
    assert fit.problems == [
        "feature 3: no Polygon geometry (it is a GeometryCollection); row skipped"
    ]
    assert any("3 GeometryCollection" in n for n in fit.notes)
    assert any("2 part(s) that are not Polygons" in n and "1 feature" in n for n in fit.notes)
    one = gpd.GeoSeries([Polygon(square)], crs=4326).to_crs(DEMO_CRS).area.iloc[0]
    assert fit.frame.area.iloc[0] == pytest.approx(one, rel=1e-6)
    assert fit.frame.area.iloc[1] == pytest.approx(1.5 * one, rel=1e-3)  # the union
    assert validate_frame(catalog["flood_areas"], fit.frame) == []


def test_a_repair_that_leaves_a_stray_line_drops_it_with_a_note():
    # a district whose second part collapsed to a line (all its vertices on one line;
    # in the workspace CRS, since in degrees the projection would bend it open again)
    collapsed = Polygon([(502e3, 347e4), (503e3, 347e4), (504e3, 347e4), (502e3, 347e4)])
    frame = gpd.GeoDataFrame(
        {"name": ["a", "b"]},
        geometry=[MultiPolygon([box(500e3, 347e4, 501e3, 3471e3), collapsed]), collapsed],
        crs=4549,
    )
    fit = fit_geometries(frame, "Polygon", DEMO_CRS, feature)
    assert list(fit.frame["name"]) == ["a"] and fit.frame.geom_type.iloc[0] == "Polygon"
    assert any("not Polygons" in n and "1 feature" in n for n in fit.notes)
    assert fit.problems == [
        "feature 2: no Polygon geometry (after repair nothing of that kind is left); row skipped"
    ]


# ----------------------------------------------------------------------- curves


def _wkb_circle(x: float, y: float, r: float) -> bytes:
    """ISO WKB CircularString (type 8): a full circle as two arcs."""
    pts = [(x - r, y), (x, y + r), (x + r, y), (x, y - r), (x - r, y)]
    return struct.pack("<BII", 1, 8, len(pts)) + b"".join(struct.pack("<dd", *p) for p in pts)


def _curved_gpkg(path, declared: str) -> None:
    """A GeoPackage of curves as QGIS or ArcGIS write them. pyogrio cannot write curves
    from shapely (shapely has none), so the ISO WKB is built by hand and written through
    ``pyogrio.raw.write``; the declared type is then set as those tools declare it."""
    x, y, r = 500_000.0, 3_470_000.0, 100.0
    ring = _wkb_circle(x, y, r)
    curve_polygon = struct.pack("<BII", 1, 10, 1) + ring  # CurvePolygon
    multi_surface = struct.pack("<BII", 1, 12, 1) + curve_polygon  # MultiSurface
    compound = struct.pack("<BII", 1, 9, 1) + ring  # CompoundCurve of one arc string
    geoms = np.array([curve_polygon, multi_surface, compound], dtype=object)
    names = np.array(["pond", "pond group", "ring road"], dtype=object)
    pyogrio.raw.write(
        path, geoms, [names], ["name"], crs="EPSG:4549", geometry_type="Unknown", driver="GPKG"
    )
    with sqlite3.connect(path) as con:
        con.execute("UPDATE gpkg_geometry_columns SET geometry_type_name = ?", (declared,))


def test_a_curved_geopackage_arrives_linearised_and_fits(tmp_path):
    path = tmp_path / "ponds.gpkg"
    _curved_gpkg(path, "MULTISURFACE")
    # what the Arrow reader does with it: shapely refuses curves
    with pytest.raises(NotImplementedError) as info:
        pyogrio.read_dataframe(path, use_arrow=True)
    assert is_curve_error(info.value)
    assert not is_curve_error(NotImplementedError("something else"))

    raw = read_linearised(path)
    assert list(raw.geom_type) == ["Polygon", "MultiPolygon", "LineString"]

    fit = fit_geometries(raw, "Polygon", DEMO_CRS, feature)
    assert list(fit.frame["name"]) == ["pond", "pond group"]
    assert fit.frame.area.to_numpy() == pytest.approx(np.pi * 100.0**2, rel=2e-3)
    assert fit.problems == ["feature 3: no Polygon geometry (it is a LineString); row skipped"]
    lines = fit_geometries(raw, "LineString", DEMO_CRS, feature)
    assert list(lines.frame["name"]) == ["ring road"]
    assert lines.frame.length.iloc[0] == pytest.approx(2 * np.pi * 100.0, rel=2e-3)


# ------------------------------------------------------------------ Z, M, lines


def test_z_and_zm_survey_lines_are_made_2d_and_can_be_committed(tmp_path, catalog, ws):
    frame = gpd.GeoDataFrame(
        {"road_id": ["R1", "R2", "R3", "R4"], "name": ["z", "zm", "m", "flat"]},
        geometry=shapely.from_wkt(
            [
                "LINESTRING Z (500000 3470000 2.1, 500100 3470050 2.4)",
                "LINESTRING ZM (500000 3470100 2.0 0, 500200 3470100 2.2 200)",
                "MULTILINESTRING M ((500000 3470200 0, 500100 3470200 100))",
                "LINESTRING (500000 3470300, 500100 3470300)",
            ]
        ),
        crs=4549,
    )
    path = tmp_path / "survey.gpkg"
    pyogrio.write_dataframe(frame, path, use_arrow=True)  # Arrow keeps M in the file
    raw = read_file(path).frame
    assert raw.has_z.sum() == 2 and shapely.has_m(raw.geometry.array).sum() == 2

    fit = fit_geometries(raw, "LineString", DEMO_CRS, feature)

    assert not fit.frame.has_z.any() and not shapely.has_m(fit.frame.geometry.array).any()
    assert [n for n in fit.notes if "2-D" in n] == [
        "3 feature(s) had heights (Z, 2.0 to 2.4) dropped; measures (M) on 2 of them "
        "dropped: the workspace stores 2-D geometries"
    ]
    assert fit.frame.length.to_numpy() == pytest.approx([np.hypot(100, 50), 200, 100, 100])
    with ws.transaction() as tx:
        tx.write_layer("roads", fit.frame)
    stored = ws.read_layer("roads")
    assert len(stored) == 4 and not stored.has_z.any()


def test_z_that_is_0_everywhere_is_not_called_heights_dropped():
    """Walkthrough: a KML's placeholder Z (…,0) was reported as heights dropped."""
    frame = gpd.GeoDataFrame(
        {"name": ["a", "b"]},
        geometry=shapely.from_wkt(["POINT Z (119.95 31.4 0)", "POINT Z (119.96 31.41 0)"]),
        crs=4326,
    )
    fit = fit_geometries(frame, "Point", DEMO_CRS, feature)
    assert not fit.frame.has_z.any()
    (note,) = [n for n in fit.notes if "2-D" in n]
    assert "0 everywhere" in note and "nothing is lost" in note and "heights (Z," not in note


def test_lines_keep_every_linear_part_and_skip_degenerate_ones():
    frame = gpd.GeoDataFrame(
        {"name": ["multi", "zero length", "polygon", "collection"]},
        geometry=[
            shapely.MultiLineString([[(0, 0), (1, 1)], [(2, 2), (3, 3)]]),
            LineString([(5, 5), (5, 5)]),
            box(0, 0, 1, 1),
            shapely.GeometryCollection([LineString([(0, 0), (0, 9)]), Point(4, 4)]),
        ],
        crs=4549,
    )
    fit = fit_geometries(frame, "LineString", 4549, feature)
    assert list(fit.frame["name"]) == ["multi", "collection"]
    assert fit.frame.geom_type.iloc[0] == "MultiLineString"
    assert fit.frame.length.iloc[1] == pytest.approx(9)
    assert fit.problems == [
        "feature 2: no LineString geometry (after repair nothing of that kind is left); "
        "row skipped",
        "feature 3: no LineString geometry (it is a Polygon); row skipped",
    ]


def test_points_keep_all_points_of_a_multipoint_or_collection():
    frame = gpd.GeoDataFrame(
        {"name": ["mp", "gc"]},
        geometry=[
            shapely.MultiPoint([(0, 0), (1, 1)]),
            shapely.GeometryCollection([Point(2, 2), Point(3, 3), LineString([(0, 0), (1, 0)])]),
        ],
        crs=4549,
    )
    fit = fit_geometries(frame, "Point", 4549, feature)
    assert list(fit.frame.geom_type) == ["MultiPoint", "MultiPoint"]
    assert shapely.get_num_geometries(fit.frame.geometry.array).tolist() == [2, 2]


# ------------------------------------------------------------ bad coordinates


def test_nan_and_infinite_coordinates_are_row_problems_not_tracebacks(tmp_path):
    frame = gpd.GeoDataFrame(
        {"name": ["ok", "inf line", "nan x", "empty"]},
        geometry=[
            LineString([(500000, 3470000), (500100, 3470000)]),
            LineString([(500000, 3470000), (np.inf, 3470000)]),
            LineString([(np.nan, 3470000), (500100, 3470000)]),
            LineString(),
        ],
        crs=4549,
    )
    path = tmp_path / "broken.gpkg"
    pyogrio.write_dataframe(frame, path)
    raw = read_file(path).frame
    fit = fit_geometries(raw, "LineString", 4326, feature)  # reprojection meets them too
    assert list(fit.frame["name"]) == ["ok"] and fit.dropped == 3
    assert fit.kept.tolist() == [0]
    assert sorted(fit.problems) == [
        "feature 2: coordinates are not finite numbers (NaN or infinity); row skipped",
        "feature 3: coordinates are not finite numbers (NaN or infinity); row skipped",
        "feature 4: no LineString geometry (missing or empty); row skipped",
    ]


def test_csv_coordinates_that_overflow_are_named_by_their_csv_row():
    # a CSV's "inf" and "1e400" parse as infinity; rows are named as the file shows them
    lon = pd.to_numeric(pd.Series(["120.0", "inf", "1e400", "-Infinity", "120.1"]))
    lat = pd.to_numeric(pd.Series(["31.4", "31.4", "31.4", "31.4", "31.5"]))
    frame = gpd.GeoDataFrame({"id": list("abcde")}, geometry=gpd.points_from_xy(lon, lat), crs=4326)
    fit = fit_geometries(frame, "Point", DEMO_CRS, lambda i: f"row {i + 2}")
    assert list(fit.frame["id"]) == ["a", "e"] and fit.dropped == 3
    assert [p.split(":")[0] for p in fit.problems] == ["row 3", "row 4", "row 5"]
    assert fit.frame.index.tolist() == [0, 4]  # the input's index is kept


def test_row_labels_are_not_off_by_one():
    # the twelfth and last feature has no geometry: it is "feature 12", not "row 13"
    geoms = [Point(500000 + i, 3470000) for i in range(11)] + [None]
    frame = gpd.GeoDataFrame({"n": range(12)}, geometry=geoms, crs=4549)
    fit = fit_geometries(frame, "Point", 4549, feature)
    assert fit.problems == ["feature 12: no Point geometry (missing or empty); row skipped"]


def test_many_bad_rows_are_listed_up_to_a_limit_and_counted():
    frame = gpd.GeoDataFrame(geometry=[None] * 120 + [Point(1, 1)], crs=4549)
    fit = fit_geometries(frame, "Point", 4549, feature)
    assert fit.dropped == 120 and len(fit.frame) == 1
    assert len(fit.problems) == geometry_fix.MAX_LISTED + 1
    assert fit.problems[-1].startswith("… and 70 more row(s) skipped")


# ---------------------------------------------------------- edges and contracts


def test_a_geometry_still_invalid_after_repair_blocks(monkeypatch):
    monkeypatch.setattr(geometry_fix.shapely, "make_valid", lambda geoms, **_: geoms)
    frame = gpd.GeoDataFrame(geometry=[bowtie(0, 0, 10), box(20, 0, 30, 10)], crs=4549)
    fit = fit_geometries(frame, "Polygon", 4549, feature)
    assert len(fit.frame) == 2 and fit.repaired == 0
    assert len(fit.blocking) == 1 and fit.blocking[0].startswith("feature 1: still invalid")
    assert "Self-intersection" in fit.blocking[0]


def test_valid_points_never_take_the_per_feature_path(monkeypatch):
    def slow(_):
        raise AssertionError("the per-feature path ran for valid points")

    monkeypatch.setattr(geometry_fix, "_flatten", slow)
    n = 100_000
    rng = np.random.default_rng(1)
    frame = gpd.GeoDataFrame(
        {"id": np.arange(n)},
        geometry=gpd.points_from_xy(rng.uniform(487e3, 5e5, n), rng.uniform(3.467e6, 3.483e6, n)),
        crs=4549,
    )
    fit = fit_geometries(frame, "Point", DEMO_CRS, feature)
    assert len(fit.frame) == n and fit.notes == [] and fit.problems == []
    assert fit.frame.geometry.array[5] is frame.geometry.array[5]  # nothing copied or rebuilt


def test_empty_frames_unknown_kinds_and_missing_crs():
    empty = gpd.GeoDataFrame({"name": []}, geometry=[], crs=4326)
    fit = fit_geometries(empty, "Polygon", DEMO_CRS, feature)
    assert (
        fit.frame.empty
        and fit.frame.crs == DEMO_CRS
        and list(fit.frame.columns)
        == [
            "name",
            "geometry",
        ]
    )
    with pytest.raises(ValueError, match="kind must be one of Point, LineString, Polygon"):
        fit_geometries(empty, "Polygons", DEMO_CRS, feature)
    with pytest.raises(CRSError, match="no coordinate reference system"):
        fit_geometries(gpd.GeoDataFrame(geometry=[Point(0, 0)]), "Point", DEMO_CRS, feature)
