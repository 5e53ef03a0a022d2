"""Named shared-treatment scenarios kept in the workspace.

A scenario is one row of ``siting_scenarios`` (its parameters and results as JSON, with
the headline numbers as columns) plus its rows in ``scenario_plants``, ``scenario_sewers``
and ``scenario_areas`` (tagged with the scenario's name). Saving under an existing name
replaces it; everything is one workspace transaction.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import geopandas as gpd
import pandas as pd

from townmap.analysis.siting import SitingResult
from townmap.errors import UploadError
from townmap.store import Workspace

TABLE = "siting_scenarios"
LAYERS = {"plants": "scenario_plants", "sewers": "scenario_sewers", "areas": "scenario_areas"}
MAX_NAME = 60


def _clean(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise UploadError("give the scenario a name")
    if len(name) > MAX_NAME:
        raise UploadError(f"a scenario name has at most {MAX_NAME} characters")
    return name


def list_scenarios(reader) -> pd.DataFrame:
    return reader.read_table(TABLE) if reader.has_table(TABLE) else pd.DataFrame()


def _without(reader, layer: str, name: str) -> gpd.GeoDataFrame | None:
    if not reader.has_layer(layer):
        return None
    frame = reader.read_layer(layer)
    return frame[frame["scenario"] != name]


def save_scenario(ws: Workspace, name: str, result: SitingResult, params: dict) -> dict:
    """Store a siting result under ``name`` (replacing a scenario of that name), by
    ``ws.actor``: a consultant saves the scenarios they ran ('analyse')."""
    name = _clean(name)
    s = result.summary
    row = {
        "scenario": name,
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "k": s["k"],
        "status": s["status"],
        "total_cost_cny": s["total_cost_cny"],
        "sewer_length_m": s["sewer_length_m"],
        "factories_connected": s["factories_connected"],
        **{
            f"removed_{k.lower().replace('-', '')}_tpa": v for k, v in s["load_removed_tpa"].items()
        },
        "params": json.dumps(params, ensure_ascii=False),
        "summary": json.dumps(s, ensure_ascii=False, default=str),
    }
    frames = {
        "plants": result.plants,
        "sewers": result.sewers,
        "areas": result.service_areas,
    }
    with ws.transaction("analyse") as tx:  # other scenarios are read under the lock
        table = list_scenarios(tx)
        if len(table):
            table = table[table["scenario"] != name]
        table = pd.concat([table, pd.DataFrame([row])], ignore_index=True)
        for key, layer in LAYERS.items():
            new = frames[key].assign(scenario=name)
            old = _without(tx, layer, name)
            merged = new if old is None or old.empty else pd.concat([old, new], ignore_index=True)
            tx.write_layer(
                layer,
                gpd.GeoDataFrame(merged, geometry="geometry", crs=new.crs),
                source=f"scenario {name}",
            )
        tx.write_table(TABLE, table, description="shared-treatment scenarios")
    return row


def load_scenario(ws: Workspace, name: str) -> dict:
    table = list_scenarios(ws)
    if table.empty or name not in set(table["scenario"]):
        raise UploadError(f"there is no scenario named {name!r}")
    out = {"summary": json.loads(table.loc[table["scenario"] == name, "summary"].iloc[0])}
    for key, layer in LAYERS.items():
        frame = ws.read_layer(layer) if ws.has_layer(layer) else None
        out[key] = frame[frame["scenario"] == name] if frame is not None else None
    return out


def delete_scenario(ws: Workspace, name: str) -> None:
    with ws.transaction("edit") as tx:
        table = list_scenarios(tx)
        if table.empty or name not in set(table["scenario"]):
            raise UploadError(f"there is no scenario named {name!r}")
        for layer in LAYERS.values():
            rest = _without(tx, layer, name)
            if rest is not None:
                tx.write_layer(layer, rest, source="scenarios")
        tx.write_table(
            TABLE, table[table["scenario"] != name], description="shared-treatment scenarios"
        )
