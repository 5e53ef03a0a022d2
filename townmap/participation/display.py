"""The public display: the planner's prepared views ("slides") made safe and legible for
a projector — only public fields, a colour-blind-safe palette (Okabe–Ito), one headline
indicator per view, Chinese first with English."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import pandas as pd

from townmap.catalog import Catalog, LayerSpec
from townmap.store import Workspace

SLIDES = "public_slides"
#: Okabe & Ito (2008), distinguishable with every common colour-vision deficiency
OKABE_ITO = {
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
}
CLASS_COLOURS = {
    "I": OKABE_ITO["blue"],
    "II": OKABE_ITO["sky"],
    "III": OKABE_ITO["green"],
    "IV": OKABE_ITO["yellow"],
    "V": OKABE_ITO["orange"],
    "劣V": OKABE_ITO["vermillion"],
}
SEVERITY_COLOURS = {
    "prohibited": OKABE_ITO["vermillion"],
    "restricted": OKABE_ITO["orange"],
    "review": OKABE_ITO["sky"],
}
#: the only enterprise fields a public display may show (names only where marked public)
ENTERPRISE_FIELDS = ("name_zh", "name_en", "sector")


@dataclass(frozen=True)
class Slide:
    slide_id: str
    title_zh: str
    title_en: str
    layers: tuple[str, ...]
    indicator: str
    area: str


def load_slides(ws: Workspace, catalog: Catalog) -> tuple[list[Slide], list[str]]:
    """Slides in the planner's order, and problems (unknown layers are left out, named)."""
    if not ws.has_table(SLIDES):
        return [], []
    table = ws.read_table(SLIDES).sort_values(["position", "slide_id"], kind="stable")
    slides, problems = [], []
    for row in table.itertuples():
        ids = [x.strip() for x in str(row.layers or "").split(",") if x.strip()]
        unknown = [x for x in ids if x not in catalog or catalog[x].kind != "vector"]
        if unknown:
            problems.append(f"{row.slide_id}: unknown layer(s) {', '.join(unknown)} left out")
        known = tuple(x for x in ids if x not in unknown)
        slides.append(
            Slide(
                str(row.slide_id),
                str(row.title_zh),
                str(row.title_en),
                known,
                str(row.indicator or "none"),
                str(row.area or "town"),
            )
        )
    return slides, problems


def public_frame(layer_id: str, gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """What may be shown of a layer in public: enterprises reduced to their sector (names
    only where the workspace marks them public), comments approved and anonymous, outfalls
    without their owner."""
    if layer_id == "enterprises":
        public = gdf.get("public", pd.Series(False, index=gdf.index))
        public = public.map(lambda v: str(v).lower() in ("true", "1", "yes")).astype(bool)
        out = gdf[[c for c in ENTERPRISE_FIELDS if c in gdf.columns] + ["geometry"]].copy()
        for col in ("name_zh", "name_en"):
            if col in out:
                out[col] = out[col].where(public, "—")
        out.insert(0, "ent_id", [f"p{i + 1}" for i in range(len(out))])  # not the real id
        return out
    if layer_id == "public_comments":
        shown = gdf[gdf["status"] == "approved"] if "status" in gdf else gdf.iloc[:0]
        cols = [c for c in ("comment_id", "category", "text") if c in shown.columns]
        return shown[[*cols, "geometry"]]
    if layer_id == "discharge_points":
        out = gdf[["geometry"]].copy()
        out.insert(0, "dp_id", [f"p{i + 1}" for i in range(len(out))])
        return out
    return gdf


def public_spec(spec: LayerSpec) -> LayerSpec:
    """The layer's style for the projector: thicker, colour-blind-safe, few categories."""
    style = spec.style
    update: dict = {"weight": max(style.weight, 2.0), "radius": max(style.radius, 7.0)}
    if spec.id == "enterprises":
        update.update(by=None, categories={}, color="#000000", fill_color=OKABE_ITO["orange"])
        fields = list(ENTERPRISE_FIELDS)
        return spec.model_copy(
            update={
                "style": style.model_copy(update=update),
                "tooltip": fields,
                "popup": fields,
                "visible": True,
            }
        )
    if spec.id == "public_comments":
        update["categories"] = {
            k: v for k, v in zip(style.categories, OKABE_ITO.values(), strict=False)
        }
        return spec.model_copy(
            update={
                "style": style.model_copy(update=update),
                "tooltip": ["category", "text"],
                "popup": ["category", "text"],
                "visible": True,
            }
        )
    if style.categories and set(style.categories) <= set(CLASS_COLOURS):
        update["categories"] = {k: CLASS_COLOURS[k] for k in style.categories}
    if style.categories and set(style.categories) <= set(SEVERITY_COLOURS):
        update["categories"] = {k: SEVERITY_COLOURS[k] for k in style.categories}
    public_fields = [f for f in spec.tooltip if not f.endswith("_id")]
    return spec.model_copy(
        update={
            "style": style.model_copy(update=update),
            "visible": True,
            "tooltip": public_fields,
            "popup": public_fields,
        }
    )
