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
from townmap.io.copy import copy_workspace
from townmap.workspace import open_workspace
from townmap.workspace_pg import PostgisWorkspace, parse_location, redact

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
    import townmap.analysis.pushdown as pushdown

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
