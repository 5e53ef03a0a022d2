"""Importing a consultant's file into a catalog layer: plan (read, locate, map, check,
repair, report) and commit (one transaction, recorded in the import log).

Planning never touches the workspace, so a user can look at the report and the preview
first; committing writes the layer and its log row together or not at all.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
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
from townmap.io.geometry_fix import fit_geometries
from townmap.io.placement import check_dem, check_extent, raster_footprint, web_map_hint
from townmap.io.raster_import import RasterPlan, plan_raster_import, warp_into
from townmap.io.readers import read_file
from townmap.io.undo_copies import drop_undo_copy
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
    #: the mapping names only some attributes and the rest are guessed (``--map``); a
    #: guess that takes a column the mapping names elsewhere is left out
    guess_the_rest: bool = False
    #: attribute -> one value for every row (``--set basin=taihu``)
    fixed: dict[str, str] | None = None
    #: replace | append | update; a layer that holds features refuses without one
    mode: str | None = None
    #: a layer that is not in the catalog, made from the file (``--new-layer``)
    new_layer: NewLayer | None = None


@dataclass(frozen=True)
class NewLayer:
    """What the consultant says about a new own layer; the rest is inferred."""

    label_zh: str | None = None
    label_en: str | None = None
    group: str | None = None
    #: Point, LineString or Polygon: which kind a file holding several kinds gives
    geometry: str | None = None


class MixedGeometryError(UploadError):
    """A file holds points, lines and/or areas together and a new layer takes one kind:
    the user chooses (and imports the file again for another kind)."""

    def __init__(self, kinds: dict[str, int]):
        self.kinds = kinds
        listed = ", ".join(f"{n} {_KIND_WORDS[k]}" for k, n in kinds.items())
        super().__init__(
            f"the file holds {listed}: a layer holds one kind; choose which to import "
            "(--geometry point|line|polygon) and import the file again for the other"
        )


_KIND_WORDS = {"Point": "point(s)", "LineString": "line(s)", "Polygon": "area(s)"}


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
    #: the file's columns no attribute takes (listed in the report and the import log)
    unused_columns: list[str] = field(default_factory=list)
    #: attributes the file or a fixed value gives (an update changes only these)
    given: set[str] = field(default_factory=set)
    existing: int = 0  # features the layer holds now
    merge_summary: str = ""
    #: what the merge does, for a page to say in its language: added/updated/kept/replaced
    merge_counts: dict[str, int] = field(default_factory=dict)
    #: worth a look before committing, but not wrong (far from the town, a web-map datum)
    warnings: list[str] = field(default_factory=list)
    outside_rows: list[int] = field(default_factory=list)  # positions in ``frame``
    new_spec: object | None = None  # the OwnLayerSpec an import with --new-layer defines

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
        "the file does not say its coordinate system; choose one (--crs on the command "
        f"line, the coordinate-system box on the Import page; candidates: {listed})"
    )


def _points_from_table(frame: pd.DataFrame, options, hint_lon, notes, problems, row_label):
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
    bad = bad | ~np.isfinite(x.fillna(0)) | ~np.isfinite(y.fillna(0))
    for idx in bad.index[bad.to_numpy()][:50]:
        problems.append(
            f"{row_label(idx)}: coordinates in '{coords.x}'/'{coords.y}' missing, not "
            f"numbers or infinite ({frame.at[idx, coords.x]!r}, {frame.at[idx, coords.y]!r}); "
            "row skipped"
        )
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


def _coerce(spec: LayerSpec, frame: pd.DataFrame, problems: list[str], row_label) -> pd.DataFrame:
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
            bad = bad | ~np.isfinite(values.fillna(0))
            values = values.where(np.isfinite(values.fillna(0)))
            for idx in bad.index[bad.to_numpy()][:20]:
                problems.append(
                    f"{row_label(idx)}: '{attr.name}' is not a finite number ({col[idx]!r}); "
                    "left empty"
                )
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


def _row_label(raw) -> Callable[[object], str]:
    """How the report names a row: the reader's own naming (spreadsheet lines for
    tables, feature numbers for GIS files) for the frame's original position."""
    named = getattr(raw, "row_label", None)
    if named is not None:
        return lambda idx: named(int(idx))
    tabular = not raw.has_geometry
    return lambda idx: f"row {int(idx) + 2}" if tabular else f"feature {int(idx) + 1}"


def _existing(ws: Workspace | None, layer_id: str, kind: str):
    if ws is None or not ws.has_layer(layer_id) or kind == "raster":
        return None
    return ws.read_layer(layer_id) if kind == "vector" else ws.read_table(layer_id)


def _locate(raw, spec_kind: str, options, hint_lon, notes, problems, row_label, geometry=None):
    """The file's rows with geometries in a known CRS (points from coordinate columns
    of a table), web-map datums corrected."""
    frame, dropped = raw.frame, 0
    if spec_kind != "vector":
        return frame, dropped
    if raw.has_geometry:
        if frame.crs is None:
            crs = _choose_crs(tuple(frame.total_bounds), options, hint_lon, notes)
            frame = frame.set_crs(crs, allow_override=True)
    else:
        if geometry not in (None, "Point"):
            raise UploadError(
                f"{raw.source.name} is a table: its coordinates give points, but "
                f"{options.layer_id!r} holds {geometry} geometries; import a GIS file "
                "(GeoPackage, Shapefile, GeoJSON, KML) with them, or make a new layer"
            )
        frame, dropped = _points_from_table(
            pd.DataFrame(frame), options, hint_lon, notes, problems, row_label
        )
    if options.datum:
        frame = _apply_datum(frame, options.datum, notes)
    return frame, dropped


def _new_layer_spec(raw, options, catalog, ws, hint_lon, notes, problems, row_label):
    """The own layer a file defines: a table stays a table unless it has coordinates."""
    from townmap.io.kml_fields import KML_LABELS
    from townmap.own_layers import check_new_id, geometry_kinds, infer_spec, own_specs

    existing_specs = own_specs(ws.metadata()) if ws is not None else []
    check_new_id(options.layer_id, catalog, existing_specs)
    if any(s.id == options.layer_id for s in existing_specs):
        raise UploadError(
            f"own layer {options.layer_id!r} exists already: import into it with "
            f"--layer {options.layer_id} --mode replace|append|update, or delete it first"
        )
    kind = "vector" if raw.has_geometry or find_coordinates(raw.frame) is not None else "table"
    frame, dropped = _locate(raw, kind, options, hint_lon, notes, problems, row_label)
    chosen = options.new_layer.geometry
    if kind == "vector":
        kinds = geometry_kinds(frame)
        if len(kinds) > 1 and chosen is None:
            raise MixedGeometryError(kinds)
        if chosen is not None and chosen not in kinds:
            raise UploadError(f"the file holds no {_KIND_WORDS.get(chosen, chosen)}")
        others = {k: n for k, n in kinds.items() if k != chosen}
        if chosen is not None and others:  # left for another import, not "problems"
            kind_of = frame.geometry.geom_type.str.removeprefix("Multi")
            frame = frame[(kind_of == chosen).to_numpy() | frame.geometry.isna().to_numpy()]
            listed = ", ".join(f"{n} {_KIND_WORDS[k]}" for k, n in others.items())
            notes.append(f"{listed} left out: import the file again for them as another layer")
    spec, frame, inferred = infer_spec(
        options.layer_id,
        frame,
        label_zh=options.new_layer.label_zh,
        label_en=options.new_layer.label_en,
        group=options.new_layer.group,
        colour_index=len(existing_specs),
        source=raw.source.name,
        geometry=chosen,
        typed_text=raw.unit == "feature",  # a GIS file declares its text columns
        labels=KML_LABELS if raw.source.suffix.lower() in (".kml", ".kmz") else None,
    )
    notes.extend(inferred)
    return spec, frame, dropped


def _fit(frame, spec, ws, notes, problems, row_label):
    """Geometries as the workspace will store them: in its CRS, of the layer's kind."""
    target = ws.crs if ws is not None else frame.crs
    fit = fit_geometries(frame, spec.geometry, target, lambda i: row_label(frame.index[i]))
    notes.extend(fit.notes)
    problems.extend(fit.problems)
    return fit.frame, fit.repaired, fit.dropped, fit.blocking


def _place(frame, ws, notes, problems, row_label):
    """Rows outside the workspace CRS's area are refused; rows far from the town warned."""
    town = ws.read_layer("town") if ws.has_layer("town") else None
    area = shapely.union_all(town.to_crs(ws.crs).geometry.values) if town is not None else None
    report = check_extent(frame, ws.crs, area, lambda i: row_label(frame.index[i]))
    notes.extend(report.notes)
    problems.extend(report.problems)
    refused = sorted(set(report.refused_rows))
    far = list(frame.index[sorted(set(report.outside_rows))])
    if refused:
        frame = frame.drop(index=frame.index[refused])
    positions = [frame.index.get_loc(label) for label in far if label in frame.index]
    return frame, len(refused), list(report.warnings), positions


def _dem_warnings(plan: RasterPlan, ws: Workspace | None) -> None:
    """A coarse DEM, or one that does not cover the town, is said before it replaces one."""
    if ws is None:
        return
    new = raster_footprint(plan.source, ws.crs, src_crs=plan.crs)
    current = (
        raster_footprint(ws.raster_path(plan.spec.id), ws.crs)
        if ws.has_raster(plan.spec.id)
        else None
    )
    town = ws.read_layer("town").to_crs(ws.crs) if ws.has_layer("town") else None
    bounds = tuple(town.total_bounds) if town is not None else None
    plan.warnings = check_dem(new, current, bounds)


def plan_import(
    path: str | Path,
    options: ImportOptions,
    catalog: Catalog,
    hint_lon: float | None = None,
    ws: Workspace | None = None,
) -> ImportPlan | RasterPlan:
    """Read and check a file for a layer; nothing is written. With ``ws`` the plan runs
    every check the commit runs (the workspace CRS, the mode against what the layer
    holds), so a dry run and a commit give the same verdict."""
    from townmap.io.mapping import (
        apply_mapping,
        check_fixed,
        codes_from_labels,
        generate_keys,
        unmapped_columns,
    )
    from townmap.io.merge import check_mode, merge
    from townmap.own_layers import workspace_catalog

    path = Path(path)
    if ws is not None:
        catalog = workspace_catalog(ws, catalog)
    new = options.new_layer is not None
    if not new:
        if options.layer_id not in catalog:
            raise UploadError(
                f"no layer {options.layer_id!r} in the catalog; see 'townmap layers', "
                "or make a new layer from the file with --new-layer"
            )
        if options.layer_id in READ_ONLY_TABLES:
            raise UploadError(
                f"{options.layer_id!r} is written only by Townmap and cannot be imported"
            )
        spec = catalog[options.layer_id]
        if spec.kind == "raster":
            if not path.is_file() or path.stat().st_size == 0:
                raise UploadError(f"{path.name} does not exist or is empty")
            plan = plan_raster_import(path, options, catalog, _sha256(path), hint_lon)
            _dem_warnings(plan, ws)
            return plan
    raw = read_file(path, encoding=options.encoding, layer=options.source_layer)
    raw.frame = raw.frame.reset_index(drop=True)
    _check_limits(raw.frame, path)
    row_label = _row_label(raw)
    notes, problems = list(raw.notes), list(getattr(raw, "problems", []))
    if options.crs:  # the reader's "must be chosen" is answered
        notes = [
            f"no .prj: the coordinate system chosen ({options.crs}) is used"
            if n == "no .prj: the coordinate system must be chosen"
            else n
            for n in notes
        ]
    new_spec = None
    if new:
        spec, frame, dropped = _new_layer_spec(
            raw, options, catalog, ws, hint_lon, notes, problems, row_label
        )
        new_spec = spec
    else:
        frame, dropped = _locate(
            raw, spec.kind, options, hint_lon, notes, problems, row_label, spec.geometry
        )
    geometry_name = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
    columns = [c for c in frame.columns if c != geometry_name]
    fixed = dict(options.fixed or {})
    if new:
        mapping = {c: c for c in columns}
    else:
        check_fixed(fixed, spec)
        # None: guess; an empty mapping means the user left every attribute empty
        mapping = (
            dict(options.mapping) if options.mapping is not None else guess_mapping(columns, spec)
        )
        if options.mapping is not None and options.guess_the_rest:
            named = set(mapping.values())
            guessed = guess_mapping(columns, spec)
            mapping = {
                **{a: c for a, c in guessed.items() if c not in named},
                **mapping,
            }
        mapping = {k: v for k, v in mapping.items() if k not in fixed}
    unknown = sorted(set(mapping.values()) - set(columns))
    if unknown:
        raise UploadError(f"the mapping names columns the file does not have: {unknown}")
    unused = unmapped_columns(columns, mapping)
    if unused:
        notes.append(
            f"column(s) not imported, no attribute takes them (listed in the import log): "
            f"{', '.join(map(str, unused[:20]))}{' …' if len(unused) > 20 else ''}"
        )
    if fixed:
        notes.append(
            "fixed value(s) for every row: " + ", ".join(f"{k} = {v}" for k, v in fixed.items())
        )
    renamed = apply_mapping(frame, mapping, fixed, spec)
    if spec.kind == "vector":
        renamed = gpd.GeoDataFrame(renamed, geometry=frame.geometry.values, crs=frame.crs)
        renamed.index = frame.index
    renamed = codes_from_labels(spec, renamed, row_label, problems, notes)
    renamed = _coerce(spec, renamed, problems, row_label)
    repaired, warnings, outside, fit_blocking = 0, [], [], []
    if spec.kind == "vector":
        renamed, repaired, lost, fit_blocking = _fit(renamed, spec, ws, notes, problems, row_label)
        dropped += lost
        if ws is not None:
            renamed, refused, warnings, outside = _place(renamed, ws, notes, problems, row_label)
            dropped += refused
        if not options.datum:
            hint = web_map_hint(columns, " ".join([path.name, *raw.notes]), frame)
            if hint:
                warnings.append(hint)
    existing = _existing(ws, spec.id, spec.kind) if not new else None
    renamed = generate_keys(
        spec,
        renamed,
        # keys go on after the layer's own, unless the file replaces them
        existing[spec.key]
        if existing is not None and spec.key in existing and options.mode != "replace"
        else None,
        notes,
    )
    given = set(mapping) | set(fixed) | ({spec.key} if spec.key else set())
    if spec.key and spec.key in renamed.columns:
        dupes = renamed[spec.key][renamed[spec.key].duplicated()].dropna().unique()
        if len(dupes):
            problems.append(
                f"duplicate {spec.key}: {', '.join(map(str, dupes[:10]))}"
                + (" …" if len(dupes) > 10 else "")
            )
    renamed = renamed.reset_index(drop=True)
    blocking = check_mode(options.mode, 0 if existing is None else len(existing), spec.id)
    summary, counts = "", {}
    result_frame = renamed
    if not blocking and existing is not None:
        try:
            result = merge(existing, renamed, options.mode, spec.key, given)
            result_frame, summary = result.frame, result.describe(options.mode or "replace")
            counts = result.counts()
        except UploadError as exc:
            blocking.append(str(exc))
    # whatever the workspace would refuse blocks the commit; row-level notes do not
    blocking += fit_blocking + validate_frame(spec, result_frame)
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
        unused_columns=unused,
        given=given,
        existing=0 if existing is None else len(existing),
        merge_summary=summary,
        merge_counts=counts,
        new_spec=new_spec,
        warnings=warnings,
        outside_rows=outside,
    )


#: copies kept per layer so recent imports can be undone (older ones cannot)
UNDO_DEPTH = 5


def _previous_name(layer_id: str, seq: int | None = None) -> str:
    """The copy kept for undoing one import (``seq``: its row in the import log); the
    legacy name, without a number, is what imports before per-import copies kept."""
    base = f"townmap_prev_{layer_id[:40]}"
    return base if seq is None else f"{base}_{seq}"


def _prune_copies(tx, layer_id: str, log: pd.DataFrame) -> pd.DataFrame:
    """Keep the undo copies of the layer's last ``UNDO_DEPTH`` imports; mark older ones."""
    mine = log.index[(log["layer_id"] == layer_id) & (log["undone"] == "false")]
    for row in mine[:-UNDO_DEPTH]:
        drop_undo_copy(tx, log, row, "expired")
    return log


def commit_import(ws: Workspace, plan: ImportPlan | RasterPlan) -> dict:
    """Write the planned layer and its import-log row in one transaction, by ``ws.actor``.
    The layer it replaces is kept (as ``townmap_prev_<layer>_<n>``) so the import can be
    undone. What it replaces, the merge and the log it appends to are read under the
    lock; an own layer's definition is written in the same transaction."""
    from townmap.io.merge import check_mode, merge
    from townmap.own_layers import own_specs, write_specs

    if not plan.ok:
        raise UploadError("the import cannot be committed: " + "; ".join(plan.blocking))
    layer_id = plan.spec.id
    with ws.transaction("import") as tx:
        had_previous = tx.has_layer(layer_id)
        log = tx.read_table(IMPORT_LOG) if tx.has_table(IMPORT_LOG) else pd.DataFrame()
        seq = len(log)
        specs = own_specs(tx.metadata())
        before = next((s for s in specs if s.id == layer_id), None)
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
                {
                    **asdict(plan.options),
                    "mapping": plan.mapping,
                    "unused_columns": list(getattr(plan, "unused_columns", [])),
                },
                ensure_ascii=False,
                default=str,
            ),
            "had_previous": str(had_previous).lower(),
            "previous": _previous_name(layer_id, seq) if had_previous else "",
            "own_before": before.model_dump_json() if before is not None else "",
            "undone": "false",
        }
        if isinstance(plan, RasterPlan):
            if had_previous:
                _copy_raster(tx, tx.raster_path(layer_id), record["previous"])
            tx.write_raster(
                layer_id, lambda out: warp_into(plan, tx.crs, out), source=plan.source.name
            )
        else:
            kind = plan.spec.kind
            frame = _in_workspace_crs(plan, tx.crs)
            if had_previous:
                old = tx.read_layer(layer_id) if kind == "vector" else tx.read_table(layer_id)
                problems = check_mode(plan.options.mode, len(old), layer_id)
                if problems:
                    raise UploadError("; ".join(problems))
                _write(tx, kind, record["previous"], old, "kept for undo")
                frame = merge(old, frame, plan.options.mode, plan.spec.key, plan.given).frame
            if plan.new_spec is not None:
                write_specs(tx, [*[s for s in specs if s.id != layer_id], plan.new_spec])
            _write(tx, kind, layer_id, frame, plan.source.name)
        log = pd.concat([log, pd.DataFrame([record])], ignore_index=True).astype(str)
        log = _prune_copies(tx, layer_id, log)
        tx.write_table(IMPORT_LOG, log, description="Townmap import log")
    return record


def _in_workspace_crs(plan: ImportPlan, crs) -> pd.DataFrame:
    """A plan made without the workspace is fitted to its CRS here; if that changes the
    verdict (a geometry refused), nothing is written: plan again with the workspace."""
    frame = plan.frame
    if plan.spec.kind != "vector" or frame.crs is None or frame.crs == crs:
        return frame
    fit = fit_geometries(frame, plan.spec.geometry, crs, lambda i: f"feature {i + 1}")
    if fit.blocking or fit.dropped:
        raise UploadError(
            "in the workspace's coordinate system "
            + "; ".join((fit.blocking + fit.problems)[:5])
            + ": check the file again against this workspace (the dry run does)"
        )
    return fit.frame


def _copy_raster(tx, source: Path, name: str) -> None:
    tx.write_raster(name, lambda out: shutil.copyfile(source, out), source="kept for undo")


def _write(tx, kind: str, name: str, frame, source: str) -> None:
    if kind == "vector" and isinstance(frame, gpd.GeoDataFrame):
        tx.write_layer(name, frame, source=source)
    else:
        tx.write_table(name, pd.DataFrame(frame), source=source)


def _open_rows(log: pd.DataFrame) -> pd.Index:
    """The log rows an undo can still take back, oldest first."""
    if not len(log) or "undone" not in log.columns:
        return pd.Index([])
    return log.index[log["undone"] == "false"]


def import_identity(record: dict) -> str:
    """What tells one import from another in the log (two can share a second)."""
    return "|".join(str(record.get(k)) for k in ("imported_at", "layer_id", "file_name", "sha256"))


def next_undo(ws: Workspace) -> dict | None:
    """The import the next undo would take back (its log row), so a button can say which;
    None when there is none. Read without the lock: the undo itself decides under it."""
    if not ws.has_table(IMPORT_LOG):
        return None
    log = ws.read_table(IMPORT_LOG)
    rows = _open_rows(log)
    return log.loc[rows[-1]].to_dict() if len(rows) else None


def undo_last_import(ws: Workspace, expected: str | None = None) -> dict:
    """Put the workspace back as it was before the last import that is not yet undone
    (found under the lock: two undos never undo the same import). ``expected`` (the
    import time a button showed) refuses when another import is the last one by now: a
    click on a button drawn before a deletion or another undo must not undo a different
    import."""
    from townmap.auth.access import admit
    from townmap.own_layers import OwnLayerSpec, own_specs, workspace_catalog, write_specs

    with ws.transaction("import") as tx:
        log = tx.read_table(IMPORT_LOG) if tx.has_table(IMPORT_LOG) else pd.DataFrame()
        undone = log.get("undone", pd.Series(dtype=str))
        open_rows = _open_rows(log)
        if len(open_rows) == 0:
            expired = int((undone == "expired").sum()) if len(log) else 0
            more = (
                f" ({expired} older import(s) can no longer be undone: only the last "
                f"{UNDO_DEPTH} per layer keep a copy)"
                if expired
                else ""
            )
            raise UploadError("there is no import to undo" + more)
        row = open_rows[-1]
        record = log.loc[row].to_dict()
        if expected is not None and import_identity(record) != expected:
            raise UploadError(
                f"the last import is now {record['file_name']} ({record['imported_at']}), "
                "not the one the button named: nothing was undone; look again"
            )
        layer_id = record["layer_id"]
        admit(tx, tx.actor, "edit", layer_id)  # a consultant undoes only their own imports
        catalog = workspace_catalog(tx, ws.catalog)
        kind = catalog[layer_id].kind if layer_id in catalog else "vector"
        prev = str(record.get("previous") or "")
        if prev in ("", "nan"):
            prev = _previous_name(layer_id)  # an import recorded before per-import copies
        had_previous = record["had_previous"] == "true"
        if had_previous and not (tx.has_raster(prev) or tx.has_table(prev)):
            raise UploadError(
                f"the copy of {layer_id!r} kept for undoing the import of "
                f"{record['file_name']} is gone: that import cannot be undone"
            )
        if kind == "raster":
            if had_previous:
                _copy_raster(tx, tx.raster_path(prev), layer_id)
                tx.delete_raster(prev)
            else:
                tx.delete_raster(layer_id)
        elif had_previous:
            old = tx.read_layer(prev) if kind == "vector" else tx.read_table(prev)
            _write(tx, kind, layer_id, old, "restored by undo")
            tx.delete_layer(prev)
        else:
            tx.delete_layer(layer_id)
        specs = own_specs(tx.metadata())
        if any(s.id == layer_id for s in specs):
            before = str(record.get("own_before") or "")
            kept = [s for s in specs if s.id != layer_id]
            if before not in ("", "nan"):
                kept.append(OwnLayerSpec.model_validate_json(before))
            write_specs(tx, kept)
        log.loc[row, "undone"] = "true"
        tx.write_table(IMPORT_LOG, log, description="Townmap import log")
    return record
