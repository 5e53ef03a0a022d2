"""The conflicts engine: every rule file has a positive, a negative and a boundary case
built by hand from the rule's own data, plus mixed CRSs, invalid, multipart and empty
geometries, attribute-dependent distances and malformed rule files."""

from __future__ import annotations

import re

import geopandas as gpd
import pytest
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from townmap import PROJECT_ROOT
from townmap.analysis.conflicts import find_conflicts
from townmap.analysis.rules import Range, Rule, load_rule_file, load_rules
from townmap.errors import CatalogError

RULES_DIR = PROJECT_ROOT / "layers" / "rules"
CRS = "EPSG:4549"
X0, Y0 = 490_000.0, 3_470_000.0  # inside the demo's Gauss–Krüger zone
ZONE = box(X0, Y0, X0 + 1000, Y0 + 1000)


@pytest.fixture(scope="module")
def rules(catalog):
    loaded = load_rules(RULES_DIR, catalog)
    assert loaded.errors == []
    return loaded


def _satisfy(conditions, context=None) -> dict:
    """Attribute values that meet a rule's conditions (first value, or inside a range)."""
    out = {}
    for name, test in conditions.items():
        if isinstance(test, Range):
            if test.ge is not None:
                out[name] = test.ge
            elif test.gt is not None:
                out[name] = test.gt + 1
            elif test.le is not None:
                out[name] = test.le
            else:
                out[name] = test.lt - 1
        else:
            out[name] = test[0]
    return out


def _subject_attrs(rule: Rule) -> dict:
    attrs = _satisfy(rule.subject.where)
    if rule.subject.sectors:
        attrs["sector"] = rule.subject.sectors[0]
    return attrs


def _status(rule: Rule) -> str:
    return "new" if rule.subject.status == "new" else "existing"


def _frame(rows: list[dict], geoms, crs=CRS) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry=list(geoms), crs=crs)


def _subject_geom(rule: Rule, x: float, y: float):
    """Points for point layers; a 20 m square centred there for polygon layers."""
    if rule.subject.layer == "planning_zones":
        return box(x - 10, y - 10, x + 10, y + 10)
    return Point(x, y)


def _run(rule: Rule, subject_xy, constraint, context=None, extra=None):
    attrs = {**_subject_attrs(rule), **(extra or {})}
    subjects = _frame(
        [{"fid_": f"S{i}", **attrs} for i in range(len(subject_xy))],
        [_subject_geom(rule, x, y) for x, y in subject_xy],
    )
    cons = _frame([{"cid": "C0", **_satisfy(rule.constraint.where)}], [constraint])
    layers = {rule.subject.layer: subjects}
    if rule.constraint.layer != rule.subject.layer:
        layers[rule.constraint.layer] = cons
    result = find_conflicts(
        layers,
        [rule],
        status=_status(rule),
        context=context or {},
        keys={rule.subject.layer: "fid_", rule.constraint.layer: "cid"},
    )
    return result.findings.set_index("feature_id")


def _rule_ids(kind: str) -> list[str]:
    out = []
    for path in sorted(RULES_DIR.glob("*.toml")):
        rule = load_rule_file(path)
        if rule.constraint.predicate == kind or (
            kind == "inside" and rule.constraint.predicate == "overlaps"
        ):
            out.append(rule.id)
    return out


@pytest.mark.parametrize("rule_id", _rule_ids("inside"))
def test_inside_rules_positive_negative_and_on_the_edge(rules, rule_id):
    rule = rules[rule_id]
    # inside, outside, exactly on the zone's edge (a point there counts as inside)
    found = _run(rule, [(X0 + 500, Y0 + 500), (X0 + 1500, Y0 + 500), (X0 + 1000, Y0 + 500)], ZONE)
    if rule.subject.layer == "planning_zones":  # a square on the edge is half inside
        assert found.loc["S2", "overlap_pct"] == pytest.approx(50)
    assert set(found.index) == {"S0", "S2"}
    assert (found["severity"] == rule.severity_for(_status(rule))).all()
    assert (found["verification"] == rule.verification).all()
    assert (found["article"] == rule.legal_basis.article).all()
    assert found.loc["S0", "constraint_id"] == "C0"


@pytest.mark.parametrize("rule_id", _rule_ids("within_distance"))
def test_distance_rules_inside_outside_and_exactly_at_the_limit(rules, rule_id):
    rule = rules[rule_id]
    context = {"wind_speed_ms": 3.0}
    attrs = {**_subject_attrs(rule), "output_tpa": 100_000}
    limit = next(
        r.m
        for r in rule.distance
        if all(
            (isinstance(t, Range) and _in_range(t, {**attrs, **context}.get(k)))
            or (not isinstance(t, Range) and {**attrs, **context}.get(k) in t)
            for k, t in r.when.items()
        )
    )
    target = Point(X0, Y0)
    if rule.constraint.layer in ("rivers", "lake"):  # a waterline running north–south
        target = LineString([(X0, Y0 - 5000), (X0, Y0 + 5000)])
    found = _run(
        rule,
        [(X0 + limit - 1, Y0), (X0 + limit + 1, Y0), (X0 + limit, Y0)],
        target,
        context=context,
        extra={"output_tpa": 100_000},
    )
    assert set(found.index) == {"S0", "S2"}
    assert found.loc["S2", "distance_m"] == pytest.approx(limit)
    assert found.loc["S2", "limit_m"] == pytest.approx(limit)


def _in_range(test: Range, value) -> bool:
    if value is None:
        return True
    return (
        (test.lt is None or value < test.lt)
        and (test.le is None or value <= test.le)
        and (test.gt is None or value > test.gt)
        and (test.ge is None or value >= test.ge)
    )


@pytest.mark.parametrize("rule_id", _rule_ids("outside"))
def test_outside_rules_positive_negative_and_half_out(rules, rule_id):
    rule = rules[rule_id]
    found = _run(rule, [(X0 + 3000, Y0 + 500), (X0 + 500, Y0 + 500), (X0 + 1000, Y0 + 500)], ZONE)
    if rule.subject.layer == "planning_zones":
        assert set(found.index) == {"S0", "S2"}
        assert found.loc["S0", "overlap_pct"] == pytest.approx(100)
        assert found.loc["S2", "overlap_pct"] == pytest.approx(50)
    else:  # a point on the boundary is not outside it
        assert set(found.index) == {"S0"}


def test_subject_filters_exclude_other_sectors_and_status(rules):
    rule = rules["taihu_art43_banned_sectors"]
    layers = {
        "enterprises": _frame(
            [{"ent_id": "A", "sector": "printing_dyeing"}, {"ent_id": "B", "sector": "machinery"}],
            [Point(X0 + 10, Y0 + 10), Point(X0 + 20, Y0 + 20)],
        ),
        "taihu_zones": _frame([{"level": "3"}], [ZONE]),
    }
    keys = {"enterprises": "ent_id"}
    existing = find_conflicts(layers, [rule], keys=keys).findings
    assert list(existing["feature_id"]) == ["A"] and existing["severity"].iloc[0] == "review"
    new = find_conflicts(layers, [rule], keys=keys, status="new").findings
    assert new["severity"].iloc[0] == "prohibited"
    only_new = rules["taihu_art43_np_discharge"]
    assert find_conflicts(layers, [only_new], keys=keys).findings.empty  # needs "new"


def test_mixed_crs_gives_the_same_findings(rules):
    rule = rules["gb18068_cement_distance"]
    plants = _frame([{"ent_id": "P", "sector": "cement"}], [Point(X0, Y0)])
    receptors = _frame(
        [{"receptor_id": f"R{d}"} for d in (350, 450, 650)],
        [Point(X0 + d, Y0) for d in (350, 450, 650)],
    )
    keys = {"enterprises": "ent_id", "sensitive_receptors": "receptor_id"}
    metric = find_conflicts(
        {"enterprises": plants, "sensitive_receptors": receptors}, [rule], keys=keys
    ).findings
    mixed = find_conflicts(
        {"enterprises": plants.to_crs(4326), "sensitive_receptors": receptors.to_crs(4490)},
        [rule],
        keys=keys,
    ).findings
    assert len(metric) == len(mixed) == 1
    assert mixed["distance_m"].iloc[0] == pytest.approx(metric["distance_m"].iloc[0], abs=0.05)
    # neither output nor wind speed is known: the strictest row (600 m) applies, marked assumed
    assert metric["limit_m"].iloc[0] == 600 and bool(metric["assumed"].iloc[0])
    assert metric["constraint_id"].iloc[0] == "R350"  # the nearest receptor is reported


def test_distance_depends_on_attributes_and_context(rules):
    rule = rules["gb18068_cement_distance"]
    plants = _frame(
        [
            {"ent_id": "big", "sector": "cement", "output_tpa": 800_000},
            {"ent_id": "small", "sector": "cement", "output_tpa": 100_000},
        ],
        [Point(X0, Y0), Point(X0 + 20_000, Y0)],
    )
    receptors = _frame([{"r": 1}, {"r": 2}], [Point(X0 + 350, Y0), Point(X0 + 20_350, Y0)])
    layers = {"enterprises": plants, "sensitive_receptors": receptors}
    keys = {"enterprises": "ent_id"}
    windy = find_conflicts(layers, [rule], keys=keys, context={"wind_speed_ms": 5}).findings
    assert dict(zip(windy["feature_id"], windy["limit_m"], strict=True)) == {"big": 400}
    calm = find_conflicts(layers, [rule], keys=keys, context={"wind_speed_ms": 1.5}).findings
    limits = dict(zip(calm["feature_id"], calm["limit_m"], strict=True))
    assert limits == {"big": 600, "small": 500} and not calm["assumed"].any()


def test_wwtp_setback_by_capacity(rules):
    rule = rules["wwtp_setback"]
    plants = _frame(
        [{"plant_id": "S", "capacity_m3d": 20_000}, {"plant_id": "L", "capacity_m3d": 120_000}],
        [Point(X0, Y0), Point(X0 + 10_000, Y0)],
    )
    receptors = _frame([{"r": 1}, {"r": 2}], [Point(X0 + 180, Y0), Point(X0 + 10_250, Y0)])
    found = find_conflicts(
        {"treatment_plants": plants, "sensitive_receptors": receptors},
        [rule],
        keys={"treatment_plants": "plant_id"},
    ).findings
    assert list(found["feature_id"]) == ["L"] and found["limit_m"].iloc[0] == 300
    assert found["verification"].iloc[0] == "unverified"


def test_invalid_multipart_and_empty_geometries(rules):
    rule = rules["eco_redline_construction"]
    bowtie = Polygon([(X0, Y0), (X0 + 100, Y0 + 100), (X0 + 100, Y0), (X0, Y0 + 100)])
    assert not bowtie.is_valid
    tve = _frame(
        [{"ent_id": k} for k in ("lobe", "gap", "empty", "none")],
        [Point(X0 + 90, Y0 + 50), Point(X0 + 50, Y0 + 90), Point(), None],
    )
    found = find_conflicts(
        {"enterprises": tve, "eco_redline": _frame([{"redline_id": "E1"}], [bowtie])},
        [rule],
        keys={"enterprises": "ent_id"},
    ).findings
    assert list(found["feature_id"]) == ["lobe"]  # repaired lobe holds it; the gap does not

    zone_rule = rules["industrial_outside_urban_boundary"]
    two_parts = MultiPolygon(
        [box(X0 + 100, Y0 + 100, X0 + 200, Y0 + 200), box(X0 + 2000, Y0, X0 + 2100, Y0 + 100)]
    )
    zones = _frame([{"zone_id": "Z", "land_use": "industrial"}], [two_parts])
    found = find_conflicts(
        {"planning_zones": zones, "urban_boundary": _frame([{}], [ZONE])},
        [zone_rule],
        keys={"planning_zones": "zone_id"},
    ).findings
    assert len(found) == 1 and found["overlap_m2"].iloc[0] == pytest.approx(10_000)
    assert found["overlap_pct"].iloc[0] == pytest.approx(50)


def test_a_polygon_touching_a_zone_only_along_its_edge_is_not_inside(rules):
    rule = rules["basic_farmland_construction"].model_copy(
        update={"subject": rules["basic_farmland_construction"].subject.model_copy(
            update={"layer": "planning_zones"})}
    )  # fmt: skip
    zones = _frame(
        [{"zone_id": "edge"}, {"zone_id": "in"}],
        [box(X0 + 1000, Y0, X0 + 1100, Y0 + 100), box(X0 + 950, Y0, X0 + 1050, Y0 + 100)],
    )
    found = find_conflicts(
        {"planning_zones": zones, "basic_farmland": _frame([{}], [ZONE])},
        [rule],
        keys={"planning_zones": "zone_id"},
    ).findings
    assert list(found["feature_id"]) == ["in"]
    assert found["overlap_m2"].iloc[0] == pytest.approx(5000)


def test_missing_layers_and_attributes_are_reported_not_fatal(rules):
    tve = _frame([{"ent_id": "A"}], [Point(X0, Y0)])  # no sector column
    zones = _frame([{"level": "1"}], [ZONE])
    result = find_conflicts(
        {"enterprises": tve, "taihu_zones": zones},
        list(rules),
        keys={"enterprises": "ent_id"},
        status="new",
    )
    assert any("missing attribute enterprises.sector" in s for s in result.skipped)
    assert any("no layer eco_redline" in s for s in result.skipped)
    # rules that need nothing missing still run: the site is in level 1 without a sector
    assert set(result.findings["rule_id"]) <= {
        "taihu_art43_np_discharge",
        "taihu_l1_new_discharging",
    }


def test_the_demo_check_is_fast_and_consistent(rules, demo_ws, catalog):
    from townmap.analysis.checks import check_workspace

    result, geoms = check_workspace(demo_ws, catalog, rules)
    found = result.findings
    assert len(found) > 0 and geoms.notna().all()
    assert set(found["severity"]) <= {"prohibited", "restricted", "review"}
    assert found["village_id"].notna().mean() > 0.9
    # every finding of a Taihu Art. 43 rule is an enterprise of a banned sector
    tve = demo_ws.read_layer("enterprises").set_index("ent_id")
    art43 = found[found["rule_id"] == "taihu_art43_banned_sectors"]["feature_id"]
    assert set(tve.loc[art43, "sector"]) <= set(rules["taihu_art43_banned_sectors"].subject.sectors)
    assert not found.duplicated(["layer", "feature_id", "rule_id"]).any()


@pytest.mark.parametrize(
    ("patch", "words"),
    [
        ({"predicate": '"near"'}, "predicate"),
        ({"severity": '"forbidden"'}, "severity"),
        ({"verification": '"probably"'}, "verification"),
        ({"drop_distance": True}, "needs \\[\\[distance\\]\\] rows"),
    ],
)
def test_malformed_rule_files_name_file_and_key(tmp_path, catalog, patch, words):
    text = (RULES_DIR / "wwtp_setback.toml").read_text(encoding="utf-8")
    if "predicate" in patch:
        text = text.replace('predicate = "within_distance"', f"predicate = {patch['predicate']}")
    if "severity" in patch:
        text = text.replace('severity = "restricted"', f"severity = {patch['severity']}")
    if "verification" in patch:
        text = text.replace(
            'verification = "unverified"', f"verification = {patch['verification']}"
        )
    if "drop_distance" in patch:
        text = text.split("[[distance]]")[0] + "[legal_basis]" + text.split("[legal_basis]")[1]
    (tmp_path / "wwtp_setback.toml").write_text(text, encoding="utf-8")
    (tmp_path / "fine.toml").write_text(
        (RULES_DIR / "eco_redline_construction.toml")
        .read_text(encoding="utf-8")
        .replace('id = "eco_redline_construction"', 'id = "fine"'),
        encoding="utf-8",
    )
    loaded = load_rules(tmp_path, catalog)
    assert list(loaded.rules) == ["fine"]
    assert len(loaded.errors) == 1
    assert str(loaded.errors[0]).startswith("wwtp_setback.toml:")
    assert re.search(words, str(loaded.errors[0]))


def test_rules_naming_unknown_layers_or_attributes_are_refused(tmp_path, catalog):
    base = (RULES_DIR / "eco_redline_construction.toml").read_text(encoding="utf-8")
    (tmp_path / "a.toml").write_text(
        base.replace('id = "eco_redline_construction"', 'id = "a"').replace(
            'layer = "eco_redline"', 'layer = "red_line"'
        ),
        encoding="utf-8",
    )
    (tmp_path / "b.toml").write_text(
        base.replace('id = "eco_redline_construction"', 'id = "b"').replace(
            'layer = "eco_redline"', 'layer = "eco_redline"\nwhere = { colour = ["red"] }'
        ),
        encoding="utf-8",
    )
    errors = [str(e) for e in load_rules(tmp_path, catalog).errors]
    assert any("a.toml" in e and "no layer 'red_line'" in e for e in errors)
    assert any("b.toml" in e and "constraint.where.colour" in e for e in errors)
    with pytest.raises(CatalogError, match="does not exist"):
        load_rules(tmp_path / "nope")


def test_a_superseded_basis_is_never_verified_and_says_what_replaced_it(tmp_path):
    from townmap.analysis.rules import load_rules
    from townmap.errors import CatalogError
    from townmap.settings import layers_dir

    rules = load_rules()
    for rule_id in ("gb18068_cement_distance", "gb18075_auto_distance"):
        rule = rules.rules[rule_id]
        assert rule.legal_basis.superseded_by and rule.verification != "verified"
        assert ".1-2012" in rule.legal_basis.superseded_by
    folder = tmp_path / "rules"
    folder.mkdir()
    text = (layers_dir() / "rules" / "gb18068_cement_distance.toml").read_text("utf-8")
    (folder / "gb18068_cement_distance.toml").write_text(
        text.replace('verification = "unverified"', 'verification = "verified"', 1), "utf-8"
    )
    broken = load_rules(folder)  # a broken rule file is named, never applied
    assert not broken.rules and "superseded rule cannot be verified" in str(broken.errors[0])
    assert isinstance(broken.errors[0], CatalogError)


def test_the_laws_new_rules_are_there_with_their_basis_and_status():
    from townmap.analysis.rules import load_rules

    rules = load_rules().rules
    art26 = rules["yangtze_art26_chemical_1km"]
    assert art26.distance[0].m == 1000 and art26.verification == "partly_verified"
    assert "Art. 26" in art26.legal_basis.article
    assert rules["water_source_quasi_polluting"].constraint.where == {"level": ["quasi"]}
    bans = rules["taihu_l1_further_bans"]
    assert (
        set(bans.subject.sectors)
        == {"livestock_farming", "golf_course", "hazardous_chemical_storage", "waste_dump"}
        and bans.verification == "unverified"
    )


def test_the_towns_wind_speed_is_read_from_its_layer(tmp_path, demo_ws):
    """The cement and car-plant distances depend on the town's wind speed: entered on
    the town layer, it is used; without it the rules take their strictest distance."""
    import shutil

    from townmap.analysis.checks import workspace_context
    from townmap.store import open_workspace

    folder = tmp_path / "ws"
    shutil.copytree(demo_ws.folder, folder)
    ws = open_workspace(folder)
    assert "wind_speed_ms" not in workspace_context(ws) or ws.metadata().get("wind_speed_ms")
    town = ws.read_layer("town").assign(wind_speed_ms=3.4)
    with ws.transaction() as tx:
        tx.write_layer("town", town)
    assert workspace_context(open_workspace(folder))["wind_speed_ms"] == pytest.approx(3.4)
