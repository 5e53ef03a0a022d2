"""Settings in one documented place, each overridable by an environment variable.

``TOWNMAP_LAYERS_DIR``  folder of layer files (default: the ``layers`` shipped inside the
                        package, ``townmap/layers``; the checkout's ``layers`` links to it)
``TOWNMAP_WORKSPACE``   workspace the app opens: a folder (GeoPackage) or a PostGIS URL
                        ``postgresql://user@host/db?schema=town1``. Default: ``data/demo`` in
                        a checkout; ``$XDG_DATA_HOME/townmap/demo`` (``~/.local/share/…``)
                        when installed from a wheel, where ``townmap demo`` writes it
``TOWNMAP_LANG``        default interface language, ``zh`` or ``en`` (default: ``zh``)
``TOWNMAP_CACHE_DIR``   rendered map images and other rebuildable files
                        (default: ``$XDG_CACHE_HOME/townmap`` or ``~/.cache/townmap``)
"""

from __future__ import annotations

import os
from pathlib import Path

from townmap import PACKAGE_DIR, PROJECT_ROOT, in_checkout


def layers_dir() -> Path:
    """Folder holding one TOML file per layer (plus ``i18n/``): package data, so an
    installed Townmap finds its catalog whatever the current folder."""
    return Path(os.environ.get("TOWNMAP_LAYERS_DIR", PACKAGE_DIR / "layers"))


def data_home() -> Path:
    """Where Townmap keeps workspaces it builds itself (the demo): the checkout's ``data/``,
    or the user's data folder when installed (site-packages is no place for data)."""
    if in_checkout():
        return PROJECT_ROOT / "data"
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "townmap"


def workspace_location(text: str | Path) -> str | Path:
    """A folder stays a Path; a ``postgresql://`` URL stays text (a Path would eat '//')."""
    value = str(text)
    if value.startswith(("postgresql://", "postgres://")):
        return value
    return Path(value)


#: help text of every ``--workspace`` option
WORKSPACE_HELP = "workspace folder, or a PostGIS URL postgresql://user@host/db?schema=NAME"


def add_workspace_argument(parser) -> None:
    """The ``--workspace`` option every command that opens a workspace takes."""
    parser.add_argument(
        "--workspace",
        type=workspace_location,
        default=None,
        help=f"{WORKSPACE_HELP} (default: $TOWNMAP_WORKSPACE, else the demo town)",
    )


def default_workspace() -> str | Path:
    """Workspace the app and the CLI use when none is given."""
    return workspace_location(os.environ.get("TOWNMAP_WORKSPACE", data_home() / "demo"))


def cache_dir() -> Path:
    """Where rebuildable renderings (hillshade images) are kept; safe to delete."""
    if "TOWNMAP_CACHE_DIR" in os.environ:
        return Path(os.environ["TOWNMAP_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "townmap"


def default_language() -> str:
    """Interface language when the URL does not say; Chinese first for town users."""
    lang = os.environ.get("TOWNMAP_LANG", "zh")
    return lang if lang in ("zh", "en") else "zh"


#: The demo town's random seed: two builds with it hold identical data.
DEMO_SEED = 20260
#: Enterprises in the demo town (400–800 is a realistic town; ``--enterprises`` scales it).
DEMO_ENTERPRISES = 600


def login_name() -> str:
    """The operating-system user running Townmap ('unknown' in containers without one)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def shell_actor():
    """Who writes from the command line: whoever runs it has the workspace files in hand,
    so they act as administrator, under their login name (it goes into the change log)."""
    from townmap.store.interface import Actor

    return Actor(login_name(), "administrator", shell=True)
