"""Choosing a file's coordinate system: the user's word, or the only candidate that fits.

Shared by vector and raster imports so both refuse the same way, in one line.
"""

from __future__ import annotations

from pyproj import CRS

from townmap.crs import propose_crs
from townmap.errors import UploadError


def user_crs(text: str) -> CRS:
    """A CRS typed by the user (``EPSG:4549``, WKT, proj string), or a one-line error."""
    try:
        return CRS.from_user_input(text)
    except Exception:  # pyproj raises its own CRSError with a long text
        raise UploadError(
            f"{text!r} is not a coordinate system pyproj knows; use e.g. EPSG:4549"
        ) from None


def single_candidate(bounds, hint_lon: float | None, notes: list[str]):
    """(the CRS, …) when exactly one candidate fits ``bounds``; (None, the candidates
    listed for an error message) otherwise."""
    candidates = propose_crs(bounds, hint_lon)
    if len(candidates) == 1:
        notes.append(f"coordinate system: {candidates[0].reason}")
        return candidates[0].crs, candidates
    listed = "; ".join(f"EPSG:{c.crs.to_epsg()} ({c.reason})" for c in candidates) or "none fit"
    return None, listed
