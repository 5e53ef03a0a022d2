"""Static maps and charts for the report, drawn offline with matplotlib in the web map's
own styles (catalog colours, categories, widths, dashes), with a scale bar, a north arrow,
a legend and a CRS note. Chinese needs a CJK font: one is looked for by name and a clear
error says how to install it when none is there (a fresh machine has none)."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import geopandas as gpd
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib import font_manager
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from townmap.catalog import LayerSpec
from townmap.crs import describe, is_metric, to_metric
from townmap.errors import TownmapError
from townmap.i18n import value_label

CJK_FONTS = (
    "WenQuanYi Micro Hei",
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "Noto Sans CJK JP",
)
DPI = 150
_FONT: str | None = None


class ReportError(TownmapError):
    """The report cannot be built (e.g. no CJK font on this machine)."""


def cjk_font() -> str:
    """Name of an installed CJK font (matplotlib's font list is rebuilt once when a font
    was installed after its cache was made)."""
    global _FONT
    if _FONT:
        return _FONT
    for attempt in range(2):
        names = {f.name for f in font_manager.fontManager.ttflist}
        for name in CJK_FONTS:
            if name in names:
                _FONT = name
                plt.rcParams["font.family"] = "sans-serif"
                plt.rcParams["font.sans-serif"] = [name, "DejaVu Sans"]
                plt.rcParams["axes.unicode_minus"] = False
                return name
        if attempt == 0:
            font_manager.fontManager = font_manager._load_fontmanager(try_read_cache=False)
    raise ReportError(
        "no Chinese (CJK) font is installed, so Chinese would print as boxes: install one, "
        "e.g. `apt-get install fonts-wqy-microhei` (make run and make test do this)"
    )


def _png(fig) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return out.getvalue()


def _nice_length(width_m: float) -> float:
    target = width_m / 5
    for step in (50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10_000, 20_000, 50_000):
        if step >= target:
            return step
    return 10 ** math.floor(math.log10(target))


def _scale_bar(ax, extent, lang: str) -> None:
    minx, miny, maxx, maxy = extent
    length = _nice_length(maxx - minx)
    x0, y0 = minx + (maxx - minx) * 0.04, miny + (maxy - miny) * 0.04
    h = (maxy - miny) * 0.012
    for i in range(2):
        ax.add_patch(
            Rectangle(
                (x0 + i * length / 2, y0),
                length / 2,
                h,
                facecolor="black" if i == 0 else "white",
                edgecolor="black",
                linewidth=0.6,
                zorder=20,
            )
        )
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(x0, y0 + h * 1.6, "0", fontsize=6, zorder=20)
    ax.text(x0 + length, y0 + h * 1.6, label, fontsize=6, ha="center", zorder=20)


def _north_arrow(ax, lang: str) -> None:
    ax.annotate(
        "北 N" if lang == "zh" else "N",
        xy=(0.95, 0.93),
        xytext=(0.95, 0.81),
        xycoords="axes fraction",
        ha="center",
        va="center",
        fontsize=8,
        arrowprops={"facecolor": "black", "width": 3, "headwidth": 9},
        zorder=20,
    )


def _draw(ax, gdf: gpd.GeoDataFrame, spec: LayerSpec, lang: str, handles: list) -> None:
    s = spec.style
    kind = spec.geometry or "Polygon"
    dash = "--" if s.dash else "-"
    label = spec.label.get(lang)
    groups: list[tuple[str, str, gpd.GeoDataFrame]] = []
    if s.by and s.categories and s.by in gdf.columns:
        for value, colour in s.categories.items():
            part = gdf[gdf[s.by].astype(str) == value]
            if len(part):
                groups.append((f"{label}: {value_label(value, lang)}", colour, part))
    else:
        groups.append((label, s.fill_color or s.color, gdf))
    for name, colour, part in groups:
        if kind == "Point":
            ax.scatter(
                part.geometry.x,
                part.geometry.y,
                s=(s.radius * 1.4) ** 2 / 2,
                c=colour,
                edgecolors=s.color,
                linewidths=0.3,
                zorder=10,
            )
            handles.append(
                Line2D(
                    [],
                    [],
                    marker="o",
                    linestyle="",
                    markerfacecolor=colour,
                    markeredgecolor=s.color,
                    label=name,
                )
            )
        elif kind == "LineString":
            part.plot(
                ax=ax, color=colour, linewidth=max(s.weight * 0.6, 0.4), linestyle=dash, zorder=6
            )
            handles.append(Line2D([], [], color=colour, linewidth=1.5, linestyle=dash, label=name))
        else:
            part.plot(
                ax=ax,
                facecolor=colour,
                alpha=max(s.fill_opacity, 0.08),
                edgecolor=s.color,
                linewidth=max(s.weight * 0.5, 0.3),
                linestyle=dash,
                zorder=2,
            )
            handles.append(
                Patch(
                    facecolor=colour, alpha=max(s.fill_opacity, 0.25), edgecolor=s.color, label=name
                )
            )


def area_map(
    layers: Mapping[str, gpd.GeoDataFrame],
    specs: Sequence[LayerSpec],
    area: gpd.GeoSeries,
    lang: str,
    *,
    title: str | None = None,
    size_cm: tuple[float, float] = (17, 13),
) -> bytes:
    """A map of ``area`` with ``specs`` drawn in order (areas, then lines, then points)."""
    cjk_font()
    boundary = area if is_metric(area.crs) else to_metric(gpd.GeoDataFrame(geometry=area)).geometry
    crs = boundary.crs
    minx, miny, maxx, maxy = boundary.total_bounds
    pad = max(maxx - minx, maxy - miny) * 0.05
    extent = (minx - pad, miny - pad, maxx + pad, maxy + pad)
    fig, ax = plt.subplots(figsize=(size_cm[0] / 2.54, size_cm[1] / 2.54))
    handles: list = []
    order = {"Polygon": 0, "LineString": 1, "Point": 2}
    for spec in sorted(specs, key=lambda s: order.get(s.geometry or "Polygon", 0)):
        gdf = layers.get(spec.id)
        if gdf is None or gdf.empty:
            continue
        gdf = gdf.to_crs(crs).cx[extent[0] : extent[2], extent[1] : extent[3]]
        if len(gdf):
            _draw(ax, gdf, spec, lang, handles)
    gpd.GeoSeries(boundary).boundary.plot(ax=ax, color="#000000", linewidth=1.0, zorder=15)
    ax.set_xlim(extent[0], extent[2])
    ax.set_ylim(extent[1], extent[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    _scale_bar(ax, extent, lang)
    _north_arrow(ax, lang)
    ax.text(
        0.99,
        0.01,
        describe(crs),
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=5.5,
        color="#333333",
        zorder=20,
    )
    if handles:
        ax.legend(
            handles=handles[:18],
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=6.5,
            frameon=False,
        )
    if title:
        ax.set_title(title, fontsize=9)
    return _png(fig)


def bar_chart(
    frame: pd.DataFrame,
    x: str,
    ys: Sequence[str],
    labels: Sequence[str],
    *,
    title: str,
    ylabel: str,
    colours: Sequence[str] | None = None,
    horizontal: bool = False,
) -> bytes:
    """Grouped bars (one colour per series), labels already in the report's language."""
    cjk_font()
    fig, ax = plt.subplots(figsize=(16 / 2.54, 8 / 2.54))
    n = len(ys)
    width = 0.8 / n
    positions = range(len(frame))
    colours = colours or ["#1b9e77", "#d95f02", "#7570b3", "#e7298a"]
    for i, (col, label) in enumerate(zip(ys, labels, strict=True)):
        offs = [p - 0.4 + width * (i + 0.5) for p in positions]
        values = pd.to_numeric(frame[col], errors="coerce").fillna(0)
        if horizontal:
            ax.barh(offs, values, height=width, label=label, color=colours[i % len(colours)])
        else:
            ax.bar(offs, values, width=width, label=label, color=colours[i % len(colours)])
    ticks = [str(v) for v in frame[x]]
    if horizontal:
        ax.set_yticks(list(positions), ticks, fontsize=7)
        ax.set_xlabel(ylabel, fontsize=8)
        ax.invert_yaxis()
    else:
        ax.set_xticks(list(positions), ticks, fontsize=7, rotation=45 if len(ticks) > 8 else 0)
        ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=9)
    if n > 1:
        ax.legend(fontsize=7, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def class_grid(grid: pd.DataFrame, title: str, colours: Mapping[str, str]) -> bytes:
    """Stations × years coloured by water-quality class (I … 劣V), class printed in cells."""
    cjk_font()
    fig, ax = plt.subplots(figsize=(16 / 2.54, max(4, 0.55 * len(grid) + 1.5) / 2.54))
    for i, (_station, row) in enumerate(grid.iterrows()):
        for j, value in enumerate(row):
            if not isinstance(value, str):
                continue
            ax.add_patch(
                Rectangle((j, i), 1, 1, facecolor=colours.get(value, "#cccccc"), edgecolor="white")
            )
            dark = value in ("I", "V", "劣V")
            ax.text(
                j + 0.5,
                i + 0.5,
                value,
                ha="center",
                va="center",
                fontsize=7,
                color="white" if dark else "black",
            )
    ax.set_xlim(0, len(grid.columns))
    ax.set_ylim(len(grid), 0)
    ax.set_xticks(
        [j + 0.5 for j in range(len(grid.columns))], [str(c) for c in grid.columns], fontsize=7
    )
    ax.set_yticks([i + 0.5 for i in range(len(grid))], [str(s) for s in grid.index], fontsize=7)
    ax.set_title(title, fontsize=9)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    return _png(fig)
