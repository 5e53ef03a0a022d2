"""Fictional names for the demo town (Chinese with pinyin/English). Any likeness is chance."""

from __future__ import annotations

TOWN = ("太滨镇", "Taibin Town")
COUNTY_CODE = "329901"  # deliberately not a real county code
TOWN_CODE = COUNTY_CODE + "100"

VILLAGES: list[tuple[str, str]] = [
    ("湖滨村", "Hubin"),
    ("西山村", "Xishan"),
    ("桥头村", "Qiaotou"),
    ("新塘村", "Xintang"),
    ("杨巷村", "Yangxiang"),
    ("东岸村", "Dong'an"),
    ("沙渚村", "Shazhu"),
    ("梅林村", "Meilin"),
    ("周桥村", "Zhouqiao"),
    ("芦墩村", "Ludun"),
    ("南圩村", "Nanwei"),
    ("北港村", "Beigang"),
]

#: (id, zh, en, kind, target class, basin, flows into lake)
RIVERS: list[tuple[str, str, str, str, str, str, bool]] = [
    ("R01", "南渎港", "Nandu Creek", "river", "III", "taihu", True),
    ("R02", "中溪河", "Zhongxi River", "river", "III", "taihu", True),
    ("R03", "湖泾河", "Hujing River", "river", "IV", "taihu", True),
    ("R04", "北塘港", "Beitang Creek", "river", "III", "taihu", True),
    ("R05", "通江运河", "Tongjiang Canal", "canal", "IV", "yangtze", False),
    ("R06", "梅岭溪", "Meiling Stream", "stream", "II", "taihu", False),
]

FIRM_WORDS: list[tuple[str, str]] = [
    ("宏达", "Hongda"),
    ("永兴", "Yongxing"),
    ("华丰", "Huafeng"),
    ("金鑫", "Jinxin"),
    ("恒通", "Hengtong"),
    ("新宇", "Xinyu"),
    ("利民", "Limin"),
    ("振华", "Zhenhua"),
    ("天成", "Tiancheng"),
    ("东方", "Dongfang"),
    ("瑞丰", "Ruifeng"),
    ("佳美", "Jiamei"),
    ("隆盛", "Longsheng"),
    ("富春", "Fuchun"),
    ("鸿运", "Hongyun"),
    ("明珠", "Mingzhu"),
    ("正兴", "Zhengxing"),
    ("国泰", "Guotai"),
    ("海天", "Haitian"),
    ("大洋", "Dayang"),
    ("联合", "Lianhe"),
    ("兴旺", "Xingwang"),
    ("精工", "Jinggong"),
    ("宝龙", "Baolong"),
    ("安泰", "Antai"),
    ("中联", "Zhonglian"),
    ("华盛", "Huasheng"),
    ("开元", "Kaiyuan"),
    ("荣昌", "Rongchang"),
    ("嘉禾", "Jiahe"),
    ("永安", "Yong'an"),
    ("金桥", "Jinqiao"),
    ("银河", "Yinhe"),
    ("信达", "Xinda"),
    ("弘远", "Hongyuan"),
    ("通达", "Tongda"),
    ("昌盛", "Changsheng"),
    ("伟业", "Weiye"),
    ("康宁", "Kangning"),
    ("绿源", "Lüyuan"),
]

SECTOR_WORDS: dict[str, tuple[str, str]] = {
    "printing_dyeing": ("印染", "Printing & Dyeing"),
    "electroplating": ("电镀", "Electroplating"),
    "chemical_pulp_paper": ("纸业", "Paper"),
    "tanning": ("皮革", "Leather"),
    "brewing": ("酿造", "Brewery"),
    "dyestuffs": ("染料", "Dyestuffs"),
    "chemicals": ("化工", "Chemical"),
    "cement": ("水泥", "Cement"),
    "building_materials": ("建材", "Building Materials"),
    "machinery": ("机械", "Machinery"),
    "food": ("食品", "Foods"),
    "textiles": ("纺织", "Textiles"),
}

FIRM_SUFFIX: list[tuple[str, str]] = [("有限公司", "Co., Ltd."), ("厂", "Works")]
