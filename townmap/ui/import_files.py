"""Import page, the uploaded files: saved side by side (a loose Shapefile's .shp, .dbf,
.shx, .prj and .cpg together), the one to plan, and the layer, sheet or folder to read.

Not a page: importing this module draws nothing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

from townmap.errors import TownmapError
from townmap.i18n import t
from townmap.io import readers
from townmap.store.folders import upload_folder

#: what the readers and the DEM import read (a main file, or an archive of one)
MAIN_SUFFIXES = sorted(
    s.lstrip(".")
    for s in (
        readers.VECTOR_SUFFIXES
        | readers.TABLE_SUFFIXES
        | readers.SHEET_SUFFIXES
        | readers.RASTER_SUFFIXES
        | readers.ARCHIVE_SUFFIXES
    )
)
#: the parts that travel with a main file (Shapefile, MapInfo TAB/MIF)
SIDECAR_SUFFIXES = ["dbf", "shx", "prj", "cpg", "qix", "sbn", "sbx"]
SIDECAR_SUFFIXES += ["dat", "map", "id", "ind", "mid"]  # MapInfo
ACCEPTED = sorted(set(MAIN_SUFFIXES) | set(SIDECAR_SUFFIXES))
#: the source choice "every folder of the KML together" (read_file's layer=None)
ALL_FOLDERS = getattr(readers, "ALL_LAYERS", "*")


@st.cache_resource(show_spinner=False)
def _upload_root() -> Path:
    """This server process's upload folder (named by its process id: a later server
    removes the folders of servers that have gone — nothing is left in the temp folder)."""
    return upload_folder()


def upload_root() -> Path:
    return _upload_root()


def save_uploads(uploads) -> tuple[str, list[Path]]:
    """The uploaded files on disk, side by side in one folder named by their names and
    contents (kept for this session), and that folder's name (the upload's identity)."""
    parts = []
    for upload in uploads:
        data = upload.getvalue()
        parts.append((Path(upload.name).name, data, hashlib.sha256(data).hexdigest()))
    parts.sort(key=lambda p: p[0])
    digest = hashlib.sha256("|".join(f"{n}:{h}" for n, _, h in parts).encode()).hexdigest()
    folder = upload_root() / digest
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data, _ in parts:
        path = folder / name
        if not path.exists():
            path.write_bytes(data)
        paths.append(path)
    return digest, paths


def main_file(lang: str, paths: list[Path], key: str) -> Path:
    """The file to plan: the one main file among those chosen (a .shp with its parts),
    or the user's pick when there are several. Without any, the first file (planning
    then says in one line what is missing)."""
    mains = [p for p in paths if p.suffix.lower().lstrip(".") in MAIN_SUFFIXES]
    if not mains:
        return paths[0]
    if len(mains) == 1:
        return mains[0]
    return st.selectbox(
        t("import_main_file", lang), mains, format_func=lambda p: p.name, key=f"imp_main_{key}"
    )


def source_choice(lang: str, path: Path, key: str) -> str | None:
    """The layer, sheet, zip member or KML folder to read when the file holds several
    (None: the only one, or every KML folder together)."""
    try:
        sources = readers.list_sources(path)
    except TownmapError:
        return None  # planning reports the same problem in one line
    if len(sources) < 2:
        return None
    labels = {ALL_FOLDERS: t("import_all_folders", lang)}
    picked = st.selectbox(
        t("import_source_any", lang),
        sources,
        format_func=lambda s: labels.get(s, s),
        key=f"imp_source_{key}",
    )
    return None if picked == ALL_FOLDERS else picked
