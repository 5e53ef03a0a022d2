"""The copies an import keeps so it can be undone (``townmap_prev_<layer>_<n>``), named in
the import log. Dropping one is shared by the importer (older than the undo depth) and by
deleting an own layer (its imports can no longer be undone); this module imports neither."""

from __future__ import annotations

import pandas as pd


def drop_undo_copy(tx, log: pd.DataFrame, row, status: str) -> None:
    """Delete the copy log row ``row`` names (raster or table) and mark the row ``status``
    ("expired", "layer deleted"): it can no longer be undone."""
    name = log.at[row, "previous"] if "previous" in log.columns else ""
    if isinstance(name, str) and name and name != "nan":
        if tx.has_raster(name):
            tx.delete_raster(name)
        elif tx.has_table(name):
            tx.delete_layer(name)
        log.at[row, "previous"] = ""
    log.at[row, "undone"] = status
