"""Publishing map data as files the app serves, instead of inlining it in every rerun.

Files are named by the SHA-256 of their content, so they never change once written
(browsers may cache them, concurrent sessions cannot clash), and old ones are pruned.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

KEEP = 800  # published files kept per folder (each filter combination makes two)


def publish(payload: bytes, folder: Path, prefix: str = "layer") -> str:
    """Write ``payload`` once under a content-derived name; returns the file name."""
    folder.mkdir(parents=True, exist_ok=True)
    # .gz is served as application/gzip, which Streamlit does not compress a second time
    name = f"{prefix}-{hashlib.sha256(payload).hexdigest()[:24]}.json.gz"
    path = folder / name
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".publish-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        _prune(folder, prefix)
    return name


def _prune(folder: Path, prefix: str) -> None:
    files = sorted(
        folder.glob(f"{prefix}-*.json.gz"), key=lambda p: p.stat().st_mtime, reverse=True
    )
    for old in files[KEEP:]:
        old.unlink(missing_ok=True)
