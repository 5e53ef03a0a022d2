"""A writer killed (SIGKILL) at a random point of every kind of write — comment,
moderation, nonconformity, scenario, undo, DEM import, backup, restore — leaves a
workspace that opens, holding all or none of the change, on both back ends; and what the
dead writer left (its copy-on-write file, half-written rasters, a backup's part file, a
restore's staging folder or schema) is removed by the next open or the next run of the
same kind, never listed as data and never backed up.

Each case records where the kill landed (``tests/killing.py``: the writer prints each
stage of its write): before the write began (none of the change), inside it before its
commit (none), inside the commit (all or none; all once a GeoPackage commit is
journalled), after it (all). The first case of every kind stops the writer inside its
write, so that at least one kill is known to land there and to leave litter to clean.

What a killed writer may leave: in a GeoPackage folder its copy-on-write copy
``.workspace.tx-TAG.gpkg`` with SQLite's ``-journal``/``-wal``/``-shm`` (and GDAL's) side
files of it, a staged or placed commit journal, half-written ``rasters/.NAME.tx-TAG.tif``;
beside the folder a restore's ``.ws.restore-TAG`` or a moved-aside ``.ws.replaced-TAG``;
beside a backup its ``.NAME.zip.TAG.part``; in the temporary folder a PostGIS
transaction's ``townmap-pg-tx-TAG-…``, a backup's ``townmap-backup-TAG-…`` and a
restore's ``townmap-restore-TAG-…`` (TAG = the writer's ``PID-HOST-RANDOM``). The next
open removes what is in and beside the folder (and the PostGIS transaction's folder); the
next backup or restore what a dead one left."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely

from tests.helpers import fingerprint
from tests.killing import FOLDER_LITTER, INSIDE, Kill, folder_litter, kill_writer
from townmap import PROJECT_ROOT
from townmap.store import IMPORT_LOG, Actor, open_workspace
from townmap.store.copy import copy_workspace

CHILD = r"""
import json, pickle, sys
from pathlib import Path
from tests import writers
from tests.killing import trace
kind, location, payload = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
trace(location, sys.argv[4] or None)
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
        commit_import(
            ws, plan_import(csv, ImportOptions("sensitive_receptors", mode="replace"), cat)
        )
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


def _temp_litter(kill: Kill) -> list[str]:
    """What the dead writer left in the temporary folder (named for it)."""
    return sorted(p.name for p in Path(tempfile.gettempdir()).iterdir() if kill.tagged(p.name))


def _litter_after_kill(kill: Kill, location: str, payload: dict) -> list[str]:
    """What the dead writer left, before anything opens the workspace: only the kinds a
    killed writer may leave, each carrying its tag."""
    left = [f"tmp/{n}" for n in _temp_litter(kill)]
    assert all(n.startswith(("tmp/townmap-pg-tx-", "tmp/townmap-backup-", "tmp/townmap-restore-"))
               for n in left), left  # fmt: skip
    if "out" in payload:  # a backup's part file beside its archive
        out = Path(payload["out"])
        parts = [p.name for p in out.parent.glob(".*")] if out.parent.is_dir() else []
        assert all(n.startswith(f".{out.name}.") and n.endswith(".part") for n in parts), parts
        assert all(kill.tagged(n) for n in parts), parts
        left += parts
    if location.startswith("postgresql"):
        return left
    inside = folder_litter(Path(location))
    name = Path(location).name
    kinds = (*FOLDER_LITTER, f".{name}.restore-", f".{name}.replaced-")
    assert all(n.startswith(kinds) for n in inside), inside
    assert all(kill.tagged(n) for n in inside if n != ".townmap.commit.json"), (kill.pid, inside)
    return left + inside


def _no_litter(location: str, kill: Kill) -> None:
    """What the dead writer left is gone once the workspace is opened, and never data."""
    ws = open_workspace(location)
    assert all(not n.startswith(".") for n in ws.raster_names() + ws.layer_names())
    if location.startswith("postgresql"):
        from townmap.store.folders import writer_dead

        left = [
            p for p in Path(tempfile.gettempdir()).glob("townmap-pg-tx-*") if writer_dead(p.name)
        ]
        assert not left, left
        return
    assert folder_litter(Path(location)) == [], folder_litter(Path(location))


@pytest.mark.parametrize("when", ["inside", 0, 1])  # stopped inside the write; random
@pytest.mark.parametrize("kind", KINDS)
def test_a_write_killed_anywhere_leaves_all_or_none_and_no_litter(
    demo_location, backend, tmp_path, scenario_file, kind, when, record_property
):
    location = demo_location
    payload = _prepare(kind, location, tmp_path, scenario_file)
    before = _state(kind, location, payload)
    pause = "begun" if when == "inside" else None
    kill = kill_writer([CHILD, kind, location, json.dumps(payload), pause or ""],
                       pause=pause, seed=f"{kind}{when}{backend}")  # fmt: skip
    left = _litter_after_kill(kill, location, payload)
    after = _state(kind, location, payload)
    landed = after != before
    record_property("kill_landed", kill.landed)
    record_property("kill_outcome", "all" if landed else "none")
    record_property("litter", " ".join(left))
    assert ("all" if landed else "none") in kill.outcome.split(" or "), (
        kind, kill.landed, kill.stages, before, after
    )  # fmt: skip
    if pause:  # known to land inside the write, with something left to clean
        assert kill.landed == INSIDE and left, (kill.stages, left)
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
        assert before is False and after in (True, False)  # the backup's content, or not
    _no_litter(location, kill)
    ws = open_workspace(location)
    if kind == "restore":  # the next restore clears a dead one's unpacked copy
        from townmap.store.folders import temp_folder

        with temp_folder("townmap-restore-"):
            pass
    if kind == "backup":
        from townmap.io.backup import backup

        out = backup(ws, payload["out"])  # the next backup clears a dead one's part file
        assert [p.name for p in out.parent.iterdir()] == [out.name]
        from townmap.store.folders import writer_dead  # ... and a dead one's snapshot

        snapshots = Path(tempfile.gettempdir()).glob("townmap-backup-*")
        assert not [p for p in snapshots if writer_dead(p.name)]
    if kind in ("dem", "backup") and backend == "gpkg":
        from townmap.io.backup import backup

        names = zipfile.ZipFile(backup(ws, tmp_path / "check.zip")).namelist()
        assert not [n for n in names if "/." in n or n.startswith(".")], names
    assert _temp_litter(kill) == [], _temp_litter(kill)  # nothing of the dead writer is left
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
            [sys.executable, "-c", CHILD, "restore", location, json.dumps(payload), ""],
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


def test_a_dead_writers_sqlite_side_files_are_removed_on_open(demo_ws, tmp_path):
    """SQLite (and GDAL) write side files next to the copy a transaction works on — a
    rollback ``-journal``, or ``-wal`` and ``-shm``, an R-tree's temporary database — that a
    killed writer leaves with it; the next open removes them with the copy, and with a
    staged commit journal and half-written rasters."""
    import shutil

    from townmap.store.folders import host_id

    folder = tmp_path / "ws"
    shutil.copytree(demo_ws.folder, folder)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    tag = f"{int(dead.stdout)}-{host_id()}-0123456789ab"
    copy = folder / f".workspace.tx-{tag}.gpkg"
    shutil.copyfile(folder / "workspace.gpkg", copy)
    sides = [copy.with_name(copy.name + s) for s in ("-journal", "-wal", "-shm",
                                                      ".tmp_rtree_rivers.db")]  # fmt: skip
    rasters = [folder / "rasters" / f".dem.tx-{tag}.tif{s}" for s in ("", ".aux.xml")]
    for path in [*sides, *rasters, folder / f".townmap.commit.json.{tag}"]:
        path.write_bytes(b"\0" * 512)  # whatever the writer got to write
    assert len(folder_litter(folder)) == 8
    ws = open_workspace(folder)  # the next open
    assert folder_litter(folder) == [], folder_litter(folder)
    assert fingerprint(ws) == fingerprint(demo_ws)  # and the data as it was
