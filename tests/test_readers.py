"""Reading consultants' files: good ones in every format, bad ones as one clear error."""

from __future__ import annotations

import zipfile

import geopandas as gpd
import pyogrio
import pytest
from shapely.geometry import Point

from townmap.errors import UploadError
from townmap.io.readers import read_file

NAMES = ["湖滨印染有限公司", "西山村水泥厂"]


def _points(crs=4326) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"name": NAMES, "cod": [12.5, 3.0]},
        geometry=[Point(119.95, 31.40), Point(119.96, 31.41)],
        crs=crs,
    )


def test_geojson_gpkg_and_kml_read_with_chinese_text(tmp_path):
    for suffix, driver in ((".geojson", "GeoJSON"), (".gpkg", "GPKG"), (".kml", "KML")):
        path = tmp_path / f"tve{suffix}"
        pyogrio.write_dataframe(_points(), path, driver=driver)
        data = read_file(path)
        assert list(data.frame["name"] if "name" in data.frame else data.frame["Name"]) == NAMES
        assert data.has_geometry


def test_zipped_gbk_shapefile_without_cpg(tmp_path):
    shp = tmp_path / "src" / "tve.shp"
    shp.parent.mkdir()
    pyogrio.write_dataframe(_points(), shp, encoding="GBK")
    shp.with_suffix(".cpg").unlink()
    archive = tmp_path / "tve.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in shp.parent.iterdir():
            zf.write(part, f"tve/{part.name}")
    data = read_file(archive)
    assert list(data.frame["name"]) == NAMES
    assert data.encoding.encoding == "gb18030"
    assert any("gb18030" in n for n in data.notes)


def test_shapefile_parts_missing_or_without_prj(tmp_path):
    shp = tmp_path / "tve.shp"
    pyogrio.write_dataframe(_points(), shp)
    shp.with_suffix(".prj").unlink()
    data = read_file(shp)
    assert data.crs is None and any(".prj" in n for n in data.notes)
    shp.with_suffix(".dbf").unlink()
    with pytest.raises(UploadError, match=r"without its \.dbf"):
        read_file(shp)


def test_csv_in_gbk_with_chinese_headers(tmp_path):
    path = tmp_path / "tve.csv"
    path.write_bytes("名称,经度,纬度\n湖滨印染有限公司,119.95,31.40\n".encode("gbk"))
    data = read_file(path)
    assert list(data.frame.columns) == ["名称", "经度", "纬度"]
    assert data.frame["名称"].iloc[0] == NAMES[0] and not data.has_geometry


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("empty.geojson", b"", "is empty"),
        ("page.geojson", b"<!DOCTYPE html><html><body>404</body></html>", "looks like HTML"),
        ("trunc.geojson", b'{"type": "FeatureCollection", "features": [{"type": "Fea', "could not"),
        ("data.dwg", b"AC1027", "not supported"),
        ("bad.gpkg", b"SQLite format 3\x00garbage", "not a readable GeoPackage"),
        ("bad.zip", b"PK\x03\x04broken", "not a readable zip"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UploadError, match=words) as info:
        read_file(path)
    assert "\n" not in str(info.value)


def test_gpkg_with_several_layers_needs_a_choice(tmp_path):
    path = tmp_path / "many.gpkg"
    pyogrio.write_dataframe(_points(), path, layer="a")
    pyogrio.write_dataframe(_points(), path, layer="b")
    with pytest.raises(UploadError, match="holds 2 layers"):
        read_file(path)
    assert read_file(path, layer="b").layer == "b"
    with pytest.raises(UploadError, match="no layer 'c'"):
        read_file(path, layer="c")


def test_missing_file(tmp_path):
    with pytest.raises(UploadError, match="does not exist"):
        read_file(tmp_path / "nope.shp")
