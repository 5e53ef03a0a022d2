"""Killing a writer (SIGKILL) and knowing where the kill landed.

The writer runs in a child process that calls ``trace(location, pause)`` first: from then
on it prints, flushed, each stage of its write to the workspace at ``location`` the moment
it reaches it —

``begun``       the write has started: a transaction on the workspace is open (its
                copy-on-write file made, or its database transaction begun), or a
                backup's or restore's temporary or staging folder exists;
``commit``      the commit point is reached: a transaction that wrote something starts
                its commit, a backup's part file is about to become the archive, a
                restore's folder or schema is about to be swapped in;
``journalled``  (GeoPackage) the commit's journal is in place: the next lock holder
                rolls the commit forward;

and the child prints ``ready`` before it starts the write and ``done`` after it. The
kill's place follows from the last stage printed (``landed``), and with it what the
workspace must hold: nothing of the change when the kill came before ``commit``, all of it
after ``journalled`` or ``done``, either in between. ``pause`` makes the child stop
itself (SIGSTOP) at that stage, so that a kill is known to land there; without it the test
kills at a random moment.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from townmap import PROJECT_ROOT

BEFORE = "before the write began (at most its transaction was being set up)"
INSIDE = "inside the write, before its commit"
AT_COMMIT = "at its commit point, before any of the commit ran"
COMMITTING = "inside the commit"
JOURNALLED = "inside the commit, after its journal"
AFTER = "after the write"

#: where a kill may land, and what the workspace must then hold
OUTCOMES = {BEFORE: "none", INSIDE: "none", AT_COMMIT: "none", COMMITTING: "all or none",
            JOURNALLED: "all", AFTER: "all"}  # fmt: skip


# ------------------------------------------------------------------ in the child
def trace(location: str, pause: str | None = None) -> None:
    """Print the stages of writes to ``location`` (see the module docstring); stop at
    ``pause``. Writes elsewhere (a backup's snapshot, a restore's unpacked copy) are not
    traced: they change nothing at ``location``."""
    import townmap.store.postgis as postgis
    from townmap.store import folders, is_postgis
    from townmap.store.gpkg import GeoPackageTransaction, GeoPackageWorkspace

    def here(where) -> bool:
        if is_postgis(str(where)) or is_postgis(location):
            return str(where) == str(location)
        return Path(where).resolve() == Path(location).resolve()

    def mark(stage: str) -> None:
        print(stage, flush=True)
        if stage == pause:
            os.kill(os.getpid(), signal.SIGSTOP)  # the test kills it here

    for cls in (GeoPackageWorkspace, postgis.PostgisWorkspace):
        real_tx = cls.transaction

        def transaction(self, *args, _real=real_tx, **kwargs):
            with _real(self, *args, **kwargs) as tx:
                if here(self.location):
                    mark("begun")
                yield tx

        cls.transaction = contextlib.contextmanager(transaction)
    for cls in (GeoPackageTransaction, postgis.PostgisTransaction):
        real_commit = cls._commit

        def _commit(self, _real=real_commit):
            if self._dirty and here(self.ws.location):
                mark("commit")
            return _real(self)

        cls._commit = _commit

    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if str(src).endswith(".part"):  # a backup's archive about to be put in place
            mark("commit")
        real_replace(src, dst, *args, **kwargs)
        if Path(dst).name == ".townmap.commit.json" and here(Path(dst).parent):
            mark("journalled")

    os.replace = replace

    real_temp = folders.temp_folder

    @contextlib.contextmanager
    def temp_folder(prefix, where=None):
        with real_temp(prefix, where) as folder:
            mark("begun")  # a backup's snapshot, or a restore into PostGIS unpacking
            yield folder

    folders.temp_folder = temp_folder

    real_staging = folders.staging_folder

    def staging_folder(target, kind):
        folder = real_staging(target, kind)
        if here(target):
            mark("begun")
        return folder

    folders.staging_folder = staging_folder

    real_swap = folders.swap_in

    def swap_in(staging, folder):
        if here(folder):
            mark("commit")
        real_swap(staging, folder)

    folders.swap_in = swap_in

    real_staged = postgis.staged_schema

    @contextlib.contextmanager
    def staged_schema(where, *args, **kwargs):
        with real_staged(where, *args, **kwargs) as ws:
            yield ws
            if here(where):
                mark("commit")  # the staging schema is about to be renamed into place

    postgis.staged_schema = staged_schema


# ------------------------------------------------------------------ in the test
@dataclass
class Kill:
    """A writer killed: the stages it printed, hence where the kill landed."""

    pid: int
    stages: list[str]
    paused: bool = False  # stopped at its last stage: the kill landed exactly there

    @property
    def landed(self) -> str:
        if self.paused and self.stages[-1] == "commit":
            return AT_COMMIT
        if "done" in self.stages:
            return AFTER
        if "journalled" in self.stages:
            return JOURNALLED
        if "commit" in self.stages:
            return COMMITTING
        if "begun" in self.stages:
            return INSIDE
        return BEFORE

    @property
    def outcome(self) -> str:
        """What the workspace must hold: 'none', 'all' or 'all or none' of the change."""
        return OUTCOMES[self.landed]

    def tagged(self, name: str) -> bool:
        """Whether a file name carries this writer's tag (``PID-HOST-RANDOM``)."""
        from townmap.store.folders import host_id

        return f"{self.pid}-{host_id()}-" in name


def kill_writer(
    args: list[str], *, pause: str | None = None, seed: object = None, span: float = 0.4
) -> Kill:
    """Start the writer ``python -c …`` (``args``), wait for its ``ready``, and kill it:
    at the stage ``pause`` (it stops itself there) or after a random delay of up to
    ``span`` seconds (seeded by ``seed``)."""
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-c", *args], stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT
    )
    try:
        stages = [proc.stdout.readline().strip()]
        assert stages == ["ready"], stages
        if pause is None:
            time.sleep(random.Random(str(seed)).uniform(0.0, span))  # a random point
        else:
            while stages[-1] != pause:
                line = proc.stdout.readline()
                assert line, f"the writer ended without reaching {pause!r}: {stages}"
                stages.append(line.strip())
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    paused = pause is not None and stages[-1] == pause
    stages += proc.stdout.read().split()
    proc.stdout.close()
    return Kill(proc.pid, stages, paused and stages[-1] == pause)


#: what a killed writer may leave in a GeoPackage workspace folder (each name but the
#: journal carries the writer's tag): its copy-on-write copy ``.workspace.tx-TAG.gpkg``
#: with SQLite's (``-journal``, ``-wal``, ``-shm``) and GDAL's side files of it, a staged
#: or placed commit journal, half-written rasters ``rasters/.NAME.tx-TAG.tif``
FOLDER_LITTER = (".workspace.tx-", ".townmap.commit.json", "rasters/.")


def folder_litter(folder: Path) -> list[str]:
    """What is in a workspace folder besides its data and its lock file, and beside it
    (a restore's staging folder, a folder moved aside to be replaced)."""
    folder = Path(folder)
    inside = []  # the folder itself may be missing: moved aside by a killed restore
    if folder.is_dir():
        inside = [p.name for p in folder.iterdir() if p.name.startswith(".")]
    rasters = folder / "rasters"
    if rasters.is_dir():
        inside += [f"rasters/{p.name}" for p in rasters.iterdir() if p.name.startswith(".")]
    beside = [p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}.")]
    return sorted(n for n in inside if n != ".townmap.lock") + sorted(beside)
