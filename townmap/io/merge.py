"""How an import meets what a layer already holds: replace, append or update by key.

Importing 95 districts must not silently replace a town's 12 villages, so a layer that
holds features needs a mode: ``replace`` (the file becomes the layer), ``append`` (the
file's rows are added; a key already in the layer is refused) or ``update`` (rows whose
key is in the layer take the file's values for the attributes the file gives; rows with
new keys are added). The same function runs for the dry run and, under the lock, for
the commit, so both give the same verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import pandas as pd

from townmap.errors import UploadError

MODES = ("replace", "append", "update")


@dataclass(frozen=True)
class MergeResult:
    frame: pd.DataFrame
    added: int
    updated: int
    kept: int
    replaced: int

    def counts(self) -> dict[str, int]:
        return {
            "added": self.added,
            "updated": self.updated,
            "kept": self.kept,
            "replaced": self.replaced,
        }

    def describe(self, mode: str) -> str:
        if mode == "replace":
            return f"replaces the layer's {self.replaced} feature(s) with {self.added}"
        if mode == "append":
            return f"adds {self.added} feature(s) to the {self.kept} already there"
        return (
            f"updates {self.updated} feature(s), adds {self.added}, keeps {self.kept} as they are"
        )


def check_mode(mode: str | None, existing: int, layer_id: str) -> list[str]:
    """Why the import cannot go ahead as asked (empty when it can)."""
    if mode is not None and mode not in MODES:
        return [f"unknown mode {mode!r}: choose {', '.join(MODES)}"]
    if mode is None and existing:
        return [
            f"{layer_id!r} already holds {existing} feature(s): say whether the file "
            "replaces them, is appended to them or updates them by key "
            "(--mode replace|append|update)"
        ]
    return []


def merge(
    existing: pd.DataFrame | None,
    new: pd.DataFrame,
    mode: str | None,
    key: str | None,
    given: set[str],
) -> MergeResult:
    """The layer as it will be after the import. ``given`` are the attributes the file
    (or a fixed value) supplies: an update changes only those."""
    if existing is None or len(existing) == 0 or mode in (None, "replace"):
        replaced = 0 if existing is None else len(existing)
        return MergeResult(new, len(new), 0, 0, replaced)
    if key is None:
        if mode == "update":
            raise UploadError("this layer has no key, so it cannot be updated by key: append")
        return MergeResult(_concat(existing, new), len(new), 0, len(existing), 0)
    old_keys = existing[key].astype(str)
    new_keys = new[key].astype(str)
    clash = new_keys.isin(set(old_keys))
    if mode == "append":
        if clash.any():
            shown = ", ".join(new_keys[clash].head(10))
            raise UploadError(
                f"{int(clash.sum())} key(s) of the file are already in the layer ({shown}"
                f"{' …' if clash.sum() > 10 else ''}): use --mode update to change them"
            )
        return MergeResult(_concat(existing, new), len(new), 0, len(existing), 0)
    updated = existing.copy()
    position = pd.Series(range(len(existing)), index=old_keys.to_numpy())
    rows = position[new_keys[clash].to_numpy()].to_numpy()
    columns = [c for c in new.columns if c in given or _is_geometry(new, c)]
    for col in columns:
        target = updated.columns.get_loc(col) if col in updated.columns else None
        if target is None:
            updated[col] = pd.NA
            target = updated.columns.get_loc(col)
        updated.iloc[rows, target] = new.loc[clash.to_numpy(), col].to_numpy()
    added = new[~clash.to_numpy()]
    out = _concat(updated, added)
    return MergeResult(out, len(added), int(clash.sum()), len(existing) - int(clash.sum()), 0)


def _is_geometry(frame: pd.DataFrame, col: str) -> bool:
    return isinstance(frame, gpd.GeoDataFrame) and col == frame.geometry.name


def _concat(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    if isinstance(a, gpd.GeoDataFrame):
        b = b.to_crs(a.crs) if isinstance(b, gpd.GeoDataFrame) and b.crs != a.crs else b
        b = b.rename_geometry(a.geometry.name) if b.geometry.name != a.geometry.name else b
        out = pd.concat([a, b], ignore_index=True)
        return _integers_kept(gpd.GeoDataFrame(out, geometry=a.geometry.name, crs=a.crs), a)
    return _integers_kept(pd.concat([a, b], ignore_index=True), a)


def _integers_kept(out: pd.DataFrame, before: pd.DataFrame) -> pd.DataFrame:
    """Whole numbers stay whole: appending rows with gaps made an integer column (人口
    5990) a float one (5990.0), and the stored field Real. Nullable integers keep them."""
    for col in before.columns:
        was = before[col].dtype
        if col in out and pd.api.types.is_integer_dtype(was) and out[col].dtype.kind in "fO":
            values = pd.to_numeric(out[col], errors="coerce")
            whole = values.dropna()
            if values.isna().sum() == out[col].isna().sum() and (whole == whole.round()).all():
                out[col] = values.astype("Int64")
    return out
