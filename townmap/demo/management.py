"""Fictional cleaner-production audits and options for the demo town, consistent with each
enterprise's ``cp_audit_phase`` (phase n under way means phases 1..n−1 are done)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

PHASES = [
    "cp1_preparation",
    "cp2_pre_assessment",
    "cp3_assessment",
    "cp4_options",
    "cp5_feasibility",
    "cp6_implementation",
    "cp7_continuous",
]
TOXIC = {
    "electroplating",
    "tanning",
    "dyestuffs",
    "chemicals",
    "printing_dyeing",
    "chemical_pulp_paper",
}
CUTOFF = pd.Timestamp("2025-10-31")
REASONS = ["compliance", "cost_saving", "authority", "customer", "subsidy", "image"]
REASON_P = [0.34, 0.28, 0.2, 0.08, 0.06, 0.04]
TITLES = {
    "no_low": [
        "加强设备维护 / better maintenance",
        "节水改造 / water saving",
        "原料替代 / raw-material substitution",
        "工艺参数优化 / process tuning",
        "跑冒滴漏治理 / leak control",
    ],
    "medium_high": [
        "逆流漂洗 / counter-current rinsing",
        "中水回用 / water reuse",
        "余热回收 / heat recovery",
        "清洁工艺改造 / cleaner process line",
    ],
}


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
                    "option_id": f"O{len(rows) + 1:05d}",
                    "ent_id": audit.ent_id,
                    "round": audit.round,
                    "title": str(rng.choice(TITLES[cost])),
                    "cost_class": cost,
                    "status": status,
                    "investment_cny": round(
                        float(rng.uniform(0.2, 3) if cost == "no_low" else rng.uniform(20, 300))
                        * 1e4,
                        -2,
                    ),
                    "implemented_on": done if status == "implemented" else None,
                    "cod_reduction_tpa": round(float(cod[audit.ent_id]) * cut, 3) if used else None,
                    "reason": str(rng.choice(REASONS, p=REASON_P)) if used else "",
                }
            )
    return pd.DataFrame(rows)


def ems_register() -> dict[str, pd.DataFrame]:
    """A small, fictional ISO 14001 register for the demo town government."""
    aspects = pd.DataFrame(
        [
            (
                "A01",
                "乡镇企业废水排放 / TVE wastewater",
                "COD、氨氮、总磷排放 / COD, NH3-N, TP",
                "河流和太湖富营养化 / eutrophication",
                "normal",
                5,
                5,
                True,
            ),
            (
                "A02",
                "镇污水处理厂运行 / town WWTP",
                "出水排放 / effluent",
                "受纳河流水质 / river quality",
                "normal",
                4,
                3,
                True,
            ),
            (
                "A03",
                "污水厂停电 / WWTP power failure",
                "未经处理污水溢流 / raw overflow",
                "鱼类死亡、水华 / fish kill, bloom",
                "emergency",
                5,
                2,
                True,
            ),
            (
                "A04",
                "化工企业危险品储存 / chemical storage",
                "泄漏 / spill",
                "土壤和地下水污染 / soil, groundwater",
                "abnormal",
                5,
                2,
                True,
            ),
            (
                "A05",
                "农村生活污水 / village sewage",
                "直排入河 / direct discharge",
                "河道黑臭 / black-odorous rivers",
                "normal",
                3,
                4,
                False,
            ),
            (
                "A06",
                "水泥厂粉尘 / cement dust",
                "粉尘排放 / dust",
                "居民健康 / residents' health",
                "normal",
                3,
                3,
                True,
            ),
            (
                "A07",
                "镇政府办公 / town offices",
                "用电用纸 / power, paper",
                "资源消耗 / resources",
                "normal",
                1,
                5,
                False,
            ),
            (
                "A08",
                "汛期洪水 / flood season",
                "危险品冲入水体 / hazardous wash-off",
                "水体污染 / water pollution",
                "emergency",
                4,
                2,
                False,
            ),
        ],
        columns=[
            "aspect_id",
            "activity",
            "aspect",
            "impact",
            "condition",
            "severity",
            "likelihood",
            "obligation",
        ],
    )
    aspects["control"] = [
        "排污许可与监测 / permits, monitoring",
        "在线监测 / online monitoring",
        "应急预案 / emergency plan",
        "巡查 / inspections",
        None,
        None,
        None,
        "汛前检查 / pre-flood checks",
    ]
    objectives = pd.DataFrame(
        [
            (
                "O01",
                "断面水质Ⅲ类及以上比例达到 75% / 75 % of stations at class III or better",
                "stations_class_iii_or_better",
                33.3,
                75.0,
                2027,
                "环保办 / env. office",
            ),
            (
                "O02",
                "全镇COD排放量削减 20% / cut town COD load by 20 %",
                "cod_load_tpa",
                35000.0,
                28000.0,
                2027,
                "经发局 / economic office",
            ),
            (
                "O03",
                "排污口达标率达到 90% / 90 % of effluent samples compliant",
                "discharge_compliance_rate",
                20.0,
                90.0,
                2026,
                "环保办 / env. office",
            ),
            (
                "O04",
                "强制审核企业全部启动审核 / every mandatory CP audit started",
                "mandatory_audit_coverage",
                40.0,
                100.0,
                2026,
                "经发局 / economic office",
            ),
        ],
        columns=[
            "objective_id",
            "title",
            "indicator",
            "baseline",
            "target",
            "target_year",
            "owner",
        ],
    )
    objectives["actions"] = [
        "集中污水处理 / shared treatment",
        "清洁生产 / cleaner production",
        "执法检查 / enforcement",
        "审核辅导 / audit support",
    ]
    audits = pd.DataFrame(
        {
            "audit_id": ["IA-2024-1", "IA-2025-1", "IA-2026-1"],
            "planned": ["2024-10-15", "2025-10-15", "2026-06-15"],
            "done": ["2024-10-18", "2025-10-20", None],
            "clauses": ["6.1.2, 6.1.3, 9.1.2", "6.2, 8.1, 10.2", "4.1, 6.1.4, 9.3"],
            "auditor": [
                "县环保局 / county bureau",
                "第三方 / consultant",
                "县环保局 / county bureau",
            ],
            "findings": [
                "合规义务清单不完整 / obligations list incomplete",
                "两家企业超标未整改 / two exceedances not followed up",
                None,
            ],
        }
    )
    ncs = pd.DataFrame(
        {
            "nc_id": ["NC-0001", "NC-0002", "NC-0003"],
            "raised_on": ["2024-10-18", "2025-10-20", "2025-11-02"],
            "source_kind": ["audit", "exceedance", "conflict"],
            "source_ref": ["IA-2024-1", "IA-2025-1", "taihu_art43_banned_sectors"],
            "clause": ["6.1.3", "10.2", "8.1"],
            "description": [
                "合规义务清单缺少地方标准 / local standards missing",
                "超标企业未限期整改 / exceedances without corrective action",
                "一级保护区内印染企业 / printing & dyeing in a level-1 zone",
            ],
            "corrective_action": ["补充 DB32/1072 / add DB32/1072", "下达整改通知 / notices", None],
            "owner": ["环保办 / env. office"] * 3,
            "due": ["2024-12-31", "2026-03-31", "2026-06-30"],
            "closed_on": ["2024-12-10", None, None],
            "status": ["closed", "in_progress", "open"],
        }
    )
    reviews = pd.DataFrame(
        {
            "review_id": ["MR-2024", "MR-2025"],
            "held_on": ["2024-12-20", "2025-12-19"],
            "chair": ["镇长 / town mayor"] * 2,
            "inputs": [
                "审核结果、目标进展 / audit results, objectives",
                "水质趋势、合规率 / water-quality trends, compliance",
            ],
            "decisions": [
                "启动集中污水处理规划 / start shared-treatment planning",
                "加强执法 / step up enforcement",
            ],
        }
    )
    records = pd.DataFrame(
        [
            (
                "R01",
                "context",
                "镇环境状况分析 / town environmental review",
                "document",
                "2024-03-01",
            ),
            (
                "R02",
                "interested_parties",
                "相关方清单 / interested parties",
                "document",
                "2024-03-01",
            ),
            ("R03", "scope", "体系范围声明 / EMS scope", "document", "2024-03-15"),
            ("R04", "policy", "镇环境方针 / town environmental policy", "document", "2024-04-01"),
            ("R05", "roles", "环保职责分工 / environmental roles", "document", "2024-04-01"),
            (
                "R06",
                "competence",
                "村环保员培训 / village officer training",
                "record",
                "2025-05-12",
            ),
            (
                "R07",
                "communication",
                "公众参与会议纪要 / public meeting minutes",
                "record",
                "2025-09-20",
            ),
            (
                "R08",
                "emergency",
                "突发水污染应急预案 / water-pollution emergency plan",
                "document",
                "2024-06-01",
            ),
            ("R09", "emergency", "应急演练记录 / emergency drill", "record", "2025-06-18"),
            (
                "R10",
                "risks_general",
                "风险和机遇清单 / risks and opportunities",
                "document",
                "2024-04-15",
            ),
        ],
        columns=["record_id", "clause_key", "title", "kind", "dated"],
    )
    records["owner"] = "环保办 / env. office"
    log = pd.DataFrame(
        [
            {
                "changed_at": "2025-12-19T09:00:00+00:00",
                "user": "demo",
                "table_id": "ems_reviews",
                "record": "MR-2025",
                "action": "insert",
                "field": None,
                "old": None,
                "new": reviews.iloc[-1].to_json(force_ascii=False),
                "reason": "虚构示例 / fictional",
            }
        ]
    )
    return {
        "change_log": log,
        "ems_aspects": aspects,
        "ems_objectives": objectives,
        "ems_audits": audits,
        "ems_nonconformities": ncs,
        "ems_reviews": reviews,
        "ems_records": records,
    }


def public_comments(villages: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A handful of fictional residents' comments from a participation meeting."""
    texts = [
        (
            "water",
            "河水发黑发臭，夏天尤其严重 / the creek turns black and smells in summer",
            "approved",
        ),
        ("enterprise", "印染厂夜里排水 / the dye works discharges at night", "approved"),
        (
            "land_use",
            "希望污水厂不要建在学校旁边 / please keep the sewage plant away from the school",
            "approved",
        ),
        ("air", "水泥厂粉尘大 / dust from the cement plant", "pending"),
        ("other", "广告 / advertisement", "rejected"),
    ]
    points = [
        villages.geometry.iloc[i % len(villages)].representative_point() for i in range(len(texts))
    ]
    return gpd.GeoDataFrame(
        {
            "comment_id": [f"C-{i + 1:04d}" for i in range(len(texts))],
            "category": [c for c, _, _ in texts],
            "text": [t for _, t, _ in texts],
            "name": [None, "王 / Wang", None, None, None],
            "status": [s for _, _, s in texts],
            "created_at": ["2025-09-20T07:00:00+00:00"] * len(texts),
            "area_wkt": None,
        },
        geometry=points,
        crs=villages.crs,
    )


def public_slides() -> pd.DataFrame:
    """The demo's public meeting: four views in order."""
    return pd.DataFrame(
        {
            "slide_id": ["S1", "S2", "S3", "S4"],
            "position": [1, 2, 3, 4],
            "title_zh": [
                "我们镇的河流和太湖",
                "水质怎么样？",
                "哪些企业选址有问题？",
                "大家的意见",
            ],
            "title_en": [
                "Our rivers and Lake Tai",
                "How clean is the water?",
                "Where are factories in the wrong place?",
                "What residents said",
            ],
            "layers": [
                "villages,rivers,lake,taihu_zones",
                "rivers,lake",
                "villages,rivers,lake",
                "villages,rivers,lake,public_comments",
            ],
            "indicator": ["none", "water_class", "conflicts", "comments"],
            "area": ["town", "town", "town", "town"],
        }
    )
