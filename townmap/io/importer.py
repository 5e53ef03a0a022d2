"""Importing a consultant's file into a catalog layer: plan (read, locate, map, check,
repair, report) and commit (one transaction, recorded in the import log).

Planning never touches the workspace, so a user can look at the report and the preview
first; committing writes the layer and its log row together or not at all.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from townmap.catalog import READ_ONLY_TABLES, Catalog, LayerSpec, validate_frame
from townmap.crs import DISPLAY_CRS, propose_crs
from townmap.datums import ACCURACY_M, to_wgs84
from townmap.errors import UploadError
from townmap.io.columns import find_coordinates, guess_mapping
from townmap.io.crs_choice import single_candidate, user_crs
from townmap.io.raster_import import RasterPlan, plan_raster_import, warp_into
from townmap.io.readers import read_file
from townmap.settings import login_name
from townmap.store import IMPORT_LOG, Workspace

#: beyond these a file is refused with a message (a town layer is far smaller)
MAX_FEATURES = 1_000_000
MAX_VERTICES_PER_FEATURE = 500_000
_TRUE = {"1", "true", "yes", "y", "是", "有", "t"}
_FALSE = {"0", "false", "no", "n", "否", "无", "f"}


@dataclass(frozen=True)
class ImportOptions:
    layer_id: str
    encoding: str | None = None
    crs: str | None = None
    datum: str | None = None  # "gcj02" or "bd09": points copied from Chinese web maps
    source_layer: str | None = None
    mapping: dict[str, str] | None = None  # catalog attribute -> file column


@dataclass
class ImportPlan:
    spec: LayerSpec
    frame: gpd.GeoDataFrame | pd.DataFrame
    source: Path
    sha256: str
    options: ImportOptions
    mapping: dict[str, str]
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # row-level, non-blocking
    blocking: list[str] = field(default_factory=list)  # must be fixed before committing
    repaired: int = 0
    dropped: int = 0
    source_columns: list[str] = field(default_factory=list)  # the file's own columns

    @property
    def ok(self) -> bool:
        return not self.blocking

    @property
    def count(self) -> int:
        return len(self.frame)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _choose_crs(bounds, options: ImportOptions, hint_lon: float | None, notes: list[str]) -> CRS:
    if options.crs:
        return user_crs(options.crs)
    candidates = propose_crs(bounds, hint_lon)
    if candidates and candidates[0].crs == DISPLAY_CRS:
        notes.append("coordinates are degrees: taken as WGS 84 (CGCS2000 differs by < 1 m)")
        return DISPLAY_CRS
    crs, listed = single_candidate(bounds, hint_lon, notes)
    if crs is not None:
        return crs
    raise UploadError(
        f"the file does not say its coordinate system; choose one with --crs (candidates: {listed})"
    )


def _points_from_table(frame: pd.DataFrame, options, hint_lon, notes, problems):
    coords = find_coordinates(frame)
    if coords is None:
        raise UploadError(
            "the table has no coordinate columns (经度/纬度, lon/lat or X/Y); "
            "add them or rename the columns"
        )
    x = pd.to_numeric(frame[coords.x], errors="coerce")
    y = pd.to_numeric(frame[coords.y], errors="coerce")
    if coords.swapped:
        x, y = y, x
    notes.append(f"points from {coords.describe()}")
    bad = x.isna() | y.isna()
    for i in np.flatnonzero(bad.to_numpy())[:50]:
        problems.append(f"row {i + 2}: coordinates missing or not numbers; row skipped")
    frame, x, y = frame[~bad], x[~bad], y[~bad]
    if frame.empty:
        raise UploadError("no row has usable coordinates")
    crs = _choose_crs((x.min(), y.min(), x.max(), y.max()), options, hint_lon, notes)
    return gpd.GeoDataFrame(
        frame.drop(columns=[coords.x, coords.y]), geometry=gpd.points_from_xy(x, y), crs=crs
    ), int(bad.sum())


def _apply_datum(gdf: gpd.GeoDataFrame, datum: str, notes: list[str]) -> gpd.GeoDataFrame:
    ll = gdf.to_crs(DISPLAY_CRS)

    def fix(coords: np.ndarray) -> np.ndarray:
        lon, lat = to_wgs84(coords[:, 0], coords[:, 1], datum)
        return np.column_stack([lon, lat])

    ll = ll.set_geometry(shapely.transform(ll.geometry.values, fix))
    notes.append(
        f"{datum.upper()} web-map coordinates corrected to WGS 84 "
        f"(accurate to about {ACCURACY_M:g} m)"
    )
    return ll


def _coerce(spec: LayerSpec, frame: pd.DataFrame, problems: list[str]) -> pd.DataFrame:
    for attr in spec.attributes:
        if attr.name not in frame.columns:
            continue
        col = frame[attr.name]
        if attr.type in ("int", "float"):
            values = pd.to_numeric(
                col.astype(str)
                .str.replace(",", "")
                .str.strip()
                .replace({"": None, "nan": None, "None": None}),
                errors="coerce",
            )
            bad = values.isna() & col.notna() & (col.astype(str).str.strip() != "")
            for i in np.flatnonzero(bad.to_numpy())[:20]:
                problems.append(f"row {i + 2}: '{attr.name}' is not a number ({col.iloc[i]!r})")
            frame[attr.name] = values.round() if attr.type == "int" else values
        elif attr.type == "bool":
            text = col.astype(str).str.strip().str.casefold()
            frame[attr.name] = text.map(
                lambda v: True if v in _TRUE else (False if v in _FALSE else None)
            )
        elif attr.type in ("date", "datetime"):
            frame[attr.name] = pd.to_datetime(col, errors="coerce", format="mixed")
        else:
            text = col.where(col.isna(), col.astype(str).str.strip())
            frame[attr.name] = text.where(text != "", None)  # an empty cell is missing
    return frame


def _repair(spec: LayerSpec, gdf: gpd.GeoDataFrame, notes, problems) -> tuple:
    geoms = gdf.geometry
    invalid = ~geoms.is_valid & ~geoms.isna()  # a missing geometry is skipped, not repaired
    repaired = int(invalid.sum())
    if repaired:
        gdf = gdf.set_geometry(geoms.where(~invalid, shapely.make_valid(geoms.values)))
        notes.append(f"{repaired} invalid geometrie(s) repaired with make_valid")
    kind = spec.geometry
    values = gdf.geometry.values
    types = gdf.geom_type.to_numpy()
    fine = ((types == kind) | (types == f"Multi{kind}")) & ~gdf.geometry.is_empty.to_numpy()
    if not fine.all():  # only mixed, empty or missing geometries need the slow path
        parts = list(values)
        for i in np.flatnonzero(~fine):
            g = parts[i]
            same = (
                []
                if g is None or g.is_empty
                else [p for p in shapely.get_parts(g) if p.geom_type == kind]
            )
            parts[i] = (
                None if not same else (same[0] if len(same) == 1 else shapely.union_all(same))
            )
        gdf = gdf.set_geometry(gpd.GeoSeries(parts, index=gdf.index, crs=gdf.crs))
    missing = gdf.geometry.isna()
    for i in np.flatnonzero(missing.to_numpy())[:50]:
        problems.append(
            f"row {i + 2}: no {spec.geometry} geometry (empty or another kind); row skipped"
        )
    return gdf[~missing], repaired, int(missing.sum())


def _check_limits(frame: pd.DataFrame, path: Path) -> None:
    if len(frame) > MAX_FEATURES:
        raise UploadError(
            f"{path.name} has {len(frame):,} features; the limit is "
            f"{MAX_FEATURES:,}: split the file"
        )
    if isinstance(frame, gpd.GeoDataFrame) and len(frame):
        counts = shapely.get_num_coordinates(frame.geometry.values)
        worst = int(counts.max())
        if worst > MAX_VERTICES_PER_FEATURE:
            row = int(counts.argmax()) + 1
            raise UploadError(
                f"feature {row} of {path.name} has {worst:,} vertices; the limit "
                f"is {MAX_VERTICES_PER_FEATURE:,}: simplify it first"
            )


def plan_import(
    path: str | Path, options: ImportOptions, catalog: Catalog, hint_lon: float | None = None
) -> ImportPlan | RasterPlan:
    """Read and check a file for a catalog layer; nothing is written."""
    path = Path(path)
    if options.layer_id not in catalog:
        raise UploadError(f"no layer {options.layer_id!r} in the catalog; see 'townmap layers'")
    if options.layer_id in READ_ONLY_TABLES:
        raise UploadError(f"{options.layer_id!r} is written only by Townmap and cannot be imported")
    spec = catalog[options.layer_id]
    if spec.kind == "raster":
        if not path.is_file() or path.stat().st_size == 0:
            raise UploadError(f"{path.name} does not exist or is empty")
        return plan_raster_import(path, options, catalog, _sha256(path), hint_lon)
    raw = read_file(path, encoding=options.encoding, layer=options.source_layer)
    _check_limits(raw.frame, path)
    notes, problems = list(raw.notes), []
    frame, dropped = raw.frame, 0
    if spec.kind == "vector":
        if raw.has_geometry:
            if frame.crs is None:
                crs = _choose_crs(tuple(frame.total_bounds), options, hint_lon, notes)
                frame = frame.set_crs(crs, allow_override=True)
        else:
            frame, dropped = _points_from_table(
                pd.DataFrame(frame), options, hint_lon, notes, problems
            )
        if options.datum:
            frame = _apply_datum(frame, options.datum, notes)
    columns = [c for c in frame.columns if c != getattr(frame, "geometry", pd.Series()).name]
    mapping = dict(options.mapping) if options.mapping else guess_mapping(columns, spec)
    unknown = sorted(set(mapping.values()) - set(columns))
    if unknown:
        raise UploadError(f"the mapping names columns the file does not have: {unknown}")
    renamed = frame[[*mapping.values()]].rename(columns={v: k for k, v in mapping.items()})
    if spec.kind == "vector":
        renamed = gpd.GeoDataFrame(renamed, geometry=frame.geometry.values, crs=frame.crs)
    renamed = _coerce(spec, renamed.copy(), problems)
    repaired = 0
    if spec.kind == "vector":
        renamed, repaired, lost = _repair(spec, renamed, notes, problems)
        dropped += lost
    if spec.key and spec.key in renamed.columns:
        dupes = renamed[spec.key][renamed[spec.key].duplicated()].dropna().unique()
        if len(dupes):
            problems.append(
                f"duplicate {spec.key}: {', '.join(map(str, dupes[:10]))}"
                + (" …" if len(dupes) > 10 else "")
            )
    # whatever the workspace would refuse blocks the commit; row-level notes do not
    blocking = validate_frame(spec, renamed)
    if renamed.empty:
        blocking.append("no feature is left to import")
    return ImportPlan(
        spec,
        renamed,
        path,
        _sha256(path),
        options,
        mapping,
        notes,
        problems,
        blocking,
        repaired,
        dropped,
        source_columns=columns,
    )


def _previous_name(layer_id: str) -> str:
    return f"townmap_prev_{layer_id}"


def commit_import(ws: Workspace, plan: ImportPlan | RasterPlan) -> dict:
    """Write the planned layer and its import-log row in one transaction, by ``ws.actor``.
    The layer it replaces is kept (as ``townmap_prev_<layer>``) so the import can be
    undone. What it replaces and the log it appends to are read under the lock."""
    if not plan.ok:
        raise UploadError("the import cannot be committed: " + "; ".join(plan.blocking))
    layer_id = plan.spec.id
    with ws.transaction("import") as tx:
        had_previous = tx.has_layer(layer_id)
        record = {
            "imported_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "user": tx.actor.user or login_name(),
            "file_name": plan.source.name,
            "sha256": plan.sha256,
            "layer_id": layer_id,
            "features": plan.count,
            "repaired": plan.repaired,
            "dropped": plan.dropped,
            "problems": len(plan.problems),
            "choices": json.dumps(
                {**asdict(plan.options), "mapping": plan.mapping}, ensure_ascii=False
            ),
            "had_previous": str(had_previous).lower(),
            "undone": "false",
        }
        log = tx.read_table(IMPORT_LOG) if tx.has_table(IMPORT_LOG) else pd.DataFrame()
        log = pd.concat([log, pd.DataFrame([record])], ignore_index=True).astype(str)
        if isinstance(plan, RasterPlan):
            if had_previous:
                _copy_raster(tx, tx.raster_path(layer_id), _previous_name(layer_id))
            tx.write_raster(
                layer_id, lambda out: warp_into(plan, tx.crs, out), source=plan.source.name
            )
        else:
            if had_previous:
                kind = plan.spec.kind
                old = tx.read_layer(layer_id) if kind == "vector" else tx.read_table(layer_id)
                _write(tx, kind, _previous_name(layer_id), old, "kept for undo")
            _write(tx, plan.spec.kind, layer_id, plan.frame, plan.source.name)
        tx.write_table(IMPORT_LOG, log, description="Townmap import log")
    return record


def _copy_raster(tx, source: Path, name: str) -> None:
    tx.write_raster(name, lambda out: shutil.copyfile(source, out), source="kept for undo")


def _write(tx, kind: str, name: str, frame, source: str) -> None:
    if kind == "vector" and isinstance(frame, gpd.GeoDataFrame):
        tx.write_layer(name, frame, source=source)
    else:
        tx.write_table(name, pd.DataFrame(frame), source=source)


def undo_last_import(ws: Workspace) -> dict:
    """Put the workspace back as it was before the last import that is not yet undone
    (found under the lock: two undos never undo the same import)."""
    from townmap.auth.access import admit

    with ws.transaction("import") as tx:
        log = tx.read_table(IMPORT_LOG) if tx.has_table(IMPORT_LOG) else pd.DataFrame()
        undone = log.get("undone", pd.Series(dtype=str))
        open_rows = log.index[undone == "false"] if len(log) else []
        if len(open_rows) == 0:
            raise UploadError("there is no import to undo")
        row = open_rows[-1]
        record = log.loc[row].to_dict()
        layer_id = record["layer_id"]
        admit(tx, tx.actor, "edit", layer_id)  # a consultant undoes only their own imports
        kind = ws.catalog[layer_id].kind if ws.catalog and layer_id in ws.catalog else "vector"
        prev = _previous_name(layer_id)
        if kind == "raster":
            if record["had_previous"] == "true":
                _copy_raster(tx, tx.raster_path(prev), layer_id)
                tx.delete_raster(prev)
            else:
                tx.delete_raster(layer_id)
        elif record["had_previous"] == "true":
            old = tx.read_layer(prev) if kind == "vector" else tx.read_table(prev)
            _write(tx, kind, layer_id, old, "restored by undo")
            tx.delete_layer(prev)
        else:
            tx.delete_layer(layer_id)
        log.loc[row, "undone"] = "true"
        tx.write_table(IMPORT_LOG, log, description="Townmap import log")
    return record
