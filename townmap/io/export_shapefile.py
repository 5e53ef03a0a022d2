"""Shapefile exports that change no text silently.

Shapefiles are UTF-8 with a ``.cpg`` by default, or GBK on request for older Chinese
desktop software; text GBK cannot hold, text longer than a DBF field, and field names
longer than 10 bytes are dealt with before GDAL sees them (refused with the list of
values, or renamed with a note), because GDAL would cut them and only warn. The written
text is read back, and a ``.qml`` with the catalog style is written beside the file.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from townmap.catalog import LayerSpec
from townmap.errors import UploadError
from townmap.io.gdal_messages import LISTED, gdal_messages, judge
from townmap.io.qgis_style import layer_qml

#: the Shapefile encodings offered, as GDAL names them
ENCODINGS = {"utf-8": "UTF-8", "gbk": "GBK"}
#: a DBF text field holds at most 254 bytes; GDAL cuts longer values with a warning
SHAPEFILE_MAX_TEXT = 254
#: a DBF field name holds at most 10 bytes; GDAL cuts longer names mid-character
SHAPEFILE_MAX_NAME = 10


def _cut(name: str, codec: str, limit: int) -> str:
    """The longest start of ``name`` that is at most ``limit`` bytes, whole characters."""
    out, used = "", 0
    for ch in name:
        size = len(ch.encode(codec))
        if used + size > limit:
            break
        out, used = out + ch, used + size
    return out


def _field_names(columns: list[str], codec: str) -> dict[str, str]:
    """Shapefile field names of at most 10 bytes, whole characters, unique ignoring case
    (the way GDAL shortens ASCII names: ``target_class`` → ``target_cla``, a clash →
    ``target_c_1``), so the importer and QGIS styles can find them again."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for col in columns:
        short = _cut(col, codec, SHAPEFILE_MAX_NAME)
        i = 0
        while not short or short.casefold() in taken:
            i += 1
            tail = f"_{i}"
            short = _cut(col, codec, SHAPEFILE_MAX_NAME - len(tail)) + tail
        taken.add(short.casefold())
        names[col] = short
    return names


def _row_label(frame: pd.DataFrame, position: int, key: str | None) -> str:
    if key is not None and key in frame.columns:
        return f"{key}={frame[key].iloc[position]}"
    return f"row {position + 1}"


def _where(frame: pd.DataFrame, layer: str, column: str, position: int, key: str | None) -> str:
    value = frame[column].iloc[position]
    return f"{layer}.{column} [{_row_label(frame, position, key)}] {str(value)[:60]!r}"


def _listed(items: list[str]) -> str:
    more = f" … and {len(items) - LISTED} more" if len(items) > LISTED else ""
    return "; ".join(items[:LISTED]) + more


def check_shapefile_text(
    frame: pd.DataFrame, encoding: str, layer: str, key: str | None = None
) -> None:
    """Refuse, listing every value (layer, column, row, value), text a Shapefile in
    ``encoding`` cannot hold: characters outside GBK (e.g. 䶮, 𠮷) and values longer than
    a DBF field. GDAL would drop or cut them and only warn (once per process)."""
    codec = "gbk" if encoding == "gbk" else "utf-8"
    geometry = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
    unencodable, too_long = [], []
    for col in frame.columns:
        if col == geometry:
            continue
        name = str(col)
        missing = sorted({ch for ch in name if not _encodes(ch, codec)})
        if missing:
            unencodable.append(f"{layer} column name {name!r} ({''.join(missing)})")
        values = frame[col]
        if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
            continue
        for position, value in enumerate(values):
            if not isinstance(value, str):
                continue
            try:
                size = len(value.encode(codec))
            except UnicodeEncodeError:
                chars = "".join(sorted({ch for ch in value if not _encodes(ch, codec)}))
                unencodable.append(f"{_where(frame, layer, name, position, key)} ({chars})")
                continue
            if size > SHAPEFILE_MAX_TEXT:
                too_long.append(f"{_where(frame, layer, name, position, key)} ({size} bytes)")
    problems = []
    if unencodable:
        advice = (
            ". Export in UTF-8 instead (the default: the Shapefile gets a .cpg file naming "
            "its encoding, which QGIS and ArcGIS read), which holds every character"
            if codec == "gbk"
            else " (broken characters in the data: fix them first)"
        )
        problems.append(
            f"{codec.upper()} cannot hold {len(unencodable)} text value(s): "
            f"{_listed(unencodable)}{advice}"
        )
    if too_long:
        problems.append(
            f"{len(too_long)} text value(s) are longer than a Shapefile field holds "
            f"({SHAPEFILE_MAX_TEXT} bytes; about 84 Chinese characters in UTF-8): "
            f"{_listed(too_long)}. Export as .gpkg, which has no such limit"
        )
    if problems:
        raise UploadError(
            "the Shapefile was not written, nothing was changed: " + "; ".join(problems)
        )


def _encodes(ch: str, codec: str) -> bool:
    try:
        ch.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def _read_back_text(
    frame: gpd.GeoDataFrame, path: Path, encoding: str, layer: str, key: str | None
) -> list[str]:
    """Read the written text back and refuse the file if any value differs: GDAL warns
    about an unconvertible character only once per process, so a second bad export in
    a long-running app would otherwise pass unseen. DBF pads text with spaces, so
    trailing spaces are lost: that is a note."""
    back = pyogrio.read_dataframe(path, encoding=ENCODINGS[encoding], read_geometry=False)
    changed, trailing = [], 0
    for col in frame.columns:
        if col == frame.geometry.name or col not in back.columns:
            continue
        for position, (want, got) in enumerate(zip(frame[col], back[col], strict=True)):
            if not isinstance(want, str) or want == got or (want == "" and got is None):
                continue
            if want.rstrip(" ") == (got or ""):
                trailing += 1
                continue
            changed.append(
                f"{layer}.{col} [{_row_label(frame, position, key)}] {want[:60]!r} "
                f"came back as {str(got)[:60]!r}"
            )
    if changed:
        raise UploadError(
            f"the Shapefile was not written: {len(changed)} text value(s) did not survive "
            f"{encoding.upper()}: {_listed(changed)}. Export in UTF-8 or as .gpkg"
        )
    return [f"{trailing} text value(s) lost trailing spaces (DBF pads text)"] if trailing else []


def shapefile(
    frame: gpd.GeoDataFrame,
    path: Path,
    encoding: str,
    name: str,
    spec: LayerSpec | None,
    notes: list[str],
) -> list[Path]:
    """Write the Shapefile set (and a ``.qml`` style) into ``path``'s folder."""
    codec = "gbk" if encoding == "gbk" else "utf-8"
    key = spec.key if spec is not None else None
    check_shapefile_text(frame, encoding, name, key)
    geometry = frame.geometry.name
    columns = [str(c) for c in frame.columns if c != geometry]
    fields = _field_names(columns, codec)
    renamed = [f"{old} → {new}" for old, new in fields.items() if old != new]
    if renamed:
        notes.append(
            f"Shapefile field names hold at most {SHAPEFILE_MAX_NAME} bytes: " + ", ".join(renamed)
        )
    frame = frame.rename(columns={c: fields[str(c)] for c in frame.columns if c != geometry})
    with gdal_messages() as messages:
        pyogrio.write_dataframe(frame, path, driver="ESRI Shapefile", encoding=ENCODINGS[encoding])
    notes.extend(judge(messages, f"the Shapefile {path.name}"))
    notes.extend(_read_back_text(frame, path, encoding, name, key))
    if spec is not None and spec.kind == "vector":
        (path.parent / f"{path.stem}.qml").write_text(layer_qml(spec, fields), encoding="utf-8")
    return sorted(path.parent.glob(path.stem + ".*"))
