"""The layer catalog: one TOML file per layer under ``layers/``, read into typed specs.

A planner adds or restyles a layer by editing a file, so every file is checked on load and
a malformed one is reported with its file name, the key and what was expected, while the
other layers still load. ``validate_frame`` checks data against its spec (used by the demo
builder, the workspace and, later, imports).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import geopandas as gpd
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from townmap.errors import CatalogError

GROUPS: tuple[str, ...] = (
    "administrative",
    "pollution_sources",
    "water",
    "environmental_constraints",
    "planning",
    "monitoring",
    "terrain",
    "management",
    "own",  # a consultant's own layers (townmap.own_layers)
)

#: tables only Townmap itself writes (the change log is the register's document control)
READ_ONLY_TABLES = frozenset({"change_log"})

Hex = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]
Ident = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=63)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Label(Strict):
    """A bilingual text: Chinese first, English always present."""

    zh: Annotated[str, Field(min_length=1)]
    en: Annotated[str, Field(min_length=1)]

    def get(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


class Attribute(Strict):
    """One attribute a layer's features carry."""

    name: Ident
    type: Literal["str", "int", "float", "bool", "date", "datetime"]
    label: Label
    #: only what an analysis needs is required (each such attribute says why in its
    #: file); the rest may be missing from an import and stays empty. A layer's key is
    #: always required (an import generates missing keys).
    required: bool = False
    unit: str = ""
    choices: list[str] | None = None
    min: float | None = None
    max: float | None = None


class Style(Strict):
    """How the web map and static maps draw a layer."""

    color: Hex = "#3366cc"
    fill_color: Hex | None = None
    weight: Annotated[float, Field(ge=0, le=20)] = 1.5
    opacity: Annotated[float, Field(ge=0, le=1)] = 1.0
    fill_opacity: Annotated[float, Field(ge=0, le=1)] = 0.3
    radius: Annotated[float, Field(gt=0, le=50)] = 5.0
    dash: str | None = None
    by: str | None = None
    categories: dict[str, Hex] = Field(default_factory=dict)


class LayerSpec(Strict):
    """A catalog entry: what the layer is, what it holds and how it looks."""

    id: Ident
    kind: Literal["vector", "raster", "table"]
    group: Literal[GROUPS]  # type: ignore[valid-type]
    label: Label
    description: Label | None = None
    geometry: Literal["Point", "LineString", "Polygon"] | None = None
    order: int = 100
    visible: bool = True
    key: str | None = None
    source: str | None = None
    attributes: list[Attribute] = Field(default_factory=list)
    style: Style = Field(default_factory=Style)
    tooltip: list[str] = Field(default_factory=list)
    popup: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> LayerSpec:
        if self.kind == "vector" and self.geometry is None:
            raise ValueError("a vector layer needs 'geometry' (Point, LineString or Polygon)")
        if self.kind != "vector" and self.geometry is not None:
            raise ValueError(f"a {self.kind} layer has no 'geometry'")
        if self.kind == "raster" and not self.source:
            raise ValueError("a raster layer needs 'source', the file name in the workspace")
        names = [a.name for a in self.attributes]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"attribute names repeat: {', '.join(dupes)}")
        for key in ("tooltip", "popup"):
            unknown = [n for n in getattr(self, key) if n not in names]
            if unknown:
                raise ValueError(f"'{key}' names unknown attributes: {', '.join(unknown)}")
        if self.key is not None and self.key not in names:
            raise ValueError(f"'key' names unknown attribute {self.key!r}")
        if self.geometry == "Point" and self.key is None:
            raise ValueError("a point layer needs 'key', the attribute that identifies a feature")
        if self.style.by is not None and self.style.by not in names:
            raise ValueError(f"'style.by' names unknown attribute {self.style.by!r}")
        return self

    def attribute(self, name: str) -> Attribute:
        for attr in self.attributes:
            if attr.name == name:
                return attr
        raise KeyError(f"layer {self.id!r} has no attribute {name!r}")


@dataclass
class Catalog:
    """The loaded catalog: good layers by id, plus one error per bad file."""

    layers: dict[str, LayerSpec] = field(default_factory=dict)
    errors: list[CatalogError] = field(default_factory=list)

    def __iter__(self):
        return iter(sorted(self.layers.values(), key=lambda s: (GROUPS.index(s.group), s.order)))

    def __getitem__(self, layer_id: str) -> LayerSpec:
        try:
            return self.layers[layer_id]
        except KeyError:
            known = ", ".join(sorted(self.layers))
            raise KeyError(f"no layer {layer_id!r} in the catalog (known: {known})") from None

    def __contains__(self, layer_id: object) -> bool:
        return layer_id in self.layers

    def by_kind(self, kind: str) -> list[LayerSpec]:
        return [s for s in self if s.kind == kind]


def format_pydantic_error(path: Path, err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(file)"
        msg = e["msg"].removeprefix("Value error, ")
        got = "" if e["type"] == "missing" else f" (got {e.get('input')!r:.60})"
        parts.append(f"key '{key}': {msg}{got}")
    return f"{path.name}: " + "; ".join(parts)


def read_model_file(path: Path, model: type[BaseModel], *, id_is_name: bool = True):
    """Read a TOML file into a pydantic model; every problem is one ``CatalogError`` naming
    the file, the key and what was expected (layer, rule and matrix files alike)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"{path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path.name}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise CatalogError(f"{path.name}: not UTF-8 text; save the file as UTF-8") from None
    try:
        item = model.model_validate(raw)
    except ValidationError as exc:
        raise CatalogError(format_pydantic_error(path, exc)) from None
    if id_is_name and item.id != path.stem:
        raise CatalogError(f"{path.name}: key 'id': expected {path.stem!r} (the file name)")
    return item


def load_layer_file(path: Path) -> LayerSpec:
    """Read one layer file; raise ``CatalogError`` naming the file, key and expectation."""
    return read_model_file(path, LayerSpec)


def load_catalog(folder: Path | None = None) -> Catalog:
    """Load every ``*.toml`` in ``folder``; bad files become errors, the rest still load."""
    if folder is None:
        from townmap.settings import layers_dir

        folder = layers_dir()
    folder = Path(folder)
    if not folder.is_dir():
        raise CatalogError(f"layer folder {folder} does not exist")
    catalog = Catalog()
    for path in sorted(folder.glob("*.toml")):
        try:
            spec = load_layer_file(path)
        except CatalogError as exc:
            catalog.errors.append(exc)
            continue
        catalog.layers[spec.id] = spec
    return catalog


# ----------------------------------------------------------------------------- frames

_GEOM_OK = {
    "Point": {"Point", "MultiPoint"},
    "LineString": {"LineString", "MultiLineString"},
    "Polygon": {"Polygon", "MultiPolygon"},
}


def _type_problems(attr: Attribute, col: pd.Series) -> list[str]:
    values = col.dropna()
    if values.empty:
        return []
    if attr.type in ("int", "float"):
        numeric = pd.to_numeric(values, errors="coerce")
        bad = values[numeric.isna()]
        if not bad.empty:
            return [
                f"'{attr.name}' must be a number; {len(bad)} value(s) are not (e.g. "
                f"{bad.iloc[0]!r})"
            ]
        if attr.type == "int" and not (numeric == numeric.round()).all():
            return [f"'{attr.name}' must be a whole number"]
        out = []
        if attr.min is not None and (numeric < attr.min).any():
            out.append(f"'{attr.name}' has {(numeric < attr.min).sum()} value(s) below {attr.min}")
        if attr.max is not None and (numeric > attr.max).any():
            out.append(f"'{attr.name}' has {(numeric > attr.max).sum()} value(s) above {attr.max}")
        return out
    if attr.type in ("date", "datetime"):
        parsed = pd.to_datetime(values, errors="coerce", format="mixed")
        if parsed.isna().any():
            return [f"'{attr.name}' has {int(parsed.isna().sum())} value(s) that are not dates"]
        return []
    if attr.type == "bool":
        if not values.isin([True, False, 0, 1]).all():
            return [f"'{attr.name}' must be true or false"]
        return []
    if attr.choices is not None:
        bad = sorted(set(pd.unique(values.astype(str))) - set(attr.choices))
        if bad:
            return [f"'{attr.name}' has values outside {attr.choices}: {bad[:5]}"]
    return []


def validate_frame(spec: LayerSpec, frame: pd.DataFrame) -> list[str]:
    """Every way ``frame`` fails its spec, as short sentences (empty list when it fits)."""
    problems: list[str] = []
    for attr in spec.attributes:
        if attr.name not in frame.columns:
            if attr.required or attr.name == spec.key:
                problems.append(f"required attribute '{attr.name}' is missing")
            continue
        col = frame[attr.name]
        required = attr.required or attr.name == spec.key
        if required and col.isna().any():
            problems.append(
                f"required attribute '{attr.name}' is empty in {col.isna().sum()} row(s)"
            )
        problems.extend(_type_problems(attr, col))
    if spec.kind == "vector":
        if not isinstance(frame, gpd.GeoDataFrame):
            return [*problems, "a vector layer needs geometries"]
        if frame.crs is None:
            problems.append("no coordinate reference system")
        geoms = frame.geometry
        if geoms.isna().any() or geoms.is_empty.any():
            problems.append(
                f"{int(geoms.isna().sum() + geoms.is_empty.sum())} feature(s) have no geometry"
            )
        types = set(geoms.dropna().geom_type.unique()) - _GEOM_OK[spec.geometry or "Point"]
        if types:
            problems.append(f"geometry must be {spec.geometry}, found {sorted(types)}")
        invalid = int((~geoms.dropna().is_valid).sum())
        if invalid:
            problems.append(f"{invalid} invalid geometr{'y' if invalid == 1 else 'ies'}")
    return problems
