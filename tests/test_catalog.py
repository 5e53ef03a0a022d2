"""The layer catalog: every shipped file loads; malformed files are reported precisely."""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, Polygon

from townmap.catalog import GROUPS, load_catalog, load_layer_file, validate_frame
from townmap.errors import CatalogError

from .conftest import LAYERS

REQUIRED_LAYERS = {
    "town",
    "villages",
    "enterprises",
    "discharge_points",
    "treatment_plants",
    "rivers",
    "lake",
    "roads",
    "sewer_trunk",
    "taihu_zones",
    "water_source_zones",
    "water_intakes",
    "eco_redline",
    "basic_farmland",
    "urban_boundary",
    "flood_areas",
    "sensitive_receptors",
    "planning_zones",
    "monitoring_stations",
    "dem",
    "water_samples",
    "effluent_samples",
}


def test_shipped_catalog_loads_without_errors(catalog):
    assert catalog.errors == []
    assert set(catalog.layers) >= REQUIRED_LAYERS


def test_every_layer_is_bilingual_grouped_and_consistent(catalog):
    for spec in catalog:
        assert spec.group in GROUPS
        assert spec.label.zh and spec.label.en and spec.label.zh != spec.label.en
        names = {a.name for a in spec.attributes}
        assert set(spec.tooltip) <= names and set(spec.popup) <= names
        if spec.kind == "vector":
            assert spec.geometry in ("Point", "LineString", "Polygon")
            assert spec.tooltip, f"{spec.id} has no tooltip fields"


def test_catalog_iterates_in_group_order(catalog):
    groups = [GROUPS.index(s.group) for s in catalog]
    assert groups == sorted(groups)


def _copy_layers(tmp_path: Path, names: list[str]) -> Path:
    folder = tmp_path / "layers"
    folder.mkdir()
    for n in names:
        shutil.copy(LAYERS / f"{n}.toml", folder)
    return folder


MALFORMED = {
    "bad_syntax": ('id = "bad_syntax"\nkind = vector\n', "not valid TOML"),
    "bad_colour": (
        'id = "bad_colour"\nkind = "vector"\ngeometry = "Point"\ngroup = "water"\n'
        'label = { zh = "甲", en = "A" }\n[style]\ncolor = "red-ish"\n',
        "key 'style.color'",
    ),
    "missing_label": (
        'id = "missing_label"\nkind = "vector"\ngeometry = "Point"\ngroup = "water"\n',
        "key 'label'",
    ),
    "bad_group": (
        'id = "bad_group"\nkind = "vector"\ngeometry = "Point"\ngroup = "misc"\n'
        'label = { zh = "甲", en = "A" }\n',
        "key 'group'",
    ),
    "no_geometry": (
        'id = "no_geometry"\nkind = "vector"\ngroup = "water"\nlabel = { zh = "甲", en = "A" }\n',
        "needs 'geometry'",
    ),
    "unknown_tooltip": (
        'id = "unknown_tooltip"\nkind = "vector"\ngeometry = "Point"\ngroup = "water"\n'
        'label = { zh = "甲", en = "A" }\ntooltip = ["nope"]\n',
        "unknown attributes: nope",
    ),
    "typo_key": (
        'id = "typo_key"\nkind = "vector"\ngeometry = "Point"\ngroup = "water"\n'
        'label = { zh = "甲", en = "A" }\ntooltips = ["x"]\n',
        "key 'tooltips'",
    ),
    "wrong_id": (
        'id = "something_else"\nkind = "table"\ngroup = "water"\nlabel = { zh = "甲", en = "A" }\n',
        "expected 'wrong_id'",
    ),
    "bad_attr_type": (
        'id = "bad_attr_type"\nkind = "table"\ngroup = "water"\nlabel = { zh = "甲", en = "A" }\n'
        '[[attributes]]\nname = "x"\ntype = "varchar"\nlabel = { zh = "甲", en = "A" }\n',
        "key 'attributes.0.type'",
    ),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_file_is_named_with_key_and_others_still_load(tmp_path, name):
    folder = _copy_layers(tmp_path, ["town", "rivers"])
    text, expected = MALFORMED[name]
    (folder / f"{name}.toml").write_text(text, encoding="utf-8")
    cat = load_catalog(folder)
    assert set(cat.layers) == {"town", "rivers"}
    assert len(cat.errors) == 1
    message = str(cat.errors[0])
    assert message.startswith(f"{name}.toml:")
    assert expected in message


def test_non_utf8_file_is_reported(tmp_path):
    folder = _copy_layers(tmp_path, ["town"])
    (folder / "gbk.toml").write_bytes('id = "gbk"\nlabel = { zh = "镇界" }\n'.encode("gbk"))
    cat = load_catalog(folder)
    assert "town" in cat.layers
    assert "gbk.toml" in str(cat.errors[0]) and "UTF-8" in str(cat.errors[0])


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(CatalogError, match="does not exist"):
        load_catalog(tmp_path / "nowhere")


def test_single_file_loader_raises_catalog_error(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text('id = "x"\n', encoding="utf-8")
    with pytest.raises(CatalogError, match=r"x\.toml: .*key 'kind'"):
        load_layer_file(path)


# ----------------------------------------------------------------------------- frames


def _rivers_frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "river_id": ["R1"],
            "name_zh": ["河"],
            "name_en": ["River"],
            "kind": ["river"],
            "target_class": ["III"],
            "basin": ["taihu"],
            "flows_into_lake": [True],
            "length_km": [1.0],
        },
        geometry=[LineString([(0, 0), (1000, 0)])],
        crs=4549,
    )


def test_validate_frame_accepts_a_good_frame(catalog):
    assert validate_frame(catalog["rivers"], _rivers_frame()) == []


def test_validate_frame_lists_every_problem(catalog):
    bad = _rivers_frame()
    bad = pd.concat([bad, bad], ignore_index=True)
    bad = bad.drop(columns=["basin", "river_id"])  # optional; the key is always required
    bad.loc[0, "target_class"] = "VI"
    bad["length_km"] = ["long", 2.0]
    bad.loc[1, "target_class"] = None  # required: the GB 8978 rule is by target class
    attrs = pd.DataFrame(bad.drop(columns="geometry"))
    bad = gpd.GeoDataFrame(attrs, geometry=[Point(0, 0), LineString([(0, 0), (1, 1)])])
    problems = validate_frame(catalog["rivers"], bad)
    text = " | ".join(problems)
    assert "'river_id' is missing" in text and "basin" not in text
    assert "'target_class' has values outside" in text
    assert "'length_km' must be a number" in text
    assert "'target_class' is empty in 1 row" in text
    assert "no coordinate reference system" in text
    assert "geometry must be LineString" in text


def test_validate_frame_flags_invalid_and_out_of_range(catalog):
    frame = gpd.GeoDataFrame(
        {"parcel_id": ["a"], "area_ha": [-1.0]},
        geometry=[Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])],  # bow-tie
        crs=4549,
    )
    problems = " | ".join(validate_frame(catalog["basic_farmland"], frame))
    assert "below 0" in problems
    assert "invalid" in problems


def test_every_sector_a_rule_or_standard_names_is_a_catalog_sector(catalog):
    """A rule naming a sector the catalog lacks (auto_manufacturing, pharmaceuticals)
    could never fire."""
    import tomllib

    from townmap.settings import layers_dir

    sectors = set(catalog["enterprises"].attribute("sector").choices)
    named = {}
    for path in sorted((layers_dir() / "rules").glob("*.toml")):
        for sector in tomllib.loads(path.read_text("utf-8")).get("sectors", []):
            named.setdefault(sector, path.name)
    table = tomllib.loads((layers_dir() / "standards" / "sector_standards.toml").read_text("utf-8"))
    for sector in table["sectors"]:
        named.setdefault(sector, "sector_standards.toml")
    missing = {s: where for s, where in named.items() if s not in sectors}
    assert not missing, missing
    assert {"auto_manufacturing", "pharmaceuticals"} <= sectors
