"""A process killed (SIGKILL) in the middle of an edit or an import leaves a valid
workspace holding all or none of that change — tried at random points, and at known ones
(the writer stops itself inside the write, or at its commit point), on the GeoPackage and
the PostGIS back end. Each case records where the kill landed (``tests/killing.py``:
before the write began, inside it, inside its commit, after it) and asserts what that
allows: none, all or none, all.

What a killed writer may leave in a GeoPackage folder is its copy-on-write copy
(``.workspace.tx-PID-HOST-RANDOM.gpkg``) with SQLite's side files of it (``-journal``,
``-wal``, ``-shm``), a staged or placed commit journal, and half-written rasters: each
name carries the dead writer's tag, and the next open removes all of it (or rolls the
journalled commit forward)."""

from __future__ import annotations

import shutil

import pytest

from tests.killing import FOLDER_LITTER, INSIDE, JOURNALLED, folder_litter, kill_writer
from townmap.io.importer import IMPORT_LOG
from townmap.store import open_workspace
from townmap.store.copy import copy_workspace

EDIT = r"""
import sys
from tests.killing import trace
from townmap.management.editing import save_edits
from townmap.store import Actor
from townmap.store import open_workspace

trace(sys.argv[1], sys.argv[3] or None)
ws = open_workspace(sys.argv[1])
n = int(sys.argv[2])
edited = ws.read_table("ems_aspects")
edited["control"] = f"edit {n}"  # every row: the edit is all-or-none visible
print("ready", flush=True)
save_edits(ws.as_actor(Actor(f"writer {n}")), "ems_aspects", edited)
print("done", flush=True)
"""

IMPORT = r"""
import sys
from tests.killing import trace
from townmap.catalog import load_catalog
from townmap.io.importer import ImportOptions, commit_import, plan_import
from townmap.store import open_workspace

trace(sys.argv[1], sys.argv[4] or None)
catalog = load_catalog()
ws = open_workspace(sys.argv[1], catalog=catalog)
plan = plan_import(sys.argv[3], ImportOptions("enterprises", mode="replace"), catalog)
assert plan.ok, plan.blocking
print("ready", flush=True)
commit_import(ws, plan)
print("done", flush=True)
"""


def _workspace(demo_ws, backend, new_location, tmp_path):
    if backend == "gpkg":
        folder = tmp_path / "ws"
        shutil.copytree(demo_ws.folder, folder)
        return str(folder)
    location = new_location("kill")
    copy_workspace(demo_ws.location, location)
    return location


#: where the writer is killed: stopped inside the write (its copy made, nothing committed),
#: stopped at its commit point (GeoPackage: with the commit journalled, so it is rolled
#: forward; PostGIS: before the commit ran), or at random moments 0-3
WHEN = ["inside", "commit", 0, 1, 2, 3]


def _pause(when, backend) -> str | None:
    if when == "inside":
        return "begun"
    if when == "commit":
        return "journalled" if backend == "gpkg" else "commit"
    return None


def _litter_before_open(kill, location, backend) -> list[str]:
    """What the dead writer left in the folder: only the kinds it may leave, each named
    for it; when stopped inside the write, its copy is there (the clean-up is tested)."""
    if backend != "gpkg":
        return []
    left = folder_litter(location)
    assert all(n.startswith(FOLDER_LITTER) for n in left), left
    assert all(kill.tagged(n) for n in left if n != ".townmap.commit.json"), (kill.pid, left)
    if kill.landed == INSIDE and kill.paused:
        assert [n for n in left if n.startswith(".workspace.tx-")], left
    if kill.landed == JOURNALLED and kill.paused:
        assert ".townmap.commit.json" in left, left
    return left


def _check_outcome(kill, got: str, record_property) -> None:
    record_property("kill_landed", kill.landed)
    record_property("kill_outcome", got)
    assert got in kill.outcome.split(" or "), (kill.landed, kill.stages, got)


@pytest.mark.parametrize("when", WHEN)
def test_sigkill_during_an_edit_leaves_all_or_none(demo_ws, backend, new_location, tmp_path,
                                                    when, record_property):  # fmt: skip
    location = _workspace(demo_ws, backend, new_location, tmp_path)
    before = open_workspace(location).read_table("ems_aspects")
    log_before = len(open_workspace(location).read_table("change_log"))
    n = 9 if isinstance(when, str) else when
    kill = kill_writer([EDIT, str(location), str(n), _pause(when, backend) or ""],
                       pause=_pause(when, backend), seed=n, span=0.5)  # fmt: skip
    left = _litter_before_open(kill, location, backend)
    ws = open_workspace(location)  # opens: the workspace is valid
    after = ws.read_table("ems_aspects")
    controls = set(after["control"].astype(str))
    log = ws.read_table("change_log")
    if controls == {f"edit {n}"}:  # all of it, with its change-log rows
        assert len(log) > log_before and (log["user"] == f"writer {n}").any()
        got = "all"
    else:  # none of it, and no change-log rows either
        assert after["control"].astype(str).tolist() == before["control"].astype(str).tolist()
        assert len(log) == log_before
        got = "none"
    _check_outcome(kill, got, record_property)
    if backend == "gpkg":  # what the killed writer left is gone once it is opened
        assert folder_litter(location) == [], (left, folder_litter(location))
    with ws.transaction() as tx:  # and the workspace still takes new writes
        tx.write_table("ems_aspects", after)


@pytest.mark.parametrize("when", ["inside", 0, 1, 2, 3])
def test_sigkill_during_an_import_leaves_all_or_none(demo_ws, backend, new_location, tmp_path,
                                                      when, record_property):  # fmt: skip
    location = _workspace(demo_ws, backend, new_location, tmp_path)
    ws = open_workspace(location)
    before = ws.read_layer("enterprises")
    incoming = before.copy()
    n = 9 if isinstance(when, str) else when
    incoming["name_en"] = f"imported {n}"
    source = tmp_path / "enterprises.geojson"
    incoming.to_crs(4326).to_file(source, driver="GeoJSON")
    logged = len(ws.read_table(IMPORT_LOG)) if ws.has_table(IMPORT_LOG) else 0
    pause = _pause(when, backend)
    kill = kill_writer([IMPORT, str(location), str(n), str(source), pause or ""],
                       pause=pause, seed=100 + n, span=0.8)  # fmt: skip
    left = _litter_before_open(kill, location, backend)
    ws = open_workspace(location)
    after = ws.read_layer("enterprises")
    log = ws.read_table(IMPORT_LOG) if ws.has_table(IMPORT_LOG) else None
    if set(after["name_en"].astype(str)) == {f"imported {n}"}:  # all: data, log, undo copy
        assert len(after) == len(before) and len(log) == logged + 1
        copy = str(log["previous"].iloc[-1])  # the copy this import keeps for its undo
        assert copy.startswith("townmap_prev_enterprises")
        assert len(ws.read_layer(copy)) == len(before)
        got = "all"
    else:  # none
        assert after["name_en"].astype(str).tolist() == before["name_en"].astype(str).tolist()
        assert (0 if log is None else len(log)) == logged
        got = "none"
    _check_outcome(kill, got, record_property)
    if backend == "gpkg":
        assert folder_litter(location) == [], (left, folder_litter(location))
