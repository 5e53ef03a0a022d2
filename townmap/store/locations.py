"""Where a workspace is: a folder path or a ``postgresql://`` URL naming a schema. Kept
apart so that every part of the store can tell them apart without importing a driver."""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from townmap.errors import WorkspaceError

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
DEFAULT_SCHEMA = "townmap"


def is_postgis(location: str | os.PathLike) -> bool:
    return str(location).startswith(("postgresql://", "postgres://"))


def parse_location(location: str) -> tuple[str, str]:
    """(libpq connection URL, schema) from a workspace location."""
    parts = urlsplit(str(location))
    query = dict(parse_qsl(parts.query))
    schema = query.pop("schema", DEFAULT_SCHEMA)
    if not _SCHEMA_NAME.match(schema):
        raise WorkspaceError(
            f"schema {schema!r}: use lower-case letters, digits and '_' (at most 63)"
        )
    return urlunsplit(parts._replace(query=urlencode(query))), schema


def redact(location: str | os.PathLike) -> str:
    """The location without its password, for messages and logs."""
    text = str(location)
    if not is_postgis(text):
        return text
    parts = urlsplit(text)
    if parts.password is None:
        return text
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def with_schema(location: str, schema: str) -> str:
    parts = urlsplit(location)
    query = dict(parse_qsl(parts.query))
    query["schema"] = schema
    return urlunsplit(parts._replace(query=urlencode(query)))
