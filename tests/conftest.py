"""Shared fixtures: the real catalog, one demo build per session, small workspaces."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from townmap import PROJECT_ROOT
from townmap.catalog import Catalog, load_catalog
from townmap.demo.build import build_demo
from townmap.store import Workspace, open_workspace

LAYERS = PROJECT_ROOT / "layers"

# GDAL notes non-.gpkg temp names and similar; they are not failures
warnings.filterwarnings("ignore", category=RuntimeWarning, module="pyogrio")


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(LAYERS)


@pytest.fixture(scope="session")
def demo_ws(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> Workspace:
    """The demo town, built once for the whole session (read-only for tests)."""
    return build_demo(tmp_path_factory.mktemp("demo") / "ws", catalog=catalog)


@pytest.fixture
def artifacts() -> Path:
    folder = PROJECT_ROOT / "tests" / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# ---------------------------------------------------------------- both back ends
BACKENDS = ["gpkg", "postgis"]


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL + PostGIS on loopback for the whole session (make test installs
    it; without it the PostGIS cases are skipped, or fail when CI requires them)."""
    from tests.pg_server import REQUIRED, PgServer, pg_bin

    if pg_bin() is None:
        if REQUIRED:
            pytest.fail("PostgreSQL with PostGIS is required (TOWNMAP_TEST_POSTGIS=required)")
        pytest.skip("PostgreSQL with PostGIS is not installed (make test installs it)")
    import shutil
    import tempfile

    # not under pytest's root-only temp folder: the server runs as 'postgres' under root
    root = Path(tempfile.mkdtemp(prefix="townmap-pg-"))
    server = PgServer(root).start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def new_location(request, backend, tmp_path):
    """A function giving fresh, unused workspace locations of the test's back end."""
    import uuid

    def make(name: str = "ws") -> str | Path:
        if backend == "gpkg":
            return tmp_path / f"{name}-{uuid.uuid4().hex[:6]}"
        server = request.getfixturevalue("pg_server")
        return server.url(f"t_{name}_{uuid.uuid4().hex[:10]}".lower())

    return make


@pytest.fixture(scope="session")
def demo_pg(pg_server, demo_ws):
    """The demo town copied into PostGIS once (read-only for tests)."""
    from townmap.store.copy import copy_workspace

    copy_workspace(demo_ws.location, pg_server.url("demo"))
    return open_workspace(pg_server.url("demo"), catalog=demo_ws.catalog)


@pytest.fixture
def demo_location(demo_ws, backend, new_location, tmp_path) -> str:
    """Where a writable copy of the demo is on the test's back end (a location string)."""
    import shutil

    from townmap.store.copy import copy_workspace

    if backend == "gpkg":
        shutil.copytree(demo_ws.folder, tmp_path / "ws")
        return str(tmp_path / "ws")
    location = new_location("demo")
    copy_workspace(demo_ws.location, location)
    return str(location)


@pytest.fixture
def demo_copy(demo_location):
    """A writable copy of the demo on the test's back end (no catalog attached)."""
    from townmap.store import open_workspace

    return open_workspace(demo_location)


@pytest.fixture(scope="session")
def siting_plan(demo_ws, catalog):
    """A one-plant shared-treatment plan on the demo town (what a scenario saves)."""
    import rasterio

    from townmap.analysis.checks import workspace_layers
    from townmap.analysis.siting import plan
    from townmap.analysis.suitability import suitability

    layers = workspace_layers(demo_ws, catalog)
    with rasterio.open(demo_ws.raster_path("dem")) as src:
        dem = (src.read(1), src.transform, src.crs, src.nodata)
    sites = suitability(layers, demo_ws.crs, dem=dem).candidates
    return plan(layers, sites, 1, dem=dem, time_limit=5)
