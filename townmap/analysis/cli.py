"""``townmap conflicts``, ``townmap zones`` and ``townmap precheck``: the analyses from a shell."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from townmap.settings import WORKSPACE_HELP, workspace_location

FINDING_FORMATS = (".csv", ".gpkg", ".xlsx", ".geojson")


def _load(args):
    from townmap.analysis.rules import load_rules
    from townmap.catalog import load_catalog
    from townmap.own_layers import workspace_catalog
    from townmap.settings import default_workspace, shell_actor
    from townmap.store import open_workspace

    base = load_catalog(args.layers_dir)
    ws = open_workspace(args.workspace or default_workspace(), catalog=base, actor=shell_actor())
    catalog = workspace_catalog(ws, base)  # a rule may name the workspace's own layers
    rules = load_rules(args.rules_dir, catalog)
    for err in rules.errors:
        print(f"townmap: rule skipped: {err}", file=sys.stderr)
    for note in rules.skipped:
        print(f"townmap: rule skipped: {note}", file=sys.stderr)
    return catalog, rules, ws


def _cmd_conflicts(args: argparse.Namespace) -> int:
    import geopandas as gpd

    from townmap.analysis.checks import check_workspace
    from townmap.errors import UploadError
    from townmap.io.export import export_frame
    from townmap.io.export_cli import print_notes

    if args.out.suffix.lower() not in FINDING_FORMATS:
        raise UploadError(f"--out must end in one of {', '.join(FINDING_FORMATS)}")
    catalog, rules, ws = _load(args)
    result, geoms = check_workspace(ws, catalog, rules)
    findings = result.findings
    if args.out.suffix.lower() in (".gpkg", ".geojson"):
        findings = gpd.GeoDataFrame(findings, geometry=geoms.values, crs=result.crs)
    print_notes(export_frame(findings, args.out, "conflicts"))
    for note in result.skipped:
        print(f"note: rule not applied: {note}")
    counts = result.findings.groupby(["severity", "verification"]).size()
    for (severity, verification), n in counts.items():
        print(f"{n:6d}  {severity:<10}  {verification}")
    print(f"{len(result.findings)} finding(s) from {len(rules)} rule(s) written to {args.out}")
    return 0


def _cmd_zones(args: argparse.Namespace) -> int:
    from townmap.analysis.checks import workspace_context, workspace_layers
    from townmap.analysis.zones import check_zones, load_matrix
    from townmap.io.export import export_frame
    from townmap.io.export_cli import print_notes

    catalog, _rules, ws = _load(args)
    checks = check_zones(
        workspace_layers(ws, catalog), load_matrix(args.matrix), context=workspace_context(ws)
    )
    print_notes(export_frame(checks, args.out, "zone_checks"))
    for verdict, n in checks["verdict"].value_counts().items():
        print(f"{n:6d}  {verdict}")
    print(f"{len(checks)} zone × constraint overlap(s) written to {args.out}")
    return 0


def _sector_code(written: str, catalog) -> str:
    """The catalog's sector code for what the user typed: the code, or its Chinese or
    English label (印染, "Printing & dyeing"). Anything else is refused with the choices:
    an unknown sector would escape every sector rule (Art. 43's ban among them)."""
    from townmap.errors import UploadError
    from townmap.i18n import value_label

    choices = catalog["enterprises"].attribute("sector").choices or []
    known = {}
    for code in choices:
        for text in (code, value_label(code, "zh"), value_label(code, "en")):
            known[text.strip().casefold()] = code
    found = known.get(written.strip().casefold())
    if found is None:
        listed = ", ".join(f"{value_label(c, 'zh')} / {value_label(c, 'en')}" for c in choices)
        raise UploadError(f"unknown sector {written!r}; the catalog's sectors are: {listed}")
    return found


def _cmd_precheck(args: argparse.Namespace) -> int:
    import shapely

    from townmap.analysis.checks import catalog_keys, workspace_context, workspace_layers
    from townmap.analysis.precheck import precheck

    catalog, rules, ws = _load(args)
    result = precheck(
        workspace_layers(ws, catalog),
        rules,
        shapely.Point(args.lon, args.lat),
        sector=_sector_code(args.sector, catalog),
        size=args.size,
        flow_m3d=args.flow,
        context=workspace_context(ws),
        keys=catalog_keys(catalog),
    )
    if args.json:
        print(
            json.dumps(
                {
                    "findings": json.loads(result.findings.to_json(orient="records")),
                    "receiving_water": result.receiving,
                    "discharge_standard": result.standard,
                    "notes": result.notes,
                },
                ensure_ascii=False,
                indent=2,
                default=str,
            )
        )
        return 0
    if result.findings.empty:
        print("no rule is triggered at this site")
    for row in result.findings.itertuples():
        measured = (
            f"{row.distance_m:g} m (limit {row.limit_m:g} m)"
            if row.limit_m == row.limit_m  # not NaN
            else "inside"
        )
        print(
            f"{row.severity.upper():<10} [{row.verification}] {row.rule_id}: {row.title_en} — "
            f"{measured}; {row.instrument_en}, {row.article} ({row.version})"
        )
    water = result.receiving
    if water:
        print(
            f"receiving water: {water['name_en']} ({water['id']}), target class "
            f"{water['target_class']}, {water['basin']} basin, {water['distance_m']:g} m away"
        )
    std = result.standard
    print(f"discharge standard: {std['standard_id']} class {std['class'] or '—'} ({std['route']})")
    for note in std["notes"]:
        print(f"  · {note['en']}")
    for note in result.notes:
        print(f"note: {note}")
    return 0


def _cmd_hydrology(args: argparse.Namespace) -> int:
    from townmap.analysis.derive import derive_catchments

    _catalog, _rules, ws = _load(args)
    frame = derive_catchments(ws, args.min_area)
    for to, part in frame.groupby("drains_to"):
        print(f"{len(part):4d} catchment(s) draining to {to}: {part['tve_count'].sum()} TVEs")
    print(f"catchments written to the workspace layer 'catchments' ({len(frame)})")
    return 0


def _off_dem(flow, lon: float, lat: float, why: str) -> str:
    """One line naming the point, what is wrong with it and what the DEM covers."""
    from pyproj import Transformer

    w, s, e, n = Transformer.from_crs(flow.crs, 4326, always_xy=True).transform_bounds(*flow.bounds)
    return (
        f"no catchment: the point {lon:.4f}°E {lat:.4f}°N {why} (the DEM covers "
        f"{w:.3f}–{e:.3f}°E, {s:.3f}–{n:.3f}°N); choose a point on the DEM"
        + (" or import a DEM that covers it" if "outside" in why else "")
    )


def _cmd_catchment(args: argparse.Namespace) -> int:
    import geopandas as gpd
    import shapely
    from pyproj import Transformer

    from townmap.analysis.derive import LOADS, workspace_drainage
    from townmap.analysis.hydrology import summarise_catchments
    from townmap.io.export import export_frame
    from townmap.io.export_cli import print_notes

    _catalog, _rules, ws = _load(args)
    flow = workspace_drainage(ws)
    x, y = Transformer.from_crs(4326, flow.crs, always_xy=True).transform(args.lon, args.lat)
    why = flow.why_no_catchment(x, y, args.snap)
    if why:
        print(f"townmap: {_off_dem(flow, args.lon, args.lat, why)}", file=sys.stderr)
        return 2
    area = flow.catchment(x, y, snap_m=args.snap)
    outlet = flow.outlet_of([x], [y])
    frame = gpd.GeoDataFrame(
        {
            "catchment_id": ["POINT"],
            "drains_to": flow.drains_to(outlet),
            "area_km2": [round(area.area / 1e6, 3)],
        },
        geometry=[shapely.make_valid(area)],
        crs=flow.crs,
    )
    tve = ws.read_layer("enterprises") if ws.has_layer("enterprises") else None
    frame = summarise_catchments(frame, tve, LOADS)
    row = frame.iloc[0]
    print(
        f"upstream area {row['area_km2']:g} km², drains to {row['drains_to']}, "
        f"{row['tve_count']} TVEs, COD {row['cod_tpa']:g} t/a, TP {row['tp_tpa']:g} t/a"
    )
    if args.out:
        print_notes(export_frame(frame, args.out, "catchment"))
        print(f"written to {args.out}")
    return 0


def _cmd_siting(args: argparse.Namespace) -> int:
    import numpy as np
    import rasterio

    from townmap.analysis.checks import workspace_layers
    from townmap.analysis.siting import load_effluent, plan
    from townmap.analysis.suitability import suitability
    from townmap.errors import UploadError

    if args.out.suffix.lower() != ".gpkg":
        raise UploadError("--out must be a GeoPackage (.gpkg): sites, sewers, service areas")
    catalog, _rules, ws = _load(args)
    layers = workspace_layers(ws, catalog)
    dem = None
    if "dem" in ws.layer_names():
        with rasterio.open(ws.raster_path("dem")) as src:
            dem = (src.read(1), src.transform, src.crs, src.nodata)
    suit = suitability(layers, ws.crs, dem=dem)
    sites = suit.candidates
    result = plan(
        layers,
        sites,
        args.plants,
        dem=dem,
        capacity_m3d=args.capacity,
        effluent=load_effluent(args.standard),
        time_limit=args.time_limit,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    tmp.unlink(missing_ok=True)
    result.plants.to_file(tmp, layer="plants", driver="GPKG")
    result.sewers.to_file(tmp, layer="sewers", driver="GPKG")
    result.service_areas.to_file(tmp, layer="service_areas", driver="GPKG")
    sites.to_file(tmp, layer="candidate_sites", driver="GPKG")
    tmp.replace(args.out)
    raster = args.out.with_name(args.out.stem + "_suitability.tif")
    with rasterio.open(
        raster,
        "w",
        driver="GTiff",
        width=suit.score.shape[1],
        height=suit.score.shape[0],
        count=1,
        dtype="float32",
        crs=suit.crs,
        transform=suit.transform,
        nodata=-1,
        compress="deflate",
    ) as dst:
        dst.write(np.where(np.isfinite(suit.score), suit.score, -1).astype("float32"), 1)
    summary_path = args.out.with_suffix(".json")
    summary_path.write_text(json.dumps(result.summary, ensure_ascii=False, indent=2))
    s = result.summary
    proof = (
        "proven optimal" if s["proven_optimal"] else f"{s['status']}, gap {100 * s['gap']:.3g} %"
    )
    print(
        f"{s['k']} plant(s), {s['factories_connected']} factories connected "
        f"({s['flow_connected_m3d']:g} m³/d), sewers {s['sewer_length_m'] / 1000:.1f} km, "
        f"cost {s['total_cost_cny'] / 1e4:,.0f} 万元 ({proof})"
    )
    print(
        "load removed (t/a): " + ", ".join(f"{k} {v:g}" for k, v in s["load_removed_tpa"].items())
    )
    print(
        f"costs are planning assumptions ({s['cost_verification']}); effluent at "
        f"{s['effluent_standard']} ({s['effluent_verification']})"
    )
    print(f"written to {args.out}, {summary_path} and {raster} (suitability 0–1)")
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workspace", type=workspace_location, default=None, help=WORKSPACE_HELP)
    parser.add_argument("--layers-dir", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--rules-dir", type=Path, default=None, help="folder of rule files (default: layers/rules)"
    )


def add_commands(sub) -> None:
    con = sub.add_parser("conflicts", help="check every siting rule on the workspace")
    _common(con)
    con.add_argument(
        "--out", required=True, type=Path, help="findings file: .csv .xlsx .gpkg .geojson"
    )
    con.set_defaults(func=_cmd_conflicts)

    zones = sub.add_parser("zones", help="check planning zones against environmental layers")
    _common(zones)
    zones.add_argument("--matrix", type=Path, default=None, help=argparse.SUPPRESS)
    zones.add_argument("--out", required=True, type=Path, help="result file: .csv .xlsx .gpkg")
    zones.set_defaults(func=_cmd_zones)

    hyd = sub.add_parser("hydrology", help="derive catchments from the DEM into the workspace")
    _common(hyd)
    hyd.add_argument("--min-area", type=float, default=0.5, help="smallest catchment, km²")
    hyd.set_defaults(func=_cmd_hydrology)

    cat = sub.add_parser("catchment", help="the area draining to a point (WGS 84)")
    _common(cat)
    cat.add_argument("--lon", type=float, required=True)
    cat.add_argument("--lat", type=float, required=True)
    cat.add_argument(
        "--snap", type=float, default=100.0, help="snap to the largest stream within m"
    )
    cat.add_argument("--out", type=Path, default=None, help="write the polygon (.gpkg …)")
    cat.set_defaults(func=_cmd_catchment)

    sit = sub.add_parser("siting", help="choose shared sewage plant sites and who they serve")
    _common(sit)
    sit.add_argument("--plants", type=int, required=True, help="number of plants, k")
    sit.add_argument("--capacity", type=float, default=None, help="plant capacity, m³/d")
    sit.add_argument(
        "--standard",
        default="gb18918_1a",
        help="effluent standard: gb18918_1a, db32_1072_table1, db32_1072_table2",
    )
    sit.add_argument("--time-limit", type=float, default=30.0, help="solver time limit, s")
    sit.add_argument("--out", required=True, type=Path, help="result GeoPackage (.gpkg)")
    sit.set_defaults(func=_cmd_siting)

    pre = sub.add_parser("precheck", help="which rules would a proposed project trigger?")
    _common(pre)
    pre.add_argument("--lon", type=float, required=True, help="longitude, WGS 84")
    pre.add_argument("--lat", type=float, required=True, help="latitude, WGS 84")
    pre.add_argument("--sector", required=True, help="e.g. printing_dyeing, machinery")
    pre.add_argument("--size", default="small", choices=["micro", "small", "medium", "large"])
    pre.add_argument("--flow", type=float, default=0.0, help="wastewater flow, m³/d")
    pre.add_argument("--json", action="store_true", help="print the result as JSON")
    pre.set_defaults(func=_cmd_precheck)
