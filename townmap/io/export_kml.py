"""KML exports (WGS 84, as the specification expects) that look as they do in the app.

Placemarks are named from the layer's name field and carry the catalog style
(``<Style>`` per category), every attribute as typed ``ExtendedData``, and the notes on
the coordinates as the document's description.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import geopandas as gpd
import numpy as np
import pandas as pd

from townmap.catalog import LayerSpec

_KML_NS = "http://www.opengis.net/kml/2.2"


def _kml_colour(hex_colour: str, alpha: float) -> str:
    """KML's aabbggrr."""
    h = hex_colour.lstrip("#")
    return f"{round(alpha * 255):02x}{h[4:6]}{h[2:4]}{h[0:2]}"


def _kml_style(doc: ET.Element, style_id: str, spec: LayerSpec, colour: str) -> None:
    s = spec.style
    style = ET.SubElement(doc, "Style", id=style_id)
    if spec.geometry == "Point":
        icon = ET.SubElement(style, "IconStyle")
        ET.SubElement(icon, "color").text = _kml_colour(colour, max(s.fill_opacity, 0.5))
        ET.SubElement(icon, "scale").text = f"{max(0.4, s.radius / 8):.2f}"
        return
    line = ET.SubElement(style, "LineStyle")
    line_colour = colour if spec.geometry == "LineString" else s.color
    ET.SubElement(line, "color").text = _kml_colour(line_colour, s.opacity)
    ET.SubElement(line, "width").text = f"{max(s.weight, 0.5):g}"
    if spec.geometry == "Polygon":
        poly = ET.SubElement(style, "PolyStyle")
        ET.SubElement(poly, "color").text = _kml_colour(colour, s.fill_opacity)
        ET.SubElement(poly, "fill").text = "1" if s.fill_opacity > 0 else "0"
        ET.SubElement(poly, "outline").text = "1"


def _kml_styles(doc: ET.Element, spec: LayerSpec | None) -> tuple[str | None, dict[str, str]]:
    """Styles from the catalog: the default style id and one per category value."""
    if spec is None or spec.kind != "vector":
        return None, {}
    s = spec.style
    default = s.color if spec.geometry == "LineString" else (s.fill_color or s.color)
    _kml_style(doc, "default", spec, default)
    by_value = {}
    if s.by and s.categories:
        for i, (value, colour) in enumerate(s.categories.items()):
            _kml_style(doc, f"cat{i}", spec, colour)
            by_value[value] = f"cat{i}"
    return "default", by_value


def _num(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")


def _kml_coords(parent: ET.Element, coords) -> None:
    ET.SubElement(parent, "coordinates").text = " ".join(
        ",".join(_num(v) for v in point) for point in coords
    )


def _kml_geometry(parent: ET.Element, geom) -> None:
    if geom is None or geom.is_empty:
        return
    kind = geom.geom_type
    if kind == "Point":
        _kml_coords(ET.SubElement(parent, "Point"), geom.coords)
    elif kind in ("LineString", "LinearRing"):
        _kml_coords(ET.SubElement(parent, "LineString"), geom.coords)
    elif kind == "Polygon":
        poly = ET.SubElement(parent, "Polygon")
        outer = ET.SubElement(ET.SubElement(poly, "outerBoundaryIs"), "LinearRing")
        _kml_coords(outer, geom.exterior.coords)
        for ring in geom.interiors:
            inner = ET.SubElement(ET.SubElement(poly, "innerBoundaryIs"), "LinearRing")
            _kml_coords(inner, ring.coords)
    else:  # Multi* and collections
        multi = ET.SubElement(parent, "MultiGeometry")
        for part in geom.geoms:
            _kml_geometry(multi, part)


def _kml_type(values: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(values):
        return "bool"
    if pd.api.types.is_integer_dtype(values):
        return "int"
    if pd.api.types.is_float_dtype(values):
        return "double"
    return "string"


def _kml_value(value: object) -> str | None:
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    return str(value)


def _name_field(frame: pd.DataFrame, spec: LayerSpec | None, lang: str) -> str | None:
    """The attribute that names a placemark: ``name_zh``/``name_en`` per language, the
    layer's first tooltip text (an own layer's name column), else its key."""
    columns = [str(c) for c in frame.columns]
    candidates = [f"name_{lang}", "name_zh", "name_en", "name", "名称"]
    if spec is not None:
        candidates[3:3] = [
            a.name for a in spec.attributes if a.name in spec.tooltip and a.type == "str"
        ]
        candidates.append(spec.key or "")
    return next((c for c in candidates if c in columns), None)


def kml(
    frame: gpd.GeoDataFrame,
    path: Path,
    name: str,
    spec: LayerSpec | None,
    lang: str,
    notes: list[str],
) -> None:
    root = ET.Element("kml", xmlns=_KML_NS)
    doc = ET.SubElement(root, "Document", id="root_doc")
    ET.SubElement(doc, "name").text = spec.label.get(lang) if spec is not None else name
    if notes:
        ET.SubElement(doc, "description").text = " ".join(notes)
    default, by_value = _kml_styles(doc, spec)
    geometry = frame.geometry.name
    columns = [c for c in frame.columns if c != geometry]
    schema = ET.SubElement(doc, "Schema", name=name, id=name)
    for col in columns:
        ET.SubElement(schema, "SimpleField", name=str(col), type=_kml_type(frame[col]))
    folder = ET.SubElement(doc, "Folder")
    ET.SubElement(folder, "name").text = name
    label = _name_field(frame, spec, lang)
    by = spec.style.by if spec is not None else None
    table = frame[columns].astype(object)
    for geom, row in zip(frame.geometry.values, table.itertuples(index=False), strict=True):
        values = dict(zip(columns, row, strict=True))
        mark = ET.SubElement(folder, "Placemark")
        if label is not None and (text := _kml_value(values[label])) is not None:
            ET.SubElement(mark, "name").text = text
        if default is not None:
            style = by_value.get(str(values.get(by)), default) if by in values else default
            ET.SubElement(mark, "styleUrl").text = f"#{style}"
        data = ET.SubElement(ET.SubElement(mark, "ExtendedData"), "SchemaData")
        data.set("schemaUrl", f"#{name}")
        for col, value in values.items():
            if (text := _kml_value(value)) is not None:
                ET.SubElement(data, "SimpleData", name=str(col)).text = text
        _kml_geometry(mark, geom)
    ET.ElementTree(root).write(path, encoding="UTF-8", xml_declaration=True)
