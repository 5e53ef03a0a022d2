"""Reading consultants' files: good ones in every format, bad ones as one clear error."""

from __future__ import annotations

import io
import zipfile

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import Point

from townmap.errors import UploadError
from townmap.io.readers import list_sources, read_file

NAMES = ["湖滨印染有限公司", "西山村水泥厂"]


def _zip_bytes(members: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return buffer.getvalue()


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
        ("renamed.xlsx", b"<html>export</html>", "not an Excel workbook"),
        ("broken.xlsx", b"PK\x03\x04broken", "not an Excel workbook"),
        ("other.xlsx", _zip_bytes({"notes.txt": "not a workbook"}), "not a readable Excel"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "old-style Excel"),
        ("dem.tif", b"II*\x00", "is a raster"),
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


def _workbook(path, sheets: dict[str, pd.DataFrame]):
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False)
    return path


def test_xlsx_sheets_with_chinese_headers(tmp_path):
    table = pd.DataFrame({"企业名称": NAMES, "经度": [119.95, 119.96], "纬度": [31.40, 31.41]})
    path = _workbook(tmp_path / "tve.xlsx", {"企业": table, "说明": pd.DataFrame({"a": [1]})})
    assert list_sources(path) == ["企业", "说明"]
    with pytest.raises(UploadError, match="holds 2 sheets"):
        read_file(path)
    data = read_file(path, layer="企业")
    assert list(data.frame["企业名称"]) == NAMES and list(data.frame["经度"]) == [
        "119.95",
        "119.96",
    ]
    with pytest.raises(UploadError, match="no sheet '别的'"):
        read_file(path, layer="别的")
    empty = _workbook(tmp_path / "empty.xlsx", {"空": pd.DataFrame({"a": []})})
    with pytest.raises(UploadError, match="holds no rows"):
        read_file(empty)


def test_an_xlsx_is_checked_like_any_archive(tmp_path):
    """A workbook is a zip: a bomb inside one is refused before anything is unpacked."""
    path = _workbook(tmp_path / "bomb.xlsx", {"s": pd.DataFrame({"a": [1]})})
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/media/pad.bin", b"\0" * 20_000_000)
    assert path.stat().st_size < 200_000
    with pytest.raises(UploadError, match=r"compression ratio|zip bomb"):
        read_file(path)


def test_list_sources_names_the_choices(tmp_path):
    gpkg = tmp_path / "many.gpkg"
    pyogrio.write_dataframe(_points(), gpkg, layer="a")
    pyogrio.write_dataframe(_points(), gpkg, layer="b")
    assert list_sources(gpkg) == ["a", "b"]
    zipped = tmp_path / "two.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("x/one.geojson", "{}")
        zf.writestr("two.csv", "a\n1\n")
        zf.writestr("readme.txt.bak", "")
    assert list_sources(zipped) == ["one.geojson", "two.csv"]
    assert list_sources(tmp_path / "plain.csv") == []
