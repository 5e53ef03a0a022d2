"""Shared fixtures: the real catalog, one demo build per session, small workspaces."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from townmap import PROJECT_ROOT
from townmap.catalog import Catalog, load_catalog
from townmap.demo.build import build_demo
from townmap.workspace import Workspace

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
