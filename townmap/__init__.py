"""Townmap: environmental planning and monitoring for small towns in the Lake Tai basin.

The package is a plain library (no Streamlit outside ``townmap.ui``): catalog, CRS,
workspace, demo town, rendering; the pages and the command line call into it.
"""

from pathlib import Path

__version__ = "0.1.0"

#: The repository root when running from a checkout (layers/ and data/ live there).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
