"""``townmap export``: a layer, a table or the whole workspace, in the formats
consultants use."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from townmap.settings import add_workspace_argument


def _cmd_export(args: argparse.Namespace) -> int:
    from townmap.io.export import export_layer
    from townmap.settings import default_workspace, shell_actor
    from townmap.store import open_workspace

    ws = open_workspace(args.workspace or default_workspace(), actor=shell_actor())
    if args.all:
        from townmap.catalog import load_catalog
        from townmap.io.package import export_workspace

        if args.crs is not None:
            print(
                "townmap: the whole workspace keeps its own CRS (--crs is for --layer)",
                file=sys.stderr,
            )
            return 2
        out = export_workspace(ws, args.out, load_catalog(args.layers_dir))
        print_notes(out)
        print(f"exported the whole workspace, with QGIS styles, to {out}")
        return 0
    if not args.layer:
        print("townmap: say which layer to export (--layer ID) or --all", file=sys.stderr)
        return 2
    out = export_layer(
        ws, args.layer, args.out, encoding=args.encoding, crs=args.crs, lang=args.lang
    )
    print_notes(out)
    print(f"exported {args.layer} to {out}")
    return 0


def print_notes(out) -> None:
    """What the export changed or wants known (GDAL's warnings included: main() filters
    them, so the export functions return them as notes)."""
    for note in getattr(out, "notes", ()):
        print(f"note: {note}")


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
        help="file to write: .gpkg .geojson .shp .zip (zipped Shapefile) .kml .fgb "
        ".parquet (GeoParquet) .csv .xlsx, or .tif for the DEM",
    )
    exp.add_argument(
        "--crs",
        default=None,
        metavar="CRS",
        help="coordinates: workspace (default for .gpkg .shp .zip .fgb .parquet), wgs84 "
        "(default for .geojson .kml .csv .xlsx), cgcs2000 (EPSG:4490), gcj02 / bd09 (AMap / "
        "Baidu web-map offsets, written as WGS 84 with a coord_sys field), or EPSG:nnnn",
    )
    exp.add_argument(
        "--lang",
        default=None,
        choices=["zh", "en"],
        help="language of KML placemark names (default: the app's default language)",
    )
    exp.add_argument("--layers-dir", type=Path, default=None, help=argparse.SUPPRESS)
    add_workspace_argument(exp)
    exp.add_argument(
        "--encoding",
        default="utf-8",
        choices=["utf-8", "gbk"],
        help="Shapefile text encoding (default utf-8, with a .cpg)",
    )
    exp.set_defaults(func=_cmd_export)
