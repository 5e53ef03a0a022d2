"""Backups on both back ends: a snapshot under the lock, restored with everything (byte
for byte for a GeoPackage); a damaged or foreign archive never replaces a workspace; an
existing workspace is replaced only with --force."""

from __future__ import annotations

import zipfile

import pytest

from tests.helpers import fingerprint
from townmap.cli import main
from townmap.store import is_postgis, open_workspace


@pytest.fixture
def ws(demo_copy):
    return demo_copy


def _state(ws):
    return ws.gpkg.read_bytes() if not is_postgis(ws.location) else fingerprint(ws)


def test_backup_and_restore_round_trip(ws, tmp_path):
    archive = tmp_path / "b.zip"
    assert (
        main(["workspace", "backup", "--workspace", str(ws.location), "--out", str(archive)]) == 0
    )
    original = _state(ws)
    dem = ws.raster_path("dem").read_bytes()
    table = ws.read_table("ems_aspects").assign(control="changed after the backup")
    with ws.transaction() as tx:
        tx.write_table("ems_aspects", table)
    assert main(["workspace", "restore", str(archive), "--workspace", str(ws.location)]) == 2
    assert main(["workspace", "restore", str(archive), "--workspace", str(ws.location),
                 "--force"]) == 0  # fmt: skip
    again = open_workspace(ws.location)
    assert _state(again) == original and again.raster_path("dem").read_bytes() == dem
    fresh = tmp_path / "elsewhere"
    assert main(["workspace", "restore", str(archive), "--workspace", str(fresh)]) == 0
    assert open_workspace(fresh).read_table("ems_aspects").equals(again.read_table("ems_aspects"))
    assert fingerprint(open_workspace(fresh)) == fingerprint(again)  # either back end


def test_a_bad_backup_leaves_the_workspace_alone(ws, tmp_path):
    before = _state(ws)
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as zf:
        zf.writestr("holiday.jpg", b"not a workspace")
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w") as zf:
        zf.writestr("workspace.gpkg", b"SQLite format 3\x00 but truncated")
        zf.writestr("townmap-backup.txt", "townmap workspace backup\n")
    not_zip = tmp_path / "nope.zip"
    not_zip.write_bytes(b"plain text")
    for bad in (foreign, broken, not_zip, tmp_path / "missing.zip"):
        code = main(["workspace", "restore", str(bad), "--workspace", str(ws.location), "--force"])
        assert code == 2, bad.name
        assert _state(ws) == before
    if not is_postgis(ws.location):
        assert not [p for p in ws.folder.parent.iterdir() if ".restore-" in p.name]
    assert main(["workspace", "backup", "--workspace", str(ws.location), "--out",
                 str(tmp_path / "b.tar")]) == 2  # fmt: skip
