"""Annual pollutant loads (COD, NH3-N, TP, TN) by catchment, village and sector, against
each catchment's total-load cap, and what a shared-treatment scenario would change.

Loads come from what enterprises report (``cod_tpa`` …) or from their effluent samples
(mean concentration of the year × outfall flow × 365). Enterprises on the town sewer do
not discharge themselves: their load reaches the water through the sewage plant, whose own
effluent samples give its load (counting both would count the same water twice). Every
row says where its number came from.
"""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd

from townmap.monitoring.quality import normalise, parse_values

PARAMETERS = {"COD": "cod_tpa", "NH3-N": "nh3n_tpa", "TP": "tp_tpa", "TN": "tn_tpa"}
CAPS = "load_caps"
ON_SEWER = ("sewer",)
T_PER_A = 365 / 1e6  # (mg/L × m³/d) → t/a


def _catchment(points: gpd.GeoDataFrame, catchments: gpd.GeoDataFrame | None) -> pd.Series:
    if catchments is None or catchments.empty or points.empty:
        return pd.Series(None, index=points.index, dtype="string")
    hit = gpd.sjoin(
        points[["geometry"]],
        catchments[["catchment_id", "geometry"]].to_crs(points.crs),
        predicate="intersects",
    )
    return hit.groupby(level=0)["catchment_id"].first().reindex(points.index).astype("string")


def _measured(samples: pd.DataFrame, dps: pd.DataFrame, year: int | None) -> pd.DataFrame:
    """t/a per discharge point from the mean concentration (of ``year``) × its flow."""
    values, _ = parse_values(
        samples["value"], samples.get("detection_limit"), samples.get("qualifier")
    )
    frame = normalise(samples.assign(value=values))
    frame = frame[frame["parameter"].isin(PARAMETERS)]
    if year is not None:
        frame = frame[pd.to_datetime(frame["sampled_at"]).dt.year == year]
    conc = frame.pivot_table(index="dp_id", columns="parameter", values="value", aggfunc="mean")
    flow = dps.set_index("dp_id")["flow_m3d"].astype(float)
    return conc.mul(flow.reindex(conc.index), axis=0) * T_PER_A


def source_loads(
    layers: Mapping[str, gpd.GeoDataFrame],
    samples: pd.DataFrame | None = None,
    *,
    method: str = "reported",
    year: int | None = None,
) -> gpd.GeoDataFrame:
    """One row per source (enterprise or plant): kind, id, village, sector, catchment,
    loads in t/a, ``source`` (reported | measured | via_plant | no_data)."""
    if method not in ("reported", "measured"):
        raise ValueError("method is 'reported' or 'measured'")
    ents = layers["enterprises"]
    catchments = layers.get("catchments")
    out = pd.DataFrame(
        {
            "kind": "enterprise",
            "id": ents["ent_id"].astype(str).to_numpy(),
            "village_id": ents.get("village_id"),
            "sector": ents.get("sector"),
            "treatment": ents.get("treatment"),
        },
        index=ents.index,
    )
    for name, col in PARAMETERS.items():
        out[name] = pd.to_numeric(ents.get(col), errors="coerce").fillna(0.0)
    out["source"] = "reported"
    dps = layers.get("discharge_points")
    measured = None
    if method == "measured" and dps is not None and samples is not None and len(samples):
        measured = _measured(samples, dps, year)
        by_ent = dps[dps["source_kind"] == "enterprise"][["dp_id", "ent_id"]]
        per_ent = measured.join(by_ent.set_index("dp_id")).groupby("ent_id").sum(min_count=1)
        has = out["id"].isin(per_ent.index).to_numpy()
        for name in PARAMETERS:
            if name in per_ent:
                got = per_ent[name].reindex(out["id"]).to_numpy()
                out[name] = np.where(has & ~np.isnan(got), got, out[name])
        out.loc[has, "source"] = "measured"
    sewer = out["treatment"].isin(ON_SEWER).to_numpy()
    out.loc[sewer, list(PARAMETERS)] = 0.0
    out.loc[sewer, "source"] = "via_plant"
    frame = gpd.GeoDataFrame(out, geometry=ents.geometry.to_numpy(), crs=ents.crs)
    plants = _plant_rows(layers, samples, dps, year)
    if len(plants):
        frame = pd.concat([frame, plants.to_crs(frame.crs)], ignore_index=True)
    frame = gpd.GeoDataFrame(frame, geometry="geometry", crs=ents.crs)
    frame["catchment_id"] = _catchment(frame, catchments).to_numpy()
    return frame


def _plant_rows(layers, samples, dps, year) -> gpd.GeoDataFrame:
    if dps is None or samples is None or not len(samples):
        return gpd.GeoDataFrame()
    plant_dps = dps[dps["source_kind"] == "plant"]
    if plant_dps.empty:
        return gpd.GeoDataFrame()
    measured = _measured(samples, plant_dps, year).reindex(plant_dps["dp_id"])
    rows = pd.DataFrame({"kind": "plant", "id": plant_dps["plant_id"].astype(str).to_numpy()})
    for name in PARAMETERS:
        col = measured[name] if name in measured else pd.Series(np.nan, index=measured.index)
        rows[name] = col.fillna(0.0).to_numpy()
    rows["source"] = np.where(measured.notna().any(axis=1).to_numpy(), "measured", "no_data")
    villages = layers.get("villages")
    geo = gpd.GeoDataFrame(rows, geometry=plant_dps.geometry.to_numpy(), crs=plant_dps.crs)
    if villages is not None and not villages.empty and "village_id" in villages:
        hit = gpd.sjoin(geo[["geometry"]], villages[["village_id", "geometry"]].to_crs(geo.crs))
        geo["village_id"] = hit.groupby(level=0)["village_id"].first().reindex(geo.index)
    geo["sector"] = "sewage_plant"
    return geo


def totals(loads: pd.DataFrame, by: str) -> pd.DataFrame:
    """t/a per value of ``by`` (catchment_id, village_id or sector), largest COD first."""
    keyed = loads.assign(**{by: loads[by].fillna("—")})
    out = keyed.groupby(by, as_index=False).agg(
        sources=("id", "size"), **{p: (p, "sum") for p in PARAMETERS}
    )
    return out.sort_values("COD", ascending=False).reset_index(drop=True)


def against_caps(loads: pd.DataFrame, caps: pd.DataFrame | None) -> pd.DataFrame:
    """Per catchment and parameter: load, cap, gap (load − cap; > 0 means over the cap),
    use of the cap, with the cap's year, basis and verification. Catchments without a cap
    are listed as such, never as within it."""
    by = totals(loads, "catchment_id").melt(
        id_vars=["catchment_id"],
        value_vars=list(PARAMETERS),
        var_name="parameter",
        value_name="load_tpa",
    )
    if caps is None or caps.empty:
        caps = pd.DataFrame(columns=["catchment_id", "parameter", "cap_tpa"])
    caps = caps.assign(parameter=normalise(caps[["parameter"]].assign(value=0.0))["parameter"])
    out = by.merge(caps, on=["catchment_id", "parameter"], how="left")
    cap = pd.to_numeric(out["cap_tpa"], errors="coerce")
    out["gap_tpa"] = out["load_tpa"] - cap
    out["use"] = out["load_tpa"] / cap.where(cap > 0)
    out["status"] = np.select([cap.isna(), out["gap_tpa"] > 0], ["no_cap", "over"], "within")
    rank = out["status"].map({"over": 0, "within": 1, "no_cap": 2})
    out = out.assign(_rank=rank).sort_values(["_rank", "gap_tpa"], ascending=[True, False])
    return out.drop(columns="_rank").reset_index(drop=True)


def scenario_loads(
    loads: gpd.GeoDataFrame,
    sewers: pd.DataFrame,
    plants: gpd.GeoDataFrame,
    effluent: Mapping[str, float],
    catchments: gpd.GeoDataFrame | None,
) -> gpd.GeoDataFrame:
    """Loads after a shared-treatment scenario: each connected factory stops discharging
    and its flow leaves the shared plant at the effluent standard (never more than it
    carried before), in the catchment where the plant stands."""
    after = loads.copy()
    link = sewers[["ent_id", "plant", "flow_m3d"]].copy()
    is_ent = (after["kind"] == "enterprise").to_numpy()
    connected = is_ent & after["id"].isin(link["ent_id"]).to_numpy()
    before = after.loc[connected].set_index("id")
    rows = []
    for plant_id, group in link.groupby("plant"):
        row = {
            "kind": "scenario_plant",
            "id": str(plant_id),
            "source": "scenario",
            "sector": "shared_plant",
            "treatment": "shared",
        }
        for name in PARAMETERS:
            now = before[name].reindex(group["ent_id"]).fillna(0.0).to_numpy()
            at_standard = group["flow_m3d"].to_numpy(dtype=float) * effluent.get(name, np.inf)
            row[name] = float(np.minimum(now, at_standard * T_PER_A).sum())
        site = plants.loc[plants["site_id"] == plant_id].geometry
        row["geometry"] = site.iloc[0] if len(site) else None
        rows.append(row)
    after.loc[connected, list(PARAMETERS)] = 0.0
    after.loc[connected, "source"] = "to_shared_plant"
    if rows:
        new = gpd.GeoDataFrame(rows, geometry="geometry", crs=plants.crs).to_crs(after.crs)
        new["catchment_id"] = _catchment(new, catchments).to_numpy()
        after = gpd.GeoDataFrame(pd.concat([after, new], ignore_index=True), crs=loads.crs)
    return after


def scenario_effect(before: pd.DataFrame, after: pd.DataFrame, caps: pd.DataFrame | None):
    """Per catchment and parameter: load and gap before and after, and the change."""
    cols = ["catchment_id", "parameter", "load_tpa", "gap_tpa", "status"]
    a = against_caps(before, caps)[[*cols, "cap_tpa"]]
    b = against_caps(after, caps)[cols]
    out = a.merge(b, on=["catchment_id", "parameter"], how="outer", suffixes=("", "_after"))
    out["change_tpa"] = out["load_tpa_after"].fillna(0) - out["load_tpa"].fillna(0)
    return out.sort_values(["parameter", "change_tpa"]).reset_index(drop=True)
