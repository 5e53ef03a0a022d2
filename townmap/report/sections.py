"""The report's sections, in order. Each takes the build context and returns blocks; each
asks the library for its numbers and never recomputes them its own way."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd

from townmap.report import figures
from townmap.report.model import Block, Figure, Heading, Paragraph, Table

SETTING = ["villages", "catchments", "taihu_zones", "water_source_zones", "eco_redline",
           "rivers", "lake", "water_intakes"]  # fmt: skip
LOADS = {"cod_tpa": "COD", "nh3n_tpa": "NH3-N", "tp_tpa": "TP", "tn_tpa": "TN"}
CLASS_COLOURS = {"I": "#2166ac", "II": "#67a9cf", "III": "#1a9850", "IV": "#fee08b",
                 "V": "#f46d43", "劣V": "#a50026"}  # fmt: skip


def _specs(ctx, ids):
    return [ctx.catalog[i] for i in ids if i in ctx.catalog and i in ctx.layers]


def _table(ctx, frame: pd.DataFrame, caption_key: str) -> Table:
    return Table(frame.rename(columns=ctx.col(list(frame.columns))), ctx.t("captions", caption_key))


def _none(ctx, key: str = "no_data") -> list[Block]:
    return [Paragraph(ctx.t("text", key), style="note")]


def summary(ctx) -> list[Block]:
    km2 = float(ctx.area.to_crs(ctx.ws.crs).area.iloc[0]) / 1e6
    tves = ctx.inside("enterprises")
    outfalls = ctx.inside("discharge_points")
    stations = ctx.inside("monitoring_stations")
    findings = _findings(ctx)
    blocks = [Paragraph(ctx.t("text", "area_scope", area=ctx.area_name, km2=km2))]
    blocks.append(Paragraph(ctx.t(
        "text", "summary_counts", tves=0 if tves is None else len(tves),
        outfalls=0 if outfalls is None else len(outfalls),
        stations=0 if stations is None else len(stations), findings=len(findings),
        prohibited=int((findings["severity"] == "prohibited").sum()) if len(findings) else 0,
    )))  # fmt: skip
    return blocks


def setting(ctx) -> list[Block]:
    png = figures.area_map(ctx.layers, _specs(ctx, SETTING), ctx.area, ctx.lang)
    blocks: list[Block] = [Figure(png, ctx.t("captions", "setting_map"))]
    villages = ctx.inside("villages")
    if villages is not None and len(villages):
        cols = [c for c in ("village_id", f"name_{ctx.lang}", "population", "households")
                if c in villages.columns]  # fmt: skip
        frame = pd.DataFrame(villages[cols]).rename(columns={f"name_{ctx.lang}": "name"})
        blocks.append(_table(ctx, frame, "villages"))
    return blocks


def pollution_sources(ctx) -> list[Block]:
    tve = ctx.inside("enterprises")
    if tve is None or tve.empty:
        return _none(ctx)
    png = figures.area_map(ctx.layers | {"enterprises": tve},
                           _specs(ctx, ["villages", "rivers", "lake", "enterprises",
                                        "treatment_plants"]), ctx.area, ctx.lang)  # fmt: skip
    by = tve.groupby("sector").agg(
        enterprises=("ent_id", "size"), wastewater_m3d=("wastewater_m3d", "sum"),
        **{name: (col, "sum") for col, name in LOADS.items() if col in tve},
    ).reset_index().sort_values("COD", ascending=False)  # fmt: skip
    by["sector"] = by["sector"].map(ctx.value)
    treat = tve["treatment"].value_counts().rename_axis("treatment").reset_index(name="enterprises")
    treat["treatment"] = treat["treatment"].map(ctx.value)
    return [Figure(png, ctx.t("captions", "sources_map")), _table(ctx, by.round(2), "by_sector"),
            _table(ctx, treat, "treatment")]  # fmt: skip


def _findings(ctx) -> gpd.GeoDataFrame:
    """Siting findings whose feature touches the area (computed once per report)."""
    if "_findings" not in ctx.cache:
        from townmap.analysis.checks import check_workspace
        from townmap.analysis.rules import load_rules

        result, geoms = check_workspace(ctx.ws, ctx.catalog, load_rules(catalog=ctx.catalog))
        frame = gpd.GeoDataFrame(result.findings, geometry=geoms.values, crs=result.crs)
        area = ctx.area.to_crs(result.crs).iloc[0]
        ctx.cache["_findings"] = frame[frame.geometry.intersects(area)]
    return ctx.cache["_findings"]


def analysis_spec(name: str):
    from townmap.catalog import load_layer_file
    from townmap.settings import layers_dir

    return load_layer_file(layers_dir() / "analysis" / f"{name}.toml")


def conflicts(ctx) -> list[Block]:
    findings = _findings(ctx)
    blocks: list[Block] = [Paragraph(ctx.t("text", "verification_note"), style="note")]
    if findings.empty:
        blocks.append(Paragraph(ctx.t("text", "no_findings")))
    else:
        spec = analysis_spec("conflict_points")
        points = findings[findings.geometry.geom_type == "Point"].copy()
        specs = [*_specs(ctx, ["villages", "rivers", "lake", "taihu_zones"]), spec]
        png = figures.area_map(ctx.layers | {spec.id: points}, specs, ctx.area, ctx.lang)
        blocks.append(Figure(png, ctx.t("captions", "conflicts_map")))
        blocks.append(_table(ctx, _with_basis(ctx, findings), "by_rule"))
    zones = _zones(ctx)
    if zones is not None and len(zones):
        blocks.append(_table(ctx, zones, "zones"))
    return blocks


def _with_basis(ctx, findings: pd.DataFrame) -> pd.DataFrame:
    from townmap.analysis.rules import load_rules

    rules = load_rules(catalog=ctx.catalog)
    rows = []
    for (rule_id, severity), part in findings.groupby(["rule_id", "severity"]):
        rule = rules.rules.get(rule_id)
        basis = ""
        if rule is not None:
            lb = rule.legal_basis
            basis = f"{lb.instrument.get(ctx.lang)} {lb.article} ({lb.version})"
        rows.append({"rule": rule.title.get(ctx.lang) if rule else rule_id,
                     "severity": ctx.value(severity), "findings": len(part), "basis": basis,
                     "verification": ctx.value(part["verification"].iloc[0])})  # fmt: skip
    return pd.DataFrame(rows).sort_values("findings", ascending=False)


def _zones(ctx) -> pd.DataFrame | None:
    from townmap.analysis.checks import workspace_context
    from townmap.analysis.zones import check_zones, load_matrix

    if "planning_zones" not in ctx.layers:
        return None
    checks = check_zones(ctx.layers, load_matrix(), context=workspace_context(ctx.ws))
    if checks.empty:
        return None
    zones = ctx.inside("planning_zones")
    key = ctx.catalog["planning_zones"].key
    if key and key in checks.columns and zones is not None:
        checks = checks[checks[key].isin(zones[key])]
    area_col = "overlap_m2" if "overlap_m2" in checks.columns else None
    out = checks.groupby(["land_use", "verdict"], as_index=False).agg(
        zones=("land_use", "size"),
        **({"area_ha": (area_col, lambda s: s.sum() / 1e4)} if area_col else {}),
    )  # fmt: skip
    out["land_use"] = out["land_use"].map(ctx.value)
    out["verdict"] = out["verdict"].map(ctx.value)
    return out.round(2)


SECTIONS = [
    ("summary", summary),
    ("setting", setting),
    ("sources", pollution_sources),
    ("conflicts", conflicts),
]


def _json(text) -> dict:
    try:
        return json.loads(text or "{}")
    except (TypeError, ValueError):
        return {}


__all__ = ["SECTIONS", "Heading"]
