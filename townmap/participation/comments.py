"""Residents' comments placed on the map at a meeting: validated, stored in the workspace
(``public_comments``), moderated before anyone sees them publicly, every change logged in
the change log. Text is stored as typed and escaped wherever it is shown."""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime

import geopandas as gpd
import pandas as pd
import shapely

from townmap.errors import UploadError
from townmap.management.editing import LOG, StaleEditError, next_id
from townmap.store import Workspace

LAYER = "public_comments"
CATEGORIES = ("water", "air", "noise", "waste", "land_use", "enterprise", "other")
MAX_TEXT = 1000
MAX_NAME = 40


def _clean_text(text: str, limit: int, what: str) -> str:
    """Trimmed text without control or direction-override characters (a comment is
    read aloud on a projector; an RTL override could make it say something else)."""
    text = "".join(
        ch for ch in (text or "") if ch in "\n" or unicodedata.category(ch) not in ("Cc", "Cf")
    ).strip()
    if len(text) > limit:
        raise UploadError(f"the {what} has at most {limit} characters")
    return text


def _log(rows: list[dict], user: str, reason: str) -> pd.DataFrame:
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    return pd.DataFrame(
        [
            {"changed_at": stamp, "user": user, "table_id": LAYER, "reason": reason, **r}
            for r in rows
        ]
    )


def _write(tx, frame: gpd.GeoDataFrame, log: pd.DataFrame) -> None:
    history = tx.read_table(LOG) if tx.has_table(LOG) else log.iloc[:0]
    tx.write_layer(LAYER, frame, source="public meeting")
    tx.write_table(LOG, pd.concat([history, log], ignore_index=True), source="townmap change log")


def read_comments(reader) -> gpd.GeoDataFrame:
    """Every comment, from a workspace or from inside a transaction (its locked view)."""
    if reader.has_layer(LAYER):
        return reader.read_layer(LAYER)
    cols = ["comment_id", "category", "text", "name", "status", "created_at", "area_wkt"]
    return gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in cols}, geometry=[], crs=reader.crs)


def _who(ws: Workspace, what: str) -> str:
    user = ws.actor.user.strip()
    if not user:
        raise UploadError(f"say who is {what} (it goes into the change log)")
    return user


def add_comment(
    ws: Workspace,
    geometry: shapely.Geometry,
    *,
    category: str,
    text: str,
    name: str = "",
) -> str:
    """Store one comment (WGS 84 point or polygon), pending moderation, by ``ws.actor``;
    returns its id (taken under the lock, so concurrent comments never share one)."""
    if category not in CATEGORIES:
        raise UploadError(f"category must be one of {', '.join(CATEGORIES)}")
    text = _clean_text(text, MAX_TEXT, "comment")
    if not text:
        raise UploadError("the comment is empty")
    name = _clean_text(name, MAX_NAME, "name")
    if geometry is None or geometry.is_empty:
        raise UploadError("place the comment on the map first")
    geometry = shapely.make_valid(geometry)
    lon, lat = geometry.representative_point().coords[0]
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise UploadError("the place is not a longitude/latitude (WGS 84)")
    user = _who(ws, "writing the comment")
    area = geometry.wkt if geometry.geom_type in ("Polygon", "MultiPolygon") else None
    with ws.transaction("edit") as tx:
        point = gpd.GeoSeries([shapely.Point(lon, lat)], crs=4326).to_crs(tx.crs)
        current = read_comments(tx)
        comment_id = next_id(tx, LAYER, "comment_id", "C") if len(current) else "C-0001"
        row = gpd.GeoDataFrame(
            [
                {
                    "comment_id": comment_id,
                    "category": category,
                    "text": text,
                    "name": name or None,
                    "status": "pending",
                    "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "area_wkt": area,
                }
            ],
            geometry=list(point),
            crs=tx.crs,
        )
        frame = gpd.GeoDataFrame(pd.concat([current, row], ignore_index=True), crs=tx.crs)
        record = row.drop(columns="geometry").iloc[0].to_dict()
        entry = {
            "record": comment_id,
            "action": "insert",
            "field": None,
            "old": None,
            "new": json.dumps(record, ensure_ascii=False),
        }
        _write(tx, frame, _log([entry], user, "public meeting"))
    return comment_id


def moderate(
    ws: Workspace, decisions: dict[str, str], *, seen: dict[str, str] | None = None
) -> int:
    """Set the status of comments (``{id: approved|rejected|pending}``) by ``ws.actor``;
    returns how many changed. Unknown ids or statuses are refused before anything is
    written. ``seen``: the statuses the moderator was shown; a comment another moderator
    changed meanwhile is refused, naming what they did."""
    user = _who(ws, "moderating")
    for status in decisions.values():
        if status not in ("pending", "approved", "rejected"):
            raise UploadError(f"a comment is pending, approved or rejected, not {status!r}")
    with ws.transaction("moderate") as tx:
        frame = read_comments(tx)
        ids = set(frame["comment_id"].astype(str))
        rows, clashes = [], []
        for cid, status in decisions.items():
            if cid not in ids:
                raise UploadError(f"there is no comment {cid!r}")
            old = str(frame.loc[frame["comment_id"] == cid, "status"].iloc[0])
            was = (seen or {}).get(cid, old)
            if old != was and old != status:
                clashes.append(f"{cid}: status {was!r} → {old!r}")
            elif old != status:
                frame.loc[frame["comment_id"] == cid, "status"] = status
                rows.append(
                    {
                        "record": cid,
                        "action": "update",
                        "field": "status",
                        "old": old,
                        "new": status,
                    }
                )
        if clashes:
            raise StaleEditError(
                "someone else moderated the same comment(s) after you opened the list; "
                "nothing was saved. Their changes: " + "; ".join(clashes[:8])
            )
        if rows:
            _write(tx, frame, _log(rows, user, "moderation"))
    return len(rows)


def public_view(ws: Workspace) -> gpd.GeoDataFrame:
    """What the public may see: approved comments, without names (privacy by default)."""
    frame = read_comments(ws)
    shown = frame[frame["status"] == "approved"]
    return shown.drop(columns=["name"], errors="ignore")
