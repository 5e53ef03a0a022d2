"""A consultant's own layers: any file becomes a layer of one workspace.

A layer that is not in the shipped catalog is described by an ``OwnLayerSpec`` inferred
from the file (its columns with their types, Chinese names kept, a default style by
geometry type). The definition lives in the workspace's metadata (key ``own_layers``),
so it travels with backups and copies on both back ends and is written in the same
transaction as the data; ``layers/`` is never touched. ``workspace_catalog`` is the
catalog a workspace is read with: the shipped layer files plus its own layers.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Literal

import geopandas as gpd
import pandas as pd
from pydantic import Field, ValidationError

from townmap.catalog import GROUPS, Attribute, Catalog, Label, LayerSpec, Style, load_catalog
from townmap.errors import UploadError

METADATA_KEY = "own_layers"
#: the group an own layer joins unless the consultant names another
DEFAULT_GROUP = "own"
#: a key column Townmap adds when the file has no column that identifies a feature
GENERATED_KEY = "townmap_fid"
#: colours for own layers, by order of creation (a palette readable on the light basemap)
PALETTE = ("#e6550d", "#3182bd", "#31a354", "#756bb1", "#de2d26", "#636363", "#17becf")
CATEGORY_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#637939",
)
MAX_CATEGORIES = len(CATEGORY_COLOURS)
_NAME_HINTS = ("名称", "名字", "name", "name_zh", "名", "title", "label")
ColumnName = Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[^\x00-\x1f\"]+$")]


class OwnAttribute(Attribute):
    """An attribute named as the file names its column (Chinese, spaces, capitals)."""

    name: ColumnName  # type: ignore[assignment]


class OwnLayerSpec(LayerSpec):
    """A layer defined in one workspace from a consultant's file."""

    attributes: list[OwnAttribute] = Field(default_factory=list)  # type: ignore[assignment]
    own: Literal[True] = True


def is_own(spec: LayerSpec) -> bool:
    return isinstance(spec, OwnLayerSpec)


# ----------------------------------------------------------------------------- reading


def own_specs(metadata: dict[str, str]) -> list[OwnLayerSpec]:
    """The own layers a workspace's metadata defines (a damaged entry is an error, never
    skipped: the layer's data would otherwise be shown without its definition)."""
    text = metadata.get(METADATA_KEY, "")
    if not text.strip():
        return []
    try:
        items = json.loads(text)
        return [OwnLayerSpec.model_validate(item) for item in items]
    except (json.JSONDecodeError, ValidationError, TypeError) as exc:
        raise UploadError(f"the workspace's own-layer definitions cannot be read: {exc}") from None


def definitions_token(metadata: dict[str, str]) -> str:
    """Changes whenever an own layer is added, renamed, restyled or deleted (cache keys)."""
    return hashlib.sha256(metadata.get(METADATA_KEY, "").encode()).hexdigest()[:16]


def merged(base: Catalog, specs: list[OwnLayerSpec]) -> Catalog:
    out = Catalog(layers=dict(base.layers), errors=list(base.errors))
    for spec in specs:
        out.layers[spec.id] = spec
    return out


def workspace_catalog(ws, base: Catalog | None = None) -> Catalog:
    """The shipped catalog plus the workspace's own layers."""
    base = base or getattr(ws, "catalog", None) or load_catalog()
    return merged(base, own_specs(ws.metadata()))


def write_specs(tx, specs: list[OwnLayerSpec]) -> None:
    """Store the definitions in the transaction (lands with the data, or not at all)."""
    payload = [s.model_dump(mode="json", exclude_defaults=False) for s in specs]
    tx.set_metadata(**{METADATA_KEY: json.dumps(payload, ensure_ascii=False)})


# ----------------------------------------------------------------------------- inference


def check_new_id(layer_id: str, catalog: Catalog, existing: list[OwnLayerSpec]) -> None:
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", layer_id or ""):
        raise UploadError(
            f"a new layer id must be lower-case letters, digits and _ "
            f"(starting with a letter), e.g. 'flood_zone_2024'; not {layer_id!r}"
        )
    if layer_id.startswith("townmap_"):
        raise UploadError("ids starting with 'townmap_' are Townmap's own")
    if layer_id in catalog.layers and not any(s.id == layer_id for s in existing):
        raise UploadError(f"{layer_id!r} is a catalog layer: import into it with --layer")


def _type_of(col: pd.Series, typed_text: bool = False) -> str:
    """A column's attribute type. A GIS file declares its text columns (``typed_text``):
    a DBF or GeoPackage text field of codes such as "320506" stays text; a CSV's columns
    are all text, so numbers are recognised from the values (007 stays a code)."""
    values = col.dropna()
    if values.empty:
        return "str"
    if pd.api.types.is_bool_dtype(col):
        return "bool"
    if pd.api.types.is_integer_dtype(col):
        return "int"
    if pd.api.types.is_float_dtype(col):
        as_int = values == values.round()
        return "int" if bool(as_int.all()) and values.abs().max() < 2**53 else "float"
    if pd.api.types.is_datetime64_any_dtype(col):
        return "datetime"
    if typed_text:
        return "str"
    head = values.iloc[:1000].astype(str).str.strip().str.replace(",", "")
    if pd.to_numeric(head[head != ""], errors="coerce").isna().any():
        return "str"  # a sample decides text columns fast; numbers are checked in full
    text = values.astype(str).str.strip()
    text = text[text != ""]
    if text.empty:
        return "str"
    numeric = pd.to_numeric(text.str.replace(",", ""), errors="coerce")
    if numeric.notna().all() and not text.str.match(r"^0\d").any():  # 007 is a code
        return "int" if bool((numeric == numeric.round()).all()) else "float"
    return "str"


def geometry_kinds(frame) -> dict[str, int]:
    """How many points, lines and areas a frame holds (multi-parts counted as their kind)."""
    if not isinstance(frame, gpd.GeoDataFrame):
        return {}
    types = frame.geometry.dropna().geom_type.str.removeprefix("Multi").value_counts()
    return {k: int(types[k]) for k in ("Point", "LineString", "Polygon") if k in types}


def _geometry_kind(frame) -> str | None:
    if not isinstance(frame, gpd.GeoDataFrame):
        return None
    types = set(frame.geometry.dropna().geom_type)
    for kind in ("Polygon", "LineString", "Point"):
        if types & {kind, f"Multi{kind}"}:
            return kind
    return "Polygon" if types else None


def _name_column(columns: list[str], types: dict[str, str]) -> str | None:
    lowered = {c: c.casefold() for c in columns}
    for hint in _NAME_HINTS:
        for col, low in lowered.items():
            if hint in low and types.get(col) == "str":
                return col
    return next((c for c in columns if types.get(c) == "str"), None)


def _key_column(frame: pd.DataFrame, columns: list[str]) -> str | None:
    for col in columns:
        low = col.casefold()
        if low in ("id", "fid", "编号", "code", "代码") or low.endswith(("_id", "编号", "id")):
            values = frame[col]
            if values.notna().all() and values.astype(str).is_unique:
                return col
    return None


def infer_spec(
    layer_id: str,
    frame: pd.DataFrame,
    *,
    label_zh: str | None = None,
    label_en: str | None = None,
    group: str | None = None,
    colour_index: int = 0,
    source: str = "",
    geometry: str | None = None,
    typed_text: bool = False,
    labels: dict[str, tuple[str, str]] | None = None,
) -> tuple[OwnLayerSpec, pd.DataFrame, list[str]]:
    """A layer definition for ``frame`` (the file's own columns), the frame as it will be
    stored (with a generated key column if it needs one) and notes saying what was
    inferred."""
    geometry_name = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
    columns = [str(c) for c in frame.columns if c != geometry_name]
    kind_geom = geometry or _geometry_kind(frame)
    notes: list[str] = []
    bad = [c for c in columns if not re.fullmatch(r"[^\x00-\x1f\"]{1,63}", c)]
    if bad:
        raise UploadError(
            f"column name(s) {bad[:5]} cannot be layer attributes (longer than 63 "
            "characters, or holding quotes or control characters): rename them first"
        )
    if group is not None and group not in (*GROUPS, DEFAULT_GROUP):
        raise UploadError(f"unknown group {group!r}; choose one of {', '.join(GROUPS)}")
    types = {c: _type_of(frame[c], typed_text) for c in columns}
    key = _key_column(frame, columns)
    if key is None and kind_geom is not None:
        key = GENERATED_KEY
        frame = frame.copy()
        frame[key] = [f"F{i:05d}" for i in range(1, len(frame) + 1)]
        types[key] = "str"
        columns = [key, *columns]
        notes.append(f"no column identifies a feature: ids F00001… added as '{GENERATED_KEY}'")
    named = {GENERATED_KEY: ("要素编号", "Feature id"), **(labels or {})}
    attributes = [
        OwnAttribute(
            name=c,
            type=types[c],
            label=Label(zh=named[c][0], en=named[c][1]) if c in named else Label(zh=c, en=c),
            required=(c == key),
        )
        for c in columns
    ]
    name = _name_column(columns, types)
    colour = PALETTE[colour_index % len(PALETTE)]
    style = Style(
        color=colour,
        fill_color=colour if kind_geom == "Polygon" else None,
        fill_opacity=0.25 if kind_geom == "Polygon" else 0.9,
        weight=2.0 if kind_geom == "LineString" else 1.2,
    )
    label_text = label_zh or label_en or layer_id
    spec = OwnLayerSpec(
        id=layer_id,
        kind="vector" if kind_geom else "table",
        geometry=kind_geom,
        group=group or DEFAULT_GROUP,  # type: ignore[arg-type]
        label=Label(zh=label_zh or label_text, en=label_en or label_text),
        order=900 + colour_index,
        key=key,
        source=source or None,
        attributes=attributes,
        style=style,
        tooltip=[name] if name else [],
        popup=columns[:40],
    )
    summary = ", ".join(f"{c} ({types[c]})" for c in columns[:12])
    notes.append(
        f"new layer {layer_id!r}: {kind_geom or 'table'}, {len(columns)} column(s): {summary}"
        + (" …" if len(columns) > 12 else "")
    )
    if len(columns) > 40:
        notes.append(f"the popup shows the first 40 of {len(columns)} columns")
    return spec, frame, notes


# ----------------------------------------------------------------------------- changing


def _find(specs: list[OwnLayerSpec], layer_id: str) -> int:
    for i, spec in enumerate(specs):
        if spec.id == layer_id:
            return i
    known = ", ".join(s.id for s in specs) or "none"
    raise UploadError(f"no own layer {layer_id!r} in this workspace (own layers: {known})")


def renamed(spec: OwnLayerSpec, label_zh: str | None, label_en: str | None) -> OwnLayerSpec:
    zh = (label_zh or spec.label.zh).strip()
    en = (label_en or spec.label.en).strip()
    if not zh or not en:
        raise UploadError("a layer name cannot be empty")
    return spec.model_copy(update={"label": Label(zh=zh, en=en)})


def category_columns(
    spec: OwnLayerSpec, frame: pd.DataFrame
) -> tuple[list[str], list[tuple[str, str, int]]]:
    """The columns a layer can be coloured by — a few distinct values (at most
    ``MAX_CATEGORIES``), not measurements with decimals — and the others as ``(column,
    why, distinct values)`` with why ``measurements``, ``empty`` or ``many``, so the page
    can say why in its language. A key column qualifies like any other when it has few
    values (five districts coloured by 代码)."""
    offered: list[str] = []
    others: list[tuple[str, str, int]] = []
    for attr in spec.attributes:
        if attr.name not in frame.columns:
            continue
        n = int(pd.Series(frame[attr.name]).dropna().astype(str).nunique())
        if attr.type == "float":
            others.append((attr.name, "measurements", n))
        elif n == 0:
            others.append((attr.name, "empty", n))
        elif n > MAX_CATEGORIES:
            others.append((attr.name, "many", n))
        else:
            offered.append(attr.name)
    return offered, others


def restyled(
    spec: OwnLayerSpec, frame: pd.DataFrame, colour: str | None, by: str | None
) -> OwnLayerSpec:
    """A new colour, and/or colours by the values of one column (``by=""`` removes it)."""
    style = spec.style.model_dump()
    if colour:
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", colour):
            raise UploadError(f"a colour is written #rrggbb, e.g. #d62728; not {colour!r}")
        style["color"] = colour
        if spec.geometry == "Polygon":
            style["fill_color"] = colour
    if by == "":
        style["by"], style["categories"] = None, {}
    elif by is not None:
        if by not in {a.name for a in spec.attributes}:
            raise UploadError(f"{spec.id!r} has no column {by!r}")
        if spec.attribute(by).type == "float":
            raise UploadError(
                f"column {by!r} holds measurements with decimals: colours by column take a "
                "column of a few values (a category, a level, a code)"
            )
        values = pd.Series(frame[by]).dropna().astype(str).unique().tolist()
        if len(values) > MAX_CATEGORIES:
            raise UploadError(
                f"column {by!r} holds {len(values)} different values; colours by column "
                f"take at most {MAX_CATEGORIES}"
            )
        style["by"] = by
        style["categories"] = dict(zip(sorted(values), CATEGORY_COLOURS, strict=False))
    return spec.model_copy(update={"style": Style(**style)})


def change(ws, layer_id: str, how) -> OwnLayerSpec:
    """Apply ``how(spec, frame) -> spec`` to one own layer under the write lock."""
    with ws.transaction("edit", layer=layer_id) as tx:
        specs = own_specs(tx.metadata())
        i = _find(specs, layer_id)
        frame = tx.read_layer(layer_id) if specs[i].kind == "vector" else tx.read_table(layer_id)
        specs[i] = how(specs[i], frame)
        write_specs(tx, specs)
        return specs[i]


def _forget_imports(tx, layer_id: str) -> int:
    """A deleted layer's imports can no longer be undone (undoing one would bring back a
    layer the planner removed, or fail and block every earlier undo): mark them and drop
    their copies, in the deleting transaction. Returns how many were forgotten."""
    from townmap.io.undo_copies import drop_undo_copy
    from townmap.store import IMPORT_LOG

    if not tx.has_table(IMPORT_LOG):
        return 0
    log = tx.read_table(IMPORT_LOG)
    rows = log.index[(log["layer_id"] == layer_id) & (log["undone"] == "false")]
    for row in rows:
        drop_undo_copy(tx, log, row, "layer deleted")
    if len(rows):
        tx.write_table(IMPORT_LOG, log.astype(str), description="Townmap import log")
    return len(rows)


def delete(ws, layer_id: str) -> int:
    """Remove an own layer, its data and its definition together; its imports leave the
    undo list (returns how many), so undo goes on with the imports before them."""
    with ws.transaction("edit", layer=layer_id) as tx:
        specs = own_specs(tx.metadata())
        i = _find(specs, layer_id)
        if tx.has_layer(layer_id):
            tx.delete_layer(layer_id)
        del specs[i]
        write_specs(tx, specs)
        return _forget_imports(tx, layer_id)
