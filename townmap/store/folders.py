"""Files a writer makes beside its real output, named so that a later open can prove they
are Townmap's own and that their writer is dead — and then remove them.

Every such name carries the writer's process id: ``.NAME.KIND-PID-RANDOM`` beside a
folder, ``.workspace.tx-PID-RANDOM.gpkg`` inside one. A file is stale when its writer's
process no longer exists, or (inside a workspace) when the cleaner holds the workspace's
write lock, since only a lock holder writes there.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import hashlib
import os
import re
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from townmap.errors import TownmapError, WorkspaceError

#: what a writer leaves beside a workspace folder while it builds a replacement
SIBLING_KINDS = ("build", "copy", "restore", "replaced", "export")
_SIBLING = re.compile(
    r"^\.(?P<name>.+)\.(?P<kind>[a-z]+)-(?P<pid>\d+)-(?P<host>[0-9a-f]{8})-[0-9a-f]{8,}$"
)
UPLOADS = "townmap-upload-"
_TAGGED = re.compile(r"[.-](?P<pid>\d+)-(?P<host>[0-9a-f]{8})-[0-9a-f]{8,}")


def host_id() -> str:
    """This machine (and container): a process id means something only where it runs."""
    ident = f"{socket.gethostname()}|{_boot_id()}"
    return hashlib.sha256(ident.encode()).hexdigest()[:8]


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def tag() -> str:
    """``PID-HOST-RANDOM``: unique, and says which process on which machine wrote it."""
    return f"{os.getpid()}-{host_id()}-{uuid.uuid4().hex[:12]}"


def alive(pid: int, host: str | None = None) -> bool:
    """Whether the writer may still run. A writer of another machine or container (or a
    name without one) is taken to be alive: its death cannot be proven from here."""
    if host is not None and host != host_id():
        return True
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def writer_dead(name: str) -> bool:
    """Whether the process named in a tagged file name has gone (False when untagged)."""
    match = _TAGGED.search(name)
    return bool(match) and not alive(int(match["pid"]), match["host"])


def staging_folder(target: Path, kind: str) -> Path:
    """A new, empty folder beside ``target`` for a writer of ``kind`` to build in."""
    if kind not in SIBLING_KINDS:
        raise ValueError(kind)
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = target.parent / f".{target.name}.{kind}-{tag()}"
    folder.mkdir()
    return folder


def swap_in(staging: Path, folder: Path) -> None:
    """Put the finished ``staging`` folder at ``folder``, replacing what is there; the old
    one is moved aside first and removed last, so ``folder`` is never half-written."""
    if not folder.exists():
        staging.rename(folder)
        return
    old = folder.parent / f".{folder.name}.replaced-{tag()}"
    folder.rename(old)
    staging.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def recover(folder: Path, marker: str) -> bool:
    """Put back a folder a dead writer had moved aside to swap in its replacement and
    was killed before the new one took its place (``folder`` missing, the old one
    complete beside it): the change is then none, as if it had never started."""
    if folder.exists() or not folder.parent.is_dir():
        return False
    for path in sorted(folder.parent.glob(f".{folder.name}.replaced-*")):
        match = _SIBLING.match(path.name)
        if match and not alive(int(match["pid"]), match["host"]) and (path / marker).is_file():
            try:
                path.rename(folder)
            except OSError:  # another page put it back first
                return folder.is_dir()
            return True
    return False


def clean_siblings(folder: Path) -> list[Path]:
    """Remove what dead writers left beside ``folder``; returns what was removed."""
    removed = []
    try:
        entries = list(folder.parent.iterdir())
    except OSError:
        return removed
    for path in entries:
        match = _SIBLING.match(path.name)
        if not match or match["name"] != folder.name or match["kind"] not in SIBLING_KINDS:
            continue
        if alive(int(match["pid"]), match["host"]):
            continue
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def clean_temp(prefix: str) -> list[Path]:
    """Remove temporary folders named ``PREFIX<pid>-…`` whose process has gone (uploads
    of the Import page, a PostGIS transaction's local rasters)."""
    removed = []
    for path in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        if path.is_dir() and writer_dead(path.name):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def process_folder(prefix: str) -> Path:
    """A temporary folder for this server process (the Import page's uploads, the Export
    page's files): removed when the process exits, or by the next one when it was
    killed."""
    clean_temp(prefix)
    folder = Path(tempfile.mkdtemp(prefix=f"{prefix}{tag()}-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def upload_folder() -> Path:
    """Where the Import page keeps uploaded files (and their previews) while they are
    planned and committed."""
    return process_folder(UPLOADS)


@contextlib.contextmanager
def temp_folder(prefix: str, where: Path | None = None) -> Iterator[Path]:
    """A temporary folder for one piece of work (a backup's snapshot, an export's
    staging), named so that a killed run's folder is removed by the next run."""
    base = Path(where) if where is not None else Path(tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    for stale in base.glob(f"{prefix}*"):
        if stale.is_dir() and writer_dead(stale.name):
            shutil.rmtree(stale, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{prefix}{tag()}-", dir=base))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------ disk full
_FULL_TEXT = ("no space left on device", "database or disk is full", "disk is full")


#: below this much space left, a failed write is taken to be the disk running full
LOW_SPACE = 2**20


def is_disk_full(exc: BaseException | None, where: Path | None = None) -> bool:
    """Whether an error (or one it was raised from) is the disk running out of space:
    ENOSPC, or a driver's words for it, or any write error while the file system at
    ``where`` has (almost) nothing left — GDAL and SQLite often say only "failed to
    commit"."""
    seen, first = 0, exc
    while exc is not None and seen < 8:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(text in str(exc).lower() for text in _FULL_TEXT):  # GDAL, SQLite
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    if first is None or where is None or isinstance(first, TownmapError):
        return False  # a refusal of ours (a permission, a stale edit) is no full disk
    return free_space(where) < LOW_SPACE


def free_space(where: Path) -> int:
    probe = Path(where)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def disk_full_error(where: Path, needed: int) -> WorkspaceError:
    free = free_space(where)
    return WorkspaceError(
        f"the disk is full: {_mb(needed)} MB needed, {_mb(free)} MB free (at {where})"
    )


def require_space(where: Path, needed: int) -> None:
    """Refuse before starting when ``needed`` bytes cannot fit where they would go."""
    if free_space(where) < needed:
        raise disk_full_error(where, needed)


def _mb(n: int) -> str:
    return f"{max(n, 0) / 2**20:,.1f}"


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
