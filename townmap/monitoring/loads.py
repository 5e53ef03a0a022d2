"""Annual pollutant loads (COD, NH3-N, TP, TN) by catchment, village and sector, against
each catchment's total-load cap, and what a shared-treatment scenario would change.

Loads come from what enterprises report (``cod_tpa`` …) or from their effluent samples
(mean concentration of the year × outfall flow × 365). Enterprises on the town sewer do
not discharge themselves: their load reaches the water through the sewage plant, whose own
effluent samples give its load (counting both would count the same water twice). A load is
booked where the water goes: at the enterprise's outfalls (split by their flows), so in
the outfall's catchment, not the factory's; an enterprise without an outfall stays at its
location, and says so (``booked_at``). Every row says where its number came from.
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
        given = ents.get(col, pd.Series(np.nan, index=ents.index))  # a column may be absent
        out[name] = pd.to_numeric(given, errors="coerce").fillna(0.0)
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
    frame = _at_outfalls(frame, dps)
    if measured is not None:  # a measured outfall carries its own load, not a flow share
        at = frame["dp_id"].isin(measured.index).to_numpy() & (frame["source"] == "measured")
        for name in PARAMETERS:
            if name in measured:
                got = measured[name].reindex(frame.loc[at, "dp_id"]).to_numpy()
                frame.loc[at, name] = np.where(np.isnan(got), frame.loc[at, name], got)
    plants = _plant_rows(layers, samples, dps, year)
    if len(plants):
        frame = pd.concat([frame, plants.to_crs(frame.crs)], ignore_index=True)
    frame = gpd.GeoDataFrame(frame, geometry="geometry", crs=ents.crs)
    frame["catchment_id"] = _catchment(frame, catchments).to_numpy()
    return frame


def _at_outfalls(frame: gpd.GeoDataFrame, dps: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """Enterprise rows moved to their outfalls: one row per outfall with the load split by
    the outfalls' flows (equally when no flow is given); without an outfall, the row
    stays at the enterprise (``booked_at = location``)."""
    frame = frame.assign(booked_at="location", dp_id=None)
    if dps is None or dps.empty or "ent_id" not in dps:
        return frame
    outs = dps[dps["source_kind"] == "enterprise"][["dp_id", "ent_id", "flow_m3d", "geometry"]]
    outs = outs.to_crs(frame.crs).dropna(subset=["ent_id"])
    outs = outs.assign(ent_id=outs["ent_id"].astype(str))
    flow = pd.to_numeric(outs["flow_m3d"], errors="coerce").clip(lower=0).fillna(0.0)
    total = flow.groupby(outs["ent_id"]).transform("sum")
    count = outs.groupby("ent_id")["dp_id"].transform("size")
    outs = outs.assign(share=np.where(total > 0, flow / total.where(total > 0), 1 / count))
    has = frame["id"].isin(outs["ent_id"]).to_numpy() & (frame["kind"] == "enterprise").to_numpy()
    moved = (
        frame[has]
        .drop(columns=["geometry", "dp_id"])
        .merge(outs.rename(columns={"ent_id": "id"})[["id", "dp_id", "share", "geometry"]], on="id")
    )
    for name in PARAMETERS:
        moved[name] = moved[name] * moved["share"]
    moved = gpd.GeoDataFrame(
        moved.drop(columns="share").assign(booked_at="outfall"), geometry="geometry", crs=frame.crs
    )
    return gpd.GeoDataFrame(pd.concat([frame[~has], moved], ignore_index=True), crs=frame.crs)


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
    geo["booked_at"] = "outfall"
    geo["dp_id"] = plant_dps["dp_id"].to_numpy()
    return geo


def totals(loads: pd.DataFrame, by: str) -> pd.DataFrame:
    """t/a per value of ``by`` (catchment_id, village_id or sector), largest COD first."""
    keyed = loads.assign(**{by: loads[by].fillna("—")})
    out = keyed.groupby(by, as_index=False).agg(
        sources=("id", "nunique"), **{p: (p, "sum") for p in PARAMETERS}
    )
    return out.sort_values("COD", ascending=False).reset_index(drop=True)


def caps_for_year(caps: pd.DataFrame | None, year: int | None) -> pd.DataFrame | None:
    """The caps that hold in ``year``: a cap is set for a year, and a catchment capped for
    2023 and 2025 has two. Without a year, each catchment's latest cap (its year shown)."""
    if caps is None or caps.empty or "year" not in caps:
        return caps
    years = pd.to_numeric(caps["year"], errors="coerce")
    if year is not None:
        return caps[years == year]
    latest = (
        caps.assign(_y=years)
        .sort_values("_y")
        .drop_duplicates(["catchment_id", "parameter"], keep="last")
    )
    return latest.drop(columns="_y")


def against_caps(
    loads: pd.DataFrame, caps: pd.DataFrame | None, year: int | None = None
) -> pd.DataFrame:
    """Per catchment and parameter: load, cap, gap (load − cap; > 0 means over the cap),
    use of the cap, with the cap's year, basis and verification — the cap of ``year`` (or
    each catchment's latest when None: caps are matched by their year, never summed or
    duplicated across years). Catchments without a cap are listed as such, never as
    within it."""
    caps = caps_for_year(caps, year)
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
    before = after.loc[connected].groupby("id")[list(PARAMETERS)].sum()  # all its outfalls
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


def scenario_effect(
    before: pd.DataFrame, after: pd.DataFrame, caps: pd.DataFrame | None, year: int | None = None
):
    """Per catchment and parameter: load and gap before and after, and the change."""
    cols = ["catchment_id", "parameter", "load_tpa", "gap_tpa", "status"]
    a = against_caps(before, caps, year)[[*cols, "cap_tpa"]]
    b = against_caps(after, caps, year)[cols]
    out = a.merge(b, on=["catchment_id", "parameter"], how="outer", suffixes=("", "_after"))
    out["change_tpa"] = out["load_tpa_after"].fillna(0) - out["load_tpa"].fillna(0)
    return out.sort_values(["parameter", "change_tpa"]).reset_index(drop=True)
