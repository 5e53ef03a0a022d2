"""A consultant's files as they come: own layers, column and value mapping, modes."""

from __future__ import annotations

import geopandas as gpd
import pyogrio
import pytest
import shapely
from shapely.geometry import Polygon

from tests.helpers import fingerprint
from townmap.crs import DEMO_CRS
from townmap.errors import UploadError
from townmap.io.importer import (
    IMPORT_LOG,
    ImportOptions,
    NewLayer,
    commit_import,
    import_identity,
    plan_import,
    undo_last_import,
)
from townmap.own_layers import change, delete, own_specs, restyled, workspace_catalog
from townmap.store import create_workspace, open_workspace


@pytest.fixture
def ws(new_location, catalog):
    return create_workspace(new_location(), DEMO_CRS, {"name": "own layers"}, catalog=catalog)


def _zones_gpkg(tmp_path):
    """A consultant's protection zones: Chinese columns, a MultiPolygon, a date, codes
    with leading zeros (a code, not a number)."""
    frame = gpd.GeoDataFrame(
        {
            "保护区名称": ["西山湿地", "东湖缓冲区"],
            "级别": ["一级", "二级"],
            "面积公顷": [120.5, 33.0],
            "批复年份": [2019, 2021],
            "编码": ["007", "012"],
        },
        geometry=[
            Polygon([(119.95, 31.40), (119.96, 31.40), (119.96, 31.41), (119.95, 31.41)]),
            gpd.GeoSeries.from_wkt(
                [
                    "MULTIPOLYGON (((119.97 31.40, 119.98 31.40, 119.98 31.41, 119.97 31.40)),"
                    " ((119.99 31.40, 120.0 31.40, 120.0 31.41, 119.99 31.40)))"
                ]
            ).iloc[0],
        ],
        crs=4490,  # CGCS2000 geographic, as Chinese agencies deliver
    )
    path = tmp_path / "保护区.gpkg"
    pyogrio.write_dataframe(frame, path, layer="保护区")
    return path


def _new(layer_id, **labels):
    return ImportOptions(layer_id, new_layer=NewLayer(**labels))  # labels, group, geometry


def test_any_file_becomes_an_own_layer_with_its_columns(tmp_path, catalog, ws):
    plan = plan_import(
        _zones_gpkg(tmp_path), _new("wetland_zones", label_zh="湿地保护区"), catalog, ws=ws
    )
    assert plan.ok, plan.blocking
    spec = plan.new_spec
    types = {a.name: a.type for a in spec.attributes}
    assert types["保护区名称"] == "str" and types["面积公顷"] == "float"
    assert types["批复年份"] == "int" and types["编码"] == "str"  # 007 stays a code
    assert spec.geometry == "Polygon" and spec.tooltip == ["保护区名称"]
    commit_import(ws, plan)
    cat = workspace_catalog(open_workspace(ws.location, catalog=catalog))
    assert "wetland_zones" in cat and cat["wetland_zones"].label.zh == "湿地保护区"
    stored = ws.read_layer("wetland_zones")
    assert list(stored["编码"]) == ["007", "012"]
    assert set(stored.geom_type) <= {"Polygon", "MultiPolygon"}
    assert [len(shapely.get_parts(g)) for g in stored.geometry] == [1, 2]  # no part lost
    assert "wetland_zones" not in catalog  # the shipped catalog is untouched


def test_an_own_layer_is_restyled_renamed_and_deleted_and_undo_removes_it(tmp_path, catalog, ws):
    commit_import(ws, plan_import(_zones_gpkg(tmp_path), _new("zones"), catalog, ws=ws))
    spec = change(ws, "zones", lambda s, f: restyled(s, f, "#123456", "级别"))
    assert spec.style.color == "#123456" and set(spec.style.categories) == {"一级", "二级"}
    with pytest.raises(UploadError, match="no column"):
        change(ws, "zones", lambda s, f: restyled(s, f, None, "nope"))
    with pytest.raises(UploadError, match="#rrggbb"):
        change(ws, "zones", lambda s, f: restyled(s, f, "red", None))
    assert own_specs(ws.metadata())[0].style.color == "#123456"  # refused changes left nothing
    undo_last_import(ws)
    assert own_specs(ws.metadata()) == [] and "zones" not in ws.layer_names()
    commit_import(ws, plan_import(_zones_gpkg(tmp_path), _new("zones"), catalog, ws=ws))
    delete(ws, "zones")
    assert own_specs(ws.metadata()) == [] and "zones" not in ws.layer_names()
    with pytest.raises(UploadError, match="no own layer"):
        delete(ws, "zones")


def test_colours_by_column_are_offered_for_few_values_not_for_measurements(tmp_path, catalog, ws):
    """Walkthrough: the restyle list left out the code column 代码 (the layer's key) and
    offered the area in hectares, which has a value per feature."""
    import pandas as pd

    from townmap.own_layers import MAX_CATEGORIES, category_columns

    commit_import(ws, plan_import(_zones_gpkg(tmp_path), _new("zones"), catalog, ws=ws))
    spec = own_specs(ws.metadata())[0]
    frame = ws.read_layer("zones")
    offered, others = category_columns(spec, frame)
    assert "编码" in offered and "级别" in offered and "批复年份" in offered
    assert ("面积公顷", "measurements", 2) in others and "面积公顷" not in offered
    many = pd.DataFrame({"级别": [f"v{i}" for i in range(MAX_CATEGORIES + 1)]})
    offered, others = category_columns(spec, many)
    assert offered == [] and others == [("级别", "many", MAX_CATEGORIES + 1)]


def test_deleting_an_own_layer_takes_its_imports_off_the_undo_list(tmp_path, catalog, ws):
    """Walkthrough: after deleting an own layer, undo failed ("no layer 'survey_pts'") and
    every earlier import could no longer be undone."""
    commit_import(ws, plan_import(_zones_gpkg(tmp_path), _new("first"), catalog, ws=ws))
    commit_import(ws, plan_import(_zones_gpkg(tmp_path), _new("second"), catalog, ws=ws))
    commit_import(ws, _append(tmp_path, catalog, ws, "second"))
    names_before = set(ws.layer_names())
    assert "townmap_prev_second_2" in ws.stored_names()  # the append's copy for undo
    assert delete(ws, "second") == 2  # both of its imports leave the undo list
    assert not (set(ws.layer_names()) - names_before)
    assert not [n for n in ws.stored_names() if "second" in n]  # its undo copies are gone
    record = undo_last_import(ws)  # goes on with the import before them
    assert record["layer_id"] == "first" and "first" not in ws.layer_names()
    log = ws.read_table(IMPORT_LOG)
    assert list(log["undone"]) == ["true", "layer deleted", "layer deleted"]
    with pytest.raises(UploadError, match="no import to undo"):
        undo_last_import(ws)


def _append(tmp_path, catalog, ws, layer_id):
    options = ImportOptions(layer_id, mode="append")
    return plan_import(_zones_gpkg(tmp_path), options, catalog, ws=ws)


@pytest.mark.parametrize(
    ("layer_id", "words"),
    [("villages", "catalog layer"), ("Bad Id", "lower-case"), ("townmap_x", "Townmap's own")],
)
def test_bad_new_layer_ids_are_refused(tmp_path, catalog, ws, layer_id, words):
    with pytest.raises(UploadError, match=words):
        plan_import(_zones_gpkg(tmp_path), _new(layer_id), catalog, ws=ws)


def test_an_own_layer_travels_with_a_workspace_copy(tmp_path, catalog, ws, new_location):
    from townmap.store.copy import copy_workspace

    commit_import(ws, plan_import(_zones_gpkg(tmp_path), _new("zones"), catalog, ws=ws))
    target = new_location()
    copy = copy_workspace(ws.location, target)
    assert [s.id for s in own_specs(copy.metadata())] == ["zones"]
    assert len(copy.read_layer("zones")) == 2


DISTRICTS = (
    "district,code,人口,lon,lat\n"
    "吴中区,320506,1390000,120.63,31.26\n"
    "相城区,320507,900000,120.64,31.37\n"
)


DISTRICTS_GEOJSON = """{"type": "FeatureCollection", "features": [
 {"type": "Feature", "properties": {"district": "吴中区", "adcode": "320506"},
  "geometry": {"type": "Polygon", "coordinates":
   [[[119.93, 31.38], [119.96, 31.38], [119.96, 31.41], [119.93, 31.41], [119.93, 31.38]]]}},
 {"type": "Feature", "properties": {"district": "相城区", "adcode": "320507"},
  "geometry": {"type": "MultiPolygon", "coordinates":
   [[[[119.97, 31.38], [119.99, 31.38], [119.99, 31.40], [119.97, 31.38]]],
    [[[120.0, 31.38], [120.02, 31.38], [120.02, 31.40], [120.0, 31.38]]]]}}]}"""


def test_one_column_fills_two_attributes_and_fixed_values_fill_every_row(tmp_path, catalog, ws):
    path = tmp_path / "districts.csv"
    path.write_text(DISTRICTS, encoding="utf-8")
    options = ImportOptions(
        "monitoring_stations",
        mapping={"name_zh": "district", "name_en": "district"},
        fixed={"water_type": "lake", "target_class": "III"},
    )
    plan = plan_import(path, options, catalog, ws=ws)
    assert plan.ok, plan.blocking
    assert list(plan.frame["name_zh"]) == list(plan.frame["name_en"]) == ["吴中区", "相城区"]
    assert set(plan.frame["water_type"]) == {"lake"}
    assert list(plan.frame["station_id"]) == ["S001", "S002"]  # no key column: generated
    assert any("S001–S002 generated" in n for n in plan.notes)
    assert any("not imported" in n and "code" in n and "人口" in n for n in plan.notes)
    assert plan.frame["water_body"].isna().all()  # optional and not given: stays empty
    record = commit_import(ws, plan)
    assert "人口" in record["choices"]  # the unused columns are in the import log
    assert len(ws.read_table(IMPORT_LOG)) == 1


def test_generated_keys_follow_the_width_of_the_layers_own_keys(catalog):
    """Walkthrough: E601… were generated beside the demo's E00001…E00600."""
    import pandas as pd

    from townmap.io.mapping import generate_keys

    spec = catalog["enterprises"]
    taken = pd.Series([f"E{n:05d}" for n in range(1, 601)])
    notes: list[str] = []
    frame = generate_keys(spec, pd.DataFrame({"ent_id": [None, "", None]}), taken, notes)
    assert list(frame["ent_id"]) == ["E00601", "E00602", "E00603"]
    assert notes == ["no 'ent_id': ids E00601–E00603 generated"]
    fresh = generate_keys(spec, pd.DataFrame({"ent_id": [None] * 2}), None, [])
    assert list(fresh["ent_id"]) == ["E001", "E002"]  # an empty layer: three digits
    wide = generate_keys(spec, pd.DataFrame({"ent_id": [None]}), pd.Series(["E999"]), [])
    assert list(wide["ent_id"]) == ["E1000"]  # grows when the numbers need it


def test_values_written_as_labels_become_codes_and_unknown_ones_are_named(tmp_path, catalog, ws):
    path = tmp_path / "企业.csv"
    path.write_text(
        "企业编号,企业名称,行业,规模,经度,纬度\n"
        "E1,甲印染厂,印染,小型,119.95,31.40\n"
        "E2,乙电镀,Electroplating,small,119.96,31.40\n"
        "E3,丙厂,造船,small,119.97,31.40\n",
        encoding="utf-8",
    )
    plan = plan_import(path, ImportOptions("enterprises"), catalog, ws=ws)
    assert list(plan.frame["sector"][:2]) == ["printing_dyeing", "electroplating"]
    unknown = [p for p in plan.problems if "造船" in p]
    assert unknown and "row 4" in unknown[0] and "印染 / Printing & dyeing" in unknown[0]
    assert not plan.ok and any("'sector' is empty in 1 row" in b for b in plan.blocking)
    assert list(plan.frame["size"][:2]) == ["small", "small"]  # 小型 is Townmap's label
    assert not any("'size'" in p for p in plan.problems)


def test_append_and_update_by_key_keep_what_the_file_does_not_give(tmp_path, catalog, ws):
    first = tmp_path / "a.csv"
    first.write_text(
        "断面编号,断面名称,英文名,水体类型,目标水质,经度,纬度\n"
        "S1,甲,A,river,III,119.95,31.40\nS2,乙,B,river,II,119.96,31.41\n",
        encoding="utf-8",
    )
    commit_import(ws, plan_import(first, ImportOptions("monitoring_stations"), catalog, ws=ws))
    update = tmp_path / "b.csv"
    update.write_text(
        "断面编号,目标水质,经度,纬度\nS2,III,119.96,31.41\nS3,IV,119.97,31.42\n",
        encoding="utf-8",
    )
    clash = plan_import(update, ImportOptions("monitoring_stations", mode="append"), catalog, ws=ws)
    assert not clash.ok and any("S2" in b and "update" in b for b in clash.blocking)
    plan = plan_import(update, ImportOptions("monitoring_stations", mode="update"), catalog, ws=ws)
    assert plan.ok, plan.blocking
    assert "updates 1" in plan.merge_summary and "adds 1" in plan.merge_summary
    commit_import(ws, plan)
    stored = ws.read_layer("monitoring_stations").set_index("station_id")
    assert stored.loc["S2", "target_class"] == "III" and stored.loc["S2", "name_zh"] == "乙"
    assert stored.loc["S1", "name_en"] == "A" and len(stored) == 3
    before = fingerprint(ws)
    undo_last_import(ws)
    assert fingerprint(ws) != before
    assert list(ws.read_layer("monitoring_stations")["station_id"]) == ["S1", "S2"]


def test_bad_mapping_and_fixed_values_are_one_line_errors(tmp_path, catalog):
    from townmap.io.mapping import mapping_from_pairs, parse_pairs

    spec = catalog["villages"]
    with pytest.raises(UploadError, match="no attribute 'nom'"):
        mapping_from_pairs(parse_pairs(["district=nom"], "--map"), spec)
    with pytest.raises(UploadError, match="NAME=VALUE"):
        parse_pairs(["district"], "--map")
    path = tmp_path / "d.csv"
    path.write_text(DISTRICTS, encoding="utf-8")
    with pytest.raises(UploadError, match="does not have"):
        plan_import(path, ImportOptions("monitoring_stations", fixed={"colour": "red"}), catalog)


def test_cli_imports_a_new_layer_and_maps_columns(tmp_path, catalog, demo_ws):
    import shutil

    from tests.test_cli import _run

    folder = tmp_path / "ws"
    shutil.copytree(demo_ws.folder, folder)
    pts = tmp_path / "points.csv"
    pts.write_text("名称,类型,经度,纬度\n甲,湿地,119.95,31.40\n乙,林地,119.96,31.41\n")
    done = _run("import", str(pts), "--new-layer", "wet", "--workspace", str(folder))
    assert done.returncode == 0, done.stderr
    listed = _run("layers", "--workspace", str(folder))
    assert "wet " in listed.stdout and "Traceback" not in listed.stderr
    restyle = _run("own-layer", "restyle", "wet", "--by", "类型", "--workspace", str(folder))
    assert restyle.returncode == 0, restyle.stderr
    districts = tmp_path / "districts.geojson"
    districts.write_text(DISTRICTS_GEOJSON, encoding="utf-8")
    points = tmp_path / "districts.csv"
    points.write_text(DISTRICTS, encoding="utf-8")
    wrong = _run("import", str(points), "--layer", "villages", "--workspace", str(folder))
    assert wrong.returncode == 2 and "Polygon" in wrong.stderr
    args = ["import", str(districts), "--layer", "villages", "--workspace", str(folder)]
    refused = _run(*args, "--map", "district=name_zh", "--map", "district=name_en")
    assert refused.returncode == 2 and "--mode" in refused.stderr  # 12 villages are there
    assert len(open_workspace(folder).read_layer("villages")) > 2
    done = _run(
        *args, "--map", "district=name_zh", "--map", "district=name_en", "--mode", "replace"
    )
    assert done.returncode == 0, done.stderr
    villages = open_workspace(folder).read_layer("villages")
    assert list(villages["name_en"]) == ["吴中区", "相城区"]
    assert list(villages["village_id"]) == ["V001", "V002"]


def test_map_names_some_attributes_and_the_others_are_still_matched(tmp_path, catalog, ws):
    """Walkthrough: one --map switched the matching off for every other attribute (the
    page kept it): 人口 was left empty because the district name was mapped."""
    path = tmp_path / "districts.geojson"
    frame = gpd.read_file(DISTRICTS_GEOJSON)
    frame["人口"] = [1390000, 900000]
    frame["name_en"] = ["Wuzhong", "Xiangcheng"]
    frame.to_file(path, driver="GeoJSON")
    named = {"name_zh": "district", "admin_code": "adcode"}
    plan = plan_import(path, ImportOptions("villages", mapping=named, guess_the_rest=True), catalog)
    assert plan.mapping["population"] == "人口" and plan.mapping["name_zh"] == "district"
    assert list(plan.frame["population"]) == [1390000, 900000]
    assert list(plan.frame["name_en"]) == ["Wuzhong", "Xiangcheng"]
    # a column the user gave to one attribute is not guessed into another as well
    plan = plan_import(
        path,
        ImportOptions("villages", mapping={"name_zh": "name_en"}, guess_the_rest=True),
        catalog,
    )
    assert "name_en" not in plan.mapping and plan.frame["name_en"].isna().all()
    only = plan_import(path, ImportOptions("villages", mapping=named), catalog)  # --no-guess
    assert "population" not in only.mapping and only.frame["population"].isna().all()


def test_a_table_without_coordinates_becomes_a_table_layer(tmp_path, catalog, ws):
    path = tmp_path / "监测计划.csv"
    path.write_text("项目,频次\nCOD,每月\n氨氮,每季\n", encoding="utf-8")
    plan = plan_import(path, _new("plan_table"), catalog, ws=ws)
    assert plan.ok and plan.new_spec.kind == "table" and plan.new_spec.geometry is None
    commit_import(ws, plan)
    assert list(ws.read_table("plan_table")["项目"]) == ["COD", "氨氮"]


def test_points_with_infinite_coordinates_are_named_rows(tmp_path, catalog, ws):
    path = tmp_path / "s.csv"
    path.write_text(
        "断面编号,断面名称,经度,纬度\nS1,甲,119.95,31.40\nS2,乙,inf,31.40\n", encoding="utf-8"
    )
    plan = plan_import(path, ImportOptions("monitoring_stations"), catalog, ws=ws)
    assert plan.count == 1 and plan.dropped == 1
    assert any(p.startswith("row 3") and "经度" in p for p in plan.problems)


KML_MIXED = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document>
<Folder><name>排口</name>
<Placemark><name>DP1</name><Point><coordinates>119.95,31.40,0</coordinates></Point></Placemark>
<Placemark><name>DP2</name><Point><coordinates>119.96,31.40,0</coordinates></Point></Placemark>
</Folder><Folder><name>企业</name>
<Placemark><name>甲厂</name><Point><coordinates>119.95,31.41,0</coordinates></Point></Placemark>
<Placemark><name>厂区</name><Polygon><outerBoundaryIs><LinearRing><coordinates>
119.95,31.40,0 119.96,31.40,0 119.96,31.41,0 119.95,31.40,0</coordinates></LinearRing>
</outerBoundaryIs></Polygon></Placemark>
</Folder></Document></kml>"""


def test_a_file_of_points_and_areas_asks_which_kind_a_new_layer_takes(tmp_path, catalog, ws):
    """Walkthrough: a KML with 3 points and 1 area became an area layer and the points
    were skipped rows, the import exiting 0."""
    from townmap.io.importer import MixedGeometryError

    path = tmp_path / "踏勘.kml"
    path.write_text(KML_MIXED, encoding="utf-8")
    with pytest.raises(MixedGeometryError) as info:
        plan_import(path, _new("survey"), catalog, ws=ws)
    assert info.value.kinds == {"Point": 3, "Polygon": 1}
    points = plan_import(path, _new("survey", geometry="Point"), catalog, ws=ws)
    assert points.new_spec.geometry == "Point" and points.count == 3
    assert not points.problems  # the area is left for another import, not a problem
    assert "1 area(s) left out: import the file again for them as another layer" in points.notes
    names = {a.name: a.label for a in points.new_spec.attributes}
    assert names["Name"].zh == "名称" and names["townmap_fid"].zh == "要素编号"
    areas = plan_import(path, _new("survey_area", geometry="Polygon"), catalog, ws=ws)
    assert areas.count == 1 and areas.new_spec.geometry == "Polygon"
    with pytest.raises(UploadError, match="holds no line"):
        plan_import(path, _new("survey_l", geometry="LineString"), catalog, ws=ws)


def test_a_gis_files_text_codes_stay_text(tmp_path, catalog, ws):
    """Walkthrough: a DBF text column 代码 ("320506") became an integer attribute."""
    frame = gpd.GeoDataFrame(
        {"名称": ["吴中区", "相城区"], "代码": ["320506", "320507"], "人口": [139, 90]},
        geometry=[Polygon([(119.95, 31.4), (119.96, 31.4), (119.96, 31.41)])] * 2,
        crs=4326,
    )
    path = tmp_path / "区划.shp"
    frame.to_file(path, encoding="utf-8")
    plan = plan_import(path, _new("districts"), catalog, ws=ws)
    types = {a.name: a.type for a in plan.new_spec.attributes}
    assert types["代码"] == "str" and types["人口"] == "int"
    assert list(plan.frame["代码"]) == ["320506", "320507"]


def test_cli_refuses_a_mixed_file_without_geometry_and_imports_one_kind_with_it(tmp_path, demo_ws):
    import shutil

    from tests.test_cli import _run

    folder = tmp_path / "ws"
    shutil.copytree(demo_ws.folder, folder)
    path = tmp_path / "踏勘.kml"
    path.write_text(KML_MIXED, encoding="utf-8")
    args = ["import", str(path), "--new-layer", "survey", "--workspace", str(folder)]
    refused = _run(*args)
    assert refused.returncode == 2 and "3 point(s), 1 area(s)" in refused.stderr
    assert "--geometry" in refused.stderr and "Traceback" not in refused.stderr
    done = _run(*args, "--geometry", "point")
    assert done.returncode == 0, done.stderr
    assert len(open_workspace(folder).read_layer("survey")) == 3


def test_a_chosen_crs_answers_the_missing_prj_note(tmp_path, catalog, ws):
    frame = gpd.GeoDataFrame(
        {"名称": ["甲"]}, geometry=[Polygon([(0, 0), (100, 0), (100, 100)])], crs=4549
    )
    frame = frame.set_geometry(frame.geometry.translate(500000, 3475000))
    path = tmp_path / "无prj.shp"
    frame.to_file(path, encoding="utf-8")
    path.with_suffix(".prj").unlink()
    plan = plan_import(path, ImportOptions("z", crs="EPSG:4549", new_layer=NewLayer()), catalog)
    assert "no .prj: the coordinate system chosen (EPSG:4549) is used" in plan.notes
    assert not [n for n in plan.notes if "must be chosen" in n]


def test_appending_rows_with_gaps_keeps_whole_numbers_whole():
    import pandas as pd

    from townmap.io.merge import merge

    old = pd.DataFrame({"village_id": ["V01", "V02"], "population": [5990, 3050]})
    new = pd.DataFrame({"village_id": ["V03"], "population": [None]})
    out = merge(old, new, "append", "village_id", {"village_id", "population"}).frame
    assert str(out["population"].dtype) == "Int64"
    assert list(out["population"][:2]) == [5990, 3050] and pd.isna(out["population"][2])


def test_colours_by_a_column_of_measurements_are_refused_on_the_command_line_too(
    tmp_path, catalog, ws
):
    commit_import(ws, plan_import(_zones_gpkg(tmp_path), _new("zones"), catalog, ws=ws))
    with pytest.raises(UploadError, match="measurements with decimals"):
        change(ws, "zones", lambda s, f: restyled(s, f, None, "面积公顷"))


def test_an_undo_naming_an_import_that_is_no_longer_the_last_undoes_nothing(tmp_path, catalog, ws):
    """Walkthrough: a click on the undo button drawn before a deletion undid another
    import."""
    first = commit_import(ws, plan_import(_zones_gpkg(tmp_path), _new("first"), catalog, ws=ws))
    second = commit_import(ws, plan_import(_zones_gpkg(tmp_path), _new("second"), catalog, ws=ws))
    delete(ws, "second")
    with pytest.raises(UploadError, match="not the one the button named"):
        undo_last_import(ws, expected=import_identity(second))
    assert "first" in ws.layer_names()  # nothing undone
    assert undo_last_import(ws, expected=import_identity(first))["layer_id"] == "first"
