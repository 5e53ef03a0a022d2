"""Who may do what: the roles file and the one check the workspace's door makes.

Kept apart from ``users`` (which stores and signs in users) so that the store can ask it
at the door of every transaction without importing anything that imports the store.
"""

from __future__ import annotations

import tomllib

from townmap.errors import AccessDenied

#: Townmap's own record tables the check reads (stored by the workspace, never exported)
USERS_TABLE = "townmap_users"
IMPORT_LOG = "townmap_imports"


def roles() -> dict[str, dict]:
    from townmap.settings import layers_dir

    return tomllib.loads((layers_dir() / "auth" / "roles.toml").read_text(encoding="utf-8"))


def authorize(role: str | None, action: str) -> None:
    """Raise AccessDenied (a PermissionError) unless ``role`` may do ``action`` (server side)."""
    allowed = roles().get(role or "", {}).get("may", [])
    if action not in allowed:
        what = action.replace("_", " ")
        raise AccessDenied(
            f"the role {role or 'none'!r} may not {what}: sign in with a role that may"
        )


def has_users(reader) -> bool:
    """Whether the workspace (or the transaction's locked view of it) has any users."""
    table = reader.read_internal_table(USERS_TABLE)
    return table is not None and len(table) > 0


def imported_by(reader, layer_id: str) -> str | None:
    """Who made the import that put ``layer_id``'s current content in place, if anyone."""
    if not reader.has_table(IMPORT_LOG):
        return None
    log = reader.read_table(IMPORT_LOG)
    mine = log[(log["layer_id"].astype(str) == layer_id) & (log["undone"].astype(str) == "false")]
    return None if mine.empty else str(mine["user"].iloc[-1])


def role_now(reader, actor) -> str | None:
    """The actor's role as the users table says *now* (a session that signed in before a
    user was removed or demoted keeps no more than the table gives). The command line is
    trusted as administrator: whoever runs it holds the workspace files."""
    if actor.shell:
        return "administrator"
    table = reader.read_internal_table(USERS_TABLE)
    if table is None or not len(table) or not actor.user:
        return None
    row = table[table["user"].astype(str).str.lower() == actor.user.lower()]
    return str(row["role"].iloc[0]) if len(row) else None


def admit(reader, actor, action: str, layer: str | None = None) -> None:
    """The door: a workspace without users is the single-user default (everything
    allowed); with users, the actor's role in the users table decides. ``edit`` of one
    ``layer`` also lets a consultant through for the layers they imported themselves
    (the import log says who)."""
    if not has_users(reader):
        return
    role = role_now(reader, actor)
    if role is None and actor.user and actor.role:
        raise AccessDenied(f"{actor.user!r} is not a user of this workspace (any more)")
    allowed = roles().get(role or "", {}).get("may", [])
    if action in allowed:
        return
    if action == "edit" and layer and "edit_own_imports" in allowed:
        if actor.user and imported_by(reader, layer) == actor.user:
            return
        raise AccessDenied(
            f"a {role} edits only layers they imported; {layer!r} was not imported by "
            f"{actor.user or 'them'}"
        )
    authorize(role, action)


def require(ws, action: str) -> None:
    """The same check for a read that needs a right (exports): the workspace's actor."""
    admit(ws, ws.actor, action)
