"""Formats GDAL reads, accepted as the outside world writes them: GPX from a GPS,
FlatGeobuf, GML, MapInfo TAB/MIF, OpenStreetMap (PBF and XML), KML/KMZ with folders,
curved and Z/M geometries, and DEMs as ASCII grid and netCDF."""

from __future__ import annotations

import struct
import zipfile
import zlib

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
from pyogrio.raw import write as raw_write
from pyproj import CRS
from rasterio.transform import from_origin
from shapely.geometry import Point

from townmap.errors import UploadError
from townmap.io.importer import ImportOptions, plan_import
from townmap.io.raster_import import warp_into
from townmap.io.readers import (
    ALL_LAYERS,
    RASTER_SUFFIXES,
    is_raster,
    list_sources,
    read_file,
)

NAMES = ["湖滨印染有限公司", "西山村水泥厂"]

GPX = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="eTrex 32x" xmlns="http://www.topografix.com/GPX/1/1">
  <wpt lat="31.40" lon="119.95"><ele>3.2</ele><name>排口1</name><desc>DP01</desc></wpt>
  <wpt lat="31.41" lon="119.96"><name>排口2</name></wpt>
  <trk><name>巡河</name><trkseg>
    <trkpt lat="31.40" lon="119.95"><ele>3</ele><time>2026-05-01T08:00:00Z</time></trkpt>
    <trkpt lat="31.41" lon="119.96"><ele>4</ele><time>2026-05-01T08:10:00Z</time></trkpt>
    <trkpt lat="31.42" lon="119.97"><ele>5</ele><time>2026-05-01T08:20:00Z</time></trkpt>
  </trkseg></trk>
</gpx>
"""

KML_TWO_FOLDERS = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2">
<Document>
  <name>太滨镇调查</name>
  <Folder>
    <name>企业</name>
    <Placemark><name>湖滨印染</name><description>印染</description>
      <Point><coordinates>119.95,31.40,0</coordinates></Point></Placemark>
    <Placemark><name>西山水泥</name><Point><coordinates>119.96,31.41</coordinates></Point></Placemark>
  </Folder>
  <Folder>
    <name>排口</name>
    <Placemark><name>DP01</name><Point><coordinates>119.97,31.42</coordinates></Point></Placemark>
  </Folder>
  <Folder><name>空文件夹</name></Folder>
</Document>
</kml>
"""

KML_EMPTY = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>空</name>
<Folder><name>企业</name></Folder></Document></kml>
"""

GML_ARC = """<?xml version="1.0" encoding="UTF-8"?>
<wfs:FeatureCollection xmlns:wfs="http://www.opengis.net/wfs"
    xmlns:gml="http://www.opengis.net/gml" xmlns:tm="http://example.org/townmap">
  <gml:featureMember><tm:canal gml:id="c1"><tm:name>弯渠</tm:name><tm:geom>
    <gml:Curve srsName="urn:ogc:def:crs:EPSG::4326"><gml:segments>
      <gml:Arc><gml:posList>31.40 119.95 31.41 119.96 31.40 119.97</gml:posList></gml:Arc>
    </gml:segments></gml:Curve>
  </tm:geom></tm:canal></gml:featureMember>
  <gml:featureMember><tm:canal gml:id="c2"><tm:name>直渠</tm:name><tm:geom>
    <gml:LineString srsName="urn:ogc:def:crs:EPSG::4326" srsDimension="3">
      <gml:posList>31.40 119.95 2.0 31.41 119.96 3.0</gml:posList></gml:LineString>
  </tm:geom></tm:canal></gml:featureMember>
</wfs:FeatureCollection>
"""

OSM_XML = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="JOSM">
  <node id="1" lat="31.40" lon="119.95">
    <tag k="name" v="湖滨印染"/><tag k="man_made" v="works"/></node>
  <node id="2" lat="31.40" lon="119.96"/>
  <node id="3" lat="31.41" lon="119.96"/>
  <node id="4" lat="31.41" lon="119.95"/>
  <node id="5" lat="31.42" lon="119.97"/>
  <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/>
    <tag k="building" v="industrial"/><tag k="name" v="厂房"/></way>
  <way id="11"><nd ref="3"/><nd ref="5"/>
    <tag k="highway" v="residential"/><tag k="name" v="滨湖路"/></way>
</osm>
"""


def _points(crs=4326) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"name": NAMES, "cod": [12.5, 3.0]},
        geometry=[Point(119.95, 31.40), Point(119.96, 31.41)],
        crs=crs,
    )


# --- OSM PBF, written byte by byte as osmium or Osmosis would (protobuf + zlib blobs) ---


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _int(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _packed(number: int, values) -> bytes:
    return _field(number, b"".join(_varint(v) for v in values))


def _blob(kind: str, message: bytes) -> bytes:
    body = _int(2, len(message)) + _field(3, zlib.compress(message))
    header = _field(1, kind.encode()) + _int(3, len(body))
    return struct.pack(">I", len(header)) + header + body


def _pbf(nodes, ways) -> bytes:
    """An OSM PBF file: nodes [(id, lon, lat, tags)], ways [(id, node ids, tags)]."""
    strings = [""]

    def index(text: str) -> int:
        if text not in strings:
            strings.append(text)
        return strings.index(text)

    node_msgs = b""
    for nid, lon, lat, tags in nodes:
        msg = _int(1, _zigzag(nid))
        if tags:
            msg += _packed(2, [index(k) for k in tags]) + _packed(
                3, [index(v) for v in tags.values()]
            )
        msg += _int(8, _zigzag(round(lat * 1e7))) + _int(9, _zigzag(round(lon * 1e7)))
        node_msgs += _field(1, msg)
    way_msgs = b""
    for wid, refs, tags in ways:
        deltas = [_zigzag(b - a) for a, b in zip([0, *refs[:-1]], refs, strict=True)]
        msg = _int(1, wid) + _packed(2, [index(k) for k in tags])
        msg += _packed(3, [index(v) for v in tags.values()]) + _packed(8, deltas)
        way_msgs += _field(3, msg)
    table = b"".join(_field(1, s.encode()) for s in strings)
    block = _field(1, table) + _field(2, node_msgs) + _field(2, way_msgs)
    header = _field(4, b"OsmSchema-V0.6") + _field(16, b"townmap-test")
    return _blob("OSMHeader", header) + _blob("OSMData", block)


def test_gpx_from_a_gps_lists_its_non_empty_layers_and_reads_the_chosen_one(tmp_path):
    path = tmp_path / "巡河.gpx"
    path.write_text(GPX, encoding="utf-8")
    assert list_sources(path) == ["waypoints", "tracks", "track_points"]  # routes are empty
    with pytest.raises(UploadError, match=r"holds 3 layers \(waypoints, tracks, track_points\)"):
        read_file(path)
    points = read_file(path, layer="waypoints")
    assert list(points.frame["name"]) == ["排口1", "排口2"] and points.layer == "waypoints"
    assert points.row_label(1) == "feature 2"
    track = read_file(path, layer="tracks")
    assert track.frame.geom_type.tolist() == ["MultiLineString"]
    assert len(read_file(path, layer="track_points").frame) == 3
    with pytest.raises(UploadError, match=r"layer 'routes' of 巡河\.gpx holds no features"):
        read_file(path, layer="routes")
    with pytest.raises(UploadError, match="has no layer 'paths'"):
        read_file(path, layer="paths")


@pytest.mark.parametrize(
    ("name", "driver"), [("tve.fgb", "FlatGeobuf"), ("tve.gml", "GML"), ("tve.tab", "MapInfo File")]
)
def test_flatgeobuf_gml_and_mapinfo_tab_read_with_chinese_text(tmp_path, name, driver):
    path = tmp_path / name
    pyogrio.write_dataframe(_points(), path, driver=driver)
    data = read_file(path)
    assert sorted(data.frame["name"]) == sorted(NAMES)
    assert data.has_geometry and data.crs.to_epsg() == 4326
    assert list_sources(path) == ([] if name != "tve.gml" else ["tve"])


def test_mapinfo_mif_and_a_tab_missing_its_parts(tmp_path):
    mif = tmp_path / "tve.mif"
    pyogrio.write_dataframe(_points(), mif, driver="MapInfo File")
    assert sorted(read_file(mif).frame["name"]) == sorted(NAMES)
    mif.with_suffix(".mid").unlink()
    with pytest.raises(UploadError, match=r"without its \.mid"):
        read_file(mif)
    tab = tmp_path / "parts" / "tve.tab"
    tab.parent.mkdir()
    pyogrio.write_dataframe(_points(), tab, driver="MapInfo File")
    tab.with_suffix(".map").unlink()  # GDAL would read the table without its geometry
    with pytest.raises(UploadError, match=r"without its \.map file"):
        read_file(tab)


def test_a_gbk_mapinfo_tab_with_a_neutral_charset(tmp_path):
    """MapInfo files from Chinese desktops often say Charset "Neutral" over GBK bytes."""
    tab = tmp_path / "tve.tab"
    pyogrio.write_dataframe(_points(), tab, driver="MapInfo File", encoding="GBK")
    assert b'Charset "Neutral"' in tab.read_bytes()
    data = read_file(tab)
    assert list(data.frame["name"]) == NAMES and data.encoding.encoding == "gb18030"
    assert list(read_file(tab, encoding="gbk").frame["name"]) == NAMES


def test_a_zipped_mapinfo_tab(tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    pyogrio.write_dataframe(_points(), folder / "tve.tab", driver="MapInfo File")
    archive = tmp_path / "tve.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in folder.iterdir():
            zf.write(part, f"tve/{part.name}")
        zf.writestr("tve/说明.txt", "exported from MapInfo Pro")
    assert list_sources(archive) == ["tve.tab"]
    assert sorted(read_file(archive).frame["name"]) == sorted(NAMES)


def test_osm_pbf_lists_its_layers_and_reads_points_lines_and_areas(tmp_path):
    nodes = [
        (1, 119.95, 31.40, {"name": "湖滨印染", "man_made": "works"}),
        (2, 119.96, 31.40, {}),
        (3, 119.96, 31.41, {}),
        (4, 119.95, 31.41, {}),
        (5, 119.97, 31.42, {}),
    ]
    ways = [
        (10, [1, 2, 3, 4, 1], {"building": "industrial", "name": "厂房"}),
        (11, [3, 5], {"highway": "residential", "name": "滨湖路"}),
    ]
    path = tmp_path / "taibin.osm.pbf"
    path.write_bytes(_pbf(nodes, ways))
    assert list_sources(path) == ["points", "lines", "multipolygons"]
    with pytest.raises(UploadError, match="holds 3 layers"):
        read_file(path)
    assert list(read_file(path, layer="points").frame["name"]) == ["湖滨印染"]
    assert list(read_file(path, layer="lines").frame["name"]) == ["滨湖路"]
    areas = read_file(path, layer="multipolygons").frame
    assert list(areas["name"]) == ["厂房"] and areas.geom_type.tolist() == ["MultiPolygon"]


def test_osm_xml_from_josm_reads_like_the_pbf(tmp_path):
    path = tmp_path / "taibin.osm"
    path.write_text(OSM_XML, encoding="utf-8")
    assert list_sources(path) == ["points", "lines", "multipolygons"]
    assert list(read_file(path, layer="lines").frame["name"]) == ["滨湖路"]


def test_a_huge_osm_file_is_refused_before_gdal_reads_it(tmp_path, monkeypatch):
    from townmap.io import readers

    path = tmp_path / "jiangsu.osm.pbf"
    path.write_bytes(_pbf([(1, 119.95, 31.40, {"name": "a"})], []))
    monkeypatch.setattr(readers, "MAX_OSM_BYTES", 10)
    with pytest.raises(UploadError, match="clip it to the town first"):
        read_file(path, layer="points")


def test_kml_with_two_folders_lists_them_and_reads_all_or_one(tmp_path):
    path = tmp_path / "调查.kml"
    path.write_text(KML_TWO_FOLDERS, encoding="utf-8")
    assert list_sources(path) == [ALL_LAYERS, "企业", "排口"]  # the empty folder is left out
    data = read_file(path)
    assert list(data.frame["Name"]) == ["湖滨印染", "西山水泥", "DP01"]
    assert list(data.frame["folder"]) == ["企业", "企业", "排口"]
    assert any("企业, 排口" in n and "'folder'" in n for n in data.notes)
    assert data.row_label(2) == "feature 1 of folder '排口'"
    assert len(read_file(path, layer=ALL_LAYERS).frame) == 3
    one = read_file(path, layer="排口")
    assert list(one.frame["Name"]) == ["DP01"] and "folder" not in one.frame
    assert one.layer == "排口" and one.row_label(0) == "feature 1"
    with pytest.raises(UploadError, match="has no folder '河流'; it has 企业, 排口"):
        read_file(path, layer="河流")
    with pytest.raises(UploadError, match=r"folder '空文件夹' of 调查\.kml holds no placemarks"):
        read_file(path, layer="空文件夹")


def test_kmz_folders_and_the_source_layer_reach_the_inner_kml(tmp_path):
    path = tmp_path / "调查.kmz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("doc.kml", KML_TWO_FOLDERS)
        zf.writestr("files/icon.png", b"\x89PNG\r\n\x1a\n")
    assert list_sources(path) == [ALL_LAYERS, "企业", "排口"]
    assert list(read_file(path, layer="排口").frame["Name"]) == ["DP01"]
    assert len(read_file(path).frame) == 3
    with pytest.raises(UploadError, match="has no folder '河流'"):
        read_file(path, layer="河流")


KML_GOOGLE_EARTH = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>现场踏勘</name>
<Placemark><name>排口A</name><visibility>0</visibility><TimeStamp><when>2024-05-01</when>
</TimeStamp><Point><coordinates>119.95,31.40,0</coordinates></Point></Placemark>
<Placemark><name>排口B</name><description>雨污合流</description>
<Point><coordinates>119.96,31.41,0</coordinates></Point></Placemark>
</Document></kml>"""


def test_kml_housekeeping_fields_that_say_nothing_are_left_out_with_a_note(tmp_path):
    """Walkthrough: id, begin, end, altitudeMode, tessellate, extrude, drawOrder… became
    columns of an own layer, every one empty or KML's default."""
    path = tmp_path / "踏勘.kml"
    path.write_text(KML_GOOGLE_EARTH, encoding="utf-8")
    data = read_file(path)
    # a field one placemark fills is kept, with its values; the rest are named in a note
    kept = ["Name", "description", "timestamp", "visibility", "geometry"]
    assert list(data.frame.columns) == kept
    assert list(data.frame["visibility"]) == [0, -1]
    assert str(data.frame["timestamp"].iloc[0])[:10] == "2024-05-01"
    note = next(n for n in data.notes if "left out" in n)
    for name in ("id", "begin", "end", "altitudeMode", "tessellate", "extrude", "drawOrder"):
        assert name in note
    assert "visibility" not in note and "timestamp" not in note


def test_an_empty_kml_is_one_clear_line(tmp_path):
    for text in (KML_EMPTY, KML_EMPTY.replace("<Folder><name>企业</name></Folder>", "")):
        path = tmp_path / "空.kml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(UploadError, match="holds no placemarks") as info:
            read_file(path)
        assert "\n" not in str(info.value)


def test_curved_and_z_geometries_from_gml_read_as_lines(tmp_path):
    path = tmp_path / "canals.gml"
    path.write_text(GML_ARC, encoding="utf-8")
    data = read_file(path)
    assert data.frame.geom_type.tolist() == ["LineString", "LineString"]
    assert len(data.frame.geometry.iloc[0].coords) > 10  # the arc, as straight segments
    assert any("approximated by straight segments" in n for n in data.notes)


def test_curved_and_measured_geometries_in_a_geopackage(tmp_path):
    """A GeoPackage from ArcGIS or QGIS may hold circular arcs and M values (ISO WKB)."""
    arc = struct.pack("<BII", 1, 8, 3) + struct.pack(
        "<6d", 119.95, 31.40, 119.96, 31.41, 119.97, 31.40
    )
    measured = struct.pack("<BII", 1, 2002, 2) + struct.pack(
        "<6d", 119.95, 31.4, 1, 119.96, 31.41, 2
    )
    zm = struct.pack("<BI", 1, 3001) + struct.pack("<4d", 119.95, 31.4, 3.0, 7.0)
    path = tmp_path / "curves.gpkg"
    raw_write(
        path,
        geometry=np.array([arc, measured, zm], dtype=object),
        field_data=[np.array(["arc", "m", "zm"], dtype=object)],
        fields=["name"],
        geometry_type="Unknown",
        crs="EPSG:4326",
        driver="GPKG",
    )
    data = read_file(path)
    assert data.frame.geom_type.tolist() == ["LineString", "LineString", "Point"]
    assert data.frame.geometry.notna().all() and data.problems == []


def test_the_refusal_names_every_format_and_rasters_are_routed(tmp_path):
    path = tmp_path / "plan.dwg"
    path.write_bytes(b"AC1027")
    with pytest.raises(UploadError, match="not supported") as info:
        read_file(path)
    for word in ("GPX", "FlatGeobuf", "MapInfo", "GML", "OpenStreetMap", "KML", "netCDF"):
        assert word in str(info.value)
    assert {".tif", ".tiff", ".nc", ".asc"} <= RASTER_SUFFIXES
    assert is_raster("dem.NC") and is_raster("dem.asc") and not is_raster("x.gpx")
    nc = tmp_path / "dem.nc"
    nc.write_bytes(b"CDF\x01")
    with pytest.raises(UploadError, match="is a raster"):
        read_file(nc)


# --- DEMs ------------------------------------------------------------------------------


def _heights() -> np.ndarray:
    rows, cols = np.mgrid[0:20, 0:30]
    return (5.0 + cols * 0.5 + rows * 0.25).astype("float32")


def test_an_ascii_grid_dem_with_its_prj(tmp_path, catalog):
    path = tmp_path / "dem.asc"
    with rasterio.open(
        path,
        "w",
        driver="AAIGrid",
        width=30,
        height=20,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=from_origin(119.90, 31.42, 0.001, 0.001),
        nodata=-9999,
    ) as dst:
        dst.write(_heights(), 1)
    assert path.read_text().startswith("ncols")  # plain text, as ArcGIS writes it
    plan = plan_import(path, ImportOptions("dem"), catalog)
    assert plan.ok and plan.crs.is_geographic and plan.crs.name == "WGS 84"  # from the .prj
    assert (plan.width, plan.height) == (30, 20)
    assert plan.value_range == pytest.approx((5.0, 5.0 + 29 * 0.5 + 19 * 0.25))


def _cf_netcdf(path, variables: dict[str, np.ndarray], *, scale: float | None = None):
    """A CF netCDF as GEBCO or a climate tool writes it: lat (south to north), lon axes."""
    from scipy.io import netcdf_file

    lat = 31.40 + 0.001 * np.arange(20) + 0.0005
    lon = 119.90 + 0.001 * np.arange(30) + 0.0005
    nc = netcdf_file(path, "w")
    nc.Conventions = "CF-1.6"
    nc.createDimension("lat", 20)
    nc.createDimension("lon", 30)
    for name, values, units in (("lat", lat, "degrees_north"), ("lon", lon, "degrees_east")):
        var = nc.createVariable(name, "f8", (name,))
        var[:] = values
        var.units = units
    for name, values in variables.items():
        if scale is None:
            var = nc.createVariable(name, "f4", ("lat", "lon"))
            var[:] = values
        else:
            var = nc.createVariable(name, "i2", ("lat", "lon"))
            var[:] = np.round(values / scale).astype("int16")
            var.scale_factor = np.float32(scale)
        var.units = "m"
    nc.close()
    return path


def _netcdf_ok() -> bool:
    return "netCDF" in rasterio.drivers.raster_driver_extensions().values()


@pytest.mark.skipif(not _netcdf_ok(), reason="this GDAL build has no netCDF driver")
def test_a_netcdf_dem_with_lat_lon_axes(tmp_path, catalog):
    z = _heights()
    path = _cf_netcdf(tmp_path / "gebco.nc", {"elevation": z})
    plan = plan_import(path, ImportOptions("dem"), catalog)
    assert plan.ok, plan.blocking
    assert plan.crs.to_epsg() == 4326 and any("WGS 84" in n for n in plan.notes)
    assert plan.value_range == pytest.approx((float(z.min()), float(z.max())))
    warp_into(plan, CRS.from_epsg(4549), tmp_path / "stored.tif")
    with rasterio.open(tmp_path / "stored.tif") as stored:
        heights = stored.read(1, masked=True)
        assert stored.crs.to_epsg() == 4549
    assert heights.min() == pytest.approx(z.min(), abs=0.5)
    assert heights.max() == pytest.approx(z.max(), abs=0.5)
    rows = heights.mean(axis=1).compressed()
    assert rows[0] > rows[-1]  # the file runs south to north; the north (higher) is on top


@pytest.mark.skipif(not _netcdf_ok(), reason="this GDAL build has no netCDF driver")
def test_a_netcdf_with_several_variables_and_packed_values(tmp_path, catalog):
    z = _heights()
    path = _cf_netcdf(tmp_path / "grids.nc", {"slope": z / 10, "elevation": z}, scale=0.01)
    plan = plan_import(path, ImportOptions("dem"), catalog)
    assert any("'elevation'" in n for n in plan.notes)
    assert plan.value_range == pytest.approx((float(z.min()), float(z.max())), abs=0.01)
    assert any("unpacked" in n for n in plan.notes)
    chosen = plan_import(path, ImportOptions("dem", source_layer="slope"), catalog)
    assert chosen.value_range[1] == pytest.approx(float(z.max()) / 10, abs=0.01)
    other = _cf_netcdf(tmp_path / "two.nc", {"a": z, "b": z})
    with pytest.raises(UploadError, match=r"holds 2 variables \(a, b\)"):
        plan_import(other, ImportOptions("dem"), catalog)
    with pytest.raises(UploadError, match="has no variable 'c'"):
        plan_import(other, ImportOptions("dem", source_layer="c"), catalog)


def test_a_shapefile_part_alone_says_the_shp_is_missing(tmp_path):
    path = tmp_path / "区划.dbf"
    path.write_bytes(b"\x03\x7c\x01\x01" + b"\x00" * 28 + b"\x0d")
    with pytest.raises(UploadError, match=r"one part of a Shapefile: its \.shp is missing"):
        read_file(path)
