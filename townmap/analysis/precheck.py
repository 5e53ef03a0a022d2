"""Pre-check of a proposed project: every rule it would trigger, the receiving water and
the discharge standard that would apply — before anyone draws up an application.

The project is checked as a *new* enterprise at the site; when it has wastewater, its
outfall is placed where the shortest line from the site meets the nearest water and is
checked as a new discharge point. The class choice follows GB 8978-1996 as recorded in
``layers/standards/gb8978_class_choice.toml``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from townmap.analysis.conflicts import analysis_crs, find_conflicts, prepare
from townmap.analysis.rules import Rule

PROJECT_ID = "PROPOSED"
OUTFALL_ID = "PROPOSED-OUTFALL"
WATER_LAYERS = ("rivers", "lake")


@dataclass
class Precheck:
    findings: pd.DataFrame
    receiving: dict | None  # nearest water: layer, id, name, class, basin, distance
    standard: dict  # GB 8978 class and why, with notes and verification
    notes: list[str] = field(default_factory=list)


def class_choice_path() -> Path:
    from townmap.settings import layers_dir

    return layers_dir() / "standards" / "gb8978_class_choice.toml"


def load_class_choice(path: Path | None = None) -> dict:
    return tomllib.loads(Path(path or class_choice_path()).read_text(encoding="utf-8"))


def _nearest_water(site, layers, crs) -> tuple[dict | None, shapely.Geometry | None]:
    best = None
    for layer_id in WATER_LAYERS:
        if layer_id not in layers or layers[layer_id].empty:
            continue
        key = "river_id" if layer_id == "rivers" else None
        prep = prepare(layers[layer_id], crs, key)
        valid = np.flatnonzero(~shapely.is_missing(prep.geoms))
        j = valid[int(np.argmin(shapely.distance(site, prep.geoms[valid])))]
        dist = float(shapely.distance(site, prep.geoms[j]))
        if best is None or dist < best[0]["distance_m"]:
            row = prep.frame.iloc[j]
            best = (
                {
                    "layer": layer_id,
                    "id": prep.ids[j],
                    "name_zh": row.get("name_zh"),
                    "name_en": row.get("name_en"),
                    "target_class": row.get("target_class"),
                    "basin": row.get("basin"),
                    "distance_m": round(dist, 1),
                },
                prep.geoms[j],
            )
    return best if best else (None, None)


def _source_zone(site, layers, crs) -> str | None:
    """The strictest drinking-water source zone level the site lies in ("1", "2")."""
    zones = layers.get("water_source_zones")
    if zones is None or zones.empty or "level" not in zones:
        return None
    prep = prepare(zones, crs, None)
    hit = shapely.intersects(site, prep.geoms)
    levels = sorted(str(v) for v in prep.frame["level"].to_numpy()[hit] if pd.notna(v))
    return levels[0] if levels else None


#: a site farther than this from the town is not a site in this town's workspace
MAX_OUTSIDE_M = 5_000


def _check_inside(site, layers, crs) -> None:
    town = layers.get("town")
    if town is None or town.empty:
        return
    dist = float(np.nanmin(shapely.distance(site, prepare(town, crs, None).geoms)))
    if dist > MAX_OUTSIDE_M:
        raise ValueError(
            f"the site is {dist / 1000:,.1f} km outside the town: a pre-check judges sites "
            f"in this workspace's town (within {MAX_OUTSIDE_M / 1000:g} km of it)"
        )


def _standard(sector, receiving, site, layers, crs, choice, in_taihu: bool) -> dict:
    notes: list[dict] = []
    out = {
        "standard_id": choice["standard_id"],
        "class": None,
        "route": None,
        "verification": choice["verification"],
        "notes": notes,
    }
    sewer = layers.get("sewer_trunk")
    if sewer is not None and not sewer.empty:
        # only a trunk that is built is a connection; a planned one is said, not counted
        status = sewer.get("status", pd.Series(None, index=sewer.index)).astype("string")
        built = sewer[status.eq("existing").fillna(False).to_numpy()]
        planned = sewer[status.eq("planned").fillna(False).to_numpy()]
        if not built.empty:
            prep = prepare(built, crs, None)
            dist = float(np.nanmin(shapely.distance(site, prep.geoms)))
            if dist <= choice["sewer_connect_m"]:
                out.update({"class": choice["sewer"]["class"], "route": "sewer"})
                out["sewer_distance_m"] = round(dist, 1)
                notes.append(choice["sewer"]["note"])
        if out["route"] is None and not planned.empty:
            dist = float(np.nanmin(shapely.distance(site, prepare(planned, crs, None).geoms)))
            if dist <= choice["sewer_connect_m"]:
                notes.append(
                    {
                        "zh": f"规划中的污水主干管距 {dist:,.0f} 米：建成前不算接管",
                        "en": f"a planned sewer trunk passes {dist:,.0f} m away: not a "
                        "connection until it is built",
                    }
                )
    zone = _source_zone(site, layers, crs)
    if out["class"] is None and zone is not None:  # the zone's water, not the lake beside it
        target = "II" if zone == "1" else "III"
        by_class = choice["by_receiving_class"].get(target)
        if by_class:
            out.update({"class": by_class["class"], "route": "direct"})
            notes.append(
                {
                    "zh": f"位于饮用水水源{'一' if zone == '1' else '二'}级保护区：按其水域"
                    f"{'Ⅱ' if zone == '1' else 'Ⅲ'}类功能确定",
                    "en": f"inside a level-{zone} drinking-water source zone: its water's "
                    f"class {target} decides",
                }
            )
            notes.append(by_class["note"])
    if out["class"] is None and receiving is not None:
        by_class = choice["by_receiving_class"].get(str(receiving.get("target_class")))
        if by_class:
            out.update({"class": by_class["class"], "route": "direct"})
            notes.append(by_class["note"])
    sectors = _sector_standards()
    own = sectors["sectors"].get(sector)
    if own is not None:  # its own discharge standard applies, not GB 8978
        encoded = "" if own.get("file") else "；限值未收录"
        encoded_en = "" if own.get("file") else "; its limits are not encoded"
        notes.append(
            {
                "zh": f"该行业执行 {own['standard_id']}《{own['title']['zh']}》，不执行 GB 8978"
                + encoded,
                "en": f"this sector follows {own['standard_id']} ({own['title']['en']}), "
                "not GB 8978" + encoded_en,
            }
        )
        out["standard_id"] = own["standard_id"]
        out["verification"] = sectors["verification"]
    if in_taihu:
        notes.append(choice["taihu"]["note"])
    return out


def _sector_standards() -> dict:
    import tomllib

    from townmap.monitoring.standards import standards_dir

    return tomllib.loads((standards_dir() / "sector_standards.toml").read_text("utf-8"))


def precheck(
    layers: Mapping[str, gpd.GeoDataFrame],
    rules: list[Rule] | object,
    site: shapely.Geometry,
    *,
    sector: str,
    size: str,
    flow_m3d: float,
    site_crs: CRS | int | str = 4326,
    context: Mapping[str, float] | None = None,
    keys: Mapping[str, str] | None = None,
    choice: dict | None = None,
) -> Precheck:
    """Check a proposed project at ``site`` (a point or a drawn polygon)."""
    if site is None or shapely.is_empty(site):
        raise ValueError("the proposed site has no geometry")
    if flow_m3d < 0 or not np.isfinite(flow_m3d):
        raise ValueError("the wastewater flow must be a number ≥ 0 (m³/d)")
    choice = choice or load_class_choice()
    crs = analysis_crs(layers.values())
    project = gpd.GeoDataFrame(
        {"ent_id": [PROJECT_ID], "sector": [sector], "size": [size], "wastewater_m3d": [flow_m3d]},
        geometry=[shapely.make_valid(site)],
        crs=site_crs,
    ).to_crs(crs)
    site_m = project.geometry.iloc[0]
    _check_inside(site_m, layers, crs)
    receiving, water = _nearest_water(site_m, layers, crs)
    in_taihu = "taihu_zones" in layers and bool(
        shapely.intersects(site_m, prepare(layers["taihu_zones"], crs, None).geoms).any()
    )
    standard = _standard(sector, receiving, site_m, layers, crs, choice, in_taihu)
    checked = {k: v for k, v in layers.items() if k not in ("enterprises", "discharge_points")}
    checked["enterprises"] = project
    notes = []
    if standard["route"] == "sewer":
        notes.append("the site can connect to the sewer trunk: no new outfall is assumed")
    elif flow_m3d > 0 and water is not None:
        outfall = shapely.shortest_line(site_m, water).coords[-1]
        checked["discharge_points"] = gpd.GeoDataFrame(
            {
                "dp_id": [OUTFALL_ID],
                "source_kind": ["enterprise"],
                "ent_id": [PROJECT_ID],
                "flow_m3d": [flow_m3d],
            },
            geometry=[shapely.Point(outfall)],
            crs=crs,
        )
        notes.append("outfall assumed on the nearest water, where the shortest line meets it")
    result = find_conflicts(
        checked,
        rules,
        status="new",
        context=context,
        keys={**(keys or {}), "enterprises": "ent_id", "discharge_points": "dp_id"},
        crs=crs,
    )
    found = result.findings
    ours = found["feature_id"].isin([PROJECT_ID, OUTFALL_ID]) & found["layer"].isin(
        ["enterprises", "discharge_points"]
    )
    skipped = list(result.skipped)
    if "discharge_points" not in checked:  # no outfall: its rules have nothing to check
        skipped = [n for n in skipped if "no layer discharge_points" not in n]
    return Precheck(found[ours].reset_index(drop=True), receiving, standard, notes + skipped)
