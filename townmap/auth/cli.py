"""``townmap users add|remove|reset|list``: passwords are read without echo (or from
standard input for scripts) and never printed."""

from __future__ import annotations

import argparse
import getpass
import sys

from townmap.settings import WORKSPACE_HELP, workspace_location


def _password(args) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        from townmap.errors import UploadError

        raise UploadError("the two passwords differ")
    return first


def _ws(args):
    from townmap.settings import default_workspace, shell_actor
    from townmap.store import open_workspace

    return open_workspace(args.workspace or default_workspace(), actor=shell_actor())


def _cmd(args: argparse.Namespace) -> int:
    from townmap.auth import users

    ws = _ws(args)
    if args.users_command == "list":
        table = users.list_users(ws)
        print(table.to_string(index=False) if len(table) else "no users: single-user mode")
    elif args.users_command == "add":
        if args.sso:
            users.add_user(ws, args.user, args.role, sso=True)
        else:
            users.add_user(ws, args.user, args.role, _password(args))
        print(f"user {args.user} added as {args.role}")
    elif args.users_command == "remove":
        users.remove_user(ws, args.user)
        print(f"user {args.user} removed")
    else:
        users.reset_password(ws, args.user, _password(args), role=args.role)
        print(f"user {args.user}: password reset")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("users", help="users and roles of a shared workspace")
    cmds = p.add_subparsers(dest="users_command", required=True)
    for name, helptext in (
        ("add", "add a user"),
        ("remove", "remove a user"),
        ("reset", "set a new password (and optionally role)"),
        ("list", "list users and roles"),
    ):
        c = cmds.add_parser(name, help=helptext)
        c.add_argument("--workspace", type=workspace_location, default=None, help=WORKSPACE_HELP)
        if name != "list":
            c.add_argument("user")
        if name in ("add", "reset"):
            roles = ["administrator", "planner", "consultant", "public"]
            c.add_argument("--role", required=name == "add", choices=roles)
            c.add_argument(
                "--password-stdin",
                action="store_true",
                help="read the password from standard input (scripts)",
            )
        if name == "add":
            c.add_argument(
                "--sso",
                action="store_true",
                help="USER is an e-mail address signing in through the bureau's "
                "identity provider (st.login); no password",
            )
        c.set_defaults(func=_cmd)
