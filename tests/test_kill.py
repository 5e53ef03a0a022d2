"""A process killed (SIGKILL) in the middle of an edit or an import leaves a valid
workspace holding all or none of that change — tried repeatedly at random points, on the
GeoPackage and the PostGIS back end."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

from townmap.io.importer import IMPORT_LOG
from townmap.store import open_workspace
from townmap.store.copy import copy_workspace

EDIT = r"""
import sys
from townmap.management.editing import save_edits
from townmap.store import Actor
from townmap.store import open_workspace

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
from townmap.catalog import load_catalog
from townmap.io.importer import ImportOptions, commit_import, plan_import
from townmap.store import open_workspace

catalog = load_catalog()
ws = open_workspace(sys.argv[1], catalog=catalog)
plan = plan_import(sys.argv[3], ImportOptions("enterprises"), catalog)
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


@pytest.mark.parametrize("round_", range(4))
def test_sigkill_during_an_edit_leaves_all_or_none(demo_ws, backend, new_location, tmp_path,
                                                    round_):  # fmt: skip
    location = _workspace(demo_ws, backend, new_location, tmp_path)
    before = open_workspace(location).read_table("ems_aspects")
    log_before = len(open_workspace(location).read_table("change_log"))
    proc = subprocess.Popen([sys.executable, "-c", EDIT, location, str(round_)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(random.Random(round_).uniform(0.0, 0.5))  # somewhere inside the save
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    ws = open_workspace(location)  # opens: the workspace is valid
    after = ws.read_table("ems_aspects")
    controls = set(after["control"].astype(str))
    log = ws.read_table("change_log")
    if controls == {f"edit {round_}"}:  # all of it, with its change-log rows
        assert len(log) > log_before and (log["user"] == f"writer {round_}").any()
    else:  # none of it, and no change-log rows either
        assert after["control"].astype(str).tolist() == before["control"].astype(str).tolist()
        assert len(log) == log_before
    if backend == "gpkg":  # the killed writer's private copy is gone once it is opened
        assert not [p.name for p in os.scandir(location) if p.name.startswith(".workspace.tx-")]
    with ws.transaction() as tx:  # and the workspace still takes new writes
        tx.write_table("ems_aspects", after)


@pytest.mark.parametrize("round_", range(4))
def test_sigkill_during_an_import_leaves_all_or_none(demo_ws, backend, new_location, tmp_path,
                                                      round_):  # fmt: skip
    location = _workspace(demo_ws, backend, new_location, tmp_path)
    ws = open_workspace(location)
    before = ws.read_layer("enterprises")
    incoming = before.copy()
    incoming["name_en"] = f"imported {round_}"
    source = tmp_path / "enterprises.geojson"
    incoming.to_crs(4326).to_file(source, driver="GeoJSON")
    logged = len(ws.read_table(IMPORT_LOG)) if ws.has_table(IMPORT_LOG) else 0
    proc = subprocess.Popen([sys.executable, "-c", IMPORT, location, str(round_), str(source)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(random.Random(100 + round_).uniform(0.0, 0.8))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    ws = open_workspace(location)
    after = ws.read_layer("enterprises")
    log = ws.read_table(IMPORT_LOG) if ws.has_table(IMPORT_LOG) else None
    if set(after["name_en"].astype(str)) == {f"imported {round_}"}:  # all: data, log, undo copy
        assert len(after) == len(before) and len(log) == logged + 1
        assert len(ws.read_layer("townmap_prev_enterprises")) == len(before)  # for undo
    else:  # none
        assert after["name_en"].astype(str).tolist() == before["name_en"].astype(str).tolist()
        assert (0 if log is None else len(log)) == logged
