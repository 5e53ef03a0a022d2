"""The ``townmap`` command: the library's functions, scriptable.

Every failure Townmap expects (bad files, missing workspace, wrong CRS) ends in one line on
stderr that says what was wrong and what to do, and a non-zero exit code; never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from townmap import __version__
from townmap.errors import TownmapError
from townmap.settings import (
    DEMO_ENTERPRISES,
    DEMO_SEED,
    add_workspace_argument,
)


def _cmd_demo(args: argparse.Namespace) -> int:
    from townmap.demo.build import build_demo
    from townmap.settings import data_home

    if args.out is None:
        args.out = data_home() / "demo"

    if args.county:
        from townmap.demo.county import build_county

        ws = build_county(args.out, towns=args.county, per_town=args.per_town, force=args.force)
        print(f"county demo written to {ws.location} ({args.county} towns; fictional data)")
        return 0
    n = args.scale if args.scale is not None else args.enterprises
    ws = build_demo(
        args.out, seed=args.seed, n_enterprises=n, force=args.force, stress=args.scale is not None
    )
    layers = ws.layer_names()
    print(f"demo workspace written to {ws.location} ({len(layers)} layers; fictional data)")
    return 0


_GEOMETRY = {"point": "Point", "line": "LineString", "polygon": "Polygon"}


def _cmd_import(args: argparse.Namespace) -> int:
    from townmap.catalog import load_catalog
    from townmap.io.importer import ImportOptions, NewLayer, commit_import, plan_import
    from townmap.io.mapping import mapping_from_pairs, parse_pairs
    from townmap.own_layers import workspace_catalog
    from townmap.settings import default_workspace, shell_actor
    from townmap.store import open_workspace

    if bool(args.layer) == bool(args.new_layer):
        print("townmap: say --layer ID (a layer of the catalog) or --new-layer ID", file=sys.stderr)
        return 2
    ws = open_workspace(
        args.workspace or default_workspace(),
        catalog=load_catalog(args.layers_dir),
        actor=shell_actor(),
    )
    catalog = workspace_catalog(ws)
    town = ws.read_layer("town") if ws.has_layer("town") else None
    hint = float(town.to_crs(4326).total_bounds[[0, 2]].mean()) if town is not None else None
    layer_id = args.layer or args.new_layer
    mapping = None
    if args.map:
        if args.new_layer or layer_id not in catalog:
            print("townmap: --map is for catalog layers (see 'townmap layers')", file=sys.stderr)
            return 2
        mapping = mapping_from_pairs(parse_pairs(args.map, "--map"), catalog[layer_id])
    options = ImportOptions(
        layer_id,
        encoding=args.encoding,
        crs=args.crs,
        datum=args.datum,
        source_layer=args.source_layer,
        mapping=mapping if mapping is not None else ({} if args.no_guess else None),
        guess_the_rest=not args.no_guess,
        fixed=dict(parse_pairs(args.set, "--set")) or None,
        mode=args.mode,
        new_layer=NewLayer(args.label_zh, args.label_en, args.group, _GEOMETRY.get(args.geometry))
        if args.new_layer
        else None,
    )
    plan = plan_import(args.file, options, catalog, hint_lon=hint, ws=ws)
    for note in plan.notes:
        print(f"note: {note}")
    for problem in plan.problems[:30]:
        print(f"problem: {problem}")
    if len(plan.problems) > 30:
        print(f"problem: … and {len(plan.problems) - 30} more")
    for warning in getattr(plan, "warnings", []):
        print(f"warning: {warning}")
    if getattr(plan, "merge_summary", ""):
        print(f"note: the import {plan.merge_summary}")
    if not plan.ok:
        print("townmap: nothing imported: " + "; ".join(plan.blocking), file=sys.stderr)
        return 2
    unit = "cell(s)" if plan.spec.kind == "raster" else "feature(s)"
    if args.dry_run:
        print(f"dry run: {plan.count} {unit} would be imported into {plan.spec.id}")
        return 0
    record = commit_import(ws, plan)
    print(
        f"imported {record['features']} {unit} into {plan.spec.id} "
        f"({record['repaired']} repaired, {record['dropped']} skipped)"
    )
    return 0


def _cmd_undo_import(args: argparse.Namespace) -> int:
    from townmap.catalog import load_catalog
    from townmap.io.importer import undo_last_import
    from townmap.settings import default_workspace, shell_actor
    from townmap.store import open_workspace

    ws = open_workspace(
        args.workspace or default_workspace(), catalog=load_catalog(), actor=shell_actor()
    )
    record = undo_last_import(ws)
    print(
        f"undid the import of {record['file_name']} into {record['layer_id']} "
        f"({record['imported_at']})"
    )
    return 0


def _cmd_layers(args: argparse.Namespace) -> int:
    from townmap.catalog import load_catalog
    from townmap.settings import default_workspace
    from townmap.store import open_workspace, workspace_exists

    catalog = load_catalog(args.layers_dir)
    folder = args.workspace or default_workspace()
    explicit = args.workspace is not None
    has_ws = explicit or workspace_exists(folder)
    ws = open_workspace(folder, catalog=catalog) if has_ws else None
    if ws is not None:
        from townmap.own_layers import workspace_catalog

        catalog = workspace_catalog(ws, catalog)  # the workspace's own layers listed too
    rows = [("id", "group", "kind", "geometry", "features", "crs", "label")]
    for spec in catalog:
        if ws is not None and ws.has_layer(spec.id):
            info = ws.layer_info(spec.id)
            count, crs = str(info.features), info.crs or "-"
        else:
            count, crs = "missing" if ws is not None else "-", "-"
        geometry = spec.geometry or spec.kind
        rows.append(
            (
                spec.id,
                spec.group,
                spec.kind,
                geometry,
                count,
                crs,
                f"{spec.label.zh} / {spec.label.en}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])
    if ws is None:
        print(
            f"(no workspace at {folder}: feature counts not shown; "
            "build one with 'townmap demo --out DIR')",
            file=sys.stderr,
        )
    elif ws.is_fictional:
        print("workspace holds FICTIONAL demo data / 虚构示例数据", file=sys.stderr)
    for err in catalog.errors:
        print(f"error: {err}", file=sys.stderr)
    return 1 if catalog.errors else 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from townmap.settings import default_workspace
    from townmap.store import workspace_exists
    from townmap.ui.server import serve

    location = args.workspace or default_workspace()
    if not workspace_exists(location):
        print(
            f"townmap: no workspace at {location}: build the demo town with 'townmap demo' "
            "or name one with --workspace",
            file=sys.stderr,
        )
        return 2
    return serve(location, args.address, args.port)


def _workspace_arg(parser: argparse.ArgumentParser) -> None:
    add_workspace_argument(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="townmap",
        description="Townmap: environmental planning and monitoring for small towns "
        "(Lake Tai basin). Run 'townmap COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"townmap {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = sub.add_parser("demo", help="build the fictional demo town into a workspace folder")
    demo.add_argument(
        "--out",
        type=Path,
        default=None,
        help="workspace folder to write (default: the one 'townmap serve' opens, "
        "data/demo in a checkout, ~/.local/share/townmap/demo when installed)",
    )
    demo.add_argument(
        "--seed",
        type=int,
        default=DEMO_SEED,
        help=f"random seed (default: {DEMO_SEED}, the published demo)",
    )
    size = demo.add_mutually_exclusive_group()
    size.add_argument(
        "--enterprises",
        type=int,
        default=DEMO_ENTERPRISES,
        metavar="N",
        help=f"number of enterprises (default: {DEMO_ENTERPRISES})",
    )
    size.add_argument(
        "--scale",
        type=int,
        default=None,
        metavar="N",
        help="stress test: the same town with N enterprises (e.g. 50000)",
    )
    size.add_argument(
        "--county",
        type=int,
        default=None,
        metavar="TOWNS",
        help="county demo: TOWNS towns side by side (50 → 100,000 TVEs, ≈ 5 M samples)",
    )
    demo.add_argument(
        "--per-town",
        type=int,
        default=2_000,
        metavar="N",
        help="enterprises per town of the county demo (default 2000)",
    )
    demo.add_argument("--force", action="store_true", help="replace an existing workspace")
    demo.set_defaults(func=_cmd_demo)

    imp = sub.add_parser(
        "import", help="import a GIS file or table into a layer or a new own layer"
    )
    imp.add_argument(
        "file",
        type=Path,
        help="GeoPackage, Shapefile (zipped or not), GeoJSON, KML/KMZ, GPX, CSV, Excel, GeoTIFF…",
    )
    target = imp.add_mutually_exclusive_group()
    target.add_argument("--layer", help="layer id (see 'townmap layers'), own layers included")
    target.add_argument(
        "--new-layer",
        metavar="ID",
        help="make a new own layer of this workspace from the file (its columns kept)",
    )
    imp.add_argument("--label-zh", default=None, help="Chinese name of a new layer")
    imp.add_argument("--label-en", default=None, help="English name of a new layer")
    imp.add_argument("--group", default=None, help="layer-control group of a new layer")
    imp.add_argument(
        "--geometry",
        choices=list(_GEOMETRY),
        default=None,
        help="which kind a new layer takes from a file holding several (import it again "
        "for another)",
    )
    imp.add_argument(
        "--map",
        action="append",
        metavar="SRC=DST",
        help="file column SRC fills attribute DST (repeatable; one SRC may fill several)",
    )
    imp.add_argument(
        "--no-guess",
        action="store_true",
        help="fill only the attributes --map names (without it the others are matched "
        "to columns of the same or a similar name)",
    )
    imp.add_argument(
        "--set",
        action="append",
        metavar="DST=VALUE",
        help="one value for attribute DST in every row, e.g. basin=taihu (repeatable)",
    )
    imp.add_argument(
        "--mode",
        choices=["replace", "append", "update"],
        default=None,
        help="when the layer holds features: replace them, append, or update by key",
    )
    _workspace_arg(imp)
    imp.add_argument("--encoding", default=None, help="text encoding, e.g. gbk (default: detect)")
    imp.add_argument("--crs", default=None, help="CRS when the file has none, e.g. EPSG:4549")
    imp.add_argument(
        "--datum",
        choices=["gcj02", "bd09"],
        default=None,
        help="correct points copied from Chinese web maps to WGS 84",
    )
    imp.add_argument(
        "--source-layer",
        default=None,
        help="layer inside a GeoPackage or zip, or sheet of an XLSX workbook",
    )
    imp.add_argument("--layers-dir", type=Path, default=None, help=argparse.SUPPRESS)
    imp.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    imp.set_defaults(func=_cmd_import)

    undo = sub.add_parser("undo-import", help="undo the last import into the workspace")
    _workspace_arg(undo)
    undo.set_defaults(func=_cmd_undo_import)

    from townmap.io.export_cli import add_commands as add_export
    from townmap.own_layers_cli import add_commands as add_own

    add_export(sub)
    add_own(sub)
    from townmap.analysis.cli import add_commands
    from townmap.monitoring.cli import add_commands as add_monitoring
    from townmap.report.cli import add_commands as add_report

    add_commands(sub)
    add_monitoring(sub)
    add_report(sub)
    from townmap.io.backup_cli import add_commands as add_backup

    add_backup(sub)
    from townmap.auth.cli import add_commands as add_users

    add_users(sub)

    srv = sub.add_parser(
        "serve",
        help="start the app in the browser, with Townmap's server settings enforced "
        "(loopback, no usage statistics, XSRF on, upload limit)",
    )
    _workspace_arg(srv)
    srv.add_argument(
        "--address",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only)",
    )
    srv.add_argument("--port", type=int, default=8501, help="port (default 8501)")
    srv.set_defaults(func=_cmd_serve)

    layers = sub.add_parser("layers", help="list the layer catalog with feature counts and CRS")
    _workspace_arg(layers)
    layers.add_argument(
        "--layers-dir", type=Path, default=None, help="folder of layer files (default: layers/)"
    )
    layers.set_defaults(func=_cmd_layers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="pyogrio")
    try:
        return args.func(args)
    except TownmapError as exc:
        print(f"townmap: {exc}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:
        print(f"townmap: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("townmap: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
