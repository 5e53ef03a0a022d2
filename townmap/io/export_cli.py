"""``townmap export``: a layer, a table or the whole workspace, in the formats
consultants use."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from townmap.settings import WORKSPACE_HELP, workspace_location


def _cmd_export(args: argparse.Namespace) -> int:
    from townmap.io.export import export_layer
    from townmap.settings import default_workspace, shell_actor
    from townmap.store import open_workspace

    ws = open_workspace(args.workspace or default_workspace(), actor=shell_actor())
    if args.all:
        from townmap.catalog import load_catalog
        from townmap.io.package import export_workspace

        out = export_workspace(ws, args.out, load_catalog(args.layers_dir))
        print(f"exported the whole workspace, with QGIS styles, to {out}")
        return 0
    if not args.layer:
        print("townmap: say which layer to export (--layer ID) or --all", file=sys.stderr)
        return 2
    out = export_layer(ws, args.layer, args.out, encoding=args.encoding)
    print(f"exported {args.layer} to {out}")
    return 0


def add_commands(sub) -> None:
    exp = sub.add_parser("export", help="export a layer or table (format from the file suffix)")
    which = exp.add_mutually_exclusive_group()
    which.add_argument("--layer", help="layer or table id in the workspace")
    which.add_argument(
        "--all",
        action="store_true",
        help="the whole workspace as one GeoPackage with QGIS styles (layer_styles)",
    )
    exp.add_argument(
        "--out",
        required=True,
        type=Path,
        help="file to write: .gpkg .geojson .shp .zip (zipped Shapefile) .kml .csv .xlsx",
    )
    exp.add_argument("--layers-dir", type=Path, default=None, help=argparse.SUPPRESS)
    exp.add_argument(
        "--workspace",
        type=workspace_location,
        default=None,
        help=f"{WORKSPACE_HELP} (default: $TOWNMAP_WORKSPACE, else the demo town)",
    )
    exp.add_argument(
        "--encoding",
        default="utf-8",
        choices=["utf-8", "gbk"],
        help="Shapefile text encoding (default utf-8, with a .cpg)",
    )
    exp.set_defaults(func=_cmd_export)
