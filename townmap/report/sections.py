"""The report's sections, in order. Each takes the build context and returns blocks; each
asks the library for its numbers and never recomputes them its own way."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from townmap.report import figures
from townmap.report.model import Block, Figure, Paragraph, Table

SETTING = [
    "villages",
    "catchments",
    "taihu_zones",
    "water_source_zones",
    "eco_redline",
    "rivers",
    "lake",
    "water_intakes",
]
LOADS = {"cod_tpa": "COD", "nh3n_tpa": "NH3-N", "tp_tpa": "TP", "tn_tpa": "TN"}


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
    blocks.append(
        Paragraph(
            ctx.t(
                "text",
                "summary_counts",
                tves=0 if tves is None else len(tves),
                outfalls=0 if outfalls is None else len(outfalls),
                stations=0 if stations is None else len(stations),
                findings=len(findings),
                prohibited=int((findings["severity"] == "prohibited").sum())
                if len(findings)
                else 0,
            )
        )
    )
    return blocks


def setting(ctx) -> list[Block]:
    png = figures.area_map(ctx.layers, _specs(ctx, SETTING), ctx.area, ctx.lang)
    blocks: list[Block] = [Figure(png, ctx.t("captions", "setting_map"))]
    villages = ctx.inside("villages")
    if villages is not None and len(villages):
        cols = [
            c
            for c in ("village_id", f"name_{ctx.lang}", "population", "households")
            if c in villages.columns
        ]
        frame = pd.DataFrame(villages[cols]).rename(columns={f"name_{ctx.lang}": "name"})
        blocks.append(_table(ctx, frame, "villages"))
    return blocks


def pollution_sources(ctx) -> list[Block]:
    tve = ctx.inside("enterprises")
    if tve is None or tve.empty:
        return _none(ctx)
    png = figures.area_map(
        ctx.layers | {"enterprises": tve},
        _specs(ctx, ["villages", "rivers", "lake", "enterprises", "treatment_plants"]),
        ctx.area,
        ctx.lang,
    )
    by = (
        tve.groupby("sector")
        .agg(
            enterprises=("ent_id", "size"),
            wastewater_m3d=("wastewater_m3d", "sum"),
            **{name: (col, "sum") for col, name in LOADS.items() if col in tve},
        )
        .reset_index()
        .sort_values("COD", ascending=False)
    )
    by["sector"] = by["sector"].map(ctx.value)
    treat = tve["treatment"].value_counts().rename_axis("treatment").reset_index(name="enterprises")
    treat["treatment"] = treat["treatment"].map(ctx.value)
    return [
        Figure(png, ctx.t("captions", "sources_map")),
        _table(ctx, by.round(2), "by_sector"),
        _table(ctx, treat, "treatment"),
    ]


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
            if lb.superseded_by:  # never shown as the law in force
                basis += ("（已被取代：" if ctx.lang == "zh" else " (superseded by ") + (
                    lb.superseded_by + ("）" if ctx.lang == "zh" else ")")
                )
        rows.append(
            {
                "rule": rule.title.get(ctx.lang) if rule else rule_id,
                "severity": ctx.value(severity),
                "findings": len(part),
                "basis": basis,
                "verification": ctx.value(part["verification"].iloc[0]),
            }
        )
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
    )
    out["land_use"] = out["land_use"].map(ctx.value)
    out["verdict"] = out["verdict"].map(ctx.value)
    return out.round(2)


def water(ctx) -> list[Block]:
    from townmap.monitoring.quality import (
        ROMAN,
        ROMAN_TO_CLASS,
        classify_periods,
        exceedances,
        load_standard,
        workspace_samples,
    )

    stations = ctx.inside("monitoring_stations")
    blocks: list[Block] = []
    if stations is not None and len(stations) and ctx.ws.has_table("water_samples"):
        frame = workspace_samples(ctx.ws, stations["station_id"])
        std = load_standard()
        years = classify_periods(frame, std, "Y")
        if len(years):
            years["label"] = years["class"].map(ROMAN)
            grid = years.pivot(index="station", columns="period", values="label")
            png = figures.class_grid(grid, "", analysis_spec("station_classes").style.categories)
            blocks.append(Paragraph(ctx.t("text", "class_as_reported")))
            blocks.append(Figure(png, ctx.t("captions", "class_grid"), width_cm=14))
            targets = stations.set_index("station_id")["target_class"]
            last = years[years["period"] == years["period"].max()].copy()
            period = frame.assign(period=pd.to_datetime(frame["time"]).dt.year.astype(str))
            means = period.groupby(
                ["station", "water_type", "period", "parameter"], as_index=False
            )["value"].mean()
            over = exceedances(means, std, targets, keys=("station", "period"))
            last = last.merge(over, on=["station", "period"], how="left")
            table = pd.DataFrame(
                {
                    "station": last["station"],
                    "water_body": last["station"].map(
                        stations.set_index("station_id")["water_body"]
                    ),
                    "period": last["period"],
                    "class": last["label"],
                    "deciding": last["deciding_parameter"],
                    "tn_class": last["tn_class"].map(ROMAN),
                    "target": last["station"].map(targets),
                    "attained": [
                        _yes(ctx, c <= ROMAN_TO_CLASS.get(t, 0))
                        for c, t in zip(last["class"], last["station"].map(targets), strict=True)
                    ],
                    "exceedance": last["exceedance"].round(2),
                }
            )
            blocks.append(_table(ctx, table, "stations"))
    blocks.extend(_compliance(ctx))
    return blocks or _none(ctx)


def _compliance(ctx) -> list[Block]:
    from townmap.monitoring.compliance import summarise, workspace_compliance

    if not (ctx.ws.has_layer("discharge_points") and ctx.ws.has_table("effluent_samples")):
        return []
    if "_compliance" not in ctx.cache:
        ctx.cache["_compliance"] = workspace_compliance(ctx.ws)
    result = ctx.cache["_compliance"]
    outfalls = ctx.inside("discharge_points")
    findings = result.findings[result.findings["dp_id"].isin(outfalls["dp_id"])]
    if findings.empty:
        return []
    samples, _, offenders = summarise(findings)
    year = pd.to_datetime(samples["sampled_at"]).dt.year
    by_year = samples.groupby(year).agg(
        samples=("compliant", "size"), compliant_pct=("compliant", "mean")
    )
    by_year["compliant_pct"] = (by_year["compliant_pct"] * 100).round(1)
    by_year = by_year.rename_axis("year").reset_index()
    month = samples.groupby("month", as_index=False)["compliant"].mean()
    month["compliant"] = month["compliant"] * 100
    png = figures.bar_chart(
        month,
        "month",
        ["compliant"],
        [ctx.col(["compliant_pct"])["compliant_pct"]],
        title="",
        ylabel="%",
        colours=["#2c7bb6"],
    )
    top = offenders.head(15).rename(columns={"owner_id": "owner"})
    top = top[["owner", "months_failed", "worst_ratio", "parameters"]].round(2)
    return [
        _table(ctx, by_year, "compliance_year"),
        Figure(png, ctx.t("captions", "compliance_month")),
        _table(ctx, top, "offenders"),
    ]


def loads(ctx) -> list[Block]:
    from townmap.monitoring.loads import against_caps, source_loads

    if "enterprises" not in ctx.layers:
        return _none(ctx)
    layers = {
        k: ctx.layers[k]
        for k in ("enterprises", "discharge_points", "catchments", "villages")
        if k in ctx.layers
    }
    effluent = (
        ctx.ws.read_table("effluent_samples") if ctx.ws.has_table("effluent_samples") else None
    )
    loads = source_loads(layers, effluent)
    caps = ctx.ws.read_table("load_caps") if ctx.ws.has_table("load_caps") else None
    status = against_caps(loads, caps)
    inside = ctx.inside("catchments")
    if inside is not None:
        status = status[status["catchment_id"].isin(inside["catchment_id"])]
    if status.empty:
        return _none(ctx)
    status = status.assign(status=status["status"].map(ctx.value))
    table = status[["catchment_id", "parameter", "load_tpa", "cap_tpa", "gap_tpa", "status"]]
    cod = status[status["parameter"] == "COD"].dropna(subset=["cap_tpa"])
    blocks: list[Block] = [
        _table(ctx, table.rename(columns={"catchment_id": "catchment"}).round(2), "loads_caps")
    ]
    if len(cod):
        names = ctx.col(["load_tpa", "cap_tpa"])
        png = figures.bar_chart(
            cod,
            "catchment_id",
            ["load_tpa", "cap_tpa"],
            [names["load_tpa"], names["cap_tpa"]],
            title="",
            ylabel="t/a",
            colours=["#b2182b", "#4d4d4d"],
        )
        blocks.append(Figure(png, ctx.t("captions", "loads_chart")))
    return blocks


def scenarios(ctx) -> list[Block]:
    from townmap.analysis.scenarios import list_scenarios

    saved = list_scenarios(ctx.ws)
    if saved.empty:
        return _none(ctx, "no_scenarios")
    table = pd.DataFrame(
        {
            "scenario": saved["scenario"],
            "plants": saved["k"],
            "cost": saved["total_cost_cny"].round(0),
            "connected": saved["factories_connected"],
            "removed_cod": saved.get("removed_cod_tpa", pd.Series(dtype=float)).round(1),
            "status": saved["status"].map(ctx.value),
        }
    )
    return [_table(ctx, table, "scenarios")]


def cleaner(ctx) -> list[Block]:
    from townmap.management.cleaner import load_programme, workspace_programme

    if not ctx.ws.has_table("cp_audits"):
        return _none(ctx)
    result = workspace_programme(ctx.ws, ctx.cache.get("_compliance"))
    ctx.cache["_programme"] = result  # the EMS section's indicators reuse it
    per_year = result["per_year"].assign(coverage=lambda f: (f["coverage"] * 100).round(1))
    reasons = result["reasons"].copy()
    labels = load_programme()["reasons"]
    reasons["reason"] = reasons["reason"].map(lambda r: labels.get(r, {}).get(ctx.lang, r))
    return [_table(ctx, per_year, "cp_year"), _table(ctx, reasons, "cp_reasons")]


def ems(ctx) -> list[Block]:
    from townmap.management.register import clause_status, indicators, objective_progress

    blocks: list[Block] = [Paragraph(ctx.t("text", "register_town_wide"), style="note")]
    status = clause_status(ctx.ws)
    table = pd.DataFrame(
        {
            "clause": status["clause"],
            "title": status[f"title_{ctx.lang}"],
            "records": status["records"],
            "status": status["status"].map(ctx.value),
        }
    )
    blocks.append(_table(ctx, table, "ems_status"))
    if ctx.ws.has_table("ems_objectives"):
        current = indicators(
            ctx.ws,
            ctx.cache.get("_compliance"),
            _findings(ctx),
            programme=ctx.cache.get("_programme"),
        )
        prog = objective_progress(ctx.ws.read_table("ems_objectives"), current)
        blocks.append(
            _table(
                ctx,
                pd.DataFrame(
                    {
                        "objective": prog["title"],
                        "baseline": prog["baseline"],
                        "target": prog["target"],
                        "current": prog["current"].round(1),
                        "progress": prog["progress_pct"].round(0),
                    }
                ),
                "objectives",
            )
        )
    return blocks


def comments(ctx) -> list[Block]:
    if not ctx.ws.has_layer("public_comments"):
        return _none(ctx, "no_comments")
    found = ctx.inside("public_comments")
    shown = found[found["status"] == "approved"] if found is not None else None
    if shown is None or shown.empty:
        return _none(ctx, "no_comments")
    table = pd.DataFrame({"category": shown["category"].map(ctx.value), "comment": shown["text"]})
    return [_table(ctx, table, "comments")]


def limits(ctx) -> list[Block]:
    from townmap.management.register import obligations
    from townmap.sources import sources_table

    ob = obligations()
    table = pd.DataFrame(
        {
            "instrument": ob[f"instrument_{ctx.lang}"],
            "article": ob["article"],
            "version": ob["version"],
            "valid_from": ob["valid_from"],
            "verification": ob["verification"].map(ctx.value),
        }
    )
    weak = int((ob["verification"] != "verified").sum())
    blocks: list[Block] = []
    if ctx.ws.is_fictional:
        blocks.append(Paragraph(ctx.t("fictional", ""), style="warning"))
    blocks += [
        Paragraph(ctx.t("text", "unverified_count", n=weak)),
        Paragraph(ctx.t("text", "assumptions")),
        _table(ctx, table, "obligations"),
        _table(ctx, sources_table(_cited_sources(), ctx.lang), "sources_used"),
    ]
    return blocks


def _cited_sources() -> list[str]:
    """Every layers/sources/sources.toml entry the rules and standards cite, in file order."""
    from townmap.settings import layers_dir
    from townmap.sources import cited

    keys: list[str] = []
    for folder in ("rules", "standards", "ems", "cleaner_production"):
        for path in sorted((layers_dir() / folder).glob("*.toml")):
            text = path.read_text(encoding="utf-8")
            for line in text.splitlines():
                if line.startswith("source = "):
                    keys += cited(line)
    return list(dict.fromkeys(keys))


SECTIONS = [
    ("summary", summary),
    ("setting", setting),
    ("sources", pollution_sources),
    ("conflicts", conflicts),
    ("water", water),
    ("loads", loads),
    ("scenarios", scenarios),
    ("cleaner", cleaner),
    ("ems", ems),
    ("comments", comments),
    ("limits", limits),
]


def _yes(ctx, flag: bool) -> str:
    from townmap.i18n import t

    return t("yes" if flag else "no", ctx.lang)
