"""GeoPackage files as SQLite: what pyogrio does not offer (dropping a table the way the
specification wants). Used by the GeoPackage workspace and by whole-workspace exports."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def drop_gpkg_table(gpkg: Path, name: str) -> None:
    """Drop a table the way the GeoPackage spec wants (pyogrio has no delete-layer call)."""
    con = sqlite3.connect(gpkg)
    try:
        with con:
            tables = {r[0] for r in con.execute("select name from sqlite_master")}
            for rtree in [
                t
                for t in tables
                if t.startswith(f"rtree_{name}_") and t.count("_") == name.count("_") + 2
            ]:
                con.execute(f'drop table if exists "{rtree}"')
            con.execute(f'drop table "{name}"')
            for meta in (
                "gpkg_extensions",
                "gpkg_geometry_columns",
                "gpkg_ogr_contents",
                "gpkg_data_columns",
                "gpkg_metadata_reference",
                "gpkg_contents",
            ):
                if meta in tables:
                    con.execute(f"delete from {meta} where lower(table_name) = lower(?)", (name,))
    finally:
        con.close()
