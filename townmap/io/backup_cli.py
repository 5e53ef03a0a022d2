"""``townmap workspace backup``, ``restore`` and ``copy``."""

from __future__ import annotations

import argparse
from pathlib import Path

from townmap.settings import WORKSPACE_HELP, workspace_location


def _cmd_backup(args: argparse.Namespace) -> int:
    from townmap.io.backup import backup
    from townmap.settings import default_workspace, shell_actor
    from townmap.store import open_workspace

    out = backup(
        open_workspace(args.workspace or default_workspace(), actor=shell_actor()), args.out
    )
    print(f"backup written to {out} ({out.stat().st_size / 2**20:.1f} MB)")
    return 0


def _cmd_restore(args: argparse.Namespace) -> int:
    from townmap.io.backup import restore
    from townmap.settings import default_workspace

    ws = restore(args.archive, args.workspace or default_workspace(), force=args.force)
    print(f"restored {args.archive} into {_shown(ws)} ({len(ws.layer_names())} layers)")
    return 0


def _shown(ws) -> str:
    from townmap.store import redact

    return redact(ws.location)


def _cmd_copy(args: argparse.Namespace) -> int:
    from townmap.store.copy import copy_workspace

    ws = copy_workspace(args.source, args.destination, force=args.force)
    print(f"copied the workspace into {_shown(ws)} ({len(ws.layer_names())} layers)")
    return 0


def add_commands(sub) -> None:
    ws = sub.add_parser("workspace", help="back up, restore or copy a workspace")
    cmds = ws.add_subparsers(dest="workspace_command", required=True)
    b = cmds.add_parser("backup", help="a consistent snapshot as one .zip")
    b.add_argument("--workspace", type=workspace_location, default=None, help=WORKSPACE_HELP)
    b.add_argument("--out", type=Path, required=True, help="FILE.zip")
    b.set_defaults(func=_cmd_backup)
    r = cmds.add_parser("restore", help="put a backup in place (checked first)")
    r.add_argument("archive", type=Path, help="a backup .zip")
    r.add_argument("--workspace", type=workspace_location, default=None, help=WORKSPACE_HELP)
    r.add_argument("--force", action="store_true", help="replace an existing workspace")
    r.set_defaults(func=_cmd_restore)
    c = cmds.add_parser("copy", help="copy a whole workspace (GeoPackage folder ⇄ PostGIS)")
    c.add_argument("source", type=workspace_location, help=WORKSPACE_HELP)
    c.add_argument("destination", type=workspace_location, help=WORKSPACE_HELP)
    c.add_argument("--force", action="store_true", help="replace an existing workspace")
    c.set_defaults(func=_cmd_copy)
