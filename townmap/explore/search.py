"""Finding an enterprise, village or station by name (中文 or English) or id."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd

from townmap.catalog import LayerSpec
from townmap.crs import to_display

#: layers a planner searches, in the order hits are listed
SEARCHABLE = (
    "enterprises",
    "villages",
    "monitoring_stations",
    "treatment_plants",
    "water_intakes",
    "sensitive_receptors",
    "rivers",
)


@dataclass(frozen=True)
class Hit:
    layer: str
    key: str
    name_zh: str
    name_en: str
    lat: float
    lon: float

    def label(self, lang: str) -> str:
        first, second = (
            (self.name_zh, self.name_en) if lang == "zh" else (self.name_en, self.name_zh)
        )
        return f"{first} · {second} ({self.key})"


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", str(text)).casefold().strip()


def build_index(layers: dict[str, gpd.GeoDataFrame], specs: dict[str, LayerSpec]) -> pd.DataFrame:
    """One row per searchable feature: layer, key, names, a normalised haystack, lat/lon."""
    frames = []
    for layer_id in SEARCHABLE:
        gdf, spec = layers.get(layer_id), specs.get(layer_id)
        if gdf is None or spec is None or spec.key is None or gdf.empty:
            continue
        shown = to_display(gdf)
        pts = shown.geometry.representative_point()
        zh = shown["name_zh"].astype(str) if "name_zh" in shown else shown[spec.key].astype(str)
        en = shown["name_en"].astype(str) if "name_en" in shown else zh
        key = shown[spec.key].astype(str)
        frames.append(
            pd.DataFrame(
                {
                    "layer": layer_id,
                    "key": key.to_numpy(),
                    "name_zh": zh.to_numpy(),
                    "name_en": en.to_numpy(),
                    "lat": pts.y.to_numpy(),
                    "lon": pts.x.to_numpy(),
                    "haystack": [
                        _norm(f"{k} {a} {b}") for k, a, b in zip(key, zh, en, strict=True)
                    ],
                }
            )
        )
    if not frames:
        return pd.DataFrame(
            columns=["layer", "key", "name_zh", "name_en", "lat", "lon", "haystack"]
        )
    return pd.concat(frames, ignore_index=True)


def search(index: pd.DataFrame, query: str, limit: int = 20) -> list[Hit]:
    """Hits whose id or name contains every word of the query; exact ids first."""
    words = _norm(query).split()
    if not words or index.empty:
        return []
    mask = pd.Series(True, index=index.index)
    for word in words:
        mask &= index["haystack"].str.contains(word, regex=False)
    found = index[mask].copy()
    found["exact"] = found["key"].str.casefold() == _norm(query)
    found["order"] = found["layer"].map({n: i for i, n in enumerate(SEARCHABLE)})
    found = found.sort_values(["exact", "order", "key"], ascending=[False, True, True])
    return [
        Hit(r.layer, r.key, r.name_zh, r.name_en, float(r.lat), float(r.lon))
        for r in found.head(limit).itertuples()
    ]
