"""Every kind of write Townmap makes, as plain functions of (location, i, payload) that
open the workspace themselves — so the same writer runs in a thread or in a spawned
process, many at once, in the concurrency and kill tests."""

from __future__ import annotations

import pickle
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pandas as pd
import shapely

from townmap.store import Actor, open_workspace

SECRET = "correct horse battery staple"
PLANNER = Actor("planner Li", "planner")


def _ws(location: str, user: str, role: str | None = "planner"):
    from townmap.catalog import load_catalog

    return open_workspace(location, catalog=load_catalog(), actor=Actor(user, role))


def _admin(location: str):
    """The command line's administrator (trusted: it holds the workspace files)."""
    from townmap.settings import shell_actor

    return open_workspace(location, actor=shell_actor())


def add_user(location: str, i: int, payload=None) -> str:
    from townmap.auth.users import add_user

    add_user(_admin(location), f"user{i:02d}", "planner", SECRET)
    return f"user{i:02d}"


def add_comment(location: str, i: int, payload=None) -> str:
    from townmap.participation.comments import add_comment

    ws = _ws(location, f"resident {i}")
    point = shapely.Point(119.93 + i * 1e-4, 31.38)
    return add_comment(ws, point, category="water", text=f"comment {i}")


def moderate(location: str, i: int, payload) -> str:
    """Approve comment ``payload[i]`` (seen pending)."""
    from townmap.participation.comments import moderate

    cid = payload[i]
    moderate(_ws(location, f"moderator {i}"), {cid: "approved"}, seen={cid: "pending"})
    return cid


def raise_nc(location: str, i: int, payload=None) -> str:
    from townmap.management.editing import raise_nonconformity

    return raise_nonconformity(
        _ws(location, f"inspector {i}"),
        source_kind="exceedance",
        source_ref=f"DP{i:02d} 2026-01-01 COD",
        description=f"COD over the limit at outfall {i}",
        clause="9.1.2",
    )


def edit_record(location: str, i: int, payload) -> str:
    """Change record ``i`` of the aspects register, as it was at the start (or add a new
    record where the register has fewer than ``i`` rows)."""
    from townmap.management.editing import save_edits

    base = pickle.loads(payload)
    mine = base.copy()
    if i < len(base):
        mine.loc[i, "control"] = f"control by writer {i}"
        rid = str(base.loc[i, "aspect_id"])
    else:
        rid = f"A9{i:02d}"
        new = base.iloc[[0]].assign(aspect_id=rid, control=f"control by writer {i}")
        mine = pd.concat([mine, new], ignore_index=True)
    save_edits(_ws(location, f"writer {i}"), "ems_aspects", mine, base=base)
    return rid


def import_layer(location: str, i: int, payload) -> str:
    """Import ``payload[i]`` = (file, layer id)."""
    from townmap.catalog import load_catalog
    from townmap.io.importer import ImportOptions, commit_import, plan_import

    path, layer = payload[i]
    plan = plan_import(path, ImportOptions(layer, mode="replace"), load_catalog())
    assert plan.ok, plan.blocking
    commit_import(_ws(location, f"consultant {i}"), plan)
    return layer


def undo_import(location: str, i: int, payload=None) -> str:
    from townmap.io.importer import undo_last_import

    return str(undo_last_import(_ws(location, f"planner {i}"))["layer_id"])


def save_scenario(location: str, i: int, payload) -> str:
    from townmap.analysis.scenarios import save_scenario

    save_scenario(_ws(location, f"consultant {i}"), f"scenario {i}", pickle.loads(payload), {})
    return f"scenario {i}"


def same_user(location: str, i: int, payload=None) -> str:
    from townmap.auth.users import add_user

    add_user(_admin(location), "zhao", "planner", SECRET)
    return "zhao"


WRITERS: dict[str, Callable] = {
    "same_user": same_user,
    "users": add_user,
    "comments": add_comment,
    "moderation": moderate,
    "nonconformities": raise_nc,
    "register": edit_record,
    "imports": import_layer,
    "undo": undo_import,
    "scenarios": save_scenario,
}

_START: threading.Barrier | None = None


def _start_line(barrier) -> None:
    global _START
    _START = barrier


def _run(kind: str, location: str, i: int, payload) -> tuple[str, str]:
    """One writer, released with the others at the start line; (outcome, detail)."""
    if _START is not None:
        _START.wait(timeout=120)
    try:
        return "ok", WRITERS[kind](location, i, payload)
    except Exception as exc:  # the test looks at what each writer met
        return type(exc).__name__, str(exc)


def run_at_once(kind: str, location: str | Path, n: int, payload=None, *, processes: bool):
    """``n`` writers of ``kind`` released together (threads or spawned processes)."""
    location = str(location)
    if processes:
        ctx = get_context("spawn")
        barrier = ctx.Barrier(n)
        with ProcessPoolExecutor(n, mp_context=ctx, initializer=_start_line,
                                 initargs=(barrier,)) as pool:  # fmt: skip
            futures = [pool.submit(_run, kind, location, i, payload) for i in range(n)]
            return [f.result(timeout=600) for f in futures]
    barrier = threading.Barrier(n)
    _start_line(barrier)
    try:
        with ThreadPoolExecutor(n) as pool:
            futures = [pool.submit(_run, kind, location, i, payload) for i in range(n)]
            return [f.result(timeout=600) for f in futures]
    finally:
        _start_line(None)


def aspects_base(location: str | Path) -> bytes:
    return pickle.dumps(open_workspace(str(location)).read_table("ems_aspects"))


def change_log(location: str | Path) -> pd.DataFrame:
    return open_workspace(str(location)).read_table("change_log")
