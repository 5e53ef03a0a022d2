"""Cleaner-production programme: each enterprise's audit through the seven phases, whether
an audit is mandatory (computed from the data, per Order 38's triggers), the options found
and implemented, and the programme view the town and county report (required vs
completed audits per year, coverage, continuing audits, reasons cited for measures).

Phases, triggers and reason codes are data (``layers/cleaner_production/programme.toml``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

PHASE_COLUMNS = [f"p{i}_done" for i in range(1, 8)]


def programme_path() -> Path:
    from townmap.settings import layers_dir

    return layers_dir() / "cleaner_production" / "programme.toml"


def load_programme(path: Path | None = None) -> dict:
    data = tomllib.loads(Path(path or programme_path()).read_text(encoding="utf-8"))
    if len(data.get("phases", [])) != 7:
        raise ValueError("the cleaner-production programme needs exactly seven phases")
    return data


def _dates(frame: pd.DataFrame, columns) -> pd.DataFrame:
    return frame.reindex(columns=columns).apply(pd.to_datetime, errors="coerce")


def audit_status(audits: pd.DataFrame, programme: dict | None = None) -> pd.DataFrame:
    """Latest audit round per enterprise: the phase reached (0–7, the last phase with a
    completion date — a later date without the earlier ones still counts as reached),
    its code, the dates, and a status: in_progress, implemented, accepted, continuing."""
    programme = programme or load_programme()
    codes = [p["code"] for p in programme["phases"]]
    if audits.empty:
        return pd.DataFrame(columns=["ent_id", "round", "phase", "phase_code", "status"])
    latest = audits.sort_values(["ent_id", "round"]).groupby("ent_id").tail(1).copy()
    done = _dates(latest, PHASE_COLUMNS).notna().to_numpy()
    reached = np.where(done.any(axis=1), 7 - np.argmax(done[:, ::-1], axis=1), 0)
    latest["phase"] = reached
    # phase n done means work is in phase n+1; all seven done means continuous CP
    latest["phase_code"] = [codes[min(p, 6)] for p in reached]
    accepted = pd.to_datetime(latest.get("accepted"), errors="coerce").notna().to_numpy()
    rounds = audits.groupby("ent_id")["round"].nunique().reindex(latest["ent_id"]).to_numpy()
    latest["status"] = np.select(
        [(reached == 7) | (rounds > 1), accepted, reached >= 6],
        ["continuing", "accepted", "implemented"],
        "in_progress",
    )
    latest["rounds"] = rounds
    return latest.reset_index(drop=True)


def mandatory(
    enterprises: pd.DataFrame,
    *,
    failed_samples: pd.DataFrame | None = None,
    catchments_over: Mapping[int, set] | None = None,
    enterprise_catchment: pd.Series | None = None,
    years: list[int],
    programme: dict | None = None,
) -> pd.DataFrame:
    """Per enterprise and year: each trigger (exceeds standards, exceeds quota, toxic) and
    whether an audit is mandatory. ``failed_samples`` has owner_id and sampled_at of
    non-compliant effluent samples; ``catchments_over`` maps a year to the catchments over
    their cap; ``enterprise_catchment`` maps ent_id → catchment_id."""
    programme = programme or load_programme()
    toxic_sectors = set(programme["triggers"]["toxic"]["sectors"])
    ids = enterprises["ent_id"].astype(str).to_numpy()
    rows = []
    failed_by_year: dict[int, set] = {}
    if failed_samples is not None and len(failed_samples):
        year = pd.to_datetime(failed_samples["sampled_at"]).dt.year
        for y, owners in failed_samples.groupby(year)["owner_id"]:
            failed_by_year[int(y)] = set(owners.astype(str))
    catchment = (
        enterprise_catchment.reindex(ids).to_numpy()
        if enterprise_catchment is not None
        else np.full(len(ids), None)
    )
    toxic = enterprises["sector"].isin(toxic_sectors).to_numpy()
    for y in years:
        over = (catchments_over or {}).get(y, set())
        # hash lookups: np.isin on text compares every pair (minutes for a county)
        exceeds = pd.Index(ids).isin(failed_by_year.get(y, set()))
        quota = np.fromiter((c in over for c in catchment), dtype=bool, count=len(catchment))
        frame = pd.DataFrame(
            {
                "ent_id": ids,
                "year": y,
                "exceeds_standards": exceeds,
                "exceeds_quota": quota,
                "toxic": toxic,
            }
        )
        rows.append(frame)
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    if out.empty:
        return out
    triggers = ["exceeds_standards", "exceeds_quota", "toxic"]
    out["mandatory"] = out[triggers].any(axis=1)
    out["reasons"] = [
        ", ".join(t for t, hit in zip(triggers, flags, strict=True) if hit)
        for flags in out[triggers].to_numpy()
    ]
    return out


def options_summary(options: pd.DataFrame) -> pd.DataFrame:
    """Per enterprise: options found and implemented, by cost class, and COD reduction."""
    cols = [
        "ent_id",
        "found_no_low",
        "implemented_no_low",
        "found_medium_high",
        "implemented_medium_high",
        "cod_reduction_tpa",
    ]
    if options.empty:
        return pd.DataFrame(columns=cols)
    impl = options["status"].eq("implemented")
    frame = options.assign(implemented=impl)
    out = frame.pivot_table(
        index="ent_id",
        columns="cost_class",
        values="implemented",
        aggfunc=["size", "sum"],
        fill_value=0,
    )
    result = pd.DataFrame(index=out.index)
    for cost in ("no_low", "medium_high"):
        result[f"found_{cost}"] = out.get(("size", cost), 0)
        result[f"implemented_{cost}"] = out.get(("sum", cost), 0)
    cod = pd.to_numeric(frame["cod_reduction_tpa"], errors="coerce").where(impl)
    result["cod_reduction_tpa"] = cod.groupby(frame["ent_id"]).sum()
    return result.reset_index().reindex(columns=cols)


def programme_view(
    audits: pd.DataFrame, options: pd.DataFrame, required: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per year: audits required (mandatory enterprises), started, completed (accepted, or
    the implementation phase done where no acceptance is recorded), coverage of the
    required ones (an audit started by the end of the year), enterprises continuing.
    And the reasons cited for implemented options, counted."""
    started = _dates(audits, ["p1_done"])["p1_done"]
    done = pd.to_datetime(audits.get("accepted"), errors="coerce")
    done = done.fillna(_dates(audits, ["p6_done"])["p6_done"])
    years = sorted(set(required["year"]) if len(required) else set())
    rows = []
    for y in years:
        need = set(required.loc[(required["year"] == y) & required["mandatory"], "ent_id"])
        begun = set(audits.loc[started.dt.year <= y, "ent_id"])
        rows.append(
            {
                "year": y,
                "required": len(need),
                "started": int((started.dt.year == y).sum()),
                "completed": int((done.dt.year == y).sum()),
                "coverage": len(need & begun) / len(need) if need else np.nan,
                "continuing": int(
                    audits.loc[(audits["round"] > 1) & (started.dt.year <= y), "ent_id"].nunique()
                ),
            }
        )
    per_year = pd.DataFrame(rows)
    implemented = options[options["status"].eq("implemented")] if len(options) else options
    reasons = (
        implemented["reason"]
        .replace("", np.nan)
        .dropna()
        .value_counts()
        .rename_axis("reason")
        .reset_index(name="options")
        if len(implemented)
        else pd.DataFrame(columns=["reason", "options"])
    )
    return per_year, reasons


def workspace_programme(ws, compliance=None) -> dict[str, pd.DataFrame]:
    """Everything the Cleaner production page and the report show, from one workspace:
    per-enterprise view, mandatory triggers per year, programme per year, reasons."""
    from townmap.monitoring.compliance import workspace_compliance
    from townmap.monitoring.loads import against_caps, source_loads

    programme = load_programme()
    ents = ws.read_layer("enterprises")
    audits = ws.read_table("cp_audits") if ws.has_table("cp_audits") else pd.DataFrame()
    options = ws.read_table("cp_options") if ws.has_table("cp_options") else pd.DataFrame()
    failed = None
    years: set[int] = set()
    if ws.has_layer("discharge_points") and ws.has_table("effluent_samples"):
        compliance = compliance or workspace_compliance(ws)
        failed = compliance.samples[~compliance.samples["compliant"]]
        years |= set(pd.to_datetime(compliance.samples["sampled_at"]).dt.year)
    over: dict[int, set] = {}
    catchment = None
    if ws.has_layer("catchments"):
        layers = {"enterprises": ents, "catchments": ws.read_layer("catchments")}
        loads = source_loads(layers)
        catchment = loads[loads["kind"] == "enterprise"].set_index("id")["catchment_id"]
        caps = ws.read_table("load_caps") if ws.has_table("load_caps") else None
        if caps is not None and len(caps):
            for y in pd.to_numeric(caps["year"], errors="coerce").dropna().astype(int).unique():
                status = against_caps(loads, caps, int(y))  # today's loads, that year's cap
                over[int(y)] = set(status.loc[status["status"] == "over", "catchment_id"])
                years.add(int(y))
    if not years:  # no monitoring data: the audits' own years (toxic use is still known)
        for col in ("p1_done", "accepted"):
            if col in audits:
                found = pd.to_datetime(audits[col], errors="coerce").dt.year.dropna()
                years |= set(found.astype(int))
    years_sorted = sorted(int(y) for y in years)
    required = mandatory(
        ents,
        failed_samples=failed,
        catchments_over=over,
        enterprise_catchment=catchment,
        years=years_sorted,
        programme=programme,
    )
    status = audit_status(audits, programme)
    per_year, reasons = programme_view(audits, options, required)
    latest = required[required["year"] == years_sorted[-1]] if years_sorted else required
    view = ents.drop(columns="geometry")[["ent_id", "name_zh", "name_en", "village_id", "sector"]]
    view = view.merge(
        status.reindex(
            columns=["ent_id", "round", "rounds", "phase", "phase_code", "status", "kind"]
        ),
        on="ent_id",
        how="left",
    )
    view["status"] = view["status"].fillna("not_started")
    view["phase"] = view["phase"].fillna(0).astype(int)
    view = view.merge(options_summary(options), on="ent_id", how="left")
    if len(latest):
        view = view.merge(latest[["ent_id", "mandatory", "reasons"]], on="ent_id", how="left")
        view["mandatory"] = view["mandatory"].fillna(False).astype(bool)
        view["missing_audit"] = view["mandatory"] & view["status"].eq("not_started")
    return {
        "enterprises": view,
        "mandatory": required,
        "per_year": per_year,
        "reasons": reasons,
        "geometry": ents[["ent_id", "geometry"]],
    }
