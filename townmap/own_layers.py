"""A consultant's own layers: any file becomes a layer of one workspace.

Placeholder for the contract (filled in by the own-layer work): ``workspace_catalog``
is the catalog a workspace is read with — the shipped layer files plus the layers
defined in that workspace.
"""

from __future__ import annotations

from townmap.catalog import Catalog, load_catalog


def workspace_catalog(ws, base: Catalog | None = None) -> Catalog:
    """The shipped catalog plus the workspace's own layers."""
    return base or getattr(ws, "catalog", None) or load_catalog()
