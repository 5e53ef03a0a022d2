"""Build the environmental review of a town, a village or a drawn area from a workspace.

Each section asks the library for its numbers (conflicts, zones, classes, compliance,
loads, scenarios, cleaner production, register) and turns them into numbered tables and
figures; wording comes from ``layers/report/report.toml``. ``progress(fraction, label)``
is called between sections so a page can show a progress bar.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import shapely

from townmap import __version__
from townmap.catalog import Catalog, load_catalog
from townmap.errors import UploadError
from townmap.i18n import value_label
from townmap.report import figures, sections
from townmap.report.model import Heading, Paragraph, Report
from townmap.store import Workspace

Progress = Callable[[float, str], None]


@dataclass
class Context:
    ws: Workspace
    catalog: Catalog
    lang: str
    area_name: str
    area: gpd.GeoSeries  # one polygon, workspace CRS
    layers: dict[str, gpd.GeoDataFrame]  # every catalog vector layer, whole town
    texts: dict
    cache: dict = field(default_factory=dict)  # results shared by sections (findings …)

    def t(self, section: str, key: str, **values) -> str:
        entry = self.texts[section][key] if key else self.texts[section]
        text = entry[self.lang]
        return text.format(**values) if values else text

    def col(self, names: list[str]) -> dict[str, str]:
        cols = self.texts["columns"]
        return {n: cols[n][self.lang] if n in cols else n for n in names}

    def inside(self, layer_id: str) -> gpd.GeoDataFrame | None:
        """Features of a layer that touch the area (None when the layer is missing)."""
        gdf = self.layers.get(layer_id)
        if gdf is None:
            return None
        return gdf[gdf.intersects(self.area.iloc[0])]

    def value(self, v) -> str:
        return value_label(v, self.lang)


def texts_path() -> Path:
    from townmap.settings import layers_dir

    return layers_dir() / "report" / "report.toml"


def resolve_area(ws: Workspace, spec: str | None, lang: str) -> tuple[str, gpd.GeoSeries]:
    """``None``/``town``: the town boundary; a village id (``V03`` or ``village:V03``);
    or a .geojson / .gpkg / .wkt file with the drawn area (WGS 84 unless it says)."""
    spec = (spec or "town").strip()
    if spec == "town":
        town = ws.read_layer("town")
        name = town.iloc[0].get(f"name_{lang}") or town.iloc[0].get("name_zh") or "town"
        return str(name), gpd.GeoSeries([shapely.union_all(town.geometry.values)], crs=town.crs)
    vid = spec.removeprefix("village:")
    if ws.has_layer("villages"):
        villages = ws.read_layer("villages")
        hit = villages[villages["village_id"].astype(str) == vid]
        if len(hit):
            name = hit.iloc[0].get(f"name_{lang}") or vid
            return str(name), gpd.GeoSeries([hit.geometry.iloc[0]], crs=villages.crs)
    path = Path(spec)
    if path.suffix.lower() in (".geojson", ".json", ".gpkg", ".wkt") and path.is_file():
        if path.suffix.lower() == ".wkt":
            geom = shapely.from_wkt(path.read_text(encoding="utf-8").strip())
            area = gpd.GeoSeries([geom], crs=4326)
        else:
            area = gpd.read_file(path).geometry
            area = gpd.GeoSeries([shapely.union_all(area.values)], crs=area.crs or 4326)
        geom = shapely.make_valid(area.iloc[0])
        if geom.is_empty or geom.area == 0:
            raise UploadError(f"{path.name} holds no area (draw a polygon)")
        return path.stem, gpd.GeoSeries([geom], crs=area.crs).to_crs(ws.crs)
    raise UploadError(f"--area must be 'town', a village id or a polygon file, not {spec!r}")


def build_report(
    ws: Workspace,
    *,
    area: str | None = None,
    lang: str = "zh",
    catalog: Catalog | None = None,
    progress: Progress | None = None,
) -> Report:
    """The whole report, in ``lang`` (zh first for the town, en for outside readers)."""
    if lang not in ("zh", "en"):
        raise UploadError("--lang must be zh or en")
    figures.cjk_font()  # fail first, not after a minute of work
    from townmap.own_layers import workspace_catalog

    catalog = workspace_catalog(ws, catalog or ws.catalog or load_catalog())
    texts = tomllib.loads(texts_path().read_text(encoding="utf-8"))
    name, polygon = resolve_area(ws, area, lang)
    present = set(ws.layer_names())
    layers = {s.id: ws.read_layer(s.id) for s in catalog.by_kind("vector") if s.id in present}
    ctx = Context(ws, catalog, lang, name, polygon, layers, texts)
    meta = ws.metadata()
    report = Report(
        title=ctx.t("title", "", area=name),
        subtitle=ctx.t(
            "subtitle",
            "",
            town=meta.get("name", ""),
            workspace=ws.name,
            date=dt.date.today().isoformat(),
            version=__version__,
        ),
        lang=lang,
        fictional=ws.is_fictional,
    )
    if ws.is_fictional:
        report.add(Paragraph(ctx.t("fictional", ""), style="warning"))
    steps = sections.SECTIONS
    for i, (key, make) in enumerate(steps):
        if progress:
            progress(i / len(steps), ctx.t("sections", key))
        report.add(Heading(f"{i + 1}. {ctx.t('sections', key)}", 1, anchor=key))
        report.add(*make(ctx))
    if progress:
        progress(1.0, "")
    return report.finish()


def write_report(report: Report, out: str | Path) -> Path:
    """Write ``report`` as .html, .pdf or .docx (chosen by the suffix), atomically."""
    from townmap.report.render_docx import render_docx
    from townmap.report.render_html import render_html, render_pdf

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".html", ".pdf", ".docx"):
        raise UploadError("the report is written as .pdf, .docx or .html")
    data = {
        ".html": lambda: render_html(report).encode("utf-8"),
        ".pdf": lambda: render_pdf(report),
        ".docx": lambda: render_docx(report),
    }[suffix]()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.part")
    tmp.write_bytes(data)
    tmp.replace(out)
    return out
