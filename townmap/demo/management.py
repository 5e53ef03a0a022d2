"""Fictional cleaner-production audits and options for the demo town, consistent with each
enterprise's ``cp_audit_phase`` (phase n under way means phases 1..n−1 are done)."""

from __future__ import annotations

import numpy as np
import pandas as pd

PHASES = ["cp1_preparation", "cp2_pre_assessment", "cp3_assessment", "cp4_options",
          "cp5_feasibility", "cp6_implementation", "cp7_continuous"]  # fmt: skip
TOXIC = {"electroplating", "tanning", "dyestuffs", "chemicals", "printing_dyeing",
         "chemical_pulp_paper"}  # fmt: skip
CUTOFF = pd.Timestamp("2025-10-31")
REASONS = ["compliance", "cost_saving", "authority", "customer", "subsidy", "image"]
REASON_P = [0.34, 0.28, 0.2, 0.08, 0.06, 0.04]
TITLES = {
    "no_low": ["加强设备维护 / better maintenance", "节水改造 / water saving",
               "原料替代 / raw-material substitution", "工艺参数优化 / process tuning",
               "跑冒滴漏治理 / leak control"],
    "medium_high": ["逆流漂洗 / counter-current rinsing", "中水回用 / water reuse",
                    "余热回收 / heat recovery", "清洁工艺改造 / cleaner process line"],
}  # fmt: skip


def _dates(start: pd.Timestamp, gaps: np.ndarray) -> list[pd.Timestamp]:
    return [start + pd.Timedelta(days=int(d)) for d in np.cumsum(gaps)]


def cp_audits(rng: np.random.Generator, enterprises: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for ent in enterprises.itertuples():
        if ent.cp_audit_phase not in PHASES:
            continue
        done_n = PHASES.index(ent.cp_audit_phase)  # phase n under way: n − 1 done
        if ent.cp_audit_phase == PHASES[-1] and rng.random() < 0.6:
            done_n = 7  # the continuation plan is written too
        start = pd.Timestamp("2018-01-01") + pd.Timedelta(days=int(rng.integers(0, 7 * 365)))
        dates = _dates(start, rng.integers(30, 120, 7))
        last = dates[max(done_n - 1, 0)] + pd.Timedelta(days=560)  # acceptance, round 2
        if last > CUTOFF:  # nothing after the demo's data ends
            dates = [d - (last - CUTOFF) for d in dates]
        kind = "mandatory" if ent.sector in TOXIC or rng.random() < 0.4 else "voluntary"
        row = {"ent_id": ent.ent_id, "round": 1, "kind": kind}
        for i in range(7):
            row[f"p{i + 1}_done"] = dates[i].date() if i < done_n else None
        row["assessed"] = dates[4].date() if done_n >= 5 else None
        row["accepted"] = (dates[5] + pd.Timedelta(days=60)).date() if done_n >= 6 else None
        rows.append(row)
        if done_n == 7 and rng.random() < 0.4:  # a second, continuing round
            again = _dates(dates[6] + pd.Timedelta(days=180), rng.integers(45, 120, 3))
            second = {"ent_id": ent.ent_id, "round": 2, "kind": kind}
            for i in range(7):
                second[f"p{i + 1}_done"] = again[i].date() if i < 3 else None
            rows.append({**second, "assessed": None, "accepted": None})
    return pd.DataFrame(rows)


def cp_options(rng: np.random.Generator, audits: pd.DataFrame, enterprises: pd.DataFrame):
    cod = enterprises.set_index("ent_id")["cod_tpa"]
    rows = []
    for audit in audits.itertuples():
        reached = sum(pd.notna(getattr(audit, f"p{i}_done")) for i in range(1, 8))
        if reached < 2:
            continue
        for _ in range(int(rng.integers(2, 9))):
            cost = "no_low" if rng.random() < 0.7 else "medium_high"
            ready = reached >= (2 if cost == "no_low" else 6)
            status = "implemented" if ready else str(rng.choice(["proposed", "feasible"]))
            done = audit.p6_done if cost == "medium_high" else audit.p2_done
            used, cut = status == "implemented", rng.uniform(0.01, 0.08)
            rows.append(
                {
                    "option_id": f"O{len(rows) + 1:05d}", "ent_id": audit.ent_id,
                    "round": audit.round, "title": str(rng.choice(TITLES[cost])),
                    "cost_class": cost, "status": status,
                    "investment_cny": round(float(rng.uniform(0.2, 3) if cost == "no_low"
                                                  else rng.uniform(20, 300)) * 1e4, -2),
                    "implemented_on": done if status == "implemented" else None,
                    "cod_reduction_tpa": round(float(cod[audit.ent_id]) * cut, 3) if used else None,
                    "reason": str(rng.choice(REASONS, p=REASON_P)) if used else "",
                }
            )  # fmt: skip
    return pd.DataFrame(rows)
