"""A writer killed (SIGKILL) at a random point of every kind of write — comment,
moderation, nonconformity, scenario, undo, DEM import, backup, restore — leaves a
workspace that opens, holding all or none of the change, on both back ends; and what the
dead writer left (its copy-on-write file, half-written rasters, a backup's part file, a
restore's staging folder or schema) is removed by the next open or the next run of the
same kind, never listed as data and never backed up. Each test records whether the kill
landed inside the write (``record_property``)."""

from __future__ import annotations

import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely

from tests.helpers import fingerprint
from townmap import PROJECT_ROOT
from townmap.store import IMPORT_LOG, Actor, open_workspace
from townmap.store.copy import copy_workspace

CHILD = r"""
import json, pickle, sys
from pathlib import Path
from tests import writers
kind, location, payload = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
if kind in ("backup", "restore", "dem"):
    from townmap.catalog import load_catalog
    from townmap.io.backup import backup, restore
    from townmap.io.importer import ImportOptions, commit_import, plan_import
    from townmap.store import Actor, open_workspace
    ws = open_workspace(location, catalog=load_catalog(), actor=Actor("kill test", "planner"))
    if kind == "dem":
        plan = plan_import(payload["file"], ImportOptions("dem"), load_catalog())
        assert plan.ok, plan.blocking
print("ready", flush=True)
if kind == "backup":
    backup(ws, payload["out"])
elif kind == "restore":
    restore(payload["archive"], location, force=True)
elif kind == "dem":
    commit_import(ws, plan)
elif kind == "scenario":
    writers.save_scenario(location, 0, Path(payload["pickle"]).read_bytes())
elif kind == "moderation":
    writers.moderate(location, 0, [payload["cid"]])
else:
    writers.WRITERS[kind](location, 0, None)
print("done", flush=True)
"""

KINDS = ["comments", "moderation", "nonconformities", "scenario", "undo", "dem", "backup",
         "restore"]  # fmt: skip


@pytest.fixture(scope="module")
def scenario_file(siting_plan, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "plan.pickle"
    path.write_bytes(pickle.dumps(siting_plan))
    return path


def _prepare(kind: str, location: str, tmp_path: Path, scenario_file: Path) -> dict:
    """What the write needs, made before the writer starts."""
    ws = open_workspace(location, actor=Actor("setup", "planner"))
    if kind == "moderation":
        from townmap.participation.comments import add_comment

        return {"cid": add_comment(ws, shapely.Point(119.93, 31.38), category="air", text="x")}
    if kind == "scenario":
        return {"pickle": str(scenario_file)}
    if kind == "undo":
        from townmap.catalog import load_catalog
        from townmap.io.importer import ImportOptions, commit_import, plan_import

        csv = tmp_path / "receptors.csv"
        csv.write_text("编号,名称,英文名,类型,人数,经度,纬度\nSRX,新小学,New School,school,300,"
                       "119.95,31.40\n", encoding="utf-8")  # fmt: skip
        cat = load_catalog()
        commit_import(ws, plan_import(csv, ImportOptions("sensitive_receptors"), cat))
        return {}
    if kind == "dem":
        with rasterio.open(ws.raster_path("dem")) as src:
            profile, data = src.profile, src.read(1)
        path = tmp_path / "dem_new.tif"
        nodata = profile.get("nodata")
        raised = data + 7 if nodata is None else np.where(data == nodata, data, data + 7)
        with rasterio.open(path, "w", **profile) as out:
            out.write(raised.astype(data.dtype), 1)
        return {"file": str(path)}
    if kind == "backup":
        return {"out": str(tmp_path / "out" / "backup.zip")}
    if kind == "restore":
        from townmap.io.backup import backup

        with ws.transaction() as tx:  # the backup differs from what is there now
            tx.write_table("restore_marker", __import__("pandas").DataFrame({"a": [1]}))
        archive = backup(ws, tmp_path / "before.zip")
        with ws.transaction() as tx:
            tx.delete_layer("restore_marker")
        return {"archive": str(archive)}
    return {}


def _state(kind: str, location: str, payload: dict) -> object:
    """What the write changes, read so that 'all' and 'none' can be told apart."""
    ws = open_workspace(location)
    if kind == "comments":
        from townmap.participation.comments import read_comments

        return (len(read_comments(ws)), len(ws.read_table("change_log")))
    if kind == "moderation":
        from townmap.participation.comments import read_comments

        status = read_comments(ws).set_index("comment_id").loc[payload["cid"], "status"]
        return (status, len(ws.read_table("change_log")))
    if kind == "nonconformities":
        return (len(ws.read_table("ems_nonconformities")), len(ws.read_table("change_log")))
    if kind == "scenario":
        from townmap.analysis.scenarios import list_scenarios

        plants = ws.read_layer("scenario_plants") if ws.has_layer("scenario_plants") else None
        return (len(list_scenarios(ws)), 0 if plants is None else len(plants))
    if kind == "undo":
        log = ws.read_table(IMPORT_LOG)
        return (tuple(log["undone"]), len(ws.read_layer("sensitive_receptors")))
    if kind == "dem":
        log = ws.read_table(IMPORT_LOG) if ws.has_table(IMPORT_LOG) else []
        with rasterio.open(ws.raster_path("dem")) as src:
            return (round(float(np.nanmax(src.read(1, masked=True))), 1), len(log))
    if kind == "backup":
        out = Path(payload["out"])
        return out.is_file() and zipfile.ZipFile(out).testzip() is None
    return ws.has_table("restore_marker")


def _kill_at_random(kind, location, payload, seed) -> tuple[bool, subprocess.Popen]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, kind, location, json.dumps(payload)],
        stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT,
    )  # fmt: skip
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(random.Random(seed).uniform(0.0, 0.4))  # a random point inside the write
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return "done" in proc.stdout.read(), proc


def _no_litter(location: str) -> None:
    """What the dead writer left is gone once the workspace is opened, and never data."""
    ws = open_workspace(location)
    assert all(not n.startswith(".") for n in ws.raster_names() + ws.layer_names())
    if location.startswith("postgresql"):
        import tempfile

        from townmap.store.folders import writer_dead

        left = [
            p for p in Path(tempfile.gettempdir()).glob("townmap-pg-tx-*") if writer_dead(p.name)
        ]
        assert not left, left
        return
    folder = Path(location)
    assert not list(folder.glob(".workspace.tx-*")), list(folder.iterdir())
    assert not list((folder / "rasters").glob(".*")), list((folder / "rasters").iterdir())
    siblings = [p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}.")]
    assert not siblings, siblings


@pytest.mark.parametrize("round_", range(2))
@pytest.mark.parametrize("kind", KINDS)
def test_a_write_killed_anywhere_leaves_all_or_none_and_no_litter(
    demo_location, backend, tmp_path, scenario_file, kind, round_, record_property
):
    location = demo_location
    payload = _prepare(kind, location, tmp_path, scenario_file)
    before = _state(kind, location, payload)
    finished, _ = _kill_at_random(kind, location, payload, seed=f"{kind}{round_}{backend}")
    after = _state(kind, location, payload)
    record_property("kill_landed", "after the write" if finished else "inside the write")
    landed = after != before
    if finished:
        assert landed, (kind, before, after)
    if kind == "comments" and landed:
        assert after == (before[0] + 1, before[1] + 1)  # the comment with its log row
    elif kind == "moderation" and landed:
        assert after == ("approved", before[1] + 1)
    elif kind == "nonconformities" and landed:
        assert after == (before[0] + 1, before[1] + 1)
    elif kind == "scenario" and landed:
        assert after[0] == before[0] + 1 and after[1] > before[1]
    elif kind == "undo" and landed:
        assert after[0][-1] == "true" and after[1] > before[1]  # the replaced layer is back
    elif kind == "dem" and landed:  # the new DEM with its log row
        assert after[1] == before[1] + 1 and after[0] > before[0] + 6, (before, after)
    elif kind == "restore":
        assert after in (True, False)  # the backup's content, or what was there
    _no_litter(location)
    ws = open_workspace(location)
    if kind == "backup":
        from townmap.io.backup import backup

        out = backup(ws, payload["out"])  # the next backup clears a dead one's part file
        assert [p.name for p in out.parent.iterdir()] == [out.name]
        import tempfile  # ... and a dead one's snapshot in the temporary folder

        from townmap.store.folders import writer_dead

        snapshots = Path(tempfile.gettempdir()).glob("townmap-backup-*")
        assert not [p for p in snapshots if writer_dead(p.name)]
    if kind in ("dem", "backup") and backend == "gpkg":
        from townmap.io.backup import backup

        names = zipfile.ZipFile(backup(ws, tmp_path / "check.zip")).namelist()
        assert not [n for n in names if "/." in n or n.startswith(".")], names
    fingerprint(ws)  # every table and raster still reads
    with ws.transaction() as tx:  # and the workspace still takes writes
        tx.write_table("after_kill", __import__("pandas").DataFrame({"ok": [True]}))


def test_a_restore_killed_into_postgis_leaves_no_staging_schema(demo_ws, pg_server, tmp_path):
    """The staging schema of a killed restore or copy names its builder's server process;
    once that process is gone, the next copy into the same place drops it."""
    import psycopg

    from townmap.io.backup import backup

    location = pg_server.url("kill_stage")
    copy_workspace(demo_ws.location, location)
    archive = backup(open_workspace(location), tmp_path / "b.zip")
    payload = {"archive": str(archive)}
    query = (
        "SELECT nspname, obj_description(oid, 'pg_namespace') FROM pg_namespace "
        "WHERE nspname LIKE 'kill\\_stage\\_stage\\_%'"
    )
    staging = []
    base = location.split("?")[0]
    for _ in range(5):  # kill the restore as soon as its staging schema is there
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, "restore", location, json.dumps(payload)],
            stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT,
        )  # fmt: skip
        assert proc.stdout.readline().strip() == "ready"
        with psycopg.connect(base, autocommit=True) as con:
            while proc.poll() is None and not staging:
                staging = [r for r in con.execute(query).fetchall() if r[1]]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if staging:
            break
    assert staging, "no kill landed while the staging schema existed"
    pids = [int(note.rsplit(" ", 1)[1]) for _, note in staging if note]
    deadline = time.monotonic() + 60  # the server notices its client has gone
    with psycopg.connect(location.split("?")[0], autocommit=True) as con:
        while time.monotonic() < deadline:
            live = {r[0] for r in con.execute("SELECT pid FROM pg_stat_activity").fetchall()}
            if not live & set(pids):
                break
            time.sleep(0.1)
    copy_workspace(demo_ws.location, location, force=True)
    with psycopg.connect(location.split("?")[0]) as con:
        left = con.execute(query).fetchall()
    assert not left
    open_workspace(location).metadata()
