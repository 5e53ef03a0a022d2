"""Backups of a workspace: a consistent snapshot (taken under the write lock, so no edit
is half in it) as one zip; restore checks the archive like any upload, opens it as a
workspace first, and only then swaps it in — a bad backup never replaces a good workspace.
"""

from __future__ import annotations

import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from townmap.errors import UploadError, WorkspaceError
from townmap.io.archive import check_zip, safe_extract
from townmap.store import GPKG_NAME, Workspace, folders, is_postgis, open_workspace
from townmap.store.copy import copy_workspace

MANIFEST = "townmap-backup.txt"


def backup(ws: Workspace, out: str | Path) -> Path:
    """Write ``out`` (.zip): workspace.gpkg, rasters/*.tif and a manifest, from a
    consistent snapshot (a PostGIS workspace is snapshotted as a GeoPackage folder, so
    every backup restores into either back end). What a killed backup left beside ``out``
    is removed first; a full disk ends in one line and no partial file."""
    out = Path(out)
    if out.suffix.lower() != ".zip":
        raise UploadError("a backup is written as a .zip file")
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.*.part"):
        if folders.writer_dead(stale.name):
            stale.unlink(missing_ok=True)
    tmp = out.with_name(f".{out.name}.{folders.tag()}.part")
    try:
        with folders.temp_folder("townmap-backup-") as tmpdir:
            snap = ws.snapshot(Path(tmpdir))
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.write(snap.gpkg, GPKG_NAME)
                for raster in snap.rasters:
                    zf.write(raster, f"rasters/{raster.name}")
                taken = datetime.now(UTC).isoformat(timespec="seconds")
                zf.writestr(
                    MANIFEST, f"townmap workspace backup\nfolder: {ws.name}\ntaken: {taken}\n"
                )
        tmp.replace(out)
    except Exception as exc:
        if folders.is_disk_full(exc):
            raise folders.disk_full_error(out.parent, folders.size_of(tmp)) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)
    return out


def restore(archive: str | Path, location: str | Path, *, force: bool = False) -> Workspace:
    """Put the backup ``archive`` in a folder or a PostGIS location (replacing a
    workspace there only with ``force``). Nothing changes unless the backup is complete
    and opens as a workspace."""
    archive = Path(archive)
    if not archive.is_file():
        raise UploadError(f"{archive} does not exist")
    try:
        names = {m.filename for m in check_zip(archive)}
    except zipfile.BadZipFile:
        raise UploadError(f"{archive.name} is not a zip archive") from None
    if GPKG_NAME not in names or MANIFEST not in names:
        raise UploadError(f"{archive.name} is not a Townmap backup (no {GPKG_NAME} or manifest)")
    if is_postgis(location):
        return _restore_via_copy(archive, str(location), force)
    folder = Path(location)
    if folder.exists() and any(folder.iterdir()) and not force:
        raise WorkspaceError(f"{folder} is not empty; use --force to replace it with the backup")
    staging = folders.staging_folder(folder, "restore")
    try:
        safe_extract(archive, staging)
        (staging / MANIFEST).unlink(missing_ok=True)
        open_workspace(staging).metadata()  # must open and read as a workspace
        from townmap.store import install_folder

        install_folder(staging, folder)
    except (WorkspaceError, OSError, ValueError) as exc:
        if folders.is_disk_full(exc):
            raise folders.disk_full_error(folder.parent, archive.stat().st_size * 4) from None
        raise UploadError(f"{archive.name} could not be restored: {exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return open_workspace(folder)


def _restore_via_copy(archive: Path, location: str, force: bool) -> Workspace:
    with folders.temp_folder("townmap-restore-") as tmpdir:
        restore(archive, Path(tmpdir) / "ws")
        try:
            return copy_workspace(Path(tmpdir) / "ws", location, force=force)
        except WorkspaceError as exc:
            raise UploadError(f"{archive.name} could not be restored: {exc}") from None
