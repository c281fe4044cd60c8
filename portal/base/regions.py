"""Provincial and prefecture-level divisions (GB/T 2260 codes) and nationalities, named in the
page's language.

A region is a province's 2-digit code or a city's 4-digit one (a prefecture-level division, from
``data/cities.json``: see ``data/README.md`` for how it was made).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from babel import Locale

from portal.base import i18n

# code: (English, Chinese)
PROVINCES: dict[str, tuple[str, str]] = {
    "11": ("Beijing", "北京市"),
    "12": ("Tianjin", "天津市"),
    "13": ("Hebei", "河北省"),
    "14": ("Shanxi", "山西省"),
    "15": ("Inner Mongolia", "内蒙古自治区"),
    "21": ("Liaoning", "辽宁省"),
    "22": ("Jilin", "吉林省"),
    "23": ("Heilongjiang", "黑龙江省"),
    "31": ("Shanghai", "上海市"),
    "32": ("Jiangsu", "江苏省"),
    "33": ("Zhejiang", "浙江省"),
    "34": ("Anhui", "安徽省"),
    "35": ("Fujian", "福建省"),
    "36": ("Jiangxi", "江西省"),
    "37": ("Shandong", "山东省"),
    "41": ("Henan", "河南省"),
    "42": ("Hubei", "湖北省"),
    "43": ("Hunan", "湖南省"),
    "44": ("Guangdong", "广东省"),
    "45": ("Guangxi", "广西壮族自治区"),
    "46": ("Hainan", "海南省"),
    "50": ("Chongqing", "重庆市"),
    "51": ("Sichuan", "四川省"),
    "52": ("Guizhou", "贵州省"),
    "53": ("Yunnan", "云南省"),
    "54": ("Tibet", "西藏自治区"),
    "61": ("Shaanxi", "陕西省"),
    "62": ("Gansu", "甘肃省"),
    "63": ("Qinghai", "青海省"),
    "64": ("Ningxia", "宁夏回族自治区"),
    "65": ("Xinjiang", "新疆维吾尔自治区"),
    "71": ("Taiwan", "台湾省"),
    "81": ("Hong Kong", "香港特别行政区"),
    "82": ("Macao", "澳门特别行政区"),
}


def province_name(code: str) -> str:
    names = PROVINCES.get(code)
    if names is None:
        return code
    return names[1] if i18n.current_language() == "zh-Hans" else names[0]


def province_options() -> list[tuple[str, str]]:
    return [(code, province_name(code)) for code in PROVINCES]


@functools.cache
def _cities() -> dict[str, tuple[str, str]]:
    # Read once: the package ships the file (package data), never changed at run time.
    text = (Path(__file__).resolve().parent / "data" / "cities.json").read_text(encoding="utf-8")
    return {code: (names[0], names[1]) for code, names in json.loads(text)["cities"].items()}


def cities(province: str) -> list[tuple[str, str]]:
    """The cities of a province (code, name in the page's language), in code order."""
    return [(code, city_name(code)) for code in _cities() if code[:2] == province]


def city_options() -> list[tuple[str, list[tuple[str, str]]]]:
    """Every province that has cities, named, with its cities: for one list grouped by province."""
    return [(province_name(p), cities(p)) for p in PROVINCES if has_cities(p)]


def has_cities(province: str) -> bool:
    """Whether the province is divided into cities (Taiwan, Hong Kong and Macao are not here)."""
    return any(code[:2] == province for code in _cities())


def is_city(code: str) -> bool:
    return code in _cities()


def city_name(code: str) -> str:
    """A city's name in the page's language (the code itself if it is not a city)."""
    names = _cities().get(code)
    if names is None:
        return code
    return names[1] if i18n.current_language() == "zh-Hans" else names[0]


def city_in_province(city: str, province: str) -> bool:
    """Whether the city is one of the province's."""
    return city in _cities() and city[:2] == province


def region_for(province: str | None, city: str | None) -> str | None:
    """The region a registration belongs to: the city when there is one, else the province."""
    if city and province and city_in_province(city, province):
        return city
    return province or None


def place_name(province: str, city: str | None = None) -> str:
    """"Province · City", or the province alone when there is no city or the city is the
    province (a municipality: Beijing, not "Beijing · Beijing")."""
    name = province_name(province)
    if not city or not is_city(city):
        return name
    town = city_name(city)
    return name if town == name else f"{name} · {town}"


def region_name(region: str | None) -> str:
    """A region code named: the province, and the city when the code is a city's."""
    region = region or ""
    if not region:
        return ""
    return place_name(region[:2], region[:4] if len(region) >= 4 else None)


def nationality_options() -> list[tuple[str, str]]:
    """ISO 3166 countries named by CLDR in the page's language; China first."""
    return list(_nationalities(i18n.current_language()))


@functools.cache
def _nationalities(language: str) -> tuple[tuple[str, str], ...]:
    # CLDR's names never change while the process runs: built once per language.
    territories = Locale.parse(i18n.LANGUAGES[language]).territories
    countries = {
        code: name for code, name in territories.items() if len(code) == 2 and code.isalpha()
        and code not in ("ZZ", "EU", "EZ", "UN", "QO", "XA", "XB", "XK")
    }
    rest = sorted((c for c in countries if c != "CN"), key=lambda c: countries[c])
    return (("CN", countries["CN"]), *[(c, countries[c]) for c in rest])


def nationality_codes() -> dict[str, str]:
    """Every nationality code the wizard accepts (the names are in the page's language)."""
    return _nationality_names(i18n.current_language())


@functools.cache
def _nationality_names(language: str) -> dict[str, str]:
    return dict(_nationalities(language))


def nationality_name(code: str) -> str:
    return _nationality_names(i18n.current_language()).get(code, code)
