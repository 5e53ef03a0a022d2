"""Damaged and awkward files as consultants really send them: a cut Shapefile, .cpg files
in every spelling (and wrong ones), Latin-1 and GBK attributes, NaN coordinates, NUL
bytes, a real leading apostrophe. Nothing may be lost without a word."""

from __future__ import annotations

import struct
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from shapely.geometry import Point

from townmap.errors import UploadError
from townmap.io.encoding import codec_for, cpg_encoding, shapefile_encoding
from townmap.io.readers import coordinate_values, list_sources, read_file

NAMES = ["湖滨印染有限公司", "西山村水泥厂", "太滨开发区宏达化工有限公司"]


def _shapefile(folder, values, *, encoding="UTF-8", n=None, name="tve"):
    folder.mkdir(parents=True, exist_ok=True)
    n = n or len(values)
    gdf = gpd.GeoDataFrame(
        {"name": [values[i % len(values)] for i in range(n)], "no": list(range(1, n + 1))},
        geometry=[Point(119.90 + i * 0.01, 31.40) for i in range(n)],
        crs=4326,
    )
    path = folder / f"{name}.shp"
    pyogrio.write_dataframe(gdf, path, encoding=encoding)
    return path


# --- a damaged Shapefile ----------------------------------------------------------------


def test_a_shp_cut_to_300_bytes_is_refused_with_the_counts(tmp_path):
    shp = _shapefile(tmp_path, NAMES, n=12)
    with open(shp, "r+b") as fh:
        fh.truncate(300)
    with pytest.raises(UploadError) as info:
        read_file(shp)
    text = str(info.value)
    assert "tve.shp is damaged: only 7 of 12 features could be read" in text
    assert "export it again" in text and "\n" not in text


def test_a_zipped_shapefile_with_a_cut_dbf_is_refused(tmp_path):
    shp = _shapefile(tmp_path / "src", NAMES, n=12)
    dbf = shp.with_suffix(".dbf")
    header_len, record_len = struct.unpack("<HH", dbf.read_bytes()[8:12])
    with open(dbf, "r+b") as fh:
        fh.truncate(header_len + 9 * record_len + 5)
    archive = tmp_path / "tve.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in shp.parent.iterdir():
            zf.write(part, part.name)
    with pytest.raises(UploadError, match=r"only 9 of 12 features .*\.dbf holds 9 of its 12"):
        read_file(archive)


def test_shx_and_dbf_that_disagree_are_refused(tmp_path):
    a = _shapefile(tmp_path / "a", NAMES, n=12)
    b = _shapefile(tmp_path / "b", NAMES, n=10)
    a.with_suffix(".dbf").write_bytes(b.with_suffix(".dbf").read_bytes())
    with pytest.raises(UploadError, match=r"the \.shx lists 12 features and the \.dbf 10"):
        read_file(a)


def test_records_marked_deleted_are_left_out_with_a_note(tmp_path):
    shp = _shapefile(tmp_path, NAMES, n=5)
    dbf = shp.with_suffix(".dbf")
    raw = bytearray(dbf.read_bytes())
    header_len, record_len = struct.unpack("<HH", raw[8:12])
    raw[header_len + 2 * record_len] = 0x2A  # dBASE's "deleted" flag on record 3
    dbf.write_bytes(bytes(raw))
    data = read_file(shp)
    assert list(data.frame["no"]) == [1, 2, 4, 5]
    assert any("1 record(s) marked deleted" in n for n in data.notes)


# --- encodings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        ("ANSI 936", "gbk"),
        ("ansi 936\r\n", "gbk"),
        ("\ufeffANSI 936", "gbk"),
        ("ANSI 1252", "cp1252"),
        ("UTF8", "utf-8"),
        ("utf-8", "utf-8"),
        ("GB2312", "gbk"),
        ("CP936", "gbk"),
        ("936", "gbk"),
        (" 65001 ", "utf-8"),
        ("GB18030", "gb18030"),
        ("ISO-8859-1", "latin-1"),
        ("88591", "latin-1"),
        ("Big5", "big5"),
        ("windows-1252", "cp1252"),
        ("OEM", None),
        ("rot13", None),
        ("", None),
    ],
)
def test_cpg_spellings_seen_in_the_wild(tmp_path, text, codec):
    cpg = tmp_path / "x.cpg"
    cpg.write_bytes(text.encode("utf-8"))
    assert cpg_encoding(cpg) == codec
    assert codec_for(text) == codec


def test_a_latin1_shapefile_declared_by_its_cpg_or_chosen_by_the_user(tmp_path):
    values = ["café", "été", "crème brûlée"]
    shp = _shapefile(tmp_path, values, encoding="ISO-8859-1")
    assert shp.with_suffix(".cpg").read_text() == "ISO-8859-1"
    data = read_file(shp)
    assert list(data.frame["name"]) == values and data.problems == []
    assert data.encoding.encoding == "latin-1"
    assert any("latin-1" in n and "ISO-8859-1" in n for n in data.notes)
    shp.with_suffix(".cpg").unlink()
    for chosen in ("latin-1", "latin1", "ISO-8859-1", "cp1252"):
        assert list(read_file(shp, encoding=chosen).frame["name"]) == values, chosen
    with pytest.raises(UploadError, match="'klingon' is not an encoding"):
        read_file(shp, encoding="klingon")


def test_a_cpg_of_ansi_936_with_gbk_text(tmp_path):
    shp = _shapefile(tmp_path, NAMES, encoding="GBK")
    shp.with_suffix(".cpg").write_text("ANSI 936\r\n")
    assert shapefile_encoding(shp).encoding == "gbk"
    data = read_file(shp)
    assert list(data.frame["name"]) == NAMES
    assert "no .cpg" not in data.notes[0] and "ANSI 936" in data.notes[0]


def test_gbk_column_names_are_decoded_too(tmp_path):
    gdf = gpd.GeoDataFrame({"企业名称": NAMES[:1]}, geometry=[Point(119.9, 31.4)], crs=4326)
    path = tmp_path / "tve.shp"
    pyogrio.write_dataframe(gdf, path, encoding="GBK")
    path.with_suffix(".cpg").unlink()
    assert list(read_file(path).frame.columns) == ["企业名称", "geometry"]


def test_a_cpg_saying_utf8_over_gbk_bytes_names_the_encoding_to_choose(tmp_path):
    shp = _shapefile(tmp_path, NAMES, encoding="GBK")
    shp.with_suffix(".cpg").write_text("UTF-8")
    with pytest.raises(UploadError) as info:
        read_file(shp)
    text = str(info.value)
    assert "'UTF-8'" in text and "--encoding gbk" in text and "choose the encoding 'gbk'" in text
    assert NAMES[0][:4] in text  # the user sees what the text says in GBK
    assert list(read_file(shp, encoding="gbk").frame["name"]) == NAMES
    with pytest.raises(UploadError, match="--encoding gbk"):
        read_file(shp, encoding="utf-8")  # the same mistake made by hand


def test_one_broken_value_in_utf8_is_a_row_problem_not_a_failure(tmp_path):
    """A dBASE field cut in the middle of a character (254 bytes) is the classic case."""
    shp = _shapefile(tmp_path, NAMES)
    dbf = shp.with_suffix(".dbf")
    raw = bytearray(dbf.read_bytes())
    at = raw.index(NAMES[1].encode())
    raw[at + 1] = 0x20  # the first character of feature 2 loses a byte
    dbf.write_bytes(bytes(raw))
    data = read_file(shp)
    assert data.frame["name"][0] == NAMES[0] and "\ufffd" in data.frame["name"][1]
    assert data.problems == ["feature 2, column 'name': bytes that are not utf-8 text, shown as �"]
    assert any("1 value(s)" in n for n in data.notes)


def test_a_csv_in_the_wrong_chosen_encoding_names_the_right_one(tmp_path):
    path = tmp_path / "tve.csv"
    path.write_bytes("名称,经度,纬度\n湖滨印染有限公司,119.95,31.40\n".encode("gbk"))
    with pytest.raises(UploadError, match=r"is not utf-8 text .*--encoding gbk"):
        read_file(path, encoding="utf-8")


# --- coordinates that are not numbers ----------------------------------------------------

NAN_GEOJSON = """{"type": "FeatureCollection", "features": [
{"type": "Feature", "properties": {"name": "ok"},
 "geometry": {"type": "Point", "coordinates": [119.95, 31.40]}},
{"type": "Feature", "properties": {"name": "nan"},
 "geometry": {"type": "Point", "coordinates": [NaN, 31.40]}},
{"type": "Feature", "properties": {"name": "inf"},
 "geometry": {"type": "Point", "coordinates": [Infinity, -Infinity]}},
{"type": "Feature", "properties": {"name": "line"},
 "geometry": {"type": "LineString", "coordinates": [[119.9, 31.4], [NaN, NaN]]}},
{"type": "Feature", "properties": {"name": "ok2"},
 "geometry": {"type": "Point", "coordinates": [119.96, 31.41]}}
]}"""


def test_nan_and_infinity_coordinates_are_read_as_they_are_not_a_traceback(tmp_path):
    """The reader keeps NaN visible (not turned into an empty point, as an Arrow read
    would) so the importer's geometry fit can name each such feature."""
    path = tmp_path / "stations.geojson"
    path.write_text(NAN_GEOJSON, encoding="utf-8")
    data = read_file(path)
    assert list(data.frame["name"]) == ["ok", "nan", "inf", "line", "ok2"]
    finite = [bool(np.isfinite(shapely.get_coordinates(g)).all()) for g in data.frame.geometry]
    assert finite == [True, False, False, False, True]
    assert not data.frame.geometry.is_empty.any()


def test_nan_coordinates_become_row_problems_in_an_import(tmp_path, catalog):
    from townmap.io.importer import ImportOptions, plan_import

    path = tmp_path / "stations.geojson"
    path.write_text(NAN_GEOJSON, encoding="utf-8")
    plan = plan_import(path, ImportOptions("monitoring_stations"), catalog, hint_lon=120.0)
    assert len(plan.frame) == 2
    named = [p.split(":")[0] for p in plan.problems if "finite" in p or "not a number" in p]
    assert named == ["feature 2", "feature 3", "feature 4"]


def test_coordinate_values_helper():
    got = coordinate_values(pd.Series(["119.9", "inf", "-inf", "1e999", "NaN", "", "abc", None]))
    assert got.iloc[0] == 119.9 and got.iloc[1:].isna().all()


# --- NUL bytes and apostrophes in tables ---------------------------------------------------


def test_a_csv_with_nul_bytes_and_a_real_leading_apostrophe(tmp_path):
    path = tmp_path / "stations.csv"
    path.write_bytes(
        b"name,formula,lon,lat\n"
        b"S1\x00 upstream,'=SUM(A1),119.95,31.40\n"
        b"S2\x00\x00\x00,plain,119.96,31.41\n"
    )
    data = read_file(path)
    assert list(data.frame["name"]) == ["S1\ufffd upstream", "S2"]
    assert data.frame["formula"][0] == "'=SUM(A1)"  # the consultant's apostrophe is data
    what = "held NUL characters (removed at the end, shown as � inside the text)"
    assert data.problems == [f"row 2, column 'name': {what}", f"row 3, column 'name': {what}"]
    assert any("kept as they are" in n and "row 2 'formula'" in n for n in data.notes)


def test_townmaps_own_export_is_unguarded_and_says_so(tmp_path):
    from townmap.io.export import guard_formulas

    table = pd.DataFrame({"name": ["=HYPERLINK(1)", "-", "ok"], "level": [-2.5, 1.0, 3.0]})
    path = tmp_path / "export.csv"
    guard_formulas(table).to_csv(path, index=False, encoding="utf-8-sig")
    data = read_file(path)
    assert list(data.frame["name"]) == ["=HYPERLINK(1)", "-", "ok"]
    assert any("removed the '" in n and "2 cell(s)" in n for n in data.notes)
    # the same file edited by hand so that a formula-like cell is no longer guarded
    text = path.read_text(encoding="utf-8-sig").replace("ok", "=1+1")
    path.write_text(text, encoding="utf-8-sig")
    kept = read_file(path)
    assert kept.frame["name"][0] == "'=HYPERLINK(1)"
    assert any("kept as they are" in n for n in kept.notes)


def test_row_labels_are_spreadsheet_lines_even_after_blank_lines(tmp_path):
    path = tmp_path / "stations.csv"
    path.write_text('name,lon\nS1,119.9\n\n"S2\nsecond line",119.8\nS3,x\n', encoding="utf-8")
    data = read_file(path)
    assert list(data.frame["name"]) == ["S1", "S2\nsecond line", "S3"]
    assert [data.row_label(i) for i in range(3)] == ["row 2", "row 4", "row 5"]
    book = tmp_path / "stations.xlsx"
    frame = pd.DataFrame({"name": ["S1", None, "S3"], "lon": ["119.9", None, "x"]})
    frame.to_excel(book, index=False)
    sheet = read_file(book)
    assert [sheet.row_label(i) for i in range(len(sheet.frame))] == ["row 2", "row 4"]


# --- archives pass the chosen layer on ----------------------------------------------------


def test_a_zip_with_one_geopackage_lists_and_reads_its_layers(tmp_path):
    gpkg = tmp_path / "survey.gpkg"
    for layer in ("enterprises", "outfalls"):
        pyogrio.write_dataframe(
            gpd.GeoDataFrame({"name": NAMES[:1]}, geometry=[Point(119.9, 31.4)], crs=4326),
            gpkg,
            layer=layer,
        )
    archive = tmp_path / "survey.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(gpkg, "survey.gpkg")
    assert list_sources(archive) == ["enterprises", "outfalls"]
    assert read_file(archive, layer="outfalls").layer == "outfalls"
    with pytest.raises(UploadError, match="holds 2 layers"):
        read_file(archive)
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as zf:
        zf.write(gpkg, "a.gpkg")
        zf.write(gpkg, "b.gpkg")
    with pytest.raises(UploadError, match=r"has no dataset 'c\.gpkg'; it has a\.gpkg, b\.gpkg"):
        read_file(two, layer="c.gpkg")
