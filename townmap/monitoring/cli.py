"""``townmap classify``: GB 3838 classes for a workspace's samples or a plain CSV."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from townmap.settings import WORKSPACE_HELP, workspace_location

REQUIRED = ("station", "water_type", "time", "parameter", "value")


def _from_csv(path: Path) -> pd.DataFrame:
    from townmap.errors import UploadError
    from townmap.io.encoding import detect_bytes

    raw = path.read_bytes()
    if not raw.strip():
        raise UploadError(f"{path.name} is empty")
    frame = pd.read_csv(path, dtype=str, encoding=detect_bytes(raw).encoding)
    frame.columns = [c.strip().lower() for c in frame.columns]
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise UploadError(
            f"{path.name} lacks the column(s) {', '.join(missing)}; "
            f"expected {', '.join(REQUIRED)} and optionally unit"
        )
    bad = ~frame["water_type"].str.strip().str.lower().isin(["river", "lake"])
    if bad.any():
        row = int(bad.to_numpy().argmax()) + 2
        raise UploadError(f"row {row}: water_type must be river or lake")
    frame["water_type"] = frame["water_type"].str.strip().str.lower()
    return frame


def _from_workspace(ws) -> pd.DataFrame:
    samples = ws.read_table("water_samples")
    stations = ws.read_layer("monitoring_stations")[["station_id", "water_type"]]
    frame = samples.merge(stations, on="station_id", how="left")
    return frame.rename(columns={"station_id": "station", "sampled_at": "time"})


def _cmd_classify(args: argparse.Namespace) -> int:
    from townmap.errors import UploadError
    from townmap.monitoring.lab_data import REASONS, read_lab_values
    from townmap.monitoring.quality import classify as run
    from townmap.monitoring.quality import load_standard

    if args.samples is None:
        from townmap.settings import default_workspace, shell_actor
        from townmap.store import open_workspace

        frame = _from_workspace(
            open_workspace(args.workspace or default_workspace(), actor=shell_actor())
        )
    else:
        if not args.samples.is_file():
            raise UploadError(f"{args.samples} does not exist")
        frame = _from_csv(args.samples)
    reading = read_lab_values(frame, ["station", "time"])
    for row in reading.refused.itertuples():
        line = f"row {row.row + 2}" if args.samples is not None else f"row {row.row + 1}"
        print(f"refused: {line}: {row.parameter} = {row.value} {row.unit}: {REASONS[row.reason]}")
    if len(reading.ignored):
        names = ", ".join(map(str, pd.unique(reading.ignored["parameter"].astype(str))))
        print(
            f"ignored: {len(reading.ignored)} result(s) of parameters Townmap does not "
            f"know: {names}"
        )
    frame = reading.frame
    result = run(frame, load_standard())
    result = result.sort_values(["station", "time"]).reset_index(drop=True)
    if args.out.suffix.lower() not in (".csv", ".xlsx"):
        raise UploadError("--out must end in .csv or .xlsx")
    if args.out.suffix.lower() == ".csv":
        result.to_csv(args.out, index=False, encoding="utf-8")
    else:
        from townmap.io.export import export_frame
        from townmap.io.export_cli import print_notes

        print_notes(export_frame(result, args.out, "classes"))
    counts = result["class"].value_counts().sort_index()
    print(", ".join(f"class {int(k)}: {v}" for k, v in counts.items()))
    print(f"{len(result)} station-time row(s) written to {args.out}")
    return 0


def _cmd_compliance(args: argparse.Namespace) -> int:
    from townmap.errors import UploadError
    from townmap.io.export import export_frame, export_sheets
    from townmap.io.export_cli import print_notes
    from townmap.monitoring.compliance import workspace_compliance
    from townmap.settings import default_workspace, shell_actor
    from townmap.store import open_workspace

    suffix = args.out.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise UploadError("--out must end in .csv or .xlsx")
    try:
        result = workspace_compliance(
            open_workspace(args.workspace or default_workspace(), actor=shell_actor())
        )
    except ValueError as exc:
        raise UploadError(str(exc)) from None
    tables = {
        "findings": result.findings,
        "samples": result.samples,
        "monthly": result.monthly,
        "offenders": result.offenders,
        "limits": result.points,
    }
    if suffix == ".xlsx":
        export_sheets(tables, args.out)
        written = [args.out]
    else:
        written = [export_frame(result.findings, args.out, "findings")]
        for name in ("samples", "monthly", "offenders", "limits"):
            target = args.out.with_name(f"{args.out.stem}_{name}.csv")
            written.append(export_frame(tables[name], target, name))
        for path in written:
            print_notes(path)
    s = result.samples
    unverified = int((result.findings["verification"] != "verified").sum())
    print(
        f"{len(s)} sample(s) at {s['dp_id'].nunique()} discharge point(s): "
        f"{int(s['compliant'].sum())} compliant ({s['compliant'].mean():.0%}); "
        f"{len(result.offenders)} repeat offender(s)"
    )
    if unverified:
        print(
            f"{unverified} of {len(result.findings)} value(s) were judged against limits that "
            "are not fully verified (see the verification column)"
        )
    print("written: " + ", ".join(str(p) for p in written))
    return 0


def add_commands(sub) -> None:
    cls = sub.add_parser("classify", help="GB 3838 class of every sample (station and time)")
    src = cls.add_mutually_exclusive_group()
    src.add_argument("--workspace", type=workspace_location, default=None, help=WORKSPACE_HELP)
    src.add_argument(
        "--samples",
        type=Path,
        default=None,
        help="long CSV: station, water_type (river|lake), time, parameter, value[, unit]",
    )
    cls.add_argument("--out", required=True, type=Path, help="result .csv or .xlsx")
    cls.set_defaults(func=_cmd_classify)
    comp = sub.add_parser("compliance", help="effluent samples against their discharge limits")
    comp.add_argument("--workspace", type=workspace_location, default=None, help=WORKSPACE_HELP)
    comp.add_argument(
        "--out",
        required=True,
        type=Path,
        help=".xlsx (one sheet per table) or .csv (findings; the other tables beside it)",
    )
    comp.set_defaults(func=_cmd_compliance)
