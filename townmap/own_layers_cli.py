"""``townmap own-layer rename|restyle|delete``: a consultant's own layers, without code."""

from __future__ import annotations

import argparse

from townmap.settings import add_workspace_argument


def _open(args: argparse.Namespace):
    from townmap.settings import default_workspace, shell_actor
    from townmap.store import open_workspace

    return open_workspace(args.workspace or default_workspace(), actor=shell_actor())


def _cmd_rename(args: argparse.Namespace) -> int:
    from townmap.own_layers import change, renamed

    spec = change(_open(args), args.id, lambda s, _f: renamed(s, args.label_zh, args.label_en))
    print(f"{spec.id} is now named {spec.label.zh} / {spec.label.en}")
    return 0


def _cmd_restyle(args: argparse.Namespace) -> int:
    from townmap.own_layers import change, restyled

    by = "" if args.no_categories else args.by
    spec = change(_open(args), args.id, lambda s, f: restyled(s, f, args.color, by))
    how = f", coloured by {spec.style.by}" if spec.style.by else ""
    print(f"{spec.id} is drawn in {spec.style.color}{how}")
    return 0


def _cmd_delete(args: argparse.Namespace) -> int:
    from townmap.own_layers import delete

    forgotten = delete(_open(args), args.id)
    print(f"own layer {args.id} deleted, with its data")
    if forgotten:
        print(
            f"its {forgotten} import(s) can no longer be undone; undo-import goes on with "
            "the imports before them"
        )
    return 0


def add_commands(sub) -> None:
    own = sub.add_parser("own-layer", help="rename, restyle or delete an own layer")
    verbs = own.add_subparsers(dest="verb", required=True)
    for name, func, text in (
        ("rename", _cmd_rename, "give an own layer new names"),
        ("restyle", _cmd_restyle, "colour an own layer, or colour it by a column"),
        ("delete", _cmd_delete, "delete an own layer and its data"),
    ):
        p = verbs.add_parser(name, help=text)
        p.add_argument("id", help="the own layer's id (see 'townmap layers')")
        add_workspace_argument(p)
        if name == "rename":
            p.add_argument("--label-zh", default=None)
            p.add_argument("--label-en", default=None)
        if name == "restyle":
            p.add_argument("--color", default=None, help="#rrggbb")
            p.add_argument("--by", default=None, help="colour by the values of this column")
            p.add_argument("--no-categories", action="store_true", help="one colour again")
        p.set_defaults(func=func)
