"""Analyses run on a workspace and written back as layers (catchments from the DEM)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import rasterio
import rasterio.transform

from townmap.analysis.hydrology import Drainage, drainage, summarise_catchments
from townmap.errors import WorkspaceError
from townmap.store import Workspace

LOADS = ("cod_tpa", "nh3n_tpa", "tp_tpa", "tn_tpa")
DEM = "dem"
OUTLETS = "enterprise_outlets"


def workspace_drainage(reader) -> Drainage:
    """Flow over the workspace DEM, with its rivers burnt in and its lake masked."""
    if DEM not in reader.layer_names():
        raise WorkspaceError(
            "the workspace has no DEM: import one (townmap import FILE --layer dem)"
        )
    with rasterio.open(reader.raster_path(DEM)) as src:
        dem, transform, crs, nodata = src.read(1), src.transform, src.crs, src.nodata
    rivers = reader.read_layer("rivers") if reader.has_layer("rivers") else None
    lake = reader.read_layer("lake") if reader.has_layer("lake") else None
    return drainage(dem, transform, crs, nodata=nodata, rivers=rivers, lake=lake)


def factory_outlets(flow: Drainage, tve) -> pd.DataFrame | None:
    """For every enterprise: the outlet its runoff reaches, and whether that is Lake Tai,
    the Yangtze or somewhere outside the DEM."""
    if tve is None or tve.empty or "ent_id" not in tve.columns:
        return None
    pts = tve.to_crs(flow.crs)
    outlet = flow.outlet_of(pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy())
    ok = outlet >= 0
    rows, cols = np.divmod(np.where(ok, outlet, 0), flow.shape[1])
    xs, ys = rasterio.transform.xy(flow.transform, rows, cols)
    return pd.DataFrame(
        {
            "ent_id": tve["ent_id"].astype(str).to_numpy(),
            "drains_to": np.where(ok, flow.drains_to(outlet), "off_dem"),
            "outlet_x": np.where(ok, np.round(xs, 1), np.nan),
            "outlet_y": np.where(ok, np.round(ys, 1), np.nan),
        }
    )


def _loads_where_the_water_goes(tx, frame, tve):
    """The catchments' loads as the Loads page books them (``monitoring.loads``): at the
    outfalls, sewered firms through the plant's outfall. Summing the factories inside
    each catchment counted sewered loads twice (C004: 6,446.6 t/a on the map, 2,331.8 on
    the page) and put outfalls' loads in the wrong catchment."""
    from townmap.monitoring.loads import PARAMETERS, source_loads, totals

    if tve is None or tve.empty or frame.empty:
        return frame
    layers = {"enterprises": tve, "catchments": frame}
    for name in ("discharge_points", "villages"):
        if tx.has_layer(name):
            layers[name] = tx.read_layer(name)
    effluent = tx.read_table("effluent_samples") if tx.has_table("effluent_samples") else None
    by = totals(source_loads(layers, effluent), "catchment_id").set_index("catchment_id")
    for name, column in PARAMETERS.items():
        frame[column] = by[name].reindex(frame["catchment_id"]).fillna(0.0).round(3).to_numpy()
    return frame


def derive_catchments(ws: Workspace, min_area_km2: float = 0.5, *, fictional: bool | None = None):
    """Compute catchments with their TVE counts and loads and store them as ``catchments``."""
    fictional = ws.is_fictional if fictional is None else fictional
    with ws.transaction("analyse") as tx:  # derived from what is there under the lock
        flow = workspace_drainage(tx)
        tve = tx.read_layer("enterprises") if tx.has_layer("enterprises") else None
        frame = summarise_catchments(flow.catchments(min_area_km2), tve, LOADS)
        frame = _loads_where_the_water_goes(tx, frame, tve)
        outlets = factory_outlets(flow, tve)
        if outlets is not None:
            tx.write_table(
                OUTLETS,
                outlets,
                fictional=fictional,
                source="derived from the DEM by townmap: where each enterprise's runoff leaves it",
            )
        tx.write_layer(
            "catchments",
            frame,
            fictional=fictional,
            source=f"derived from the DEM by townmap (min area {min_area_km2:g} km²)",
        )
    return frame
