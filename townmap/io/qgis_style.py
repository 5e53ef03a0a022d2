"""QGIS styles (QML) from the layer catalog, so an exported GeoPackage opens styled.

QGIS reads a GeoPackage's ``layer_styles`` table (the QGIS GeoPackage styling
extension) and applies the row marked ``useAsDefault`` when a layer is added. The QML
mirrors what the web map draws: the same colours, opacities and dashes, widths in
pixels, categories with bilingual labels. Only the symbology is written; QGIS fills in
the rest with its defaults. The same QML goes beside an exported Shapefile (``x.qml``,
which QGIS loads as the layer's default style), with the renderer pointed at the
Shapefile's shortened field name.

Attribute names and values come from the catalog or from a consultant's own layer
(Chinese column names, ``&``, ``<`` and quotes included): every one is escaped, and text
XML cannot hold at all (control characters) is refused rather than dropped.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from xml.sax.saxutils import quoteattr

from townmap.catalog import LayerSpec
from townmap.errors import UploadError
from townmap.i18n import value_label

QGIS_VERSION = "3.28.0"
_SYMBOL_TYPE = {"Point": "marker", "LineString": "line", "Polygon": "fill"}
#: characters XML 1.0 cannot hold, escaped or not
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

STYLES_TABLE = "layer_styles"
_CREATE_STYLES = f"""
CREATE TABLE "{STYLES_TABLE}" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "f_table_catalog" TEXT(256),
    "f_table_schema" TEXT(256),
    "f_table_name" TEXT(256),
    "f_geometry_column" TEXT(256),
    "styleName" TEXT(30),
    "styleQML" TEXT,
    "styleSLD" TEXT,
    "useAsDefault" BOOLEAN,
    "description" TEXT,
    "owner" TEXT(30),
    "ui" TEXT(30),
    "update_time" DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
)"""


def _attr(value: object) -> str:
    """An XML attribute value, quoted and escaped; refused if XML cannot hold it."""
    text = str(value)
    if _NOT_XML.search(text):
        raise UploadError(
            f"{text!r} holds control characters that a QGIS style (XML) cannot hold: "
            "rename it first"
        )
    return quoteattr(text)


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"{r},{g},{b},{round(alpha * 255)}"


def _options(values: dict[str, str]) -> str:
    items = "".join(
        f'<Option type="QString" name={_attr(k)} value={_attr(v)}/>' for k, v in values.items()
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
        f'<symbol type="{kind}" name={_attr(name)} alpha="1" clip_to_extent="1" '
        f'force_rhr="0">{_symbol_layer(spec, colour)}</symbol>'
    )


def _default_colour(spec: LayerSpec) -> str:
    s = spec.style
    return s.color if spec.geometry == "LineString" else (s.fill_color or s.color)


def _both(zh: str, en: str) -> str:
    """A bilingual label for QGIS, once when both are the same (an own layer's category
    values are the file's own words: 东北片区, not 东北片区 / 东北片区)."""
    return zh if zh == en else f"{zh} / {en}"


def layer_qml(spec: LayerSpec, fields: Mapping[str, str] | None = None) -> str:
    """The QML document for a vector layer of the catalog; ``fields`` maps attribute
    names to the names a file format gave them (a Shapefile's 10-byte field names)."""
    s = spec.style
    if s.by and s.categories:
        by = (fields or {}).get(s.by, s.by)
        cats, symbols = [], []
        for i, (value, colour) in enumerate(s.categories.items()):
            label = _both(value_label(value, "zh"), value_label(value, "en"))
            cats.append(
                f'<category render="true" symbol="{i}" value={_attr(value)} label={_attr(label)}/>'
            )
            symbols.append(_symbol(spec, str(i), colour))
        other = len(cats)
        cats.append(f'<category render="true" symbol="{other}" value="" label="其他 / other"/>')
        symbols.append(_symbol(spec, str(other), _default_colour(spec)))
        renderer = (
            f'<renderer-v2 type="categorizedSymbol" attr={_attr(by)} symbollevels="0" '
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


def write_layer_styles(gpkg: str | Path, specs: Mapping[str, LayerSpec]) -> int:
    """Add a ``layer_styles`` table to ``gpkg`` with one default style per feature table
    whose name is in ``specs`` (table name -> layer spec); returns how many were written."""
    con = sqlite3.connect(gpkg)
    try:
        with con:
            geometry_columns = dict(
                con.execute("select table_name, column_name from gpkg_geometry_columns")
            )
            rows = [
                (
                    table,
                    column,
                    spec.id,
                    layer_qml(spec),
                    f"{_both(spec.label.zh, spec.label.en)} (Townmap catalog)",
                )
                for table, column in geometry_columns.items()
                if (spec := specs.get(table)) is not None and spec.kind == "vector"
            ]
            con.execute(_CREATE_STYLES)
            con.execute(
                "insert into gpkg_contents (table_name, data_type, identifier, description) "
                "values (?, 'attributes', ?, 'QGIS layer styles')",
                (STYLES_TABLE, STYLES_TABLE),
            )
            con.executemany(
                f'insert into "{STYLES_TABLE}" (f_table_catalog, f_table_schema, f_table_name, '
                "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, "
                "owner, ui) values ('', '', ?, ?, ?, ?, '', 1, ?, 'townmap', '')",
                rows,
            )
        return len(rows)
    finally:
        con.close()
