"""Provincial divisions (GB/T 2260 codes) and nationalities, named in the page's language."""

from __future__ import annotations

import functools

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
