"""Editing a register table: validate first, then write the table and its change-log
rows in one workspace transaction — both or neither.

The change log (``change_log`` table) holds one row per changed cell (who, when, which
record and field, old → new), one per inserted or deleted record (its values as JSON).
It is the register's document control (ISO 14001 7.5): it is only ever appended to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from townmap.catalog import READ_ONLY_TABLES, Catalog, load_catalog, validate_frame
from townmap.errors import UploadError
from townmap.store import Workspace

LOG = "change_log"
MAX_TEXT = 4000  # characters in one cell: a register entry, not a document
MAX_USER = 80


class StaleEditError(UploadError):
    """Another session changed the records this edit touches since it began."""


@dataclass(frozen=True)
class EditResult:
    inserted: int
    updated: int
    deleted: int
    log: pd.DataFrame

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated or self.deleted)


def _text(value) -> str:
    """A cell as canonical text for comparing and logging: '' for empty, ISO dates."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float) and np.isnan(value):
        return ""
    if isinstance(value, datetime):  # pandas Timestamps included
        midnight = (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0)
        return value.date().isoformat() if midnight else value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _not_storable(text: str) -> bool:
    """Lone surrogates (bytes that were not UTF-8) and NUL cannot be stored as text."""
    return "\x00" in text or any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def _clean(frame: pd.DataFrame, spec) -> pd.DataFrame:
    """Drop rows left completely empty (the editor's spare row), strip text, dates as
    ISO text, empty text as missing."""
    frame = frame.reset_index(drop=True).copy()
    cols = [a.name for a in spec.attributes if a.name in frame.columns]
    empty = frame[cols].map(lambda v: _text(v).strip() == "").all(axis=1)
    frame = frame.loc[~empty].reset_index(drop=True)
    for attr in spec.attributes:
        if attr.name not in frame.columns:
            continue
        col = frame[attr.name]
        if attr.type == "str":
            broken = [i for i, v in enumerate(col.tolist()) if _not_storable(_text(v))]
            if broken:
                row = broken[0] + 1
                raise UploadError(
                    f"row {row}, {attr.name}: the text holds characters that are not valid "
                    "Unicode text (undecodable bytes or NUL); retype it"
                )
            text = col.map(lambda v: _text(v).strip())
            frame[attr.name] = text.where(text != "", None).astype(object)
        elif attr.type == "date":
            parsed = pd.to_datetime(
                col.map(_text).replace("", None), errors="coerce", format="mixed"
            )
            bad = parsed.isna() & col.map(lambda v: _text(v) != "")
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
                raise UploadError(f"row {row}: '{attr.name}' must be a date (YYYY-MM-DD)")
            frame[attr.name] = parsed.dt.strftime("%Y-%m-%d").where(parsed.notna(), None)
        elif attr.type in ("int", "float"):
            text = col.map(lambda v: _text(v).strip())
            number = pd.to_numeric(text.replace("", None), errors="coerce")
            bad = number.isna() & (text != "")
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
                raise UploadError(
                    f"row {row}: '{attr.name}' must be a number, not {text[bad].iloc[0]!r}"
                )
            if attr.type == "int":
                if (number.dropna() % 1 != 0).any():
                    raise UploadError(f"'{attr.name}' must be a whole number")
                number = number.astype("Int64")
            frame[attr.name] = number
        elif attr.type == "bool":
            truth = {
                "true": True,
                "1": True,
                "yes": True,
                "是": True,
                "false": False,
                "0": False,
                "no": False,
                "否": False,
                "": None,
            }
            text = col.map(lambda v: _text(v).strip().lower())
            if not text.isin(truth.keys()).all():
                raise UploadError(f"'{attr.name}' must be yes or no")
            frame[attr.name] = text.map(truth).astype("boolean")
    return frame


def _ids(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Each row's record id as text (composite keys joined with '|')."""
    if not len(frame):
        return pd.Series(dtype=str)
    parts = [
        frame[k].map(_text) if k in frame.columns else pd.Series("", index=frame.index)
        for k in keys
    ]
    ids = parts[0]
    for part in parts[1:]:
        ids = ids + "|" + part
    ids[pd.concat(parts, axis=1).eq("").any(axis=1)] = ""
    return ids


def _check(frame: pd.DataFrame, spec, keys: list[str]) -> None:
    ids = _ids(frame, keys)
    label = " + ".join(f"'{k}'" for k in keys)
    if (ids == "").any():
        raise UploadError(f"every row needs {label}")
    dup = ids[ids.duplicated()]
    if len(dup):
        raise UploadError(f"{label} must be unique; {dup.iloc[0]!r} appears twice")
    for col in frame.columns:
        long = frame[col].map(lambda v: len(_text(v)) > MAX_TEXT)
        if long.any():
            raise UploadError(f"'{col}' holds more than {MAX_TEXT} characters in a cell")
    problems = validate_frame(spec, frame)
    if problems:
        raise UploadError(f"{spec.id}: " + "; ".join(problems))


def _changes(before: pd.DataFrame, after: pd.DataFrame, keys: list[str], columns) -> list[dict]:
    old = dict(zip(_ids(before, keys), (r for _, r in before.iterrows()), strict=True))
    new = dict(zip(_ids(after, keys), (r for _, r in after.iterrows()), strict=True))
    rows = []
    for rid in new.keys() - old.keys():
        record = {c: _text(new[rid].get(c)) for c in columns}
        rows.append(
            {
                "record": rid,
                "action": "insert",
                "field": "",
                "old": "",
                "new": json.dumps(record, ensure_ascii=False),
            }
        )
    for rid in old.keys() - new.keys():
        record = {c: _text(old[rid].get(c)) for c in columns}
        rows.append(
            {
                "record": rid,
                "action": "delete",
                "field": "",
                "old": json.dumps(record, ensure_ascii=False),
                "new": "",
            }
        )
    for rid in sorted(old.keys() & new.keys()):
        for c in columns:
            a, b = _text(old[rid].get(c)), _text(new[rid].get(c))
            if a != b:
                rows.append({"record": rid, "action": "update", "field": c, "old": a, "new": b})
    return rows


def save_edits(
    ws: Workspace,
    table_id: str,
    edited: pd.DataFrame,
    *,
    reason: str = "",
    catalog: Catalog | None = None,
    keys: list[str] | None = None,
    base: pd.DataFrame | None = None,
) -> EditResult:
    """Validate ``edited`` (the whole table as the user left it) and store it with its
    change-log rows in one transaction, by ``ws.actor``. Nothing is written when anything
    is wrong. ``keys`` names the columns identifying a record when the catalog has no
    single key (e.g. a cap is one catchment, parameter and year). With ``base`` (what the
    user started from), only their changes are applied onto the table as it is now, and a
    record someone else changed meanwhile is refused."""
    spec, keys = _editable(ws, table_id, catalog, keys)
    after = _clean(pd.DataFrame(edited), spec)
    _check(after, spec, keys)
    with ws.transaction("edit", layer=table_id) as tx:  # read, check and write under the lock
        return _save(tx, spec, keys, after, reason, base)


def _editable(ws, table_id: str, catalog: Catalog | None, keys: list[str] | None):
    catalog = catalog or ws.catalog or load_catalog()
    if table_id not in catalog or catalog[table_id].kind != "table" or table_id in READ_ONLY_TABLES:
        raise UploadError(f"{table_id!r} is not an editable register table")
    user = ws.actor.user
    if not user:
        raise UploadError("say who is making the change (it goes into the change log)")
    if len(user) > MAX_USER:
        raise UploadError(f"a user name has at most {MAX_USER} characters")
    spec = catalog[table_id]
    keys = keys or ([spec.key] if spec.key else [])
    if not keys:
        raise UploadError(f"{table_id!r} has no key column and cannot be edited row by row")
    return spec, keys


def _save(tx, spec, keys, after, reason, base) -> EditResult:
    columns = [a.name for a in spec.attributes]
    current = tx.read_table(spec.id) if tx.has_table(spec.id) else pd.DataFrame(columns=columns)
    if base is not None:  # optimistic: what did others change since the user began?
        after = _merge(_clean(pd.DataFrame(base), spec), after, current, keys, columns)
        _check(after, spec, keys)
    return _store(tx, spec.id, current, after, keys, columns, tx.actor.user, reason)


def _merge(base, mine, current, keys, columns) -> pd.DataFrame:
    """Apply my changes (base → mine) onto the current table. Records that someone else
    changed meanwhile and that I changed too are a conflict: refused, naming what they
    did, so nobody's work is silently overwritten."""
    ours = _changes(base, mine, keys, columns)
    theirs = _changes(base, current, keys, columns)
    clash = {c["record"] for c in ours} & {c["record"] for c in theirs}
    if clash:
        said = [
            f"{c['record']}: "
            + (
                f"{c['field']} {c['old']!r} → {c['new']!r}"
                if c["action"] == "update"
                else c["action"] + "d"
            )
            for c in theirs
            if c["record"] in clash
        ][:8]
        raise StaleEditError(
            "someone else changed the same record(s) after you opened the table; your "
            "changes were not saved. Their changes: "
            + "; ".join(said)
            + ". Reload the table and apply your changes again."
        )
    merged = current.reset_index(drop=True).copy()
    mine_ids = _ids(mine, keys)
    merged_ids = _ids(merged, keys)
    for change in ours:
        rid = change["record"]
        if change["action"] == "delete":
            merged = merged[merged_ids != rid]
            merged_ids = _ids(merged, keys)
        elif change["action"] == "insert":
            merged = pd.concat([merged, mine[mine_ids == rid]], ignore_index=True)
            merged_ids = _ids(merged, keys)
        else:
            value = mine.loc[mine_ids == rid, change["field"]].iloc[0]
            merged.loc[merged_ids == rid, change["field"]] = value
    return merged.reset_index(drop=True)


def _store(tx, table_id, before, after, keys, columns, user, reason) -> EditResult:
    changes = _changes(before, after, keys, columns)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    log = pd.DataFrame(
        [
            {"changed_at": stamp, "user": user, "table_id": table_id, **c, "reason": reason or None}
            for c in changes
        ],
        columns=[
            "changed_at",
            "user",
            "table_id",
            "record",
            "action",
            "field",
            "old",
            "new",
            "reason",
        ],
    )
    counts = log["action"].value_counts() if len(log) else pd.Series(dtype=int)
    result = EditResult(
        int(counts.get("insert", 0)),
        int(log.loc[log["action"] == "update", "record"].nunique()) if len(log) else 0,
        int(counts.get("delete", 0)),
        log,
    )
    if not result.changed:
        return result
    history = tx.read_table(LOG) if tx.has_table(LOG) else log.iloc[:0]
    tx.write_table(table_id, after.reindex(columns=columns), source=f"edited by {user}")
    tx.write_table(LOG, pd.concat([history, log], ignore_index=True), source="townmap change log")
    return result


def next_id(reader, table_id: str, key: str, prefix: str) -> str:
    """The next free id like ``NC-0007`` (one more than the largest number in use); read
    inside the transaction that will write it, so two writers never take the same one."""
    if not reader.has_table(table_id):
        return f"{prefix}-0001"
    ids = reader.read_table(table_id)[key].astype(str)
    numbers = pd.to_numeric(ids.str.extract(r"(\d+)$")[0], errors="coerce").dropna()
    return f"{prefix}-{int(numbers.max() if len(numbers) else 0) + 1:04d}"


def raise_nonconformity(
    ws: Workspace,
    *,
    source_kind: str,
    source_ref: str,
    description: str,
    clause: str,
    raised_on: str | None = None,
) -> str:
    """Open a nonconformity straight from a conflict or an exceedance; returns its id."""
    table = "ems_nonconformities"
    spec, keys = _editable(ws, table, None, None)
    with ws.transaction("edit", layer=table) as tx:
        current = tx.read_table(table) if tx.has_table(table) else pd.DataFrame()
        nc_id = next_id(tx, table, "nc_id", "NC")
        row = {
            "nc_id": nc_id,
            "raised_on": raised_on or datetime.now(UTC).date().isoformat(),
            "source_kind": source_kind,
            "source_ref": source_ref,
            "clause": clause,
            "description": description,
            "status": "open",
        }
        after = _clean(pd.concat([current, pd.DataFrame([row])], ignore_index=True), spec)
        _check(after, spec, keys)
        _save(tx, spec, keys, after, f"raised from {source_kind} {source_ref}", None)
    return nc_id
