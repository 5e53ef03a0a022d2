"""Uploaded archives: bad paths, bombs, nesting and size limits refused in one line."""

from __future__ import annotations

import zipfile

import pytest

from townmap.errors import UploadError
from townmap.io.archive import Limits, check_zip, safe_extract


def _zip(path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_a_normal_zipped_shapefile_extracts_below_the_folder(tmp_path):
    z = _zip(
        tmp_path / "tve.zip", {"tve/tve.shp": b"x" * 100, "tve/tve.dbf": b"y" * 50, "tve/": b""}
    )
    files = safe_extract(z, tmp_path / "out")
    assert sorted(p.name for p in files) == ["tve.dbf", "tve.shp"]
    assert all((tmp_path / "out") in p.parents for p in files)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("../evil.shp", "outside the archive"),
        ("a/../../evil.shp", "outside the archive"),
        ("/etc/evil.shp", "absolute path"),
        ("C:/evil.shp", "absolute path"),
        ("..\\\\evil.shp", "outside the archive"),
        ("inner.zip", "another archive"),
        ("maps/inner.KMZ", "another archive"),
    ],
)
def test_dangerous_members_are_refused_before_anything_is_written(tmp_path, name, words):
    z = _zip(tmp_path / "bad.zip", {"ok.shp": b"x", name: b"payload"})
    with pytest.raises(UploadError, match=words):
        safe_extract(z, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_zip_bomb_is_refused_but_small_on_disk(tmp_path):
    z = _zip(tmp_path / "bomb.zip", {"big.csv": b"0" * 50_000_000})
    assert z.stat().st_size < 200_000
    with pytest.raises(UploadError, match="zip bomb"):
        check_zip(z)


def test_limits_on_members_and_sizes(tmp_path):
    many = _zip(tmp_path / "many.zip", {f"f{i}.txt": b"x" for i in range(30)})
    with pytest.raises(UploadError, match="holds 30 files"):
        check_zip(many, Limits(max_members=20))
    with pytest.raises(UploadError, match="limit is 0 MB"):
        check_zip(many, Limits(max_archive_bytes=10))
    stored = _zip(tmp_path / "stored.zip", {"a.bin": b"x" * 3_000_000}, zipfile.ZIP_STORED)
    with pytest.raises(UploadError, match="would unpack to"):
        check_zip(stored, Limits(max_unpacked_bytes=2_000_000))


def test_not_a_zip_is_one_clear_error(tmp_path):
    fake = tmp_path / "fake.zip"
    fake.write_text("<html>not a zip</html>")
    with pytest.raises(UploadError, match="not a readable zip"):
        check_zip(fake)
