"""Discharge compliance: which limit applies at each discharge point, chosen by rule, and
whether each effluent sample met it.

The choice follows the standards' own class rules, kept as data in ``layers/standards``:

- an enterprise outfall takes the GB 8978 class of its receiving water (III → 1, IV/V → 2;
  I/II take no new outfalls and are assessed at class 1). Sectors with their own discharge
  standard (not encoded) are *screened* against GB 8978 and flagged, as are units built
  before 1998 (Table 2 not encoded);
- a town sewage plant takes the GB 18918 class of its receiving water (III or a lake → 1B,
  IV/V → 2, key basin → 1A), or its declared class when that is stricter; in the Taihu
  basin DB32/1072 (Table 1 in level-1/2 zones, Table 2 elsewhere) applies as well and the
  stricter value of the two decides, parameter by parameter;
- NH3-N (and DB32's TN) use the bracketed value when the sample's water temperature is
  ≤ 12 °C; without a temperature the warm (stricter) value applies and is flagged;
- GB 18918's TP depends on when the plant was built.

Every finding carries the standard, version, class and verification of its limit.
A TP measured against GB 8978's phosphate limit is only *indicative* (TP ≥ phosphate).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from townmap.monitoring.standards import DischargeStandard, limits_table, standards_dir

STRICTNESS = {"1A": 0, "1B": 1, "2": 2, "3": 3}
REPEAT_MONTHS = 2  # non-compliant in at least this many distinct months → repeat offender
FINDING_COLUMNS = [
    "dp_id",
    "owner_kind",
    "owner_id",
    "sampled_at",
    "month",
    "parameter",
    "value",
    "below_detection",
    "limit_below_detection",
    "not_encoded",
    "limit",
    "ratio",
    "compliant",
    "indicative",
    "standard_id",
    "version",
    "class",
    "verification",
    "limit_verification",
    "choice_verification",
    "screening",
    "water_temp_c",
    "temperature_assumed",
    "basis",
]
TRUST = {"verified": 0, "partly_verified": 1, "unverified": 2}


@dataclass(frozen=True)
class Compliance:
    points: pd.DataFrame  # one row per discharge point: the limit chosen and why
    findings: pd.DataFrame  # one row per sample and parameter with a limit
    samples: pd.DataFrame  # one row per point and sampling time: compliant or not
    monthly: pd.DataFrame  # per owner and month: samples, failures, rate
    offenders: pd.DataFrame  # owners failing in ≥ REPEAT_MONTHS distinct months
    #: results that could not be read (unit, value…), with a reason code, and of
    #: parameters Townmap does not know — listed, never dropped in silence
    refused: pd.DataFrame = field(default_factory=pd.DataFrame)
    ignored: pd.DataFrame = field(default_factory=pd.DataFrame)


def _choice(name: str) -> dict:
    return tomllib.loads((standards_dir() / name).read_text(encoding="utf-8"))


def _waters(layers: Mapping[str, gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    parts = []
    if "rivers" in layers and not layers["rivers"].empty:
        r = layers["rivers"]
        parts.append(r.assign(water_id=r["river_id"].astype(str), water_type="river"))
    if "lake" in layers and not layers["lake"].empty:
        lk = layers["lake"]
        parts.append(lk.assign(water_id="lake", water_type="lake"))
    if not parts:
        return gpd.GeoDataFrame(columns=["water_id", "water_type", "target_class", "basin"])
    crs = parts[0].crs
    cols = ["water_id", "water_type", "target_class", "basin", "geometry"]
    return pd.concat([p.to_crs(crs).reindex(columns=cols) for p in parts], ignore_index=True)


#: what an outfall's ``receiving_water`` says when it discharges into the town sewer
SEWER_WORDS = {"sewer", "污水管网", "市政管网", "城镇污水管网"}


def _receiving(points: gpd.GeoDataFrame, waters: gpd.GeoDataFrame, plant_ids=()) -> pd.DataFrame:
    """Receiving water of each point by its ``receiving_water`` id (compared without
    case: ``LAKE`` is the lake): a river, the lake, or the sewer (``sewer`` or a plant's
    id). An id that names none of them is a data error (``receiving_unknown``), never
    replaced by a guess; only an outfall with no id at all takes the nearest river or
    lake, flagged as such."""
    by_id = waters.drop_duplicates("water_id").set_index("water_id")
    folded = {str(k).casefold(): k for k in by_id.index}
    sewer = SEWER_WORDS | {str(p).casefold() for p in plant_ids}
    given = points.get("receiving_water", pd.Series(None, index=points.index)).astype("string")
    text = given.str.strip().str.casefold()
    matched = text.map(folded)
    known = matched.notna().to_numpy()
    to_sewer = text.isin(sewer).fillna(False).to_numpy(dtype=bool)
    stated = (text.fillna("") != "").to_numpy()
    out = pd.DataFrame(index=points.index)
    out["water_id"] = matched.where(known)
    out["nearest"] = ~stated
    out["to_sewer"] = to_sewer
    out["unknown"] = stated & ~known & ~to_sewer
    out["given"] = given
    missing = np.flatnonzero(~stated & ~points.geometry.is_empty.to_numpy())
    if len(missing) and not waters.empty:
        near = gpd.sjoin_nearest(
            points.iloc[missing][["geometry"]].to_crs(waters.crs), waters[["water_id", "geometry"]]
        )
        near = near[~near.index.duplicated()]
        out.loc[near.index, "water_id"] = near["water_id"].to_numpy()
    ref = by_id.reindex(out["water_id"])
    out["water_type"] = ref["water_type"].to_numpy()
    out["target_class"] = ref["target_class"].astype("string").to_numpy()
    out["basin"] = ref["basin"].to_numpy()
    return out


def _taihu_level(points: gpd.GeoDataFrame, zones: gpd.GeoDataFrame | None) -> pd.Series:
    if zones is None or zones.empty:
        return pd.Series(None, index=points.index, dtype="string")
    hit = gpd.sjoin(points[["geometry"]], zones[["level", "geometry"]].to_crs(points.crs))
    return hit.groupby(level=0)["level"].min().reindex(points.index).astype("string")


def choose_limits(
    layers: Mapping[str, gpd.GeoDataFrame],
    choice_8978: dict | None = None,
    choice_18918: dict | None = None,
    sectors: dict | None = None,
) -> pd.DataFrame:
    """One row per discharge point and applicable standard: ``standard`` (file id),
    ``class``, ``basis`` (zh / en text of the rule that chose it), ``choice_verification``,
    ``screening`` (sector standard not encoded), ``built`` (date for TP splits)."""
    c8978 = choice_8978 or _choice("gb8978_class_choice.toml")
    c18918 = choice_18918 or _choice("gb18918_class_choice.toml")
    sectors = sectors or _choice("sector_standards.toml")
    points = layers["discharge_points"]
    plant_layer = layers.get("treatment_plants", gpd.GeoDataFrame())
    plant_ids = plant_layer["plant_id"].dropna() if "plant_id" in plant_layer else ()
    recv = _receiving(points, _waters(layers), plant_ids)
    level = _taihu_level(points, layers.get("taihu_zones"))
    ents = layers.get("enterprises", gpd.GeoDataFrame()).drop(columns="geometry", errors="ignore")
    ents = ents.drop_duplicates("ent_id").set_index("ent_id") if "ent_id" in ents else ents
    plants = layers.get("treatment_plants", gpd.GeoDataFrame())
    plants = plants.drop(columns="geometry", errors="ignore")
    plants = plants.drop_duplicates("plant_id").set_index("plant_id") if len(plants) else plants
    base = pd.DataFrame(
        {
            "dp_id": points["dp_id"].to_numpy(),
            "owner_kind": points.get("source_kind", pd.Series("enterprise", index=points.index)),
            "receiving": recv["water_id"],
            "receiving_class": recv["target_class"],
            "basin": recv["basin"],
            "receiving_nearest": recv["nearest"].astype(bool),
            "receiving_unknown": recv["unknown"].astype(bool),
            "to_sewer": recv["to_sewer"].astype(bool),
            "taihu_level": level,
        },
        index=points.index,
    )
    is_plant = (base["owner_kind"] == "plant").to_numpy()
    parts = []
    if (~is_plant).any():
        ent_base = base[~is_plant].assign(owner_id=points.loc[~is_plant, "ent_id"].to_numpy())
        parts.append(_enterprise_rows(ent_base, ents, c8978, sectors))
    rows = []
    in_area = taihu_area(layers)
    for idx in base.index[is_plant]:  # a town has one or a few plants
        b = base.loc[idx].to_dict()
        b["taihu_area"] = in_area
        b["owner_id"] = points.loc[idx, "plant_id"]
        b["receiving_class"] = None if pd.isna(b["receiving_class"]) else b["receiving_class"]
        rows.extend(_plant_rows(b, plants, recv.loc[idx], b["taihu_level"], c18918))
    if rows:
        parts.append(pd.DataFrame(rows))
    if not parts:
        return pd.DataFrame(columns=["dp_id", "standard", "class"])
    return pd.concat(parts, ignore_index=True)


def _enterprise_rows(
    base: pd.DataFrame, ents: pd.DataFrame, choice: dict, sectors: dict
) -> pd.DataFrame:
    """The decision depends on a few facts only (receiving class, into the sewer, a data
    error, the sector, built before 1998, in the special-limits area): decide once per
    combination, then join."""
    ent = ents.reindex(base["owner_id"].to_numpy())
    for col in ("treatment", "sector", "founded"):  # an attribute may be missing altogether
        if col not in ent:
            ent[col] = None
    founded = pd.to_numeric(ent["founded"], errors="coerce")
    facts = pd.DataFrame(
        {
            "target": base["receiving_class"].astype("string").fillna("").to_numpy(),
            # the outfall's own receiving water decides, not the firm's treatment: a
            # sewered firm's outfall to a river is a river outfall
            "sewer": base["to_sewer"].to_numpy(dtype=bool),
            "unknown": base["receiving_unknown"].to_numpy(dtype=bool),
            "sector": ent["sector"].astype("string").fillna("").to_numpy(),
            "old": (founded < 1998).to_numpy(dtype=bool),
            "special": base["basin"].isin(sectors.get("special_basins", [])).to_numpy(bool),
        },
        index=base.index,
    )
    cols = list(facts.columns)
    decisions = pd.DataFrame(
        [
            {**dict(zip(cols, key, strict=True)), **_enterprise_decision(*key, choice, sectors)}
            for key in facts.drop_duplicates().itertuples(index=False, name=None)
        ]
    )
    out = base.join(facts).merge(decisions, on=cols, how="left")
    return out.drop(columns=[c for c in cols if c != "sector"])


def _sector_decision(sector: str, sewer: bool, special: bool, cfg: dict, sectors: dict):
    """A sector with its own discharge standard: that standard, never GB 8978."""
    route = "special" if special else ("sewer" if sewer else "direct")
    cls = cfg["classes"][route]
    notes_zh = [f"{cfg['standard_id']}《{cfg['title']['zh']}》代替 GB 8978 适用于该行业"]
    notes_en = [f"{cfg['standard_id']} ({cfg['title']['en']}) applies to this sector, not GB 8978"]
    verification = sectors["verification"]
    if route == "special" and cls != cfg["classes"]["direct"]:
        notes_zh.append(sectors["special_note"]["zh"])
        notes_en.append(sectors["special_note"]["en"])
        verification = sectors["special_verification"]
    if route == "sewer" and "sewer_note" in cfg:
        notes_zh.append(cfg["sewer_note"]["zh"])
        notes_en.append(cfg["sewer_note"]["en"])
    if "note" in cfg:
        notes_zh.append(cfg["note"]["zh"])
        notes_en.append(cfg["note"]["en"])
    if not cfg.get("file"):
        notes_zh.append("该标准限值未收录：不作判定")
        notes_en.append("its limits are not encoded: no verdict")
    return {
        "standard": cfg.get("file", ""),
        "standard_id": cfg["standard_id"],
        "class": cls,
        "sector_standard": True,
        "screening": False,
        "built": None,
        "choice_verification": verification,
        "basis_zh": "；".join(notes_zh),
        "basis_en": "; ".join(notes_en),
    }


def _enterprise_decision(
    target: str,
    sewer: bool,
    unknown: bool,
    sector: str,
    old: bool,
    special: bool,
    choice: dict,
    sectors: dict,
):
    cfg = sectors.get("sectors", {}).get(sector)
    if cfg is not None and not unknown:
        return _sector_decision(sector, sewer, special, cfg, sectors)
    rule = None if unknown or sewer else choice["by_receiving_class"].get(target)
    notes_zh, notes_en, verification = [], [], choice["verification"]
    if unknown:
        cls = "1"
        notes_zh.append(
            "排污口的受纳水体编号不是任何河流、湖泊或污水厂（数据错误，请更正）：按最严一级评价"
        )
        notes_en.append(
            "the outfall's receiving-water id names no river, lake or plant (a data error "
            "to correct): assessed at the strictest class 1"
        )
        verification = "unverified"
    elif sewer:
        cls = choice["sewer"]["class"]
        notes_zh.append(choice["sewer"]["note"]["zh"])
        notes_en.append(choice["sewer"]["note"]["en"])
    elif rule is None:
        cls = "1"
        notes_zh.append("受纳水体类别未知，按最严一级评价")
        notes_en.append("receiving-water class unknown: assessed at the strictest class 1")
        verification = "unverified"
    else:
        cls = "1" if rule["class"] == "none" else rule["class"]
        notes_zh.append(rule["note"]["zh"])
        notes_en.append(rule["note"]["en"])
    if old:
        notes_zh.append("1998年前建成：表2限值未收录，按表4筛查（未核实）")
        notes_en.append("built before 1998: Table 2 not encoded, screened against Table 4")
        verification = "unverified"
    return {
        "standard": "gb8978_1996",
        "standard_id": "GB 8978-1996",
        "class": cls,
        "sector_standard": False,
        "screening": old,
        "built": None,
        "choice_verification": verification,
        "basis_zh": "；".join(notes_zh),
        "basis_en": "; ".join(notes_en),
    }


def _plant_rows(base: dict, plants: pd.DataFrame, recv, level, choice: dict) -> list[dict]:
    plant = plants.loc[base["owner_id"]] if base["owner_id"] in plants.index else pd.Series()
    if recv["water_type"] == "lake":
        rule = choice["lake"]
    else:
        rule = choice["by_receiving_class"].get(base["receiving_class"] or "")
    cls, verification = (
        ("1A", "unverified") if rule is None else (rule["class"], rule["verification"])
    )
    notes_zh = [rule["note"]["zh"]] if rule else ["受纳水体类别未知，按一级A评价"]
    notes_en = [rule["note"]["en"]] if rule else ["receiving class unknown: assessed at 1A"]
    key = choice["key_basin"]
    if base["basin"] in key["basins"] and STRICTNESS[key["class"]] < STRICTNESS[cls]:
        cls, verification = key["class"], key["verification"]
        notes_zh.append(key["note"]["zh"])
        notes_en.append(key["note"]["en"])
    declared = str(plant.get("discharge_class") or "")
    if declared in STRICTNESS and STRICTNESS[declared] < STRICTNESS[cls]:
        cls = declared
        notes_zh.append(f"许可（申报）类别 {declared} 更严，从严")
        notes_en.append(f"declared class {declared} is stricter and applies")
    built_year = plant.get("built")
    built = (
        dt.date(int(built_year), 1, 1)
        if built_year is not None and not pd.isna(built_year)
        else None
    )
    notes_zh.append("江苏城镇污水处理厂另有 DB32/4440-2022（限值未收录，未纳入判定）")
    notes_en.append(
        "Jiangsu's town-WWTP standard DB32/4440-2022 may also bind (values not encoded: "
        "not in the verdict)"
    )
    rows = [
        {
            **base,
            "standard": "gb18918_2002",
            "class": cls,
            "screening": False,
            "built": built,
            "choice_verification": verification,
            "basis_zh": "；".join(notes_zh),
            "basis_en": "; ".join(notes_en),
        }
    ]
    taihu = choice["taihu"]
    area = base.get("taihu_area")
    applies = base["basin"] in taihu["basins"] if area is None else bool(area)
    if applies:
        table = taihu["table_in_zones"].get(str(level), taihu["table_elsewhere"])
        scope_zh, scope_en = _AREA_SCOPE[area is not None]
        rows.append(
            {
                **base,
                "standard": "db32_1072_2018",
                "class": table,
                "screening": False,
                "built": built,
                "choice_verification": taihu["verification"],
                "basis_zh": taihu["note"]["zh"] + "；" + scope_zh,
                "basis_en": taihu["note"]["en"] + "; " + scope_en,
            }
        )
    return rows


_AREA_SCOPE = {
    False: (
        "乡镇不在已列的行政区划中：按受纳水体所在流域判断",
        "the town's division is not listed: the receiving water's basin decides",
    ),
    True: (
        "乡镇属太湖地区（按行政区划，含排入长江的）",
        "the town is in the Taihu area (by administrative division, also when discharging "
        "to the Yangtze)",
    ),
}


def taihu_area(layers: Mapping[str, gpd.GeoDataFrame]) -> bool | None:
    """Whether the town lies in the Jiangsu Taihu area by its administrative code
    (``layers/standards/taihu_area.toml``); None when the code says neither."""
    town = layers.get("town")
    if town is None or town.empty or "admin_code" not in town:
        return None
    area = _choice("taihu_area.toml")
    codes = town["admin_code"].dropna().astype(str).str.strip()
    for code in codes:
        if any(code.startswith(p) for p in area["inside"]):
            return True
        if any(code.startswith(p) for p in area["outside"]):
            return False
    return None


def _temperatures(samples: pd.DataFrame) -> pd.DataFrame:
    temp = samples[samples["parameter"].str.lower().isin(["wt", "temperature", "水温", "temp"])]
    return (
        temp.groupby(["dp_id", "sampled_at"], as_index=False)["value"]
        .mean()
        .rename(columns={"value": "water_temp_c"})
    )


def check_samples(
    samples: pd.DataFrame,
    choices: pd.DataFrame,
    standards: Mapping[str, DischargeStandard],
    refused: list | None = None,
) -> pd.DataFrame:
    """One row per sample value with an applicable limit (the stricter when two apply),
    against the version of each standard in force on the sample's date. Results that
    cannot be read (an unknown unit, a '>' value…) are appended to ``refused``."""
    from townmap.monitoring.lab_data import read_lab_values

    keys = ["dp_id", "sampled_at"]
    reading = read_lab_values(samples, keys)
    if refused is not None:
        refused.append(reading)
    frame = reading.frame
    frame = frame.merge(_temperatures(frame), on=keys, how="left")
    limits = limits_table(dict(standards))
    cold_at = {k: s.cold_at_or_below_c for k, s in standards.items()}
    limits["cold_at"] = limits["standard"].map(cold_at)
    limits["std_verification"] = limits["standard"].map(
        {k: s.verification for k, s in standards.items()}
    )
    choices = choices.copy()
    # a choice names a standard; any version of it may be the one in force on a date
    by_file = {k: s.standard_id for k, s in standards.items()}
    named = choices.get("standard_id", pd.Series(None, index=choices.index)).astype(object)
    files = choices["standard"].astype(object)
    choices["standard_id"] = named.where(named.notna(), files.map(by_file))
    choices["standard_id"] = choices["standard_id"].where(choices["standard_id"].notna(), files)
    choices["standard_id"] = choices["standard_id"].astype(str)
    flag = choices.get("sector_standard", False)
    choices["sector_standard"] = pd.Series(flag, index=choices.index).fillna(False).astype(bool)
    choices["sector"] = choices["sector"].astype("string").fillna("") if "sector" in choices else ""
    choices = choices.drop(columns="standard")
    for col in ("owner_kind", "owner_id", "choice_verification", "basis_zh", "basis_en"):
        choices[col] = choices[col].astype(str).astype("category")  # long texts repeat
    joined = frame.merge(choices, on="dp_id").merge(
        limits.rename(columns={"parameter": "limit_parameter"}),
        left_on=["standard_id", "class", "parameter"],
        right_on=["standard_id", "class", "measured_by"],
        how="left",
    )
    has_limit = joined["limit_parameter"].notna().to_numpy()
    # a sector standard applies but holds no limit for this parameter: said, no verdict
    not_encoded = ~has_limit & joined["sector_standard"].to_numpy(bool)
    not_encoded &= (joined["parameter"] != "WT").to_numpy()
    joined = joined[has_limit | not_encoded].copy()
    joined["not_encoded"] = not_encoded[has_limit | not_encoded]
    joined = joined[_sector_row_fits(joined) & _in_force(joined, standards)].copy()
    built = pd.to_datetime(joined["built"])
    lo = pd.to_datetime(joined["built_from"])
    hi = pd.to_datetime(joined["built_until"])
    in_period = (lo.isna() | built.isna() | (built >= lo)) & (
        hi.isna() | built.isna() | (built <= hi)
    )
    joined = joined[in_period.to_numpy()].copy()
    cold = joined["water_temp_c"].le(joined["cold_at"]).fillna(False) & joined["cold_limit"].notna()
    joined["limit"] = np.where(cold, joined["cold_limit"], joined["limit"])
    joined["temperature_assumed"] = joined["cold_limit"].notna() & joined["water_temp_c"].isna()
    is_range = joined["kind"].eq("range").to_numpy()
    below = joined["below_detection"].fillna(False).to_numpy(dtype=bool)
    # a value below its detection limit counts at the limit: at or under the discharge
    # limit it complies; over it, the result cannot say (no verdict, flagged)
    v = np.where(below, joined["detection_limit"], joined["value"]).astype(float)
    joined["value"] = v
    ok_max = v <= joined["limit"].to_numpy(dtype=float)
    ok_range = (v >= joined["low"].to_numpy(dtype=float)) & (
        v <= joined["high"].to_numpy(dtype=float)
    )
    compliant = pd.array(np.where(is_range, ok_range, ok_max), dtype="boolean")
    compliant[np.isnan(v)] = pd.NA  # no value, no verdict
    undecided = below & ~np.asarray(ok_max, dtype=bool) & ~is_range
    compliant[undecided] = pd.NA
    compliant[joined["not_encoded"].to_numpy(bool)] = pd.NA
    joined["limit_below_detection"] = undecided
    joined["compliant"] = compliant
    joined["ratio"] = np.where(is_range, np.nan, v / joined["limit"].to_numpy(dtype=float))
    joined["indicative"] = joined["limit_parameter"] != joined["parameter"]
    # two standards for one value (GB 18918 + DB32/1072): the stricter limit decides; a
    # sector's own row (GB 8978's dyestuff row) comes before the row for other units
    joined["_key"] = np.where(is_range, -joined["low"].fillna(0), joined["limit"])
    joined["_generic"] = joined["sectors"].fillna("").eq("").astype(int)
    joined = joined.sort_values(["_generic", "_key"], kind="stable").drop_duplicates(
        ["dp_id", "sampled_at", "parameter"]
    )
    ne = joined["not_encoded"].to_numpy(bool)
    unencoded = {
        "en": "{std} applies to {p}: not encoded, no verdict",
        "zh": "{std} 适用于 {p}：限值未收录，不作判定",
    }
    for lang, words in unencoded.items():
        column = joined[f"basis_{lang}"].astype(str)
        said = [
            words.format(std=std, p=p)
            for std, p in zip(joined["standard_id"][ne], joined["parameter"][ne], strict=True)
        ]
        column[ne] = [
            f"{a}; {b}" if lang == "en" else f"{a}；{b}"
            for a, b in zip(said, column[ne], strict=True)
        ]
        joined[f"basis_{lang}"] = column
    joined["verification"] = joined["verification"].where(~ne, "unverified")
    joined["basis"] = joined["basis_en"]
    joined["limit_verification"] = joined["verification"]
    weakest = np.maximum(
        joined["verification"].map(TRUST), joined["choice_verification"].astype(str).map(TRUST)
    )
    joined["verification"] = weakest.map({v: k for k, v in TRUST.items()})
    joined["month"] = pd.to_datetime(joined["sampled_at"]).dt.to_period("M").astype(str)
    joined = joined.sort_values(["dp_id", "sampled_at", "parameter"], kind="stable")
    return joined.reindex(columns=[*FINDING_COLUMNS, "basis_zh"]).reset_index(drop=True)


def _sector_row_fits(joined: pd.DataFrame) -> np.ndarray:
    """A limit row for named sectors applies to an owner of one of them only."""
    rows = joined["sectors"].fillna("").astype(str).to_numpy()
    owners = joined["sector"].astype(str).to_numpy()
    fits = rows == ""
    for named in set(rows[~fits]):
        pick = rows == named
        fits[pick] = np.isin(owners[pick], named.split(","))
    return fits


def _in_force(joined: pd.DataFrame, standards: Mapping[str, DischargeStandard]) -> np.ndarray:
    """Whether each row's limit comes from the version of its standard in force on the
    sample's date: the latest valid-from not after it (a version without one counts as
    always in force). A sample before every version has none."""
    dates = pd.to_datetime(joined["sampled_at"]).to_numpy(dtype="datetime64[ns]")
    files = joined["standard"].to_numpy()
    keep = pd.isna(files)  # no limit row (not encoded): nothing to date
    for standard_id in pd.unique(joined["standard_id"]):
        versions = sorted(
            (
                np.datetime64(s.valid_from or "1900-01-01", "ns"),
                s.version,
                k,
            )
            for k, s in standards.items()
            if s.standard_id == standard_id
        )
        starts = np.array([v[0] for v in versions], dtype="datetime64[ns]")
        names = np.array([v[2] for v in versions], dtype=object)
        mine = np.flatnonzero((joined["standard_id"].to_numpy() == standard_id) & ~pd.isna(files))
        at = np.searchsorted(starts, dates[mine], side="right") - 1
        ok = at >= 0
        keep[mine[ok]] = files[mine[ok]] == names[at[ok]]
    return keep


def _names(rows: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Sorted, distinct parameter names per group joined with ', ' — one bit per parameter
    and a bitwise OR per group, so no Python runs per group (there can be millions)."""
    codes, names = pd.factorize(rows["parameter"], sort=True)
    if not len(rows):
        return pd.Series(dtype=object)
    bits = pd.Series(np.left_shift(1, codes.astype(np.int64)), index=rows.index)
    distinct = pd.concat([rows[keys], bits.rename("_bit")], axis=1).drop_duplicates()
    masks = distinct.groupby(keys, dropna=False, observed=True)["_bit"].sum()
    labels = {m: ", ".join(n for i, n in enumerate(names) if m >> i & 1) for m in masks.unique()}
    return masks.map(labels)


def summarise(findings: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per sample, per owner and month, and the repeat offenders. Indicative values
    (TP against a phosphate limit) are shown but never make a sample fail; a sample whose
    values have no verdict (a sector standard not encoded, a detection limit above the
    limit) is not "compliant" but not assessed. Each keeps the weakest verification and
    the screening flag of the values it used."""
    keys = ["dp_id", "owner_kind", "owner_id", "sampled_at", "month"]
    not_encoded = findings.get("not_encoded", pd.Series(False, index=findings.index))
    not_encoded = not_encoded.fillna(False).astype(bool)
    firm = ~findings["indicative"].astype(bool) & ~not_encoded
    failed = findings["compliant"].eq(False).fillna(False).astype(bool) & firm
    decided = findings["compliant"].notna() & firm
    trust = findings["verification"].map(TRUST).where(decided)
    f = findings.assign(
        failed=failed,
        decided=decided,
        firm_ratio=findings["ratio"].where(firm),
        _trust=trust,
        screening=findings["screening"].fillna(False).astype(bool) & decided,
    )
    per_sample = f.groupby(keys, as_index=False, dropna=False, observed=True).agg(
        parameters=("parameter", "size"),
        assessed=("decided", "sum"),
        failed=("failed", "any"),
        worst_ratio=("firm_ratio", "max"),
        indicative=("indicative", "any"),
        screening=("screening", "any"),
        _trust=("_trust", "max"),
    )
    index = pd.MultiIndex.from_frame(per_sample[keys])
    per_sample["failed_parameters"] = (
        _names(f[f["failed"]], keys).reindex(index).fillna("").to_numpy()
    )
    per_sample["not_encoded_parameters"] = (
        _names(f[not_encoded.to_numpy()], keys).reindex(index).fillna("").to_numpy()
    )
    compliant = pd.array(~per_sample["failed"].to_numpy(bool), dtype="boolean")
    compliant[(per_sample["assessed"] == 0).to_numpy() & ~per_sample["failed"].to_numpy(bool)] = (
        pd.NA
    )
    per_sample["compliant"] = compliant
    names = {v: k for k, v in TRUST.items()}
    per_sample["verification"] = per_sample.pop("_trust").map(names)
    assessed = per_sample[per_sample["compliant"].notna()]
    monthly = assessed.groupby(
        ["owner_kind", "owner_id", "month"], as_index=False, observed=True
    ).agg(samples=("dp_id", "size"), failed=("failed", "sum"), worst_ratio=("worst_ratio", "max"))
    monthly["compliance_rate"] = 1 - monthly["failed"] / monthly["samples"]
    bad = per_sample[per_sample["failed"]].assign(_trust=lambda d: d["verification"].map(TRUST))
    offenders = bad.groupby(["owner_kind", "owner_id"], as_index=False, observed=True).agg(
        months_failed=("month", "nunique"),
        samples_failed=("dp_id", "size"),
        first=("sampled_at", "min"),
        last=("sampled_at", "max"),
        worst_ratio=("worst_ratio", "max"),
        screening=("screening", "any"),
        _trust=("_trust", "max"),
    )
    offenders["verification"] = offenders.pop("_trust").map(names)
    offenders["parameters"] = offenders["owner_id"].map(_names(f[f["failed"]], ["owner_id"]))
    totals = per_sample.groupby("owner_id", observed=True).size()
    offenders["samples"] = offenders["owner_id"].map(totals)
    offenders = offenders[offenders["months_failed"] >= REPEAT_MONTHS]
    offenders = offenders.sort_values(["months_failed", "worst_ratio"], ascending=False)
    return per_sample, monthly, offenders.reset_index(drop=True)


def compliance(
    layers: Mapping[str, gpd.GeoDataFrame],
    samples: pd.DataFrame,
    standards: Mapping[str, DischargeStandard] | None = None,
) -> Compliance:
    from townmap.monitoring.standards import load_discharge_standards

    standards = standards or load_discharge_standards()
    choices = choose_limits(layers)
    readings: list = []
    findings = check_samples(samples, choices, standards, readings)
    per_sample, monthly, offenders = summarise(findings)
    return Compliance(
        choices, findings, per_sample, monthly, offenders, readings[0].refused, readings[0].ignored
    )


def workspace_compliance(ws, standards_folder: Path | None = None) -> Compliance:
    """Compliance of every discharge point in a workspace."""
    from townmap.monitoring.standards import load_discharge_standards

    layers = {
        name: ws.read_layer(name)
        for name in (
            "discharge_points",
            "enterprises",
            "treatment_plants",
            "rivers",
            "lake",
            "taihu_zones",
        )
        if ws.has_layer(name)
    }
    if "discharge_points" not in layers or not ws.has_table("effluent_samples"):
        raise ValueError("the workspace has no discharge points or no effluent samples")
    return compliance(
        layers, ws.read_table("effluent_samples"), load_discharge_standards(standards_folder)
    )
