"""Users of a workspace, stored in it (``townmap_users``: they back up and restore with
it), passwords only as scrypt hashes (salted, memory-hard; the standard library's
``hashlib.scrypt``, no extra dependency). Nothing here ever prints or logs a password."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime

import pandas as pd

from townmap.auth.access import USERS_TABLE, roles
from townmap.errors import UploadError

TABLE = USERS_TABLE
SCRYPT = {"n": 2**15, "r": 8, "p": 1, "maxmem": 64 * 2**20, "dklen": 32}
NAME = re.compile(r"^[A-Za-z0-9_.\-\u4e00-\u9fff]{2,40}$")
#: single-sign-on users are named by the e-mail their identity provider vouches for
EMAIL = re.compile(r"^[A-Za-z0-9_.+\-]{1,64}@[A-Za-z0-9.\-]{1,120}\.[A-Za-z]{2,24}$")
#: the stored "hash" of a single-sign-on user: no password can ever match it
SSO_MARK = "sso"
MIN_PASSWORD = 10


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


def list_users(ws) -> pd.DataFrame:
    """Users without their hashes."""
    cols = ["user", "role", "created_at"]
    return _all(ws)[cols]


def _all(reader) -> pd.DataFrame:
    """Every user with their hash, from a workspace or from inside a transaction."""
    table = reader.read_internal_table(TABLE)
    if table is None:
        return pd.DataFrame(columns=["user", "role", "password_hash", "created_at"])
    return table


def _check_password(password: str, user: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise UploadError(f"a password has at least {MIN_PASSWORD} characters")
    if user.lower() in password.lower():
        raise UploadError("a password must not contain the user name")


def add_user(ws, user: str, role: str, password: str | None = None, *, sso: bool = False) -> None:
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
    row = {
        "user": user,
        "role": role,
        "password_hash": SSO_MARK if sso else hash_password(password or ""),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with ws.transaction("manage_users") as tx:  # read, check and write under the lock
        frame = _all(tx)
        if (frame["user"] == user).any():
            raise UploadError(f"user {user!r} exists; use 'townmap users reset' to change it")
        tx.write_internal_table(TABLE, pd.concat([frame, pd.DataFrame([row])], ignore_index=True))


def sso_role(ws, email: str | None) -> str | None:
    """The role of a single-sign-on user the identity provider has vouched for, or None
    when the bureau has not registered that address (signing in is not enough)."""
    if not email:
        return None
    frame = _all(ws)
    row = frame[(frame["user"].str.lower() == email.lower()) & (frame["password_hash"] == SSO_MARK)]
    return str(row["role"].iloc[0]) if len(row) else None


def remove_user(ws, user: str) -> None:
    with ws.transaction("manage_users") as tx:
        frame = _all(tx)
        if not (frame["user"] == user).any():
            raise UploadError(f"there is no user {user!r}")
        rest = frame[frame["user"] != user]
        admins = frame[frame["role"] == "administrator"]
        if len(admins) and not (rest["role"] == "administrator").any():
            raise UploadError("the last administrator cannot be removed")
        tx.write_internal_table(TABLE, rest)


def reset_password(ws, user: str, password: str, role: str | None = None) -> None:
    _check_password(password, user)
    if role is not None and role not in roles():
        raise UploadError(f"role must be one of {', '.join(roles())}")
    digest = hash_password(password)
    with ws.transaction("manage_users") as tx:
        frame = _all(tx)
        if not (frame["user"] == user).any():
            raise UploadError(f"there is no user {user!r}")
        frame.loc[frame["user"] == user, "password_hash"] = digest
        if role is not None:
            frame.loc[frame["user"] == user, "role"] = role
        tx.write_internal_table(TABLE, frame)


def sign_in(ws, user: str, password: str) -> str | None:
    """The user's role when the password is right, else None (same time either way)."""
    frame = _all(ws)
    row = frame[frame["user"] == user]
    stored = row["password_hash"].iloc[0] if len(row) else hash_password(secrets.token_hex(8))
    ok = verify_password(password or "", stored)
    return str(row["role"].iloc[0]) if ok and len(row) else None
