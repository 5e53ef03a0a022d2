"""Users of a workspace, stored in it (``townmap_users``: they back up and restore with
it), passwords only as scrypt hashes (salted, memory-hard; the standard library's
``hashlib.scrypt``, no extra dependency). Nothing here ever prints or logs a password."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import tomllib
from datetime import UTC, datetime

import pandas as pd

from townmap.errors import AccessDenied, UploadError
from townmap.workspace import Workspace

TABLE = "townmap_users"
SCRYPT = {"n": 2**15, "r": 8, "p": 1, "maxmem": 64 * 2**20, "dklen": 32}
NAME = re.compile(r"^[A-Za-z0-9_.\-\u4e00-\u9fff]{2,40}$")
#: single-sign-on users are named by the e-mail their identity provider vouches for
EMAIL = re.compile(r"^[A-Za-z0-9_.+\-]{1,64}@[A-Za-z0-9.\-]{1,120}\.[A-Za-z]{2,24}$")
#: the stored "hash" of a single-sign-on user: no password can ever match it
SSO_MARK = "sso"
MIN_PASSWORD = 10


def roles() -> dict[str, dict]:
    from townmap.settings import layers_dir

    return tomllib.loads((layers_dir() / "auth" / "roles.toml").read_text(encoding="utf-8"))


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, **SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT['n']}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        params = {**SCRYPT, "n": int(n)}
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), **params)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


def list_users(ws: Workspace) -> pd.DataFrame:
    """Users without their hashes."""
    cols = ["user", "role", "created_at"]
    table = ws.read_internal_table(TABLE)
    return pd.DataFrame(columns=cols) if table is None else table[cols]


def _all(ws: Workspace) -> pd.DataFrame:
    table = ws.read_internal_table(TABLE)
    if table is None:
        return pd.DataFrame(columns=["user", "role", "password_hash", "created_at"])
    return table


def _write(ws: Workspace, frame: pd.DataFrame) -> None:
    with ws.transaction() as tx:
        tx.write_internal_table(TABLE, frame)


def _check_password(password: str, user: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise UploadError(f"a password has at least {MIN_PASSWORD} characters")
    if user.lower() in password.lower():
        raise UploadError("a password must not contain the user name")


def add_user(ws: Workspace, user: str, role: str, password: str | None = None,
             *, sso: bool = False) -> None:  # fmt: skip
    """A user signing in with a password, or (``sso``) through the bureau's identity
    provider as the e-mail address it vouches for (no password stored at all)."""
    if sso and not EMAIL.match(user or ""):
        raise UploadError("a single-sign-on user is named by their e-mail address")
    if not sso and not NAME.match(user or ""):
        raise UploadError("a user name is 2–40 letters, digits, Chinese characters, . _ -")
    if role not in roles():
        raise UploadError(f"role must be one of {', '.join(roles())}")
    if not sso:
        _check_password(password or "", user)
    frame = _all(ws)
    if (frame["user"] == user).any():
        raise UploadError(f"user {user!r} exists; use 'townmap users reset' to change it")
    row = {"user": user, "role": role,
           "password_hash": SSO_MARK if sso else hash_password(password or ""),
           "created_at": datetime.now(UTC).isoformat(timespec="seconds")}  # fmt: skip
    _write(ws, pd.concat([frame, pd.DataFrame([row])], ignore_index=True))


def sso_role(ws: Workspace, email: str | None) -> str | None:
    """The role of a single-sign-on user the identity provider has vouched for, or None
    when the bureau has not registered that address (signing in is not enough)."""
    if not email:
        return None
    frame = _all(ws)
    row = frame[(frame["user"].str.lower() == email.lower()) & (frame["password_hash"] == SSO_MARK)]
    return str(row["role"].iloc[0]) if len(row) else None


def remove_user(ws: Workspace, user: str) -> None:
    frame = _all(ws)
    if not (frame["user"] == user).any():
        raise UploadError(f"there is no user {user!r}")
    rest = frame[frame["user"] != user]
    admins = frame[frame["role"] == "administrator"]
    if len(admins) and not (rest["role"] == "administrator").any():
        raise UploadError("the last administrator cannot be removed")
    _write(ws, rest)


def reset_password(ws: Workspace, user: str, password: str, role: str | None = None) -> None:
    frame = _all(ws)
    if not (frame["user"] == user).any():
        raise UploadError(f"there is no user {user!r}")
    _check_password(password, user)
    frame.loc[frame["user"] == user, "password_hash"] = hash_password(password)
    if role is not None:
        if role not in roles():
            raise UploadError(f"role must be one of {', '.join(roles())}")
        frame.loc[frame["user"] == user, "role"] = role
    _write(ws, frame)


def sign_in(ws: Workspace, user: str, password: str) -> str | None:
    """The user's role when the password is right, else None (same time either way)."""
    frame = _all(ws)
    row = frame[frame["user"] == user]
    stored = row["password_hash"].iloc[0] if len(row) else hash_password(secrets.token_hex(8))
    ok = verify_password(password or "", stored)
    return str(row["role"].iloc[0]) if ok and len(row) else None


def authorize(role: str | None, action: str) -> None:
    """Raise AccessDenied (a PermissionError) unless ``role`` may do ``action`` (server side)."""
    allowed = roles().get(role or "", {}).get("may", [])
    if action not in allowed:
        what = action.replace("_", " ")
        raise AccessDenied(
            f"the role {role or 'none'!r} may not {what}: sign in with a role that may"
        )


def has_users(ws: Workspace) -> bool:
    return not list_users(ws).empty


def imported_by(ws: Workspace, layer_id: str) -> str | None:
    """Who made the import that put ``layer_id``'s current content in place, if any."""
    from townmap.io.importer import IMPORT_LOG

    if not ws.has_table(IMPORT_LOG):
        return None
    log = ws.read_table(IMPORT_LOG)
    mine = log[(log["layer_id"].astype(str) == layer_id) & (log["undone"].astype(str) == "false")]
    return None if mine.empty else str(mine["user"].iloc[-1])


def require_edit(ws: Workspace, role: str | None, user: str | None, layer_id: str) -> None:
    """Edit rights for one layer: planners and administrators edit everything; a
    consultant only what they imported themselves (the import log says who)."""
    if not has_users(ws):
        return
    allowed = roles().get(role or "", {}).get("may", [])
    if "edit" in allowed:
        return
    if "edit_own_imports" in allowed and user and imported_by(ws, layer_id) == user:
        return
    if "edit_own_imports" in allowed:
        raise AccessDenied(
            f"a {role} edits only layers they imported; {layer_id!r} was not imported by {user}"
        )
    authorize(role, "edit")


def require(ws: Workspace, role: str | None, action: str) -> None:
    """The server-side check before every write: a workspace without users is the
    single-user default (everything allowed); with users, the signed-in role decides."""
    if has_users(ws):
        authorize(role, action)
