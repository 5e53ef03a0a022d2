"""Filters, search, details and area queries behind the map explorer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, box, mapping

from townmap.crs import DEMO_CRS
from townmap.errors import CRSError
from townmap.explore import inspect
from townmap.explore.filters import EnterpriseFilter, apply_filter, totals
from townmap.explore.search import build_index, search


@pytest.fixture(scope="module")
def data(demo_ws):
    return {
        name: demo_ws.read_layer(name)
        for name in (
            "enterprises",
            "villages",
            "monitoring_stations",
            "discharge_points",
            "taihu_zones",
            "rivers",
            "eco_redline",
            "basic_farmland",
            "sensitive_receptors",
            "treatment_plants",
            "water_intakes",
            "town",
        )
    }


def test_filter_matches_a_plain_pandas_query(data):
    tve = data["enterprises"]
    flt = EnterpriseFilter(
        sector=("printing_dyeing", "dyestuffs"),
        treatment=("none",),
        load_field="cod_tpa",
        load_min=5.0,
        load_max=500.0,
    )
    got = apply_filter(tve, flt)
    want = tve[
        tve["sector"].isin(["printing_dyeing", "dyestuffs"])
        & (tve["treatment"] == "none")
        & tve["cod_tpa"].between(5.0, 500.0)
    ]
    assert list(got["ent_id"]) == list(want["ent_id"]) and len(got) > 0
    assert flt.is_active and not EnterpriseFilter().is_active
    assert len(apply_filter(tve, EnterpriseFilter())) == len(tve)


def test_totals_add_up_loads(data):
    tve = data["enterprises"].head(10)
    sums = totals(tve)
    assert sums["count"] == 10
    assert sums["cod_tpa"] == pytest.approx(tve["cod_tpa"].sum())
    assert totals(tve.iloc[0:0])["cod_tpa"] == 0


@pytest.mark.parametrize("kwargs", [{"load_field": "nonsense"}, {"load_min": 5.0, "load_max": 1.0}])
def test_bad_filters_are_refused(kwargs):
    with pytest.raises(ValueError):
        EnterpriseFilter(**kwargs)


def test_search_by_chinese_english_id_and_case(data, catalog):
    index = build_index(data, dict(catalog.layers))
    ent = data["enterprises"].iloc[7]
    by_zh = search(index, ent["name_zh"])
    assert by_zh[0].key == ent["ent_id"] and by_zh[0].layer == "enterprises"
    by_id = search(index, ent["ent_id"].lower())
    assert by_id[0].key == ent["ent_id"]
    assert search(index, "hubin village")[0].layer == "villages"
    assert search(index, "湖滨村")[0].name_en == "Hubin Village"
    station = search(index, "S05")[0]
    assert station.layer == "monitoring_stations"
    lon, lat = (
        data["monitoring_stations"]
        .to_crs(4326)
        .set_index("station_id")
        .loc["S05", "geometry"]
        .coords[0]
    )
    assert (station.lat, station.lon) == pytest.approx((lat, lon))
    assert search(index, "   ") == [] and search(index, "no such place xyz") == []
    assert len(search(index, "有限公司", limit=7)) == 7


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        (None, None),
        ({}, None),
        (
            {
                "last_object_clicked": {"lat": 31.4, "lng": 119.9},
                "last_object_clicked_tooltip": "townmap:enterprises:E00007",
            },
            ("enterprises", "E00007"),
        ),
        (
            {
                "last_object_clicked": {"lat": 31.4, "lng": 119.9},
                "last_object_clicked_tooltip": "townmap:@",
            },
            (None, None),
        ),
        (
            {
                "last_object_clicked": {"lat": 31.4, "lng": 119.9},
                "last_object_clicked_tooltip": "Village name Hubin",
            },
            None,
        ),
        (
            {
                "last_object_clicked": {"lat": "x", "lng": None},
                "last_object_clicked_tooltip": "townmap:@",
            },
            None,
        ),
    ],
)
def test_click_reports_are_parsed_defensively(report, expected):
    clicked = inspect.parse_click(report)
    if expected is None:
        assert clicked is None
    else:
        assert (clicked.layer, clicked.key) == expected


def test_enterprise_links_find_its_outfalls_and_nearest_station(data):
    tve, dps = data["enterprises"], data["discharge_points"]
    ent = tve[tve["treatment"] == "none"].iloc[0]
    links = inspect.enterprise_links(ent, data)
    assert set(links["discharge_points"]["ent_id"]) == {ent["ent_id"]}
    assert len(links["discharge_points"]) == (dps["ent_id"] == ent["ent_id"]).sum()
    stations = data["monitoring_stations"]
    brute = stations.distance(ent.geometry)
    assert links["station"]["station_id"] == stations.loc[brute.idxmin(), "station_id"]
    assert links["station_distance_m"] == pytest.approx(brute.min())


def test_identify_lists_the_polygons_at_a_place(data, catalog):
    village = data["villages"].iloc[3]
    here = village.geometry.representative_point()
    lon, lat = (
        __import__("geopandas").GeoSeries([here], crs=DEMO_CRS).to_crs(4326).iloc[0].coords[0]
    )
    found = inspect.identify(data, dict(catalog.layers), lat, lon, DEMO_CRS)
    ids = {(spec.id, row.get(spec.key) if spec.key else None) for spec, row in found}
    assert ("villages", village["village_id"]) in ids
    assert any(spec.id == "taihu_zones" for spec, _ in found)
    assert any(spec.id == "town" for spec, _ in found)
    with pytest.raises(CRSError):
        inspect.identify(data, dict(catalog.layers), lat, lon, 4326)


def test_area_summary_counts_enterprises_and_constraints(data, catalog):
    tve = data["enterprises"]
    redline = data["eco_redline"].geometry.iloc[0]
    area = box(*redline.buffer(200).bounds)
    summary = inspect.area_summary(area, data, dict(catalog.layers), tve)
    inside = tve[tve.intersects(area)]
    assert len(summary["enterprises"]) == len(inside)
    assert summary["totals"]["cod_tpa"] == pytest.approx(inside["cod_tpa"].sum())
    by_layer = {c["layer"].id: c for c in summary["constraints"]}
    assert by_layer["eco_redline"]["overlap_m2"] == pytest.approx(
        redline.intersection(area).area
        + data["eco_redline"].geometry.iloc[1].intersection(area).area
    )
    assert summary["area_m2"] == pytest.approx(area.area)
    assert "basic_farmland" not in by_layer or by_layer["basic_farmland"]["features"] > 0


def test_drawn_shapes_are_measured_in_metres(data):
    import geopandas as gpd

    a, b = Point(495_000, 3_475_000), Point(496_000, 3_475_000)
    line_ll = gpd.GeoSeries([LineString([a, b])], crs=DEMO_CRS).to_crs(4326).iloc[0]
    geom = inspect.drawn_geometry({"geometry": mapping(line_ll)}, DEMO_CRS)
    assert inspect.measure(geom)["length_m"] == pytest.approx(1000, abs=0.01)
    square = gpd.GeoSeries([box(495_000, 3_475_000, 495_500, 3_475_400)], crs=DEMO_CRS)
    poly = inspect.drawn_geometry({"geometry": mapping(square.to_crs(4326).iloc[0])}, DEMO_CRS)
    sizes = inspect.measure(poly)
    assert sizes["area_m2"] == pytest.approx(200_000, rel=1e-6)
    assert sizes["perimeter_m"] == pytest.approx(1800, rel=1e-6)
    with pytest.raises(CRSError):
        inspect.drawn_geometry({"geometry": mapping(line_ll)}, 4326)


def test_feature_rows_label_and_format_every_attribute(data, catalog):
    ent = data["enterprises"].iloc[0]
    rows = inspect.feature_rows(catalog["enterprises"], ent, "en")
    table = dict(zip(rows["Attribute"], rows["Value"], strict=True))
    assert table["Enterprise id"] == ent["ent_id"]
    assert table["COD load"].endswith("t/a")
    assert table["Founded"] == str(ent["founded"])  # a year, no thousands separator
    assert table["Public details"] in {"yes", "no"}
    assert len(rows) == len(catalog["enterprises"].attributes)
    assert inspect.find_feature(data["enterprises"], catalog["enterprises"], "nope") is None


def test_details_of_an_own_layer_show_gaps_as_a_dash_and_dates_as_dates():
    """Walkthrough: an own layer from a KML showed "<NA>" and "NaT" in its details."""
    import geopandas as gpd

    from townmap.own_layers import infer_spec

    frame = gpd.GeoDataFrame(
        {
            "名称": ["甲", pd.NA],
            "踏勘日期": pd.to_datetime(["2024-05-01", None]),
            "时间": pd.to_datetime(["2024-05-01 09:30", "2024-05-02 00:00"]),
            "人数": pd.array([3, None], dtype="Int64"),
            "备注": ["nan", "有"],
        },
        geometry=[Point(0, 0), Point(1, 1)],
        crs=4326,
    )
    spec, frame, _ = infer_spec("survey", frame)

    def shown(i: int) -> dict:
        rows = inspect.feature_rows(spec, frame.iloc[i], "zh")
        return dict(zip(rows["属性"], rows["值"], strict=True))

    gap = shown(1)
    assert gap["名称"] == gap["踏勘日期"] == gap["人数"] == "–"
    assert gap["时间"] == "2024-05-02"
    full = shown(0)
    assert full["踏勘日期"] == "2024-05-01" and full["时间"] == "2024-05-01 09:30"
    assert full["备注"] == "–" and full["人数"] == "3"
    text = " ".join([*gap.values(), *full.values()])
    assert not any(word in text for word in ("NaT", "<NA>", "nan", "None"))


def test_units_are_written_in_the_pages_language(catalog):
    """Walkthrough: a village read 人口 "3,050 persons" on the Chinese map."""
    from townmap.display import format_value

    assert format_value(catalog["villages"], "population", 3050, "zh") == "3,050 人"
    assert format_value(catalog["villages"], "population", 3050, "en") == "3,050 persons"


def test_search_index_is_empty_without_searchable_layers(catalog):
    assert build_index({}, dict(catalog.layers)).empty
    assert search(build_index({}, dict(catalog.layers)), "x") == []


def test_nearest_of_nothing():
    import geopandas as gpd

    row, dist = inspect.nearest(gpd.GeoDataFrame(geometry=[], crs=DEMO_CRS), Point(0, 0))
    assert row is None and np.isnan(dist)
    assert pd.isna(dist)


def test_area_summary_without_enterprises(data, catalog):
    area = data["town"].geometry.iloc[0].buffer(-3000)
    summary = inspect.area_summary(area, data, dict(catalog.layers), None)
    assert summary["totals"]["count"] == 0 and len(summary["enterprises"]) == 0
    assert any(c["layer"].id == "taihu_zones" for c in summary["constraints"])
