"""One escaping helper for every piece of user text that reaches a map or a page.

folium writes tooltip and popup text into JavaScript template strings and GeoJSON
tooltips into raw HTML, so HTML-escaping alone is not enough: backticks and ``${`` must be
neutralised too, or a name could close the template string and run code.
"""

from __future__ import annotations

import html

_TEMPLATE = {"`": "&#96;", "${": "&#36;{", "\\": "&#92;"}


def escape_text(value: object) -> str:
    """Text safe inside HTML, HTML attributes and JavaScript template strings."""
    text = html.escape("" if value is None else str(value), quote=True)
    for needle, replacement in _TEMPLATE.items():
        text = text.replace(needle, replacement)
    return text
