"""The PostGIS back end against the GeoPackage one on the demo town: a whole-workspace
copy both ways holds the same data, and the conflicts engine's joins pushed down to SQL
(GiST indexes) give the in-memory engine's findings row for row."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from townmap.analysis.checks import check_workspace
from townmap.analysis.rules import load_rules
from townmap.errors import WorkspaceError
from townmap.store import create_workspace, open_workspace
from townmap.store.copy import copy_workspace
from townmap.store.postgis import PostgisWorkspace, parse_location, redact

TOWNMAP = str(Path(sys.executable).with_name("townmap"))


def _same(a, b, name: str) -> None:
    if isinstance(a, gpd.GeoDataFrame):
        assert isinstance(b, gpd.GeoDataFrame), name
        assert a.crs == b.crs, name
        assert a.geometry.geom_equals_exact(b.geometry, 0).all(), name
        a, b = pd.DataFrame(a.drop(columns="geometry")), pd.DataFrame(b.drop(columns="geometry"))
    pd.testing.assert_frame_equal(a, b, obj=name)


def test_the_demo_copied_to_postgis_holds_exactly_the_same(demo_ws, demo_pg):
    assert isinstance(demo_pg, PostgisWorkspace)
    assert demo_pg.stored_names() == demo_ws.stored_names()
    assert demo_pg.layer_names() == demo_ws.layer_names()
    for name in demo_ws.stored_names():
        _same(demo_ws.read_layer(name), demo_pg.read_layer(name), name)
    pd.testing.assert_frame_equal(demo_pg.layer_register(), demo_ws.layer_register())
    assert demo_pg.metadata() == demo_ws.metadata()
    assert demo_pg.raster_path("dem").read_bytes() == demo_ws.raster_path("dem").read_bytes()
    for name in ("enterprises", "rivers", "villages"):
        assert demo_pg.layer_info(name) == demo_ws.layer_info(name)


def test_bbox_reads_agree(demo_ws, demo_pg):
    x0, y0, x1, y1 = demo_ws.read_layer("villages").total_bounds
    box = (x0, y0, (x0 + x1) / 2, (y0 + y1) / 2)
    a = demo_ws.read_layer("enterprises", bbox=box)
    b = demo_pg.read_layer("enterprises", bbox=box)
    assert 0 < len(b) < len(demo_ws.read_layer("enterprises"))
    assert sorted(a["ent_id"]) == sorted(b["ent_id"])


def test_and_back_again_into_a_folder(demo_ws, demo_pg, tmp_path):
    back = copy_workspace(demo_pg.location, tmp_path / "back")
    for name in demo_ws.stored_names():
        _same(demo_ws.read_layer(name), back.read_layer(name), name)
    pd.testing.assert_frame_equal(back.layer_register(), demo_ws.layer_register())
    with pytest.raises(WorkspaceError, match="already exists"):
        copy_workspace(demo_pg.location, tmp_path / "back")


def test_conflicts_pushed_down_to_postgis_equal_the_in_memory_engine(demo_ws, demo_pg, catalog):
    rules = load_rules(catalog=catalog)
    memory, geoms_m = check_workspace(demo_ws, catalog, rules)
    pushed_calls = []
    import townmap.store.pushdown as pushdown

    real = pushdown.PostgisPairs._run

    def counting(self, *args, **kwargs):
        pushed_calls.append(1)
        return real(self, *args, **kwargs)

    pushdown.PostgisPairs._run = counting
    try:
        server, geoms_s = check_workspace(demo_pg, catalog, rules)
    finally:
        pushdown.PostgisPairs._run = real
    assert pushed_calls, "no join ran in PostGIS"
    assert len(memory.findings) > 50
    pd.testing.assert_frame_equal(memory.findings, server.findings)
    assert geoms_m.geom_equals_exact(geoms_s, 0).all()
    plain, _ = check_workspace(demo_pg, catalog, rules, push_down=False)
    pd.testing.assert_frame_equal(plain.findings, server.findings)


def test_passwords_never_appear_in_messages():
    url = "postgresql://planner:s3cret-pw@127.0.0.1:1/townmap?schema=town1"
    assert "s3cret" not in redact(url) and "***" in redact(url)
    assert parse_location(url)[1] == "town1"
    with pytest.raises(WorkspaceError) as info:
        open_workspace(url)
    assert "s3cret" not in str(info.value) and "cannot reach" in str(info.value)


@pytest.mark.parametrize("schema", ["Town", "a-b", "x" * 64, "1abc", "a;drop"])
def test_bad_schema_names_are_refused(schema):
    with pytest.raises(WorkspaceError, match="schema"):
        parse_location(f"postgresql://u@h/db?schema={schema}")


def test_workspace_copy_command(demo_ws, pg_server, tmp_path):
    url = pg_server.url("cli_copy")
    run = subprocess.run(
        [TOWNMAP, "workspace", "copy", str(demo_ws.location), url],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "copied the workspace" in run.stdout
    again = subprocess.run(
        [TOWNMAP, "workspace", "copy", str(demo_ws.location), url],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert again.returncode != 0 and "already exists" in again.stderr
    run = subprocess.run(
        [TOWNMAP, "layers", "--workspace", url],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "enterprises" in run.stdout


def test_pushed_down_joins_equal_memory_on_hand_built_edge_cases(pg_server, catalog):
    """Polygon and line subjects (largest overlap, overlaps summed, ties by constraint
    order, an edge-only touch), an invalid constraint (repaired copy), filtered subjects
    and constraints, and distances that depend on each subject's attributes."""
    from shapely.geometry import LineString, Point, Polygon, box

    from townmap.analysis.conflicts import find_conflicts
    from townmap.store.pushdown import PostgisPairs

    x, y = 490_000.0, 3_470_000.0
    bowtie = Polygon([(x + 300, y), (x + 400, y + 100), (x + 400, y), (x + 300, y + 100)])
    zones = gpd.GeoDataFrame(
        {"zone": ["A", "B", "bow", "far"]},
        geometry=[box(x, y, x + 100, y + 100), box(x + 50, y, x + 150, y + 100), bowtie,
                  box(x + 5000, y, x + 5100, y + 100)],
        crs=4549,
    )  # fmt: skip
    parcels = gpd.GeoDataFrame(
        {"p": ["tie", "mostB", "bow", "edge", "far"]},
        geometry=[box(x + 40, y + 10, x + 60, y + 30), box(x + 90, y, x + 140, y + 50),
                  box(x + 310, y + 40, x + 330, y + 60), box(x + 150, y, x + 160, y + 10),
                  box(x + 9000, y, x + 9010, y + 10)],
        crs=4549,
    )  # fmt: skip
    canals = gpd.GeoDataFrame(
        {"c": ["across", "touch"]},
        geometry=[LineString([(x - 10, y + 50), (x + 200, y + 50)]),
                  LineString([(x + 150, y - 10), (x + 150, y - 1)])],
        crs=4549,
    )  # fmt: skip
    plants = gpd.GeoDataFrame(
        {"plant_id": ["S", "L", "M", "none"], "capacity_m3d": [20_000, 120_000, 60_000, None]},
        geometry=[Point(x, y + 1000), Point(x + 10_000, y), Point(x + 20_000, y),
                  Point(x + 30_000, y)],
        crs=4549,
    )  # fmt: skip
    receptors = gpd.GeoDataFrame(
        {"r": [1, 2, 3, 4, 5]},
        geometry=[Point(x + 180, y + 1000), Point(x + 10_250, y), Point(x + 10_100, y),
                  Point(x + 20_000, y + 200), Point(x + 30_000, y + 150)],
        crs=4549,
    )  # fmt: skip
    ws = create_workspace(pg_server.url("pairs_edges"), 4549)
    with ws.transaction() as tx:
        for name, frame in (("eco_redline", zones), ("planning_zones", parcels),
                            ("rivers", canals), ("treatment_plants", plants),
                            ("sensitive_receptors", receptors)):  # fmt: skip
            tx.write_layer(name, frame)
    layers = {n: ws.read_layer(n) for n in ws.layer_names()}
    rules = load_rules(catalog=catalog)
    base = rules["eco_redline_construction"]

    def on(layer, where=None):
        subject = base.subject.model_copy(update={"layer": layer, "where": where or {}})
        return base.model_copy(update={"id": f"{layer}_in_zone", "subject": subject})

    # a constraint filter: only the zones named A or bow
    picky = base.constraint.model_copy(update={"where": {"zone": ["A", "bow"]}})
    chosen = on("planning_zones").model_copy(update={"id": "picky", "constraint": picky})
    checked = [on("planning_zones"), on("rivers"), chosen, rules["wwtp_setback"]]
    keys = {"planning_zones": "p", "rivers": "c", "treatment_plants": "plant_id"}
    pushed = []

    def finder(crs):
        pairs = PostgisPairs(ws, crs)
        real = pairs._run
        pairs._run = lambda *a, **k: pushed.append(1) or real(*a, **k)
        return pairs

    server = find_conflicts(layers, checked, keys=keys, pairs_from=finder).findings
    memory = find_conflicts(layers, checked, keys=keys).findings
    assert len(pushed) == len(checked)  # every join ran in PostGIS
    pd.testing.assert_frame_equal(memory, server)
    found = server.set_index(["rule_id", "feature_id"])
    tie = found.loc[("planning_zones_in_zone", "tie")]
    assert tie["constraint_id"] == "0" and tie["overlap_m2"] == 400  # A before B, both summed
    assert found.loc[("planning_zones_in_zone", "mostB"), "constraint_id"] == "1"
    assert ("planning_zones_in_zone", "bow") in found.index  # the repaired bowtie
    assert ("planning_zones_in_zone", "edge") not in found.index  # an edge is no overlap
    assert found.loc[("rivers_in_zone", "across"), "overlap_m2"] == 200  # A 100 + B 100
    picky_found = found.loc["picky"]  # B is filtered out: "mostB" now counts only its part in A
    assert set(picky_found.index) == {"tie", "mostB", "bow"}
    assert picky_found.loc["mostB", "constraint_id"] == "0"
    assert picky_found.loc["mostB", "overlap_m2"] == 500
    setback = found.loc["wwtp_setback"]
    assert set(setback.index) == {"L", "M", "none"}  # S's receptor is 180 m off, limit 150
    assert setback.loc["L", "limit_m"] == 300 and setback.loc["L", "distance_m"] == 100
    assert setback.loc["M", "distance_m"] == setback.loc["M", "limit_m"] == 200  # ≤, not <
