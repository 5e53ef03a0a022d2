"""A process killed (SIGKILL) in the middle of an edit leaves a valid workspace holding all
or none of that edit — tried repeatedly at random points (GeoPackage back end)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

from townmap.workspace import Workspace

WRITER = r"""
import sys
import pandas as pd
from townmap.management.editing import save_edits
from townmap.workspace import Workspace

ws = Workspace(sys.argv[1])
n = int(sys.argv[2])
base = ws.read_table("ems_aspects")
edited = base.copy()
edited["control"] = f"edit {n}"  # every row: the edit is all-or-none visible
print("ready", flush=True)
save_edits(ws, "ems_aspects", edited, user=f"writer {n}")
print("done", flush=True)
"""


@pytest.mark.parametrize("round_", range(6))
def test_sigkill_during_an_edit_leaves_all_or_none(demo_ws, tmp_path, round_):
    folder = tmp_path / "ws"
    shutil.copytree(demo_ws.folder, folder)
    before = Workspace(folder).read_table("ems_aspects")
    log_before = len(Workspace(folder).read_table("change_log"))
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(folder), str(round_)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(random.Random(round_).uniform(0.0, 0.6))  # somewhere inside the save
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    ws = Workspace(folder)  # opens: the file is valid
    after = ws.read_table("ems_aspects")
    controls = set(after["control"].astype(str))
    log = ws.read_table("change_log")
    if controls == {f"edit {round_}"}:  # all of it, with its change-log rows
        assert len(log) > log_before and (log["user"] == f"writer {round_}").any()
    else:  # none of it, and no change-log rows either
        assert after["control"].astype(str).tolist() == before["control"].astype(str).tolist()
        assert len(log) == log_before
    leftovers = [p.name for p in folder.iterdir() if p.name.startswith(".workspace.tx-")]
    # a killed writer may leave its private copy behind; it is never read and is harmless
    assert all(name.endswith(".gpkg") for name in leftovers)
    with ws.transaction() as tx:  # and the workspace still takes new writes
        tx.write_table("ems_aspects", after)
