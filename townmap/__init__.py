"""Townmap: environmental planning and monitoring for small towns in the Lake Tai basin.

The package is a plain library (no Streamlit outside ``townmap.ui``): catalog, CRS,
workspace, demo town, rendering; the pages and the command line call into it.
"""

from pathlib import Path

__version__ = "0.1.0"

#: The package folder: the layer catalog, rules, standards and labels ship inside it
#: (``townmap/layers``; the checkout's top-level ``layers`` is a link to it).
PACKAGE_DIR = Path(__file__).resolve().parent

#: The repository root when running from a checkout. Installed from a wheel, this is
#: site-packages: only tests and the checkout's ``data/`` use it (see ``in_checkout``).
PROJECT_ROOT = PACKAGE_DIR.parent


def in_checkout() -> bool:
    """True when running from the source tree (``pyproject.toml`` beside the package)."""
    return (PROJECT_ROOT / "pyproject.toml").is_file() and (PROJECT_ROOT / "app.py").is_file()
