"""Townmap's errors: one root class, so the CLI and pages can show a one-line message.

Subclasses are also ``ValueError`` or ``OSError`` where that is what they are, so callers
that only know the standard library still catch them sensibly.
"""

from __future__ import annotations


class TownmapError(Exception):
    """Root of every error Townmap raises on purpose; its text is shown to users as is."""


class CatalogError(TownmapError, ValueError):
    """A layer file under ``layers/`` is malformed; the message names file, key and expectation."""


class CRSError(TownmapError, ValueError):
    """Coordinates without a usable reference system, or outside the supported zones."""


class WorkspaceError(TownmapError, OSError):
    """The workspace could not be opened, read or written; it is left as it was."""


class DataValidationError(TownmapError, ValueError):
    """Data does not match its catalog entry; ``problems`` lists every problem found."""

    def __init__(self, what: str, problems: list[str]) -> None:
        self.problems = list(problems)
        shown = "; ".join(self.problems[:5])
        more = f" (and {len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        super().__init__(f"{what}: {shown}{more}")


class UploadError(TownmapError, ValueError):
    """A file offered for import is unsafe or unreadable; nothing was written."""


class AccessDenied(TownmapError, PermissionError):
    """The signed-in role may not do this; checked on the server, before anything is written."""
