"""Cached analyses behind the Conflicts page, keyed by the workspace version (``Stamp``)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import streamlit as st

from townmap.analysis.checks import check_workspace, workspace_context
from townmap.analysis.rules import RuleSet, load_rules, rules_dir
from townmap.analysis.zones import check_zones, load_matrix
from townmap.catalog import LayerSpec, load_layer_file
from townmap.crs import DISPLAY_CRS
from townmap.i18n import t, value_label
from townmap.settings import layers_dir
from townmap.store import open_workspace
from townmap.ui import common, map_data


def rules() -> RuleSet:
    """The rules, checked against this workspace's catalog (own layers included)."""
    return _rules(common.catalog_token())


@st.cache_resource(show_spinner=False, max_entries=16)
def _rules(_token: str) -> RuleSet:
    return load_rules(rules_dir(), common.catalog())


@st.cache_resource(show_spinner=False)
def analysis_specs() -> dict[str, LayerSpec]:
    folder = layers_dir() / "analysis"
    return {p.stem: load_layer_file(p) for p in sorted(folder.glob("*.toml"))}


def conflicts(stamp: map_data.Stamp) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Findings with their feature's geometry (workspace CRS), and the rules not applied
    (recomputed when a vector layer or the metadata changes, not for a register edit)."""
    return _conflicts(map_data.vectors(stamp))


@st.cache_data(show_spinner=False, max_entries=4)
def _conflicts(stamp: map_data.Stamp) -> tuple[gpd.GeoDataFrame, list[str]]:
    ws = open_workspace(stamp.location, catalog=common.catalog())
    result, geoms = check_workspace(ws, common.catalog(), rules())
    frame = gpd.GeoDataFrame(result.findings, geometry=geoms.values, crs=result.crs)
    return frame, result.skipped


def zone_checks(stamp: map_data.Stamp) -> pd.DataFrame:
    return _zone_checks(map_data.vectors(stamp))


@st.cache_data(show_spinner=False, max_entries=4)
def _zone_checks(stamp: map_data.Stamp) -> pd.DataFrame:
    ws = open_workspace(stamp.location, catalog=common.catalog())
    return check_zones(map_data.layers(stamp), load_matrix(), context=workspace_context(ws))


def measured(findings: pd.DataFrame, lang: str) -> pd.Series:
    """Each finding's distance or overlap in words (vectorised: findings can be many)."""
    dist = t("distance_of", lang)
    over = t("overlap_of", lang)
    d = findings["distance_m"].map("{:g}".format)
    limit = findings["limit_m"].map("{:g}".format)
    ha = (findings["overlap_m2"] / 10_000).map("{:.2f}".format)
    pct = findings["overlap_pct"].map("{:.1f}".format)
    by_distance = pd.Series(
        [dist.format(d=a, limit=b) for a, b in zip(d, limit, strict=True)], index=findings.index
    )
    by_area = pd.Series(
        [over.format(ha=a, pct=b) for a, b in zip(ha, pct, strict=True)], index=findings.index
    )
    where = findings["predicate"].map(
        lambda p: t("out_of_zone" if p == "outside" else "in_zone", lang)
    )
    return by_distance.where(
        findings["limit_m"].notna(), by_area.where(findings["overlap_m2"].notna(), where)
    )


def table(findings: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The findings as people read them (labels in ``lang``, status beside every row)."""
    if findings.empty:
        return pd.DataFrame()
    title = f"title_{lang}"
    instrument = f"instrument_{lang}"
    return pd.DataFrame(
        {
            t("severity", lang): findings["severity"].map(lambda v: value_label(v, lang)),
            t("verification", lang): findings["verification"].map(lambda v: value_label(v, lang)),
            t("rule", lang): findings[title],
            t("feature", lang): findings["layer"] + " " + findings["feature_id"].astype(str),
            t("village", lang): findings.get("village_id"),
            t("measured", lang): measured(findings, lang),
            t("article", lang): findings[instrument] + " " + findings["article"],
        }
    )


def map_frames(findings: gpd.GeoDataFrame, lang: str) -> dict[str, gpd.GeoDataFrame]:
    """Findings as map layers: points, areas, and the setback circles of distance rules."""
    if findings.empty:
        return {}
    shown = findings.assign(
        finding=findings["layer"]
        + ":"
        + findings["feature_id"].astype(str)
        + ":"
        + findings["rule_id"],
        title=findings[f"title_{lang}"],
        measured=measured(findings, lang),
        severity=findings["severity"],
        verification=findings["verification"].map(lambda v: value_label(v, lang)),
    )
    kinds = shown.geom_type.fillna("")
    points = shown[kinds.str.contains("Point")]
    areas = shown[kinds.str.contains("Polygon")]
    distance = shown[shown["limit_m"].notna()]
    setbacks = distance.set_geometry(distance.geometry.buffer(distance["limit_m"].to_numpy()))
    cols = ["finding", "feature_id", "title", "severity", "verification", "measured", "article"]
    out = {
        "conflict_points": points[[*cols, "geometry"]],
        "conflict_areas": areas[[*cols, "geometry"]],
        "conflict_setbacks": setbacks[["finding", "feature_id", "title", "measured", "geometry"]],
    }
    return {k: v.to_crs(DISPLAY_CRS) for k, v in out.items() if len(v)}


def counts(findings: pd.DataFrame, by: str, lang: str) -> pd.DataFrame:
    if findings.empty:
        return pd.DataFrame()
    pivot = findings.pivot_table(
        index=by, columns="severity", values="feature_id", aggfunc="count", fill_value=0
    )
    pivot.columns = [value_label(c, lang) for c in pivot.columns]
    pivot["∑"] = pivot.sum(axis=1)
    return pivot.sort_values("∑", ascending=False).reset_index()


def severity_rank(values: pd.Series) -> np.ndarray:
    order = {"prohibited": 0, "restricted": 1, "review": 2}
    return values.map(order).fillna(3).to_numpy()
