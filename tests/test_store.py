"""The store's contract, on both back ends: every writer run by ten at once (threads and
spawned processes) keeps every writer's change; the same record changed twice is refused
for the second with what changed; the door checks the actor under the lock; the two back
ends answer the same; nothing outside ``townmap.store`` names a back end."""

from __future__ import annotations

import ast
import os
import pickle
import shutil
from pathlib import Path

import pandas as pd
import pytest
import shapely

from tests import writers
from townmap import PROJECT_ROOT
from townmap.errors import AccessDenied, WorkspaceError
from townmap.settings import shell_actor
from townmap.store import Actor, create_workspace, open_workspace, workspace_exists

N = 10
MODES = [pytest.param(False, id="threads"), pytest.param(True, id="processes")]


@pytest.fixture
def location(demo_location) -> str:
    return demo_location


def _ok(results) -> list[str]:
    failed = [r for r in results if r[0] != "ok"]
    assert not failed, failed
    return [detail for _, detail in results]


# ------------------------------------------------------------------ N writers at once
@pytest.mark.parametrize("processes", MODES)
def test_concurrent_users_are_all_kept(location, processes):
    names = _ok(writers.run_at_once("users", location, N, processes=processes))
    from townmap.auth.users import list_users, sign_in

    ws = open_workspace(location)
    assert sorted(list_users(ws)["user"]) == sorted(names) and len(names) == N
    assert sign_in(ws, names[-1], writers.SECRET) == "planner"


@pytest.mark.parametrize("processes", MODES)
def test_concurrent_comments_are_all_kept_with_their_log_rows(location, processes):
    from townmap.participation.comments import read_comments

    ids = _ok(writers.run_at_once("comments", location, N, processes=processes))
    assert len(set(ids)) == N  # every comment its own id
    ws = open_workspace(location)
    stored = read_comments(ws)
    assert set(ids) <= set(stored["comment_id"]) and stored["comment_id"].is_unique
    log = writers.change_log(location)
    inserts = log[(log["table_id"] == "public_comments") & (log["action"] == "insert")]
    assert set(ids) <= set(inserts["record"])
    assert {f"resident {i}" for i in range(N)} <= set(inserts["user"])


@pytest.mark.parametrize("processes", MODES)
def test_concurrent_moderation_of_different_comments_all_lands(location, processes):
    from townmap.participation.comments import add_comment, read_comments

    ws = open_workspace(location, actor=Actor("facilitator"))
    ids = [
        add_comment(ws, shapely.Point(119.93, 31.38), category="air", text=f"c{i}")
        for i in range(N)
    ]
    _ok(writers.run_at_once("moderation", location, N, ids, processes=processes))
    stored = read_comments(open_workspace(location)).set_index("comment_id")
    assert (stored.loc[ids, "status"] == "approved").all()
    log = writers.change_log(location)
    moderated = log[(log["field"] == "status") & log["record"].isin(ids)]
    assert len(moderated) == N and set(moderated["user"]) == {f"moderator {i}" for i in range(N)}


@pytest.mark.parametrize("processes", MODES)
def test_concurrent_nonconformities_get_distinct_ids_and_are_all_kept(location, processes):
    ids = _ok(writers.run_at_once("nonconformities", location, N, processes=processes))
    assert len(set(ids)) == N
    table = open_workspace(location).read_table("ems_nonconformities")
    assert set(ids) <= set(table["nc_id"]) and table["nc_id"].is_unique
    log = writers.change_log(location)
    assert set(ids) <= set(log.loc[log["action"] == "insert", "record"])


@pytest.mark.parametrize("processes", MODES)
def test_concurrent_register_edits_of_different_records_all_land(location, processes):
    before_log = len(writers.change_log(location))
    base = writers.aspects_base(location)
    _ok(writers.run_at_once("register", location, N, base, processes=processes))
    table = open_workspace(location).read_table("ems_aspects")
    assert {f"control by writer {i}" for i in range(N)} <= set(table["control"])
    log = writers.change_log(location)
    assert len(log) == before_log + N  # append-only: every edit's row is there
    assert set(log.iloc[before_log:]["user"]) == {f"writer {i}" for i in range(N)}


def _import_files(location: str, tmp_path: Path) -> list[tuple[str, str]]:
    """N catalogued layers of the workspace written out as GeoPackage files, as a
    consultant would receive them back."""
    from townmap.catalog import load_catalog

    ws, catalog = open_workspace(location), load_catalog()
    layers = [s.id for s in catalog.by_kind("vector") if ws.has_layer(s.id)][:N]
    assert len(layers) == N
    out = []
    for layer in layers:
        path = tmp_path / f"{layer}.gpkg"
        ws.read_layer(layer).to_crs(4326).to_file(path, driver="GPKG")
        out.append((str(path), layer))
    return out


@pytest.mark.parametrize("processes", MODES)
def test_concurrent_imports_are_all_logged_and_all_undone(location, tmp_path, processes):
    from townmap.store import IMPORT_LOG

    files = _import_files(location, tmp_path)
    before = {layer: len(open_workspace(location).read_layer(layer)) for _, layer in files}
    layers = _ok(writers.run_at_once("imports", location, N, files, processes=processes))
    log = open_workspace(location).read_table(IMPORT_LOG)
    assert sorted(log["layer_id"]) == sorted(layers) and (log["undone"] == "false").all()
    undone = _ok(writers.run_at_once("undo", location, N, processes=processes))
    assert sorted(undone) == sorted(layers)  # each undo took a different import
    ws = open_workspace(location)
    assert (ws.read_table(IMPORT_LOG)["undone"] == "true").all()
    assert {layer: len(ws.read_layer(layer)) for _, layer in files} == before
    assert not [n for n in ws.stored_names() if n.startswith("townmap_prev_")]  # no copies left


@pytest.fixture(scope="module")
def scenario(siting_plan) -> bytes:
    return pickle.dumps(siting_plan)


@pytest.mark.parametrize("processes", MODES)
def test_concurrent_scenarios_are_all_kept(location, scenario, processes):
    from townmap.analysis.scenarios import list_scenarios

    names = _ok(writers.run_at_once("scenarios", location, N, scenario, processes=processes))
    ws = open_workspace(location)
    assert sorted(list_scenarios(ws)["scenario"]) == sorted(names)
    plants = ws.read_layer("scenario_plants")
    assert set(plants["scenario"]) == set(names) and len(plants) == N


# ------------------------------------------------------------------ the same record twice
def test_the_same_record_edited_twice_refuses_the_second_with_what_changed(location):
    from townmap.management.editing import StaleEditError, save_edits

    ws = open_workspace(location)
    base = ws.read_table("ems_aspects")
    rid = str(base.loc[0, "aspect_id"])
    first, second = base.copy(), base.copy()
    first.loc[0, "control"] = "fence the yard"
    second.loc[0, "control"] = "move the drums"
    save_edits(ws.as_actor(Actor("Li")), "ems_aspects", first, base=base)
    with pytest.raises(StaleEditError, match=rf"{rid}: control .*'fence the yard'"):
        save_edits(ws.as_actor(Actor("Wang")), "ems_aspects", second, base=base)
    assert open_workspace(location).read_table("ems_aspects").loc[0, "control"] == (
        "fence the yard"
    )


def test_the_same_comment_moderated_twice_refuses_the_second(location):
    from townmap.management.editing import StaleEditError
    from townmap.participation.comments import add_comment, moderate, read_comments

    ws = open_workspace(location, actor=Actor("chair"))
    cid = add_comment(ws, shapely.Point(119.93, 31.38), category="noise", text="loud")
    moderate(ws.as_actor(Actor("Li")), {cid: "approved"}, seen={cid: "pending"})
    with pytest.raises(StaleEditError, match=rf"{cid}: status 'pending' → 'approved'"):
        moderate(ws.as_actor(Actor("Wang")), {cid: "rejected"}, seen={cid: "pending"})
    assert read_comments(ws).set_index("comment_id").loc[cid, "status"] == "approved"


@pytest.mark.parametrize("processes", MODES)
def test_the_same_user_added_at_once_is_kept_once(location, processes):
    from townmap.auth.users import list_users

    results = writers.run_at_once("same_user", location, 4, processes=processes)
    assert sorted(r[0] for r in results) == ["UploadError"] * 3 + ["ok"], results
    assert all("exists" in d for o, d in results if o != "ok")
    assert list(list_users(open_workspace(location))["user"]) == ["zhao"]


# ------------------------------------------------------------------ the door
def test_the_door_checks_the_actor_under_the_lock_and_logs_its_name(location):
    from townmap.auth.users import add_user
    from townmap.management.editing import save_edits

    ws = open_workspace(location)
    table = ws.read_table("ems_aspects")
    add_user(ws.as_actor(shell_actor()), "li", "planner", writers.SECRET)
    add_user(ws.as_actor(shell_actor()), "visitor", "public", writers.SECRET)
    before = ws.revision()
    visitor = ws.as_actor(Actor("visitor", "public"))
    with pytest.raises(AccessDenied, match="'public' may not edit"), visitor.transaction() as tx:
        tx.write_table("ems_aspects", table)
    with pytest.raises(AccessDenied, match="'none' may not"):  # nobody signed in
        save_edits(ws.as_actor(Actor("someone")), "ems_aspects", table.assign(control="x"))
    assert ws.revision() == before
    save_edits(ws.as_actor(Actor("li", "planner")), "ems_aspects", table.assign(control="y"))
    assert writers.change_log(location).iloc[-1]["user"] == "li"


def test_a_transaction_reads_the_locked_state_and_its_own_writes(location):
    ws = open_workspace(location)
    with ws.transaction() as tx:
        assert tx.has_layer("enterprises") and tx.has_raster("dem")
        tx.write_table("scratch", pd.DataFrame({"a": [1, 2]}))
        assert tx.has_table("scratch") and tx.read_table("scratch")["a"].tolist() == [1, 2]
        assert not ws.has_table("scratch")  # not visible outside before the commit
    assert ws.read_table("scratch")["a"].tolist() == [1, 2]


# ------------------------------------------------------------------ same answers on both
def test_the_store_bookkeeping_is_no_table_on_either_back_end(location):
    ws = open_workspace(location)
    for name in ("townmap_metadata", "townmap_layers", "townmap_rasters", "townmap_state"):
        assert not ws.has_table(name) and name not in ws.stored_names()
        assert ws.read_internal_table(name) is None
        with pytest.raises(WorkspaceError, match="no layer"):
            ws.read_table(name)
        with pytest.raises(WorkspaceError, match="reserved"), ws.transaction() as tx:
            tx.write_table(name, pd.DataFrame({"a": [1]}))


def test_a_raster_written_and_deleted_in_one_transaction_is_gone(location):
    ws = open_workspace(location)
    dem = ws.raster_path("dem")
    with ws.transaction() as tx:
        tx.write_raster("slope", lambda out: shutil.copyfile(dem, out))
        assert tx.has_raster("slope")
        tx.delete_raster("slope")
        assert not tx.has_raster("slope")
        tx.delete_raster("dem")
        assert not tx.has_raster("dem") and ws.has_raster("dem")  # until the commit
        with pytest.raises(WorkspaceError, match="no raster 'nothing'"):
            tx.delete_raster("nothing")
    ws = open_workspace(location)
    assert not ws.has_raster("slope") and not ws.has_raster("dem")
    assert "dem" not in set(ws.layer_register()["layer_id"])


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:4490", "EPSG:3857", "EPSG:4547"])
def test_a_workspace_is_created_only_in_a_crs_true_to_scale_in_metres(new_location, crs):
    location = new_location("crs")
    if crs == "EPSG:4547":  # CGCS2000 / 3-degree Gauss-Krüger CM 114°E: accepted
        assert create_workspace(location, crs).crs.to_epsg() == 4547
        return
    with pytest.raises(WorkspaceError, match=r"projected CRS in metres.*EPSG:4549"):
        create_workspace(location, crs)
    assert not workspace_exists(location)


def test_writes_keep_a_revision_per_table(location):
    ws = open_workspace(location)
    before = ws.table_revisions()
    with ws.transaction() as tx:
        tx.write_table("ems_aspects", ws.read_table("ems_aspects"))
    after = open_workspace(location).table_revisions()
    changed = {k for k in before if before[k] != after.get(k)}
    assert changed == {"ems_aspects"}


# ------------------------------------------------------------------ one door in the code
_ADAPTERS = ("townmap.store.gpkg", "townmap.store.postgis", "townmap.store.pg_frames",
             "townmap.store.pushdown")  # fmt: skip


def test_nothing_outside_the_store_names_a_back_end():
    offenders = []
    for path in sorted((PROJECT_ROOT / "townmap").rglob("*.py")):
        if "store" in path.relative_to(PROJECT_ROOT / "townmap").parts[:1]:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith(_ADAPTERS) or node.module in (
                    "townmap.workspace",
                    "townmap.workspace_pg",
                ):
                    offenders.append(f"{path.name}: from {node.module}")
                private = [a.name for a in node.names if a.name[:1] == "_" != a.name[1:2]]
                if node.module.startswith("townmap") and private:
                    offenders.append(f"{path.name}: {node.module} {private}")
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "isinstance":
                text = ast.unparse(node)
                if "Workspace" in text:
                    offenders.append(f"{path.name}: {text}")
    assert not offenders, offenders


def _import_graph() -> dict[str, set[str]]:
    """Every import between Townmap's modules, the ones inside functions included."""
    root = PROJECT_ROOT / "townmap"
    modules = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [
                    f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules
                    else node.module
                    for a in node.names
                ]  # fmt: skip
            graph[module] |= {t for t in targets if t in modules and t != module}
    return graph


def test_no_module_imports_one_that_imports_it_back():
    """No import cycle anywhere (the store and its adapters, users and the importer had
    two); a package's ``__init__`` running before its submodules is not counted."""
    graph = _import_graph()
    cycles = []
    for start in graph:
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    cycles.append(" → ".join([*path, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    assert not cycles, cycles[:5]


# ------------------------------------------------------------------ litter
def _dead_pid() -> int:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


def test_a_dead_writers_files_are_removed_on_open_and_never_listed(demo_ws, tmp_path):
    folder = tmp_path / "ws"
    shutil.copytree(demo_ws.folder, folder)
    pid = _dead_pid()
    copy = folder / f".workspace.tx-{pid}-0123456789ab.gpkg"
    shutil.copyfile(folder / "workspace.gpkg", copy)
    raster = folder / "rasters" / f".townmap_prev_dem.tx-{pid}-0123456789ab.tif"
    shutil.copyfile(folder / "rasters" / "dem.tif", raster)
    from townmap.store.folders import host_id

    beside = tmp_path / f".ws.restore-{pid}-{host_id()}-0123456789ab"
    beside.mkdir()
    live = tmp_path / f".ws.restore-{os.getpid()}-{host_id()}-0123456789ab"  # still running
    live.mkdir()
    elsewhere = tmp_path / f".ws.copy-{pid}-00000000-0123456789ab"  # another machine's
    elsewhere.mkdir()
    ws = open_workspace(folder)
    assert not copy.exists() and not raster.exists() and not beside.exists()
    assert live.exists() and elsewhere.exists()  # not provably stale: left alone
    assert ws.raster_names() == ["dem"] and "townmap_prev_dem" not in ws.layer_names()


def test_a_running_writers_copy_is_left_alone(demo_ws, tmp_path):
    folder = tmp_path / "ws"
    shutil.copytree(demo_ws.folder, folder)
    ws = open_workspace(folder)
    with ws.transaction() as tx:
        tx.write_table("scratch", pd.DataFrame({"a": [1]}))
        mine = list(folder.glob(".workspace.tx-*"))
        assert len(mine) == 1
        open_workspace(folder)  # another page opens the workspace meanwhile
        assert mine[0].exists()
    assert open_workspace(folder).read_table("scratch")["a"].tolist() == [1]


def test_uploads_of_a_server_that_has_gone_are_removed(tmp_path):
    import tempfile

    from townmap.store.folders import UPLOADS, host_id, upload_folder

    gone = Path(tempfile.gettempdir()) / f"{UPLOADS}{_dead_pid()}-{host_id()}-0123456789ab-x"
    (gone / "abc").mkdir(parents=True)
    (gone / "abc" / "upload.csv").write_text("a,b\n")
    mine = upload_folder()
    try:
        assert not gone.exists() and mine.is_dir() and str(os.getpid()) in mine.name
    finally:
        shutil.rmtree(mine, ignore_errors=True)


def test_a_commit_killed_after_its_journal_is_finished_by_the_next_open(
    demo_ws, tmp_path, monkeypatch
):
    """Between the journal and the last rename the commit is rolled forward: the new
    DEM and the GeoPackage that logs it arrive together (all, not half)."""
    import townmap.store.gpkg as gpkg

    folder = tmp_path / "ws"
    shutil.copytree(demo_ws.folder, folder)
    ws = open_workspace(folder)
    dem = ws.raster_path("dem").read_bytes()
    real, calls = os.replace, []

    def dies_after_the_journal(src, dst):
        calls.append(dst)
        if len(calls) == 3:  # journal in place, the new DEM renamed, then the kill
            raise SystemExit("killed")
        real(src, dst)

    monkeypatch.setattr(gpkg.os, "replace", dies_after_the_journal)
    monkeypatch.setattr(gpkg.GeoPackageTransaction, "_discard", lambda self: None)  # no cleanup
    with pytest.raises(SystemExit), ws.transaction() as tx:
        tx.write_table("marker", pd.DataFrame({"a": [1]}))
        tx.write_raster("dem", lambda out: Path(out).write_bytes(dem))
        tx.write_raster("slope", lambda out: Path(out).write_bytes(dem))
    monkeypatch.undo()
    assert (folder / ".townmap.commit.json").exists()
    ws = open_workspace(folder)  # the next open finishes it
    assert ws.has_table("marker") and ws.has_raster("slope")
    assert not list(folder.glob(".townmap.commit*")) and not list(folder.glob(".workspace.tx-*"))
    assert not list((folder / "rasters").glob(".*"))


def test_a_writer_waiting_while_the_folder_is_replaced_locks_the_new_one(demo_ws, tmp_path):
    import threading

    from townmap.store.folders import staging_folder, swap_in

    folder = tmp_path / "ws"
    shutil.copytree(demo_ws.folder, folder)
    replacement = staging_folder(folder, "restore")
    shutil.copytree(demo_ws.folder, replacement, dirs_exist_ok=True)
    ws = open_workspace(folder)
    entered, proceed = threading.Event(), threading.Event()

    def writer():
        with ws.transaction() as tx:
            entered.set()
            proceed.wait(60)
            tx.write_table("written_after_swap", pd.DataFrame({"a": [1]}))

    with ws.locked():  # a restore holds the lock and swaps the folder
        thread = threading.Thread(target=writer)
        thread.start()
        swap_in(replacement, folder)
    assert entered.wait(60)
    assert open_workspace(folder)._acquire(wait=False) is None  # the writer holds the new lock
    proceed.set()
    thread.join(60)
    assert open_workspace(folder).has_table("written_after_swap")
