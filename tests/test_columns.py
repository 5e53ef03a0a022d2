"""Recognising coordinate and attribute columns in consultants' tables."""

from __future__ import annotations

import pandas as pd
import pytest

from townmap.io.columns import find_coordinates, guess_mapping


@pytest.mark.parametrize(
    ("x", "y"),
    [
        ("经度", "纬度"),
        ("Longitude", "Latitude"),
        ("LNG", "lat"),
        ("经度(°)", "纬度（°）"),
        ("lon", "lat"),
    ],
)
def test_lonlat_columns_in_chinese_and_english(x, y):
    frame = pd.DataFrame({"名称": ["a"], x: [119.95], y: [31.40]})
    found = find_coordinates(frame)
    assert (found.x, found.y, found.kind, found.swapped) == (x, y, "lonlat", False)


def test_swapped_lonlat_is_detected():
    frame = pd.DataFrame({"经度": [31.40, 31.41], "纬度": [119.95, 119.96]})
    found = find_coordinates(frame)
    assert found.swapped and "swapped" in found.describe()


def test_projected_xy_and_the_surveyors_exchanged_axes():
    plain = pd.DataFrame({"X": [495_000.0], "Y": [3_475_000.0]})
    assert find_coordinates(plain).kind == "projected" and not find_coordinates(plain).swapped
    surveyor = pd.DataFrame({"X": [3_475_000.0, 3_476_000.0], "Y": [40_495_000.0, 40_496_000.0]})
    assert find_coordinates(surveyor).swapped is False  # y (easting with zone) is larger
    exchanged = pd.DataFrame({"x": [3_475_000.0, 3_476_000.0], "y": [495_000.0, 496_000.0]})
    assert find_coordinates(exchanged).swapped
    degrees_xy = pd.DataFrame({"x": [119.95], "y": [31.4]})
    assert find_coordinates(degrees_xy).kind == "lonlat"


def test_no_coordinates():
    assert find_coordinates(pd.DataFrame({"名称": ["a"], "地址": ["b"]})) is None


def test_attribute_mapping_by_id_and_labels(catalog):
    cols = ["企业名称", "Name", "行业", "COD排放量", "ent_id", "废水量（m³/d）", "unrelated"]
    mapping = guess_mapping(cols, catalog["enterprises"])
    assert mapping["name_zh"] == "企业名称"
    assert mapping["name_en"] == "Name"
    assert mapping["sector"] == "行业"
    assert mapping["cod_tpa"] == "COD排放量"
    assert mapping["ent_id"] == "ent_id"
    assert mapping["wastewater_m3d"] == "废水量（m³/d）"
    assert "unrelated" not in mapping.values()
