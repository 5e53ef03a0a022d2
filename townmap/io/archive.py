"""Opening uploaded archives (zipped Shapefiles, KMZ) without trusting them.

Checked before anything is extracted, each with a one-line message: archive size, number
of members, member paths (no ``..``, no absolute paths, no links), nested archives, the
compression ratio of every member and the total (zip bombs), and the unpacked total.
Extraction writes only the checked members, below the destination folder.
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from townmap.errors import UploadError

NESTED = {".zip", ".kmz", ".7z", ".rar", ".gz", ".tgz", ".tar", ".bz2", ".xz"}


@dataclass(frozen=True)
class Limits:
    """Upload limits; generous for real town data, far below what hurts a laptop."""

    max_archive_bytes: int = 500 * 2**20
    max_members: int = 2_000
    max_unpacked_bytes: int = 2 * 2**30
    max_ratio: float = 100.0  # uncompressed / compressed, per member and overall


DEFAULT_LIMITS = Limits()


def _member_path(name: str) -> PurePosixPath:
    normalized = name.replace("\\", "/")
    path = PurePosixPath(normalized)
    first = path.parts[0] if path.parts else ""
    if normalized.startswith("/") or first.endswith(":"):  # absolute, or a drive letter
        raise UploadError(
            f"the archive member {name!r} has an absolute path; re-create the "
            "zip from inside its folder"
        )
    if ".." in path.parts:
        raise UploadError(
            f"the archive member {name!r} points outside the archive ('..'); "
            "re-create the zip without it"
        )
    return path


def check_zip(path: Path, limits: Limits = DEFAULT_LIMITS) -> list[zipfile.ZipInfo]:
    """The members of a safe archive (directories left out); raises ``UploadError``."""
    size = path.stat().st_size
    if size > limits.max_archive_bytes:
        raise UploadError(
            f"{path.name} is {size / 2**20:.0f} MB; the limit is "
            f"{limits.max_archive_bytes / 2**20:.0f} MB"
        )
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise UploadError(f"{path.name} is not a readable zip archive ({exc})") from None
    if len(infos) > limits.max_members:
        raise UploadError(
            f"{path.name} holds {len(infos)} files; the limit is {limits.max_members}"
        )
    files = []
    total = 0
    for info in infos:
        member = _member_path(info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UploadError(
                f"the archive member {info.filename!r} is a link; links are not accepted"
            )
        if info.is_dir():
            continue
        if member.suffix.lower() in NESTED:
            raise UploadError(
                f"{path.name} contains another archive ({info.filename}); "
                "unpack it and upload the inner file"
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 1_000_000 and ratio > limits.max_ratio:
            raise UploadError(
                f"{info.filename} would unpack {ratio:.0f}× larger than it is "
                "packed; this looks like a zip bomb and was refused"
            )
        total += info.file_size
        files.append(info)
    if total > limits.max_unpacked_bytes:
        raise UploadError(
            f"{path.name} would unpack to {total / 2**20:.0f} MB; the limit is "
            f"{limits.max_unpacked_bytes / 2**20:.0f} MB"
        )
    if total > 1_000_000 and total / max(size, 1) > limits.max_ratio:
        raise UploadError(
            f"{path.name} would unpack {total / max(size, 1):.0f}× larger than "
            "it is; this looks like a zip bomb and was refused"
        )
    return files


def safe_extract(path: Path, dest: Path, limits: Limits = DEFAULT_LIMITS) -> list[Path]:
    """Extract the checked members below ``dest``; returns the written files."""
    members = check_zip(path, limits)
    dest = dest.resolve()
    written = []
    with zipfile.ZipFile(path) as zf:
        for info in members:
            target = (dest / _member_path(info.filename)).resolve()
            if dest not in target.parents:
                raise UploadError(
                    f"the archive member {info.filename!r} would land outside the upload folder"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                remaining = info.file_size + 1
                while chunk := src.read(1 << 20):
                    remaining -= len(chunk)
                    if remaining < 0:  # the header lied about the size
                        raise UploadError(f"{info.filename} is larger than its archive says")
                    out.write(chunk)
            written.append(target)
    return written
