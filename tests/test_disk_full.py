"""A full disk ends a copy or an import in one clear line ("the disk is full: N MB
needed, M free"), with its partial output removed and the workspace as it was. The
tests mount a small tmpfs (root on Linux); where that is not allowed they are skipped
with the reason."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import fingerprint
from townmap.cli import main
from townmap.errors import WorkspaceError
from townmap.store import Actor, open_workspace
from townmap.store.copy import copy_workspace

FULL = re.compile(r"the disk is full: [\d,.]+ MB needed, [\d,.]+ MB free")


@pytest.fixture
def small_disk(tmp_path):
    """A function mounting a tmpfs of the given size in MB; unmounted afterwards."""
    mounts: list[Path] = []

    def mount(mb: float) -> Path:
        point = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={int(mb * 1024)}k", "tmpfs", str(point)],
            capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip() or 'not root'}")
        mounts.append(point)
        return point

    yield mount
    for point in mounts:
        subprocess.run(["umount", "-l", str(point)], check=False)


def _used(point: Path) -> int:
    return shutil.disk_usage(point).used


def test_a_copy_that_cannot_fit_is_refused_before_it_starts(demo_ws, small_disk, capsys):
    disk = small_disk(2)
    code = main(["workspace", "copy", str(demo_ws.location), str(disk / "ws")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and FULL.search(err) and len(err.splitlines()) == 1, err
    assert list(disk.iterdir()) == []  # nothing half-copied


def test_a_copy_that_fills_the_disk_midway_removes_its_partial_copy(
    demo_ws, small_disk, monkeypatch
):
    import townmap.store.copy as copy_module

    disk = small_disk(3)
    monkeypatch.setattr(copy_module, "_size", lambda src: 0)  # an estimate that was wrong
    with pytest.raises(WorkspaceError, match=FULL):
        copy_workspace(demo_ws.location, disk / "ws")
    assert list(disk.iterdir()) == [] and _used(disk) < 64 * 1024  # the disk is free again


def test_an_import_that_fills_the_disk_leaves_the_workspace_as_it_was(
    demo_ws, small_disk, tmp_path, catalog
):
    from townmap.io.importer import ImportOptions, commit_import, plan_import

    tve = demo_ws.read_layer("enterprises")
    copies = []
    for n in range(40):  # a county's enterprises: far more than the disk has room for
        part = tve.copy()
        part["ent_id"] = part["ent_id"].astype(str) + f"-{n:02d}"
        copies.append(part)
    big = tmp_path / "county_enterprises.gpkg"
    pd.concat(copies, ignore_index=True).pipe(type(tve)).to_file(big, driver="GPKG")
    plan = plan_import(big, ImportOptions("enterprises", mode="replace"), catalog)
    assert plan.ok, plan.blocking
    workspace_mb = sum(p.stat().st_size for p in Path(demo_ws.location).rglob("*")) / 2**20
    gpkg_mb = (Path(demo_ws.location) / "workspace.gpkg").stat().st_size / 2**20
    disk = small_disk(workspace_mb + gpkg_mb + 1.5)  # room for its copy-on-write, not more
    shutil.copytree(demo_ws.location, disk / "ws")
    ws = open_workspace(disk / "ws", catalog=catalog, actor=Actor("consultant", "planner"))
    before, used = fingerprint(ws), _used(disk)
    with pytest.raises(WorkspaceError, match=FULL):
        commit_import(ws, plan)
    assert fingerprint(open_workspace(disk / "ws")) == before
    assert not list((disk / "ws").glob(".workspace.tx-*"))
    assert _used(disk) <= used + 64 * 1024
