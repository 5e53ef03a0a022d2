"""Planning zones checked against environmental constraints, by a compatibility matrix.

The matrix (``layers/zoning/compatibility.toml``) says, per land-use class and
constraint, whether overlap is allowed, prohibited or needs review, with its basis and
verification status. For every zone and constraint we measure the overlap (m² and % of
the zone; for "outside" constraints the part outside), give the verdict, and the village
the zone mostly lies in. Constraint features are dissolved first so overlapping
constraint polygons are not counted twice; the parts of the dissolved shape are disjoint,
so summing pairwise intersections over an STRtree is exact and vectorised.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pydantic import Field, model_validator

from townmap.analysis.conflicts import analysis_crs, condition_mask, prepare
from townmap.analysis.rules import Conditions, Verification
from townmap.catalog import Label, Strict, read_model_file
from townmap.errors import CatalogError

Verdict = Literal["allowed", "prohibited", "review"]
ZONE_LAYER = "planning_zones"
MIN_OVERLAP_M2 = 1.0


class ZoneConstraint(Strict):
    layer: str  # a catalog layer, or own:ID for one of the workspace's own layers
    where: Conditions = Field(default_factory=dict)
    mode: Literal["inside", "outside"] = "inside"
    label: Label

    @model_validator(mode="before")
    @classmethod
    def _own_prefix(cls, data):
        if isinstance(data, dict) and str(data.get("layer", "")).startswith("own:"):
            data = {**data, "layer": data["layer"][4:]}
        return data


class Cell(Strict):
    constraint: str
    land_use: list[str]
    verdict: Verdict
    verification: Verification
    basis: str


class Matrix(Strict):
    constraints: dict[str, ZoneConstraint]
    cells: list[Cell]

    def verdict(self, land_use: str, constraint: str) -> Cell | None:
        for cell in self.cells:
            if cell.constraint == constraint and land_use in cell.land_use:
                return cell
        return None


def matrix_path() -> Path:
    from townmap.settings import layers_dir

    return layers_dir() / "zoning" / "compatibility.toml"


def load_matrix(path: Path | None = None) -> Matrix:
    path = Path(path) if path is not None else matrix_path()
    matrix = read_model_file(path, Matrix, id_is_name=False)
    unknown = sorted({c.constraint for c in matrix.cells} - set(matrix.constraints))
    if unknown:
        raise CatalogError(f"{path.name}: key 'cells.constraint': unknown constraint {unknown}")
    return matrix


def _shared_area(zones: np.ndarray, shape) -> np.ndarray:
    """Area of each zone inside ``shape`` (a dissolved geometry), vectorised."""
    parts = shapely.get_parts(shape)
    out = np.zeros(len(zones))
    if len(parts) == 0:
        return out
    i, j = shapely.STRtree(parts).query(zones, predicate="intersects")
    if len(i):
        np.add.at(out, i, shapely.area(shapely.intersection(zones[i], parts[j])))
    return out


def _villages(zones: np.ndarray, villages: gpd.GeoDataFrame | None, crs) -> np.ndarray:
    if villages is None or villages.empty:
        return np.full(len(zones), None, dtype=object)
    vil = prepare(villages, crs, "village_id")
    i, j = shapely.STRtree(vil.geoms).query(zones, predicate="intersects")
    best = np.full(len(zones), None, dtype=object)
    if len(i):
        area = shapely.area(shapely.intersection(zones[i], vil.geoms[j]))
        pairs = pd.DataFrame({"i": i, "j": j, "a": area}).sort_values("a", ascending=False)
        top = pairs.drop_duplicates("i")
        best[top["i"].to_numpy()] = vil.ids[top["j"].to_numpy()]
    return best


def check_zones(
    layers: Mapping[str, gpd.GeoDataFrame],
    matrix: Matrix,
    *,
    key: str = "zone_id",
    context: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """One row per planning zone and constraint it overlaps (or lies outside of)."""
    columns = [
        "zone_id",
        "land_use",
        "village_id",
        "constraint",
        "constraint_zh",
        "constraint_en",
        "overlap_m2",
        "overlap_pct",
        "verdict",
        "verification",
        "basis",
    ]
    if ZONE_LAYER not in layers or layers[ZONE_LAYER].empty:
        return pd.DataFrame(columns=columns)
    crs = analysis_crs(layers.values())
    zones = prepare(layers[ZONE_LAYER], crs, key)
    geoms = zones.geoms
    area = shapely.area(geoms)
    land_use = (
        zones.frame["land_use"].astype(str).to_numpy()
        if "land_use" in zones.frame.columns
        else np.full(len(geoms), "")
    )
    village = _villages(geoms, layers.get("villages"), crs)
    rows = []
    for name, con in matrix.constraints.items():
        if con.layer not in layers:
            continue
        prep = prepare(layers[con.layer], crs, None)
        mask, _ = condition_mask(prep.frame, con.where, context or {}, missing_ok=False)
        picked = prep.geoms[mask & ~shapely.is_missing(prep.geoms)]
        dissolved = shapely.union_all(picked) if len(picked) else shapely.Polygon()
        inside = _shared_area(geoms, dissolved)
        measured = area - inside if con.mode == "outside" else inside
        hit = np.flatnonzero(measured >= MIN_OVERLAP_M2)
        cells = {lu: c for c in matrix.cells if c.constraint == name for lu in c.land_use}
        uses = pd.Series(land_use[hit])
        rows.append(
            pd.DataFrame(
                {
                    "zone_id": zones.ids[hit],
                    "land_use": land_use[hit],
                    "village_id": village[hit],
                    "constraint": name,
                    "constraint_zh": con.label.zh,
                    "constraint_en": con.label.en,
                    "overlap_m2": measured[hit].round(1),
                    "overlap_pct": (100 * measured[hit] / np.maximum(area[hit], 1e-9)).round(2),
                    "verdict": uses.map(lambda u, c=cells: c[u].verdict if u in c else "allowed"),
                    "verification": uses.map(
                        lambda u, c=cells: c[u].verification if u in c else "verified"
                    ),
                    "basis": uses.map(
                        lambda u, c=cells: c[u].basis if u in c else "not restricted by the matrix"
                    ),
                }
            )
        )
    if not rows:
        return pd.DataFrame(columns=columns)
    return pd.concat(rows, ignore_index=True)[columns]


def summarise(checks: pd.DataFrame, by: str) -> pd.DataFrame:
    """Zones and area with each verdict, per village or per land-use class."""
    if checks.empty:
        return pd.DataFrame(columns=[by])
    table = checks.pivot_table(
        index=by,
        columns="verdict",
        values="overlap_m2",
        aggfunc=["count", "sum"],
        fill_value=0,
    )
    table.columns = [
        f"{v}_{'zones' if agg == 'count' else 'ha'}" for agg, v in table.columns.to_list()
    ]
    for col in [c for c in table.columns if c.endswith("_ha")]:
        table[col] = (table[col] / 10_000).round(2)
    return table.reset_index()
