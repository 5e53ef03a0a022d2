"""Monitoring stations and three years of samples for the demo town.

Monthly surface-water samples (DO, CODMn, COD, BOD5, NH3-N, TP, TN, pH) with seasonal
cycles, a slow improvement, values below the detection limit at clean stations, missing
months and occasional exceedances; quarterly effluent samples at every discharge point.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import Point

from townmap.crs import DEMO_CRS
from townmap.demo import names
from townmap.demo.geography import Geography

YEARS = (2023, 2024, 2025)
#: typical class-III-ish levels (mg/L) that a station's pollution factor scales
BASE = {
    "CODMn": 4.5,
    "COD": 16.0,
    "BOD5": 3.0,
    "NH3N": 0.55,
    "TP_river": 0.13,
    "TP_lake": 0.06,
    "TN": 1.6,
}
DETECTION_LIMIT = {"NH3N": 0.025, "TP": 0.01, "BOD5": 0.5}
UNITS = {
    "DO": "mg/L",
    "CODMn": "mg/L",
    "COD": "mg/L",
    "BOD5": "mg/L",
    "NH3N": "mg/L",
    "TP": "mg/L",
    "TN": "mg/L",
    "pH": "pH units",
    "SS": "mg/L",
    "temperature": "°C",
}


def stations(geo: Geography, intake: Point) -> tuple[gpd.GeoDataFrame, dict[str, float]]:
    """Stations and each one's pollution factor (1 ≈ class III, higher is dirtier)."""
    rivers = {r[0]: r for r in names.RIVERS}
    rows, factor = [], {}

    def add(sid: str, zh: str, en: str, body: str, wtype: str, target: str, p: Point, f: float):
        rows.append(
            {
                "station_id": sid,
                "name_zh": zh,
                "name_en": en,
                "water_body": body,
                "water_type": wtype,
                "target_class": target,
                "geometry": Point(round(p.x, 1), round(p.y, 1)),
            }
        )
        factor[sid] = f

    k = 1
    for rid, f_up, f_mouth in (
        ("R01", 0.8, 1.6),
        ("R02", 0.7, 2.0),
        ("R03", 0.9, 2.8),
        ("R04", 0.6, 1.4),
    ):
        line, (_, zh, en, _, target, _, _) = geo.rivers[rid], rivers[rid]
        add(
            f"S{k:02d}",
            f"{zh}上游",
            f"{en} upstream",
            rid,
            "river",
            target,
            line.interpolate(line.length * 0.35),
            f_up,
        )
        add(
            f"S{k + 1:02d}",
            f"{zh}入湖口",
            f"{en} mouth",
            rid,
            "river",
            target,
            line.interpolate(line.length - 300),
            f_mouth,
        )
        k += 2
    canal = geo.rivers["R05"]
    add(
        f"S{k:02d}",
        "通江运河出境",
        "Tongjiang Canal outlet",
        "R05",
        "river",
        "IV",
        canal.interpolate(canal.length * 0.5),
        1.9,
    )
    stream = geo.rivers["R06"]
    add(
        f"S{k + 1:02d}",
        "梅岭溪源头",
        "Meiling Stream headwater",
        "R06",
        "river",
        "II",
        stream.interpolate(stream.length * 0.2),
        0.25,
    )
    add(
        f"S{k + 2:02d}",
        "湖滨水源地",
        "Hubin water source",
        "LAKE",
        "lake",
        "II",
        Point(intake.x + 150, intake.y),
        0.7,
    )
    add(
        f"S{k + 3:02d}",
        "太滨湖区",
        "Taibin open lake",
        "LAKE",
        "lake",
        "III",
        Point(intake.x + 1_500, intake.y - 6_000),
        1.1,
    )
    return gpd.GeoDataFrame(rows, crs=DEMO_CRS), factor


def water_samples(
    rng: np.random.Generator, st: gpd.GeoDataFrame, factor: dict[str, float]
) -> pd.DataFrame:
    rows = []
    months = [(y, m) for y in YEARS for m in range(1, 13)]
    for _, s in st.iterrows():
        sid, f, lake = s["station_id"], factor[s["station_id"]], s["water_type"] == "lake"
        gap_start = int(rng.integers(0, len(months) - 4)) if sid in ("S03", "S09") else -99
        for i, (y, m) in enumerate(months):
            if gap_start <= i < gap_start + 4 or rng.random() < 0.04:
                continue  # missing month (equipment, weather, no sampling)
            day = int(rng.integers(5, 20))
            when = pd.Timestamp(year=y, month=m, day=day, hour=int(rng.integers(8, 16)))
            season = np.cos(2 * np.pi * (m - 7.5) / 12)  # +1 in midsummer, -1 in winter
            trend = 1 - 0.05 * (i / 12)
            spike = 3.5 if rng.random() < 0.03 else 1.0
            noise = rng.lognormal(0, 0.25)
            tp = BASE["TP_lake" if lake else "TP_river"]
            values = {
                "DO": max(1.0, (9.2 - 2.3 * season) - 1.1 * (f - 1) + rng.normal(0, 0.5)),
                "CODMn": BASE["CODMn"] * f * trend * noise,
                "COD": BASE["COD"] * f * trend * noise * rng.lognormal(0, 0.1),
                "BOD5": BASE["BOD5"] * f * trend * noise,
                "NH3N": BASE["NH3N"] * f**1.6 * trend * (1 - 0.35 * season) * noise * spike,
                "TP": tp * f * trend * (1 + 0.3 * season) * noise * spike,
                "TN": BASE["TN"] * f * trend * (1 - 0.2 * season) * noise,
                "pH": 7.6 + 0.25 * season + rng.normal(0, 0.2),
            }
            for param, value in values.items():
                dl = DETECTION_LIMIT.get(param)
                qualifier = ""
                if dl is not None and value < dl:
                    value, qualifier = dl, "below_dl"
                elif rng.random() < 0.01:
                    qualifier = "estimated"
                rows.append(
                    {
                        "station_id": sid,
                        "sampled_at": when,
                        "parameter": param,
                        "value": round(float(value), 3),
                        "unit": UNITS[param],
                        "qualifier": qualifier,
                        "detection_limit": dl,
                    }
                )
    return pd.DataFrame(rows)


def effluent_samples(
    rng: np.random.Generator, dps: gpd.GeoDataFrame, enterprises: gpd.GeoDataFrame
) -> pd.DataFrame:
    """Quarterly effluent samples; concentrations follow each source's loads and flow.
    Vectorised: the county-scale demo has tens of thousands of outfalls."""
    ent = enterprises.set_index("ent_id")
    is_plant = (dps["source_kind"] == "plant").to_numpy()
    conc = np.empty((len(dps), 4))
    ents = ent.reindex(dps["ent_id"].where(~is_plant))
    flow = np.maximum(ents["wastewater_m3d"].to_numpy(dtype=float), 0.1)
    for j, col in enumerate(("cod_tpa", "nh3n_tpa", "tp_tpa", "tn_tpa")):
        conc[:, j] = ents[col].to_numpy(dtype=float) * 1e6 / 365 / flow
    conc[is_plant] = [32.0, 2.5, 0.3, 11.0]
    quarters = [(y, q) for y in YEARS for q in range(4)]
    n_dp, n_q = len(dps), len(quarters)
    keep = rng.random((n_dp, n_q)) >= 0.08
    days = rng.integers(3, 26, (n_dp, n_q))
    noise = rng.lognormal(0, 0.35, (n_dp, n_q, 4))
    ph = 7.2 + rng.normal(0, 0.5, (n_dp, n_q))
    month = np.array([3 * q + 2 for _, q in quarters])
    temp = 14 + 10 * np.cos(2 * np.pi * (month - 7.5) / 12) + rng.normal(0, 1, (n_dp, n_q))
    dp_i, q_i = np.nonzero(keep)
    when = pd.to_datetime(
        {
            "year": [quarters[q][0] for q in q_i],
            "month": month[q_i],
            "day": days[dp_i, q_i],
            "hour": 10,
        }
    )
    frames = []
    params = ["COD", "NH3N", "TP", "TN", "pH", "temperature"]
    for j, param in enumerate(params):
        if j < 4:
            values = conc[dp_i, j] * noise[dp_i, q_i, j]
        else:
            values = (ph if param == "pH" else temp)[dp_i, q_i]
        frames.append(
            pd.DataFrame(
                {
                    "dp_id": dps["dp_id"].to_numpy()[dp_i],
                    "sampled_at": when.to_numpy(),
                    "parameter": param,
                    "value": np.round(values, 3),
                    "unit": UNITS[param],
                    "qualifier": "",
                    "order": np.arange(len(dp_i)) * len(params) + j,
                }
            )
        )
    out = pd.concat(frames, ignore_index=True).sort_values("order", kind="stable")
    return out.drop(columns="order").reset_index(drop=True)


def load_caps(catchments: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Fictional caps for the demo's catchments: 60–130 % of today's reported load, so
    some catchments are over their cap and some within it."""
    rng = np.random.default_rng(seed + 8)
    cols = {"COD": "cod_tpa", "NH3-N": "nh3n_tpa", "TP": "tp_tpa", "TN": "tn_tpa"}
    rows = []
    for _, c in catchments.iterrows():
        if float(c.get("cod_tpa") or 0) <= 0:
            continue
        factor = rng.uniform(0.6, 1.3)
        for param, col in cols.items():
            rows.append(
                {
                    "catchment_id": c["catchment_id"],
                    "parameter": param,
                    "cap_tpa": round(float(c[col]) * factor, 2),
                    "year": 2025,
                    "basis": "虚构示例指标 / fictional demo cap",
                    "verification": "unverified",
                }
            )
    return pd.DataFrame(rows)
