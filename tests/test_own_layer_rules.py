"""A consultant's own protection zone bites: a rule file names it (own:ID) with a
condition on its own Chinese column, and the conflicts check and pre-check apply it."""

from __future__ import annotations

import json
import shutil

import pytest

from townmap import PROJECT_ROOT
from townmap.analysis.checks import check_workspace
from townmap.analysis.precheck import precheck
from townmap.analysis.rules import load_rules
from townmap.errors import UploadError
from townmap.io.importer import ImportOptions, NewLayer, commit_import, plan_import
from townmap.own_layers import workspace_catalog
from townmap.store import open_workspace

RULE = """
id = "new_reserve_l1"
title = {{ zh = "新湿地保护区一级区内禁止建设", en = "No construction in the new reserve's core" }}
severity = "prohibited"
verification = "unverified"

[subject]
layer = "enterprises"

[constraint]
layer = "{layer}"
where = {{ "级别" = ["一级"] }}
predicate = "inside"

[legal_basis]
instrument = {{ zh = "某县湿地保护规定（示例）", en = "A county wetland regulation (example)" }}
article = "第5条 / Art. 5"
version = "2026"
source = "layers/references.md §6"
"""


def _reserve(ws, tmp_path):
    """Two zones as the consultant drew them in lon/lat: 一级 around five enterprises,
    二级 around five others."""
    tve = ws.read_layer("enterprises").to_crs(4326)
    core = tve.geometry.iloc[:5].union_all().convex_hull.buffer(0.002)
    buffer = tve.geometry.iloc[100:105].union_all().convex_hull.buffer(0.002)
    features = [
        {"type": "Feature", "properties": {"名称": name, "级别": level}, "geometry": geom}
        for name, level, geom in (
            ("新湿地核心区", "一级", core.__geo_interface__),
            ("新湿地缓冲区", "二级", buffer.__geo_interface__),
        )
    ]
    path = tmp_path / "新保护区.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")
    return path, tve.iloc[:5]


@pytest.fixture
def ws(demo_location):
    return open_workspace(demo_location)


def _rules_dir(tmp_path, layer="own:new_reserve"):
    folder = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "layers" / "rules", folder)
    (folder / "new_reserve_l1.toml").write_text(RULE.format(layer=layer), "utf-8")
    return folder


def test_a_rule_on_an_own_layer_finds_the_enterprises_inside(tmp_path, ws, catalog):
    path, inside = _reserve(ws, tmp_path)
    options = ImportOptions("new_reserve", new_layer=NewLayer("新湿地保护区", "New reserve"))
    commit_import(ws, plan_import(path, options, catalog, ws=ws))
    cat = workspace_catalog(ws, catalog)
    rules = load_rules(_rules_dir(tmp_path), cat)
    assert "new_reserve_l1" in rules and not rules.errors and not rules.skipped
    result, _ = check_workspace(ws, cat, rules)
    found = result.findings[result.findings["rule_id"] == "new_reserve_l1"]
    zones = ws.read_layer("new_reserve")
    tve = ws.read_layer("enterprises")
    core = zones[zones["级别"] == "一级"].geometry.iloc[0]
    outer = zones[zones["级别"] == "二级"].geometry.iloc[0]
    expected = set(tve[tve.within(core)]["ent_id"])
    only_outer = set(tve[tve.within(outer) & ~tve.within(core)]["ent_id"])
    assert set(inside["ent_id"]) <= expected and only_outer  # the test has both kinds
    assert set(found["feature_id"]) == expected  # the 二级 zone does not count
    layers = {s.id: ws.read_layer(s.id) for s in cat.by_kind("vector") if s.id in ws.layer_names()}
    site = inside.geometry.iloc[0]
    check = precheck(layers, rules, site, sector="machinery", size="small", flow_m3d=10)
    assert "new_reserve_l1" in set(check.findings["rule_id"])


def test_a_rule_on_an_own_layer_elsewhere_is_said_not_applied(tmp_path, ws, catalog):
    rules = load_rules(_rules_dir(tmp_path), workspace_catalog(ws, catalog))
    assert "new_reserve_l1" not in rules
    assert any("new_reserve" in s and "not checked" in s for s in rules.skipped)


def test_a_rule_naming_an_own_layer_without_own_is_refused(tmp_path, ws, catalog):
    path, _ = _reserve(ws, tmp_path)
    options = ImportOptions("new_reserve", new_layer=NewLayer())
    commit_import(ws, plan_import(path, options, catalog, ws=ws))
    rules = load_rules(_rules_dir(tmp_path, "new_reserve"), workspace_catalog(ws, catalog))
    assert "new_reserve_l1" not in rules
    assert any("own:new_reserve" in str(e) for e in rules.errors)
    with pytest.raises(UploadError, match="exists already"):
        plan_import(path, options, catalog, ws=ws)
