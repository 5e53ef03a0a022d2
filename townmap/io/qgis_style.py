"""QGIS styles (QML) from the layer catalog, so an exported GeoPackage opens styled.

QGIS reads a GeoPackage's ``layer_styles`` table (the QGIS GeoPackage styling
extension) and applies the row marked ``useAsDefault`` when a layer is added. The QML
mirrors what the web map draws: the same colours, opacities and dashes, widths in
pixels, categories with bilingual labels. Only the symbology is written; QGIS fills in
the rest with its defaults.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from townmap.catalog import LayerSpec
from townmap.i18n import value_label

QGIS_VERSION = "3.28.0"
_SYMBOL_TYPE = {"Point": "marker", "LineString": "line", "Polygon": "fill"}


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"{r},{g},{b},{round(alpha * 255)}"


def _options(values: dict[str, str]) -> str:
    items = "".join(
        f'<Option type="QString" name={quoteattr(k)} value={quoteattr(str(v))}/>'
        for k, v in values.items()
    )
    return f'<Option type="Map">{items}</Option>'


def _dash(spec: LayerSpec) -> dict[str, str]:
    dash = spec.style.dash
    if not dash:
        return {"use_custom_dash": "0", "line_style": "solid"}
    parts = [p for p in dash.replace(",", " ").split() if p]
    return {
        "use_custom_dash": "1",
        "customdash": ";".join(parts),
        "customdash_unit": "Pixel",
        "line_style": "dash",
    }


def _symbol_layer(spec: LayerSpec, colour: str) -> str:
    """One symbol layer; ``colour`` is the category colour (fill, or line for lines)."""
    s = spec.style
    if spec.geometry == "Point":
        cls, opts = (
            "SimpleMarker",
            {
                "name": "circle",
                "color": _rgba(colour, s.fill_opacity),
                "outline_color": _rgba(s.color, s.opacity),
                "outline_width": f"{s.weight:g}",
                "outline_width_unit": "Pixel",
                "size": f"{2 * s.radius:g}",
                "size_unit": "Pixel",
            },
        )
    elif spec.geometry == "LineString":
        cls, opts = (
            "SimpleLine",
            {
                "line_color": _rgba(colour, s.opacity),
                "line_width": f"{s.weight:g}",
                "line_width_unit": "Pixel",
                **_dash(spec),
            },
        )
    else:
        dash = _dash(spec)
        cls, opts = (
            "SimpleFill",
            {
                "color": _rgba(colour, s.fill_opacity),
                "style": "solid" if s.fill_opacity > 0 else "no",
                "outline_color": _rgba(s.color, s.opacity),
                "outline_width": f"{s.weight:g}",
                "outline_width_unit": "Pixel",
                "outline_style": dash["line_style"],
            },
        )
    return f'<layer class="{cls}" enabled="1" locked="0" pass="0">{_options(opts)}</layer>'


def _symbol(spec: LayerSpec, name: str, colour: str) -> str:
    kind = _SYMBOL_TYPE[spec.geometry or "Polygon"]
    return (
        f'<symbol type="{kind}" name={quoteattr(name)} alpha="1" clip_to_extent="1" '
        f'force_rhr="0">{_symbol_layer(spec, colour)}</symbol>'
    )


def _default_colour(spec: LayerSpec) -> str:
    s = spec.style
    return s.color if spec.geometry == "LineString" else (s.fill_color or s.color)


def layer_qml(spec: LayerSpec) -> str:
    """The QML document for a vector layer of the catalog."""
    s = spec.style
    if s.by and s.categories:
        cats, symbols = [], []
        for i, (value, colour) in enumerate(s.categories.items()):
            label = f"{value_label(value, 'zh')} / {value_label(value, 'en')}"
            cats.append(
                f'<category render="true" symbol="{i}" value={quoteattr(value)} '
                f"label={quoteattr(label)}/>"
            )
            symbols.append(_symbol(spec, str(i), colour))
        other = len(cats)
        cats.append(f'<category render="true" symbol="{other}" value="" label="其他 / other"/>')
        symbols.append(_symbol(spec, str(other), _default_colour(spec)))
        renderer = (
            f'<renderer-v2 type="categorizedSymbol" attr={quoteattr(s.by)} symbollevels="0" '
            f'enableorderby="0" forceraster="0"><categories>{"".join(cats)}</categories>'
            f"<symbols>{''.join(symbols)}</symbols></renderer-v2>"
        )
    else:
        renderer = (
            '<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" '
            f'forceraster="0"><symbols>{_symbol(spec, "0", _default_colour(spec))}</symbols>'
            "</renderer-v2>"
        )
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
        f'<qgis version="{QGIS_VERSION}" styleCategories="Symbology">{renderer}</qgis>'
    )
