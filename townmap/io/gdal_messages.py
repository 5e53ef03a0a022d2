"""Catching GDAL's warnings while a file is written, so that none passes unseen.

GDAL cuts or drops values it cannot write and only warns (pyogrio's RuntimeWarnings,
rasterio's logged ones), often once per process. Every warning during a write is
caught: one that means data changed is an error, any other becomes a note returned with
the file (``Exported.notes``). Used by every export and by the workspace package.
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from townmap.errors import UploadError

#: how many affected values an error lists before "and N more"
LISTED = 20

#: a GDAL warning with one of these words means a value was changed or not written
_DAMAGE = re.compile(
    r"truncat|not successfully written|could(n't| not) be converted|"
    r"not representable|out of range|overflow|lost|invalid utf-?8",
    re.IGNORECASE,
)
_CAPTURE = threading.RLock()


class _Collect(logging.Handler):
    def __init__(self, messages: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def gdal_messages() -> Iterator[list[str]]:
    """Record every GDAL warning raised while writing (pyogrio's RuntimeWarnings, which
    ``townmap`` main() otherwise ignores, and rasterio's logged ones) instead of letting
    it pass unseen. One export at a time records (``warnings`` is process-wide)."""
    messages: list[str] = []
    handler = _Collect(messages)
    log = logging.getLogger("rasterio")
    with _CAPTURE, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        log.addHandler(handler)
        try:
            yield messages
        finally:
            log.removeHandler(handler)
            others = []
            for w in caught:
                if issubclass(w.category, RuntimeWarning):
                    messages.append(str(w.message))
                else:
                    others.append(w)
    for w in others:  # not GDAL's: give them back to whoever listens
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def judge(messages: list[str], what: str) -> list[str]:
    """Raise if any GDAL warning means data changed; the others become notes."""
    damage = [m for m in messages if _DAMAGE.search(m)]
    if damage:
        shown = "; ".join(dict.fromkeys(damage[:LISTED]))
        raise UploadError(f"{what} was not written: GDAL would have changed data ({shown})")
    return [f"GDAL: {m}" for m in dict.fromkeys(messages)]
