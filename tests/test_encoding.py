"""Encodings of Chinese GIS files: .cpg honoured, GBK without .cpg detected."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import Point

from townmap.io.encoding import cpg_encoding, decode_text, detect_bytes, shapefile_encoding

NAMES = ["湖滨印染有限公司", "西山村水泥厂", "太滨开发区宏达化工有限公司"]


def _shapefile(tmp_path, encoding: str, keep_cpg: bool):
    gdf = gpd.GeoDataFrame({"name": NAMES}, geometry=[Point(120, 31.4)] * 3, crs=4326)
    path = tmp_path / "tve.shp"
    pyogrio.write_dataframe(gdf, path, encoding=encoding)
    if not keep_cpg:
        path.with_suffix(".cpg").unlink(missing_ok=True)
    return path


def test_gbk_shapefile_without_cpg_is_detected_and_reads_correctly(tmp_path):
    shp = _shapefile(tmp_path, "GBK", keep_cpg=False)
    assert not shp.with_suffix(".cpg").exists()
    guess = shapefile_encoding(shp)
    assert guess.encoding == "gb18030" and "no .cpg" in guess.reason
    assert NAMES[0] in guess.preview
    back = pyogrio.read_dataframe(shp, encoding=guess.encoding)
    assert list(back["name"]) == NAMES


def test_cpg_is_honoured(tmp_path):
    shp = _shapefile(tmp_path, "UTF-8", keep_cpg=True)
    assert shapefile_encoding(shp).reason == ".cpg file"
    assert shapefile_encoding(shp).encoding == "utf-8"


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("UTF-8", "utf-8"),
        ("936", "gbk"),
        ("GB18030", "gb18030"),
        (" cp936\n", "gbk"),
        ("nonsense", None),
        ("", None),
    ],
)
def test_cpg_spellings(tmp_path, text, name):
    cpg = tmp_path / "x.cpg"
    cpg.write_text(text)
    assert cpg_encoding(cpg) == name
    assert cpg_encoding(tmp_path / "missing.cpg") is None


def test_detect_bytes():
    assert detect_bytes("名称,经度\n".encode()).encoding == "utf-8"
    assert detect_bytes("名称,经度\n".encode("gbk")).encoding == "gb18030"
    assert detect_bytes(b"\xef\xbb\xbfid,x\n").encoding == "utf-8-sig"
    assert detect_bytes(b"plain ascii").reason == "plain ASCII"
    # a long UTF-8 text cut in the middle of a character is still UTF-8
    long = ("湖滨印染 " * 20_000).encode()
    assert detect_bytes(long).encoding == "utf-8"
    assert not detect_bytes(bytes([0x81, 0x20, 0xFF, 0xFE])).confident


def _as_read(values: list[bytes | None]) -> pd.DataFrame:
    """What GDAL hands over with its TRANSPARENT encoding: each byte as one character."""
    return pd.DataFrame({"name": [None if b is None else b.decode("latin-1") for b in values]})


@pytest.mark.parametrize(
    "odd",
    [
        "unit\x1fseparator 化工".encode("gbk"),  # the byte the one-call decode joins with
        "印染".encode("gbk") + b"\xff",  # a byte GBK cannot read, amid good values
        None,
    ],
)
def test_decoding_every_value_at_once_gives_what_one_at_a_time_gives(odd):
    values = [n.encode("gbk") for n in NAMES * 400] + [odd]
    decoded = decode_text(_as_read(values), "gbk")
    expected = [None if b is None else b.decode("gbk", "replace") for b in values]
    got = decoded.frame["name"].tolist()
    assert got[:-1] == expected[:-1]
    assert got[-1] == expected[-1] if odd is not None else pd.isna(got[-1])
    assert decoded.bad == ([] if odd is None or b"\xff" not in odd else [(len(values) - 1, "name")])


def test_an_encoding_that_is_not_ascii_compatible_is_still_read_value_by_value():
    values = [n.encode("utf-16-le") for n in NAMES]
    decoded = decode_text(_as_read(values), "utf-16-le")
    assert decoded.frame["name"].tolist() == NAMES
