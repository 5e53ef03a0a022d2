"""The town's ISO 14001 register, computed where it can be and kept where it must be.

- Clause numbers are data (``layers/ems/clauses.toml``): each clause has a key and its
  number per edition (2015, 2026), so the same records serve both editions.
- Compliance obligations are *generated* from ``layers/``: every siting rule and every
  standard file, with instrument, article, version, valid-from and verification.
- Aspects get a significance score (severity × likelihood, threshold as data).
- Objectives link to indicators computed from the workspace, with progress.
- The status per clause says which registers give evidence and what needs attention.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

from townmap.store import Workspace


def _ems(name: str) -> dict:
    from townmap.settings import layers_dir

    return tomllib.loads((layers_dir() / "ems" / name).read_text(encoding="utf-8"))


def clauses(edition: str | None = None) -> pd.DataFrame:
    """Clauses of one edition in order: key, number, zh/en title (edition-specific titles
    where the edition renamed a clause)."""
    data = _ems("clauses.toml")
    edition = edition or data["default_edition"]
    if edition not in data["editions"]:
        raise ValueError(
            f"unknown ISO 14001 edition {edition!r}; known: {', '.join(data['editions'])}"
        )
    rows = []
    for c in data["clauses"]:
        if edition not in c["numbers"]:
            continue
        title = c.get(f"title_{edition}", c["title"])
        rows.append(
            {
                "key": c["key"],
                "clause": c["numbers"][edition],
                "title_zh": title["zh"],
                "title_en": title["en"],
            }
        )
    out = pd.DataFrame(rows)
    order = out["clause"].map(lambda n: tuple(int(p) for p in n.split(".")))
    return out.assign(_o=order).sort_values("_o").drop(columns="_o").reset_index(drop=True)


def editions() -> dict[str, dict]:
    return _ems("clauses.toml")["editions"]


def obligations() -> pd.DataFrame:
    """Compliance obligations (6.1.3) from the rules and standards in ``layers/``."""
    from townmap.analysis.rules import load_rules
    from townmap.management.cleaner import load_programme
    from townmap.monitoring.quality import load_standard
    from townmap.monitoring.standards import load_discharge_standards

    rows = []
    for rule in load_rules():
        lb = rule.legal_basis
        rows.append(
            {
                "obligation": f"rule:{rule.id}",
                "kind": "siting rule",
                "instrument_zh": lb.instrument.zh,
                "instrument_en": lb.instrument.en,
                "article": lb.article,
                "version": lb.version,
                "valid_from": lb.valid_from.isoformat() if lb.valid_from else None,
                "requirement_zh": rule.title.zh,
                "requirement_en": rule.title.en,
                "verification": rule.verification,
                "source": lb.source,
            }
        )
    for std in load_discharge_standards().values():
        rows.append(
            {
                "obligation": f"standard:{std.id}",
                "kind": "discharge standard",
                "instrument_zh": std.title.zh,
                "instrument_en": std.standard_id,
                "article": "",
                "version": std.version,
                "valid_from": std.valid_from.isoformat() if std.valid_from else None,
                "requirement_zh": f"排放限值（{'、'.join(std.classes)}）",
                "requirement_en": f"discharge limits (classes {', '.join(std.classes)})",
                "verification": std.verification,
                "source": std.source,
            }
        )
    q = load_standard()
    rows.append(
        {
            "obligation": "standard:gb3838_2002",
            "kind": "quality standard",
            "instrument_zh": "地表水环境质量标准",
            "instrument_en": q.standard_id,
            "article": "",
            "version": q.version,
            "valid_from": None,
            "requirement_zh": "水功能区目标水质类别",
            "requirement_en": "target water-quality classes",
            "verification": q.verification,
            "source": "layers/standards/gb3838_2002.toml",
        }
    )
    cp = load_programme()
    rows.append(
        {
            "obligation": "programme:cleaner_production",
            "kind": "programme",
            "instrument_zh": "清洁生产审核办法",
            "instrument_en": "Cleaner production audit measures",
            "article": "",
            "version": "2016",
            "valid_from": "2016-07-01",
            "requirement_zh": "强制性清洁生产审核",
            "requirement_en": "mandatory cleaner-production audits",
            "verification": cp["verification"],
            "source": cp["source"],
        }
    )
    return pd.DataFrame(rows)


def significance(aspects: pd.DataFrame) -> pd.DataFrame:
    """Score = severity × likelihood; significant at the threshold or, when so set,
    whenever a compliance obligation applies."""
    rule = _ems("register.toml")["significance"]
    sev = pd.to_numeric(aspects.get("severity"), errors="coerce")
    lik = pd.to_numeric(aspects.get("likelihood"), errors="coerce")
    score = sev * lik
    legal = aspects.get("obligation", pd.Series(False, index=aspects.index))
    legal = legal.map(lambda v: str(v).lower() in ("true", "1", "yes")).astype(bool)
    significant = (score >= rule["threshold"]) | (legal & rule["legal_makes_significant"])
    return aspects.assign(score=score, significant=significant.to_numpy())


def indicator_specs() -> dict[str, dict]:
    return _ems("register.toml")["indicators"]


def indicators(ws: Workspace, compliance=None, conflicts=None, programme=None) -> pd.DataFrame:
    """Current value of every indicator the objectives can use, computed from the data
    (missing data gives no value, never zero). ``compliance``, ``conflicts`` and the
    cleaner-production ``programme`` may be passed in when already computed."""
    values: dict[str, float] = {}
    years: dict[str, int | None] = {}
    if ws.has_table("water_samples") and ws.has_layer("monitoring_stations"):
        from townmap.monitoring.quality import (
            ROMAN_TO_CLASS,
            classify_periods,
            load_standard,
            workspace_samples,
        )

        stations = ws.read_layer("monitoring_stations")
        yearly = classify_periods(workspace_samples(ws), load_standard(), "Y")
        if len(yearly):
            last = yearly["period"].max()
            now = yearly[yearly["period"] == last]
            target = now["station"].map(stations.set_index("station_id")["target_class"])
            values["stations_class_iii_or_better"] = 100 * float((now["class"] <= 3).mean())
            values["stations_attaining_target"] = 100 * float(
                (now["class"] <= target.map(ROMAN_TO_CLASS)).mean()
            )
            years["stations_class_iii_or_better"] = years["stations_attaining_target"] = int(last)
    if ws.has_layer("enterprises"):
        ents = ws.read_layer("enterprises")
        for key, col in (("cod_load_tpa", "cod_tpa"), ("nh3n_load_tpa", "nh3n_tpa")):
            if col in ents:
                values[key] = float(pd.to_numeric(ents[col], errors="coerce").sum())
    if compliance is None and ws.has_layer("discharge_points") and ws.has_table("effluent_samples"):
        from townmap.monitoring.compliance import workspace_compliance

        compliance = workspace_compliance(ws)
    if compliance is not None and len(compliance.samples):
        s = compliance.samples
        year = pd.to_datetime(s["sampled_at"]).dt.year
        last = int(year.max())
        values["discharge_compliance_rate"] = 100 * float(s.loc[year == last, "compliant"].mean())
        years["discharge_compliance_rate"] = last
    if ws.has_table("cp_audits"):
        from townmap.management.cleaner import workspace_programme

        per_year = (programme or workspace_programme(ws, compliance))["per_year"]
        if len(per_year) and per_year["coverage"].notna().any():
            row = per_year.dropna(subset=["coverage"]).iloc[-1]
            values["mandatory_audit_coverage"] = 100 * float(row["coverage"])
            years["mandatory_audit_coverage"] = int(row["year"])
    if conflicts is not None:
        values["prohibited_conflicts"] = float((conflicts["severity"] == "prohibited").sum())
    specs = indicator_specs()
    return pd.DataFrame(
        [
            {
                "indicator": k,
                "label_zh": s["label"]["zh"],
                "label_en": s["label"]["en"],
                "unit": s["unit"],
                "better": s["better"],
                "value": values.get(k, np.nan),
                "year": years.get(k),
            }
            for k, s in specs.items()
        ]
    )


def objective_progress(objectives: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """Progress of each objective from its baseline towards its target (0–100 %, may go
    below 0 when things got worse); achieved when the target is reached."""
    now = current.set_index("indicator")["value"]
    better = current.set_index("indicator")["better"]
    out = objectives.copy()
    out["current"] = out["indicator"].map(now)
    base = pd.to_numeric(out["baseline"], errors="coerce")
    target = pd.to_numeric(out["target"], errors="coerce")
    span = (target - base).replace(0, np.nan)
    out["progress_pct"] = 100 * (out["current"] - base) / span
    higher = out["indicator"].map(better).eq("higher")
    out["achieved"] = np.where(higher, out["current"] >= target, out["current"] <= target)
    out.loc[out["current"].isna(), "achieved"] = False
    return out


def clause_status(ws: Workspace, edition: str | None = None, today: dt.date | None = None):
    """Per clause of ``edition``: the registers that are its evidence, how many records
    hold (documents filed against the clause in ``ems_records`` included), and a status —
    evidence, attention (overdue nonconformities, planned audits not done) or gap."""
    today = today or dt.date.today()
    evidence = _ems("register.toml")["evidence"]
    records = ws.read_table("ems_records") if ws.has_table("ems_records") else pd.DataFrame()
    rows = []
    for c in clauses(edition).itertuples():
        sources = evidence.get(c.key, [])
        count, attention = 0, []
        for name in sources:
            if name == "obligations":
                count += len(obligations())
            elif name == "compliance":
                count += int(ws.has_table("effluent_samples"))
            elif ws.has_table(name) or ws.has_layer(name):
                count += len(ws.read_table(name))
        if c.key == "nonconformity" and ws.has_table("ems_nonconformities"):
            nc = ws.read_table("ems_nonconformities")
            due = pd.to_datetime(nc.get("due"), errors="coerce")
            late = (nc["status"] != "closed") & (due.dt.date < today)
            if late.any():
                attention.append(f"{int(late.sum())} overdue")
        if c.key == "internal_audit" and ws.has_table("ems_audits"):
            a = ws.read_table("ems_audits")
            planned = pd.to_datetime(a["planned"], errors="coerce").dt.date
            missed = a["done"].isna() & (planned < today)
            if missed.any():
                attention.append(f"{int(missed.sum())} audit(s) not done")
        filed = records[records["clause_key"] == c.key] if len(records) else records
        count += len(filed)
        if len(filed):
            sources = [*sources, "ems_records"]
        status = "attention" if attention else ("evidence" if count else "gap")
        rows.append(
            {
                "clause": c.clause,
                "key": c.key,
                "title_zh": c.title_zh,
                "title_en": c.title_en,
                "registers": ", ".join(sources),
                "records": count,
                "attention": "; ".join(attention),
                "status": status,
            }
        )
    return pd.DataFrame(rows)


def register_path() -> Path:
    from townmap.settings import layers_dir

    return layers_dir() / "ems" / "register.toml"
