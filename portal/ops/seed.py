"""Synthetic registrations for demonstrations and load tests (``portal seed --registrations N``).

Every registration is made the way a real one is: its applicant saves each wizard step and
submits through ``portal.lifecycle``, a seed moderator decides through
``portal.oversight.review``, sanctions go through ``portal.oversight.enforcement`` and
deregistrations through ``transitions.deregister``, so the answers are validated, sensitive
values encrypted, screening run, and certificates, history, outbox events and transparency-log
entries are real. What is skipped: password hashing (seeded accounts have no usable password),
the identity provider (the format-only check runs), the probe of declared shop sites (never
contacted) and email (in-app notifications only).

The people belong to nobody: resident ID numbers and credit codes are built with valid check
characters from random birth dates and codes, names come from the short lists below, addresses
are ``seed-NNNNNN@example.invalid``, and phone numbers lie in the range Ofcom reserves for drama
(+44 7700 900000–900999), which is never assigned to anyone.

Speed: a few hundred registrations share one transaction. The services flush, as they do for a
person at a browser, and the batch commits once at its end. On SQLite the batch holds the write
lock throughout (``BEGIN IMMEDIATE``), on PostgreSQL the log's advisory
lock from its first certificate on, so a server using the same database waits up to one batch.
"""

from __future__ import annotations

import random
import struct
import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from portal.accounts import Role, User
from portal.base import identity
from portal.base.db import utcnow
from portal.base.errors import FormErrors
from portal.base.i18n import reset_language, set_language
from portal.base.settings import Settings
from portal.lifecycle import transitions, wizard
from portal.lifecycle.wizard import Signing, Upload
from portal.ops import jobs
from portal.ops import schema as _schema  # noqa: F401  (every table: the flush needs them all)
from portal.oversight import enforcement, review
from portal.records import certificates
from portal.registration.attestations import PROHIBITED_CONDUCT, SECURITY_ITEMS
from portal.registration.models import Registration, RosterLink

SEED_EMAIL = "seed-{:06d}@example.invalid"
MODERATOR_EMAIL = "seed-moderator@example.invalid"
USER_AGENT = "portal-seed"

# The mix of final states (per cent).
STATES: dict[str, int] = {
    "approved": 70, "submitted": 10, "changes_requested": 6, "rejected": 4, "suspended": 5,
    "revoked": 3, "deregistered": 1, "expired": 1,
}
# Each blacklisting adds a name every later submission is fuzzily screened against: keep few.
MAX_BLACKLISTED = 50

# --- names, places, codes ----------------------------------------------------------------------

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕"
    "丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛")
MALE_CHARS = "伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林阳建亮成峰博文志晨"
FEMALE_CHARS = "芳娜敏静丽艳娟霞秀玲丹萍婷雪琳晶颖慧倩佳悦欣怡璐梦雨思涵萱琪瑶洁蕾薇月妍"
LATIN_NAMES = (
    "Emily Carter", "Daniel Brooks", "Sophie Martin", "Lucas Bernard", "Kim Minjun",
    "Park Jiwoo", "Sato Yuki", "Tanaka Haruto", "Tan Wei Ming", "Lim Mei Ling",
    "Olivia Nguyen", "Noah Schmidt",
)
# Nationality, its ISO 3166 numeric code (in a permanent residence ID number), where they live.
FOREIGN = (("US", 840, "31"), ("KR", 410, "21"), ("JP", 392, "31"), ("SG", 702, "44"),
           ("GB", 826, "11"), ("MY", 458, "44"), ("FR", 250, "31"), ("DE", 276, "32"))

# GB/T 2260 province: weight (people), cities, ICP abbreviation.
PROVINCES: dict[str, tuple[int, tuple[str, ...], str]] = {
    "11": (5, ("北京",), "京"), "12": (2, ("天津",), "津"), "13": (5, ("石家庄", "保定"), "冀"),
    "14": (2, ("太原",), "晋"), "15": (1, ("呼和浩特",), "蒙"), "21": (3, ("沈阳", "大连"), "辽"),
    "22": (2, ("长春",), "吉"), "23": (2, ("哈尔滨",), "黑"), "31": (6, ("上海",), "沪"),
    "32": (8, ("南京", "苏州", "无锡"), "苏"), "33": (10, ("杭州", "宁波", "义乌"), "浙"),
    "34": (4, ("合肥",), "皖"), "35": (5, ("福州", "厦门", "泉州"), "闽"),
    "36": (3, ("南昌",), "赣"), "37": (6, ("济南", "青岛", "临沂"), "鲁"),
    "41": (6, ("郑州", "洛阳"), "豫"), "42": (4, ("武汉",), "鄂"), "43": (4, ("长沙",), "湘"),
    "44": (14, ("广州", "深圳", "东莞", "佛山"), "粤"), "45": (3, ("南宁", "桂林"), "桂"),
    "46": (1, ("海口", "三亚"), "琼"), "50": (3, ("重庆",), "渝"), "51": (5, ("成都",), "川"),
    "52": (2, ("贵阳",), "贵"), "53": (2, ("昆明",), "云"), "54": (1, ("拉萨",), "藏"),
    "61": (3, ("西安",), "陕"), "62": (1, ("兰州",), "甘"), "63": (1, ("西宁",), "青"),
    "64": (1, ("银川",), "宁"), "65": (1, ("乌鲁木齐",), "新"), "71": (1, ("台北",), "台"),
    "81": (1, ("香港",), "港"), "82": (1, ("澳门",), "澳"),
}
# The seed's cities by their GB/T 2260 code (4 digits; Yiwu is a city of Jinhua); Taipei, Hong
# Kong and Macao are in provinces that the city list does not divide.
CITY_CODES = {
    "北京": "1101", "天津": "1201", "石家庄": "1301", "保定": "1306", "太原": "1401",
    "呼和浩特": "1501", "沈阳": "2101", "大连": "2102", "长春": "2201", "哈尔滨": "2301",
    "上海": "3101", "南京": "3201", "苏州": "3205", "无锡": "3202", "杭州": "3301",
    "宁波": "3302", "义乌": "3307", "合肥": "3401", "福州": "3501", "厦门": "3502",
    "泉州": "3505", "南昌": "3601", "济南": "3701", "青岛": "3702", "临沂": "3713",
    "郑州": "4101", "洛阳": "4103", "武汉": "4201", "长沙": "4301", "广州": "4401",
    "深圳": "4403", "东莞": "4419", "佛山": "4406", "南宁": "4501", "桂林": "4503",
    "海口": "4601", "三亚": "4602", "重庆": "5001", "成都": "5101", "贵阳": "5201",
    "昆明": "5301", "拉萨": "5401", "西安": "6101", "兰州": "6201", "西宁": "6301",
    "银川": "6401", "乌鲁木齐": "6501", "台北": "", "香港": "", "澳门": "",
}
# Resident ID cards are issued on the mainland only.
MAINLAND = tuple(code for code in PROVINCES if code not in ("71", "81", "82"))

PLATFORMS = {"douyin": 34, "kuaishou": 20, "taobao": 15, "wechat_channels": 10, "xiaohongshu": 8,
             "jd": 4, "pinduoduo": 4, "bilibili": 4, "other": 1}
ROOM_URLS = {
    "douyin": "https://live.douyin.com/{n}", "kuaishou": "https://live.kuaishou.com/u/{n}",
    "taobao": "https://tbzb.taobao.com/live?liveId={n}",
    "xiaohongshu": "https://www.xiaohongshu.com/user/profile/{n}",
    "bilibili": "https://live.bilibili.com/{n}", "jd": "https://lives.jd.com/#/{n}",
}
HANDLE_WORDS = ("xiaomei", "tiantian", "huahua", "lele", "mengmeng", "ahua", "xiaoyu", "jiajia",
                "keke", "nini", "haohao", "beibei", "doudou", "xixi", "qiqi", "linlin", "dage")
HANDLE_SUFFIXES = ("的小店", "好物分享", "优选", "严选", "直播间", "生活馆", "工厂店", "美食记",
                   "穿搭日记", "家乡特产")
BIOS = ("每天晚上八点直播，好物分享", "源头工厂直发，品质保证", "家乡农产品，新鲜直达",
        "美妆护肤干货分享", "宝妈亲测好物推荐", "数码产品测评与推荐", "原创设计女装",
        "茶叶产地直播，一杯好茶", "居家好物，提升生活品质", "读书分享与好书推荐", "")
BRANDS = ("星辰", "云帆", "优品", "悦享", "鼎盛", "嘉禾", "华韵", "锦程", "万象", "青禾", "禾木",
          "乐购", "好物", "晨光", "拾光", "知味", "山海", "远航", "繁星", "沐光")
INDUSTRIES = {"merchant": ("电子商务", "贸易", "食品", "服饰", "日用品"),
              "mcn": ("文化传媒", "网络科技", "文化传播"),
              "room_operator": ("网络科技", "电子商务", "直播")}
AVATARS = ("小悦", "星瞳AI", "数字小美", "元宝", "阿狸AI")
STAFF_ROLES = ("场控", "运营", "客服", "助播")
MONTHLY_SALES = {"under_10k": 35, "10k_100k": 40, "100k_1m": 19, "1m_10m": 5, "over_10m": 1}
CATEGORIES = {"apparel": 20, "beauty": 18, "food": 18, "home": 10, "electronics": 8,
              "mother_baby": 6, "agriculture": 8, "books_education": 4, "travel_services": 4,
              "entertainment": 4}
RESTRICTED = {"alcohol": 3, "health_foods": 4, "cosmetics": 4, "medicines": 1,
              "medical_devices": 1, "infant_formula": 1, "financial_products": 1}
ADULTS_ONLY = ("alcohol", "financial_products")
TOPICS = ("medicine", "finance", "law", "education")
# Age bands of adults (years from, to) and their weights.
ADULT_AGES = {(18, 24): 22, (25, 34): 40, (35, 44): 22, (45, 54): 11, (55, 65): 5}

CHANGE_REQUESTS = {
    "identity": "身份证照片不清晰，请重新上传正反面照片。",
    "roles": "请补充直播间地址，并确认账号名称与平台上一致。",
    "security": "请列出实际操作直播间的人员名单。",
    "content": "请上传与所售商品相符的资质证明。",
    "commitments": "投诉电话无法接通，请提供有效的投诉联系方式。",
}
REJECTIONS = {
    "documents_invalid": "上传的证件与填写的信息不一致，且无法辨认。",
    "identity_mismatch": "身份信息无法核实。",
    "qualification_missing": "销售特殊商品未提供相应资质。",
    "false_information": "填写的经营信息与实际情况不符。",
    "prohibited_content": "直播间内容涉及禁止营销的商品。",
}
SANCTION_TEXT = {
    "warning": ("直播中未标明商品广告。", "未显著标明付费推广", "《网络直播营销管理办法（试行）》"
                "第十八条"),
    "suspend": ("直播中对商品功效作夸大宣传，经平台巡查核实。", "发布虚假或者引人误解的信息",
                "《网络直播营销管理办法（试行）》第十八条"),
    "close": ("多次违规且经警示后拒不改正。", "屡次违规", "《网络直播营销管理办法（试行）》"
              "第十二条"),
    "blacklist": ("销售假冒商品，情节严重，经消费者投诉核实。", "销售假冒伪劣商品",
                  "《网络直播营销管理办法（试行）》第十八条"),
}


def _png() -> bytes:
    """A tiny grey PNG: the stand-in for every photo and scan."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = b"".join(b"\x00" + b"\xc8" * 8 for _ in range(8))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PNG = _png()
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
       b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 240 60]/Contents 4 0 R"
       b"/Resources<</Font<</F1 5 0 R>>>>>>endobj\n"
       b"4 0 obj<</Length 46>>stream\nBT /F1 14 Tf 20 25 Td (Synthetic sample) Tj ET\n"
       b"endstream endobj\n5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj\n"
       b"trailer<</Root 1 0 R>>\n%%EOF\n")


def _photo(name: str) -> Upload:
    return Upload(name, f"{name}.png", "image/png", PNG)


def _scan(name: str) -> Upload:
    return Upload(name, f"{name}.pdf", "application/pdf", PDF)


# --- one synthetic applicant ---------------------------------------------------------------------


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _phone(rng: random.Random) -> str:
    return f"+447700900{rng.randrange(1000):03d}"


def _birth_date(rng: random.Random, today: date, age: int) -> date:
    """A birth date that makes someone exactly ``age`` today."""
    latest = identity.years_before(today, age).toordinal()
    earliest = identity.years_before(today, age + 1).toordinal() + 1
    return date.fromordinal(rng.randint(earliest, latest))


def _adult_age(rng: random.Random, low: int = 18) -> int:
    band = rng.choices(list(ADULT_AGES), weights=list(ADULT_AGES.values()))[0]
    return max(low, rng.randint(*band))


def _chinese_name(rng: random.Random, *, male: bool, surname: str | None = None) -> str:
    if surname is None:
        surname = (rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.01
                   else rng.choice(SURNAMES))
    chars = MALE_CHARS if male else FEMALE_CHARS
    given = "".join(rng.choice(chars) for _ in range(2 if rng.random() < 0.7 else 1))
    return surname + given


def _resident_id(rng: random.Random, province: str, birth: date, *, male: bool) -> str:
    region = f"{province}01{rng.randint(2, 8):02d}"
    seq = rng.randrange(500) * 2 + (1 if male else 0)  # odd for men, even for women
    return identity.make_resident_id(region, birth, seq)


def _uscc(rng: random.Random, province: str) -> str:
    """A unified social credit code with valid GB 11714 and GB 32100 check characters."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = "MA" + "".join(rng.choice(alphabet) for _ in range(6))
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w
                for c, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
    org_check = {10: "X", 11: "0"}.get(11 - total % 11, str(11 - total % 11))
    first17 = f"91{province}0100{body}{org_check}"
    weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    total = sum(alphabet.index(c) * w for c, w in zip(first17, weights, strict=True))
    return first17 + alphabet[(31 - total % 31) % 31]


Form = dict[str, Any]


@dataclass
class Applicant:
    """Everything one synthetic applicant types and uploads, step by step."""

    kind: str
    legal_name: str
    roles: list[str]
    steps: list[tuple[str, Form, list[Upload]]] = field(default_factory=list)

    @property
    def is_streamer(self) -> bool:
        return "streamer" in self.roles


def _person_identity(rng: random.Random, today: date, *, minor: bool, kind: str
                     ) -> tuple[Form, bool, int]:
    male = rng.random() < 0.45
    age = rng.randint(16, 17) if minor else _adult_age(rng, 18 if kind == "person" else 22)
    birth = _birth_date(rng, today, age)
    roll = rng.random()
    if minor or roll < 0.97:
        home = rng.choices(MAINLAND, weights=[PROVINCES[p][0] for p in MAINLAND])[0]
        # Some live where the work is rather than where they were born.
        residence = home if rng.random() < 0.8 else rng.choice(("44", "33", "31", "11", "32"))
        id_type, number, nationality = "cn_resident_id", _resident_id(rng, home, birth,
                                                                      male=male), "CN"
        name = _chinese_name(rng, male=male)
    elif roll < 0.985:
        residence = rng.choice(("81", "82", "44"))
        prefix = "M" if residence == "82" else "H"
        id_type, nationality = "hk_macao_permit", "CN"
        number = f"{prefix}{rng.randrange(10**8):08d}"
        name = _chinese_name(rng, male=male)
    elif roll < 0.99:
        residence = rng.choice(("71", "35", "31"))
        id_type, number, nationality = "taiwan_permit", f"{rng.randrange(10**8):08d}", "CN"
        name = _chinese_name(rng, male=male)
    else:
        nationality, numeric, residence = rng.choice(FOREIGN)
        name = rng.choice(LATIN_NAMES)
        if rng.random() < 0.5:
            id_type = "foreign_permanent_residence"
            number = identity.make_resident_id(f"9{residence}{numeric:03d}", birth,
                                               rng.randrange(1000))
        else:
            id_type, number = "passport", f"E{rng.randrange(10**8):08d}"
    form = {
        "subject_kind": kind, "legal_name": name, "id_type": id_type, "id_number": number,
        "date_of_birth": birth.isoformat(), "nationality": nationality,
        "residence_province": residence,
        "residence_city": CITY_CODES[rng.choice(PROVINCES[residence][1])],
        "phone": _phone(rng), "consent": "yes",
    }
    return form, male, age


def _guardian(rng: random.Random, today: date, person: Form, age: int) -> Form:
    relationship = rng.choices(("father", "mother", "other_guardian"), weights=(50, 45, 5))[0]
    male = relationship == "father" or (relationship == "other_guardian" and rng.random() < 0.5)
    surname = person["legal_name"][0] if relationship == "father" else None
    name = _chinese_name(rng, male=male, surname=surname)
    birth = _birth_date(rng, today, age + rng.randint(22, 38))
    province = person["id_number"][:2]
    return {
        "guardian_name": name, "guardian_id_type": "cn_resident_id",
        "guardian_id_number": _resident_id(rng, province, birth, male=male),
        "guardian_date_of_birth": birth.isoformat(), "relationship": relationship,
        "consent_name": name,
    }


def _handle(rng: random.Random, name: str, brand: str | None) -> str:
    if brand:
        return brand + rng.choice(("官方旗舰店", "官方直播间", "优选", "严选"))
    if rng.random() < 0.5:
        return f"{rng.choice(HANDLE_WORDS)}_{rng.randint(10, 99999)}"
    return name[-2:] + rng.choice(HANDLE_SUFFIXES)


def _roles_form(rng: random.Random, kind: str, roles: list[str], name: str, province: str,
                roster: list[str]) -> Form:
    form: Form = {"roles": roles}
    brand = None
    if kind == "organization":
        brand = rng.choice(BRANDS)
        city = rng.choice(PROVINCES[province][1])
        industry = rng.choice(INDUSTRIES[roles[0]])
        form.update({
            "org_name": f"{city}{brand}{industry}有限公司", "uscc": _uscc(rng, province),
            "legal_representative": name if rng.random() < 0.6 else _chinese_name(
                rng, male=rng.random() < 0.6),
            "org_province": province, "org_city": CITY_CODES[city],
        })
    count = rng.choices((1, 2, 3, 4), weights=(55, 30, 10, 5))[0]
    platforms: list[str] = []
    while len(platforms) < count:
        platform = _pick(rng, PLATFORMS)
        if platform not in platforms:
            platforms.append(platform)
    for i, platform in enumerate(platforms):
        followers = min(int(rng.lognormvariate(8.5, 1.9)), 80_000_000)
        url = ROOM_URLS.get(platform)
        form.update({
            f"channel-{i}-platform": platform,
            f"channel-{i}-handle": _handle(rng, name, brand),
            f"channel-{i}-room_url": url.format(n=rng.randint(10**8, 10**10))
            if url and rng.random() < 0.6 else "",
            f"channel-{i}-bio": rng.choice(BIOS),
            f"channel-{i}-followers": "" if rng.random() < 0.1 else str(followers),
        })
    avatar = rng.random() < 0.03
    form.update({
        "monthly_sales": _pick(rng, MONTHLY_SALES),
        "uses_avatar": "yes" if avatar else "no",
        "avatar_name": rng.choice(AVATARS) if avatar else "",
        "avatar_consent": "yes" if avatar else "",
        "roster": "\n".join(roster),
    })
    return form


def _security_form(rng: random.Random, roles: list[str], name: str, province: str
                   ) -> tuple[Form, list[Upload]]:
    form: Form = {item: "yes" for item in SECURITY_ITEMS}
    if rng.random() < 0.08:  # a few answer one item "no", which the reviewer sees flagged
        form[rng.choice(list(SECURITY_ITEMS))] = "no"
    staff = "\n".join(f"{_chinese_name(rng, male=rng.random() < 0.5)} {rng.choice(STAFF_ROLES)}"
                      for _ in range(rng.randint(1, 4)))
    form.update({
        "staff_list": staff if form["named_staff"] == "yes" else "",
        "incident_details": "发现账号异常立即冻结并联系平台" if rng.random() < 0.3 else "",
        "security_contact": f"{name} {_phone(rng)}", "own_site": "no", "signature": name,
    })
    uploads = []
    if ("room_operator" in roles or "merchant" in roles) and rng.random() < 0.25:
        suffix = f"-{rng.randint(1, 5)}" if rng.random() < 0.3 else ""
        assessed = identity.china_today() - timedelta(days=rng.randint(10, 330))
        form.update({
            "own_site": "yes", "site_domain": f"shop-{rng.randint(100, 999999)}.example.com",
            "icp_number": f"{PROVINCES[province][2]}ICP备{rng.randint(10**7, 10**8 - 1)}号{suffix}",
            "https_only": "yes" if rng.random() < 0.9 else "no",
            "assessment_date": assessed.isoformat(),
        })
        uploads.append(_scan("assessment_report"))
    return form, uploads


def _content_form(rng: random.Random, *, minor: bool) -> tuple[Form, list[Upload]]:
    categories: list[str] = []
    for _ in range(rng.choices((1, 2, 3), weights=(45, 40, 15))[0]):
        category = _pick(rng, CATEGORIES)
        if category not in categories:
            categories.append(category)
    products = [_pick(rng, RESTRICTED)] if not minor and rng.random() < 0.12 else []
    topics = [rng.choice(TOPICS)] if not minor and rng.random() < 0.05 else []
    adults = any(p in ADULTS_ONLY for p in products) or (not minor and rng.random() < 0.03)
    minors_on_stream = rng.random() < 0.02
    form: Form = {
        "categories": categories, "audience": "adults_only" if adults else "all_ages",
        "minors_on_stream": "yes" if minors_on_stream else "no",
        "minors_commitment": "yes" if minors_on_stream else "",
        "restricted_products": products, "professional_topics": topics,
    }
    return form, [_scan(f"qualification_{code}") for code in [*products, *topics]]


def _commitments_form(rng: random.Random, number: int) -> Form:
    by_phone = rng.random() < 0.5
    return {
        "return_policy": "seven_day" if rng.random() < 0.7 else "legal_exceptions",
        "complaint_channel": "phone" if by_phone else "email",
        "complaint_contact": _phone(rng) if by_phone else f"kefu-{number:06d}@example.com",
        "response_hours": rng.choices(("24", "48", "72"), weights=(60, 30, 10))[0],
        "paid_promotion_disclosure": "yes",
        **{f"prohibited_{code}": "yes" for code in PROHIBITED_CONDUCT},
    }


def make_applicant(rng: random.Random, today: date, number: int, *,
                   roster: list[str] | None = None) -> Applicant:
    """Draw one applicant's answers to every step (``roster``: numbers an MCN may list)."""
    if rng.random() < 0.78:
        kind = "person"
        roles = rng.choices((["streamer"], ["streamer", "room_operator"], ["room_operator"]),
                            weights=(85, 12, 3))[0]
    else:
        kind = "organization"
        roles = rng.choices((["merchant"], ["mcn"], ["room_operator"],
                             ["room_operator", "merchant"], ["room_operator", "mcn"]),
                            weights=(40, 20, 15, 20, 5))[0]
    minor = roles == ["streamer"] and rng.random() < 0.05
    ident, _male, age = _person_identity(rng, today, minor=minor, kind=kind)
    name = ident["legal_name"]
    province = ident["residence_province"]
    if kind == "organization" and province in ("71", "81", "82"):
        province = "44"
    applicant = Applicant(kind=kind, legal_name=name, roles=list(roles))
    applicant.steps.append(("identity", ident, [_photo("id_front"), _photo("id_back")]))
    if minor:
        applicant.steps.append(("guardian", _guardian(rng, today, ident, age),
                                [_scan("consent_letter")]))
    listed = [] if not roster or not {"mcn", "room_operator"} & set(roles) or rng.random() > 0.4 \
        else rng.sample(roster, min(len(roster), rng.randint(1, 5)))
    uploads = [_scan("business_licence")] if kind == "organization" else []
    applicant.steps.append(("roles", _roles_form(rng, kind, roles, name, province, listed),
                            uploads))
    applicant.steps.append(("security", *_security_form(rng, roles, name, province)))
    applicant.steps.append(("content", *_content_form(rng, minor=minor)))
    applicant.steps.append(("commitments", _commitments_form(rng, number), []))
    return applicant


def applicant(seed: int, number: int, today: date, *, roster: list[str] | None = None
              ) -> Applicant:
    """The applicant behind ``seed-<number>``: the same seed and number, the same person."""
    return make_applicant(random.Random(f"{seed}:{number}"), today, number, roster=roster)


def _form_input(form: Form) -> dict[str, list[str]]:
    return {k: list(v) if isinstance(v, list) else [str(v)] for k, v in form.items()}


# --- seeding -------------------------------------------------------------------------------------


@dataclass
class Report:
    statuses: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    seed: int = 0
    # Submissions refused because the identity is blocklisted (left as drafts).
    blocked: int = 0

    @property
    def total(self) -> int:
        return sum(self.statuses.values())


def plan(count: int, seed: int) -> list[str]:
    """The final state of each of ``count`` registrations: the same for the same seed."""
    rng = random.Random(seed)
    return rng.choices(list(STATES), weights=list(STATES.values()), k=count)


@contextmanager
def batch(engine: Engine) -> Iterator[Session]:
    """One transaction for many registrations (SQLite: holding the write lock throughout); the
    services flush, and the batch commits once (running the commit hooks once for it all)."""
    bind = engine.execution_options(sqlite_begin="IMMEDIATE")
    with Session(bind, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def seed_moderator(session: Session) -> User:
    user = session.exec(select(User).where(User.email == MODERATOR_EMAIL)).first()
    if user is None:
        # No password: nobody logs in as the seed moderator; it only signs the decisions.
        user = User(email=MODERATOR_EMAIL, role=Role.moderator, password_hash=None,
                    email_verified_at=utcnow())
        session.add(user)
        session.flush()
    return user


def _next_number(session: Session) -> int:
    """Where this run's seed-NNNNNN addresses start, after those of earlier runs."""
    last = session.exec(select(func.max(User.email)).where(
        col(User.email).like("seed-%@example.invalid"), User.email != MODERATOR_EMAIL)).one()
    try:
        return int(last.split("@")[0].removeprefix("seed-")) + 1 if last else 1
    except ValueError:
        return 1


def _end_of_day_in_china(day: date) -> datetime:
    return datetime.combine(day, dtime(23, 59, 59), tzinfo=identity.CHINA_TZ)


class Seeder:
    """Makes one registration at a time, remembering what later ones may refer to."""

    def __init__(self, settings: Settings, seed: int) -> None:
        # Never ask an outside identity service; the mail of the expiry job stays in the mailbox.
        self.settings = settings.model_copy(update={"identity_provider_url": "", "smtp_url": ""})
        self.expiring = self.settings.model_copy(update={"cert_valid_days": 0})
        self.seed = seed
        self.today = identity.china_today()
        self.roster: list[str] = []  # numbers of streamers an MCN or operator may list
        self.blacklisted = 0

    def one(self, session: Session, moderator: User, number: int, target: str, report: Report
            ) -> None:
        rng = random.Random(f"{self.seed}:{number}")
        applicant = make_applicant(rng, self.today, number, roster=self.roster[-200:])
        signing = Signing(user_agent=USER_AGENT)
        user = User(email=SEED_EMAIL.format(number), role=Role.applicant, password_hash=None,
                    email_verified_at=utcnow())
        session.add(user)
        session.flush()
        registration = wizard.start_registration(session, user)
        for step, form, uploads in applicant.steps:
            wizard.save_step(session, self.settings, registration=registration, step=step,
                             form=_form_input(form), uploads=uploads, signing=signing,
                             today=self.today)
        try:
            transitions.submit(session, self.settings, registration=registration, user=user,
                               signature=applicant.legal_name, signing=signing,
                               today=self.today)
        except FormErrors:
            report.blocked += 1
            report.statuses[registration.status] += 1
            return
        if applicant.is_streamer:
            self.roster.append(registration.number or "")
        if any(step == "roles" and form["roster"] for step, form, _ in applicant.steps):
            self._confirm_roster(session, rng, registration)
        self._decide(session, rng, registration, user, moderator, target)
        report.statuses[target] += 1

    def _confirm_roster(self, session: Session, rng: random.Random, manager: Registration
                        ) -> None:
        """Most streamers an MCN or operator listed confirm the link from their own page."""
        links = session.exec(select(RosterLink).where(RosterLink.manager_id == manager.id)).all()
        for link in links:
            streamer = session.get(Registration, link.streamer_id)
            user = session.get(User, streamer.user_id) if streamer else None
            if user is not None and rng.random() < 0.6:
                wizard.confirm_roster_link(session, user=user, link_id=link.id or 0)

    def _decide(self, session: Session, rng: random.Random, registration: Registration,
                user: User, moderator: User, target: str) -> None:
        settings = self.settings
        common: dict[str, Any] = {"registration": registration, "moderator": moderator}
        if target == "submitted":
            return
        if target == "changes_requested":
            chosen = rng.sample(list(CHANGE_REQUESTS), rng.choice((1, 1, 2)))
            review.request_changes(session, settings, version=registration.version,
                                   step_messages={s: CHANGE_REQUESTS[s] for s in chosen},
                                   note="种子数据", **common)
            return
        if target == "rejected":
            code = rng.choice(list(REJECTIONS))
            review.reject(session, settings, version=registration.version, reason_code=code,
                          message=REJECTIONS[code], **common)
            return
        if target == "deregistered" and rng.random() < 0.2:
            transitions.deregister(session, settings, registration=registration, user=user)
            return
        approving = self.expiring if target == "expired" else settings
        review.approve(session, approving, version=registration.version, **common)
        if target == "approved" and rng.random() < 0.03:
            self._sanction(session, registration, moderator, "warning")
        elif target == "suspended":
            until = _end_of_day_in_china(self.today + timedelta(days=rng.randint(7, 90)))
            self._sanction(session, registration, moderator, "suspend", until=until)
        elif target == "revoked":
            kind = "close"
            if self.blacklisted < MAX_BLACKLISTED and rng.random() < 0.1:
                kind = "blacklist"
                self.blacklisted += 1
            self._sanction(session, registration, moderator, kind)
        elif target == "deregistered":
            transitions.deregister(session, settings, registration=registration, user=user)
        # "expired": approved for no days; expire_batch moves it with the scheduled job.

    def _sanction(self, session: Session, registration: Registration, moderator: User,
                  kind: str, until: datetime | None = None) -> None:
        facts, reason, basis = SANCTION_TEXT[kind]
        enforcement.apply_sanction(session, registration=registration, actor=moderator, kind=kind,
                                   facts=facts, reason=reason, legal_basis=basis, until=until,
                                   version=registration.version,
                                   settings=self.settings)

    def expire_batch(self, session: Session) -> None:
        """Move the batch's no-day approvals to `expired` the way the scheduled job does."""
        jobs.expire_due(session, self.settings, now=utcnow())


def seed(engine: Engine, settings: Settings, *, registrations: int, seed: int | None = None,
         batch_size: int = 250, progress: bool = False) -> Report:
    """Create ``registrations`` synthetic registrations in a realistic mix of states."""
    from tqdm import tqdm

    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    report = Report(seed=seed)
    targets = plan(registrations, seed)
    seeder = Seeder(settings, seed)
    started = time.perf_counter()
    language = set_language("zh-Hans")  # the applicants' (and so their notices') language
    try:
        with batch(engine) as session:
            moderator = seed_moderator(session)
            first = _next_number(session)
            # The signing key is loaded before the first batch, not raced for inside it.
            certificates.ensure_registered(session, seeder.settings)
        bar = tqdm(total=registrations, file=sys.stderr, unit="reg", disable=not progress,
                   desc="seeding")
        with bar:
            for start in range(0, registrations, batch_size):
                with batch(engine) as session:
                    moderator = session.get(User, moderator.id) or moderator
                    for offset, target in enumerate(targets[start:start + batch_size]):
                        seeder.one(session, moderator, first + start + offset, target, report)
                        bar.update(1)
                    if "expired" in targets[start:start + batch_size]:
                        seeder.expire_batch(session)
    finally:
        reset_language(language)
    report.seconds = time.perf_counter() - started
    return report
