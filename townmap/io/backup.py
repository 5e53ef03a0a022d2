"""Backups of a workspace: a consistent snapshot (taken under the write lock, so no edit
is half in it) as one zip; restore checks the archive like any upload, opens it as a
workspace first, and only then swaps it in — a bad backup never replaces a good workspace.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

from townmap.errors import UploadError, WorkspaceError
from townmap.io.archive import check_zip, safe_extract
from townmap.workspace import GPKG_NAME, Workspace, swap_in

MANIFEST = "townmap-backup.txt"


def backup(ws: Workspace, out: str | Path) -> Path:
    """Write ``out`` (.zip): workspace.gpkg, rasters/*.tif and a manifest. A PostGIS
    workspace is first copied (under its lock) into a GeoPackage folder, so every backup
    restores into either back end."""
    out = Path(out)
    if out.suffix.lower() != ".zip":
        raise UploadError("a backup is written as a .zip file")
    if not isinstance(ws, Workspace):
        from townmap.io.copy import copy_workspace

        with tempfile.TemporaryDirectory(prefix="townmap-backup-") as tmpdir:
            return backup(copy_workspace(ws.location, Path(tmpdir) / ws.name), out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.part")
    with ws.locked(), zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(ws.gpkg, GPKG_NAME)
        for raster in sorted(ws.raster_folder.glob("*.tif")):
            zf.write(raster, f"rasters/{raster.name}")
        taken = datetime.now(UTC).isoformat(timespec="seconds")
        zf.writestr(
            MANIFEST, f"townmap workspace backup\nfolder: {ws.folder.name}\ntaken: {taken}\n"
        )
    tmp.replace(out)
    return out


def restore(archive: str | Path, folder: str | Path, *, force: bool = False) -> Workspace:
    """Put the backup ``archive`` in ``folder`` or a PostGIS location (replacing a
    workspace there only with ``force``). Nothing changes unless the backup is complete
    and opens as a workspace."""
    from townmap.workspace_pg import is_postgis

    if is_postgis(folder):
        with tempfile.TemporaryDirectory(prefix="townmap-restore-") as tmpdir:
            restore(archive, Path(tmpdir) / "ws")
            from townmap.io.copy import copy_workspace

            try:
                return copy_workspace(Path(tmpdir) / "ws", str(folder), force=force)
            except WorkspaceError as exc:
                raise UploadError(f"{Path(archive).name} could not be restored: {exc}") from None
    archive, folder = Path(archive), Path(folder)
    if not archive.is_file():
        raise UploadError(f"{archive} does not exist")
    try:
        names = {m.filename for m in check_zip(archive)}
    except zipfile.BadZipFile:
        raise UploadError(f"{archive.name} is not a zip archive") from None
    if GPKG_NAME not in names or MANIFEST not in names:
        raise UploadError(f"{archive.name} is not a Townmap backup (no {GPKG_NAME} or manifest)")
    if folder.exists() and any(folder.iterdir()) and not force:
        raise WorkspaceError(f"{folder} is not empty; use --force to replace it with the backup")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.restore-", dir=folder.parent))
    try:
        safe_extract(archive, staging)
        (staging / MANIFEST).unlink(missing_ok=True)
        Workspace(staging).metadata()  # must open and read as a workspace
        guard = Workspace(folder).locked() if (folder / GPKG_NAME).is_file() else nullcontext()
        with guard:  # no writer commits into the folder being replaced
            swap_in(staging, folder)
    except (WorkspaceError, OSError, ValueError) as exc:
        raise UploadError(f"{archive.name} could not be restored: {exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Workspace(folder)
