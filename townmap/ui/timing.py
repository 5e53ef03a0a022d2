"""Script-run times for benchmarks: with TOWNMAP_TIMING=1 each page run logs one line
``townmap-timing <page> <seconds>`` to stderr (the server log). Off by default."""

from __future__ import annotations

import os
import sys


def record(page: str, seconds: float) -> None:
    if os.environ.get("TOWNMAP_TIMING") == "1":
        print(f"townmap-timing {page} {seconds:.4f}", file=sys.stderr, flush=True)
