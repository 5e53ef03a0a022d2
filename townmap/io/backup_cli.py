"""``townmap workspace backup`` and ``townmap workspace restore``."""

from __future__ import annotations

import argparse
from pathlib import Path


def _cmd_backup(args: argparse.Namespace) -> int:
    from townmap.io.backup import backup
    from townmap.settings import default_workspace
    from townmap.workspace import Workspace

    out = backup(Workspace(args.workspace or default_workspace()), args.out)
    print(f"backup written to {out} ({out.stat().st_size / 2**20:.1f} MB)")
    return 0


def _cmd_restore(args: argparse.Namespace) -> int:
    from townmap.io.backup import restore
    from townmap.settings import default_workspace

    ws = restore(args.archive, args.workspace or default_workspace(), force=args.force)
    print(f"restored {args.archive} into {ws.folder} ({len(ws.layer_names())} layers)")
    return 0


def add_commands(sub) -> None:
    ws = sub.add_parser("workspace", help="back up or restore a workspace")
    cmds = ws.add_subparsers(dest="workspace_command", required=True)
    b = cmds.add_parser("backup", help="a consistent snapshot as one .zip")
    b.add_argument("--workspace", type=Path, default=None, help="workspace folder")
    b.add_argument("--out", type=Path, required=True, help="FILE.zip")
    b.set_defaults(func=_cmd_backup)
    r = cmds.add_parser("restore", help="put a backup in place (checked first)")
    r.add_argument("archive", type=Path, help="a backup .zip")
    r.add_argument("--workspace", type=Path, default=None, help="workspace folder")
    r.add_argument("--force", action="store_true", help="replace an existing workspace")
    r.set_defaults(func=_cmd_restore)
