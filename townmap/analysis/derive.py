"""Analyses run on a workspace and written back as layers (catchments from the DEM)."""

from __future__ import annotations

import rasterio

from townmap.analysis.hydrology import Drainage, drainage, summarise_catchments
from townmap.errors import WorkspaceError
from townmap.workspace import Workspace

LOADS = ("cod_tpa", "nh3n_tpa", "tp_tpa", "tn_tpa")
DEM = "dem"


def workspace_drainage(ws: Workspace) -> Drainage:
    """Flow over the workspace DEM, with its rivers burnt in and its lake masked."""
    if DEM not in ws.layer_names():
        raise WorkspaceError(
            "the workspace has no DEM: import one (townmap import FILE --layer dem)"
        )
    with rasterio.open(ws.raster_path(DEM)) as src:
        dem, transform, crs, nodata = src.read(1), src.transform, src.crs, src.nodata
    rivers = ws.read_layer("rivers") if ws.has_layer("rivers") else None
    lake = ws.read_layer("lake") if ws.has_layer("lake") else None
    return drainage(dem, transform, crs, nodata=nodata, rivers=rivers, lake=lake)


def derive_catchments(ws: Workspace, min_area_km2: float = 0.5, *, fictional: bool | None = None):
    """Compute catchments with their TVE counts and loads and store them as ``catchments``."""
    flow = workspace_drainage(ws)
    tve = ws.read_layer("enterprises") if ws.has_layer("enterprises") else None
    frame = summarise_catchments(flow.catchments(min_area_km2), tve, LOADS)
    with ws.transaction() as tx:
        tx.write_layer(
            "catchments",
            frame,
            fictional=ws.is_fictional if fictional is None else fictional,
            source=f"derived from the DEM by townmap (min area {min_area_km2:g} km²)",
        )
    return frame
