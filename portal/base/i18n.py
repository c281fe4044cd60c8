"""Translations: gettext catalogs in ``portal/locale``; the request's language in a context var."""

from __future__ import annotations

import io
from contextvars import ContextVar
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime as babel_format_datetime
from babel.dates import get_timezone
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal as babel_format_decimal
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent.parent / "locale"  # portal/locale
DOMAIN = "messages"

# Language tags as used in URLs, cookies and <html lang>; Babel locale names beside them.
LANGUAGES: dict[str, str] = {"en": "en", "zh-Hans": "zh_Hans_CN"}
LANGUAGE_NAMES = {"en": "English", "zh-Hans": "简体中文"}
DEFAULT_LANGUAGE = "en"
LANG_COOKIE = "portal_lang"

_current: ContextVar[str] = ContextVar("portal_language", default=DEFAULT_LANGUAGE)


@cache
def translations(lang: str) -> NullTranslations:
    """Load a catalog, compiling the .po file in memory so no build step is needed."""
    po = LOCALE_DIR / LANGUAGES.get(lang, "en") / "LC_MESSAGES" / f"{DOMAIN}.po"
    if lang == DEFAULT_LANGUAGE or not po.exists():
        return NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=LANGUAGES[lang])
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf, domain=DOMAIN)


def current_language() -> str:
    return _current.get()


def set_language(lang: str) -> object:
    return _current.set(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)


def reset_language(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


def gettext(msgid: str, /, **variables: object) -> str:
    text = translations(_current.get()).ugettext(msgid)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, /, **variables: object) -> str:
    text = translations(_current.get()).ungettext(singular, plural, n)
    variables.setdefault("num", n)
    return text % variables


_ = gettext


class LazyString:
    """A message translated when it is shown, for module-level constants."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __str__(self) -> str:
        return gettext(self.message)

    def __html__(self) -> str:
        from markupsafe import escape

        return str(escape(str(self)))

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(self.message)


def lazy_gettext(message: str) -> LazyString:
    return LazyString(message)


def negotiate(accept_language: str | None) -> str:
    """Pick Chinese for browsers that prefer any ``zh``, English otherwise."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            key, _, val = p.strip().partition("=")
            if key == "q":
                try:
                    q = float(val)
                except ValueError:
                    q = 0.0
        if tag and q > 0:
            ranked.append((-q, i, tag.lower()))
    for _q, _i, tag in sorted(ranked):
        if tag == "zh" or tag.startswith("zh-"):
            return "zh-Hans"
        if tag == "en" or tag.startswith("en-"):
            return "en"
    return DEFAULT_LANGUAGE


def babel_locale() -> Locale:
    return Locale.parse(LANGUAGES[_current.get()])


# --- dates, times and numbers in the page's language (Jinja filters, see portal.web.core) --------

CHINA_TIME = "Asia/Shanghai"


def _as_date(value: object) -> date | None:
    """A date from a date, a datetime (taken in China Standard Time) or an ISO 8601 string."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(get_timezone(CHINA_TIME))
        return value.date()
    if isinstance(value, date):
        return value
    return None


def format_date(value: object, fmt: str = "long") -> str:
    """A calendar date as the page's language writes it: "12 March 1985", "1985年3月12日".
    A value that is not a date is shown as it is."""
    day = _as_date(value)
    if day is None:
        return "" if value is None else str(value)
    return babel_format_date(day, fmt, locale=babel_locale())


# Moments and China days as the reader's language writes them, with the time zone named: the
# portal counts days in China time, and a reader abroad must not take a date for their own.
TIME_ZONE_NAME = "CST"
_MOMENT_PATTERNS = {"en": "d MMM y, HH:mm", "zh-Hans": "y年M月d日 HH:mm"}
_DAY_PATTERNS = {"en": "d MMM y", "zh-Hans": "y年M月d日"}


def _as_moment(value: object) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def format_datetime(value: object, fmt: str = "medium") -> str:
    """A moment in China Standard Time, in the page's language, its zone named: "3 Dec 2026,
    09:12 CST", "2026年12月3日 09:12 CST" (naive values are UTC). Pages and emails both write
    moments (a validity's end among them) through this one function. ``fmt`` is kept for the
    callers that name one: every moment is written the same way."""
    if value is None or value == "":
        return ""
    moment = _as_moment(value)
    if moment is None:
        return str(value)
    pattern = _MOMENT_PATTERNS.get(_current.get(), _MOMENT_PATTERNS["en"])
    text = babel_format_datetime(moment, pattern, tzinfo=get_timezone(CHINA_TIME),
                                 locale=babel_locale())
    return f"{text} {TIME_ZONE_NAME}"


def format_day(value: object) -> str:
    """A day as the portal counts it (in China time), its zone named: "3 Dec 2026 CST",
    "2026年12月3日 CST". For deadlines and end dates in pages and emails; a date of birth,
    which belongs to no zone, is ``format_date``."""
    day = _as_date(value)
    if day is None:
        return "" if value is None else str(value)
    pattern = _DAY_PATTERNS.get(_current.get(), _DAY_PATTERNS["en"])
    return f"{babel_format_date(day, pattern, locale=babel_locale())} {TIME_ZONE_NAME}"


def format_number(value: object) -> str:
    """A count or amount with the language's grouping and decimal sign (CLDR): "12,000" in
    both English and Chinese. A value that is not a number is shown as it is."""
    if value is None or value == "" or isinstance(value, bool):
        return "" if value is None else str(value)
    if isinstance(value, str):
        text = value
        try:
            value = Decimal(text.strip())
        except InvalidOperation:
            return text
    if not isinstance(value, int | float | Decimal):
        return str(value)
    return babel_format_decimal(value, locale=babel_locale())


# --- punctuation between translated words: full-width in Chinese ------------------------------


def join_words(items: object) -> str:
    """Words of a list as the language separates them: "Law, Finance", "法律、金融"."""
    return gettext(", ").join(str(item) for item in items)  # type: ignore[attr-defined]


def label_value(label: object, value: object) -> str:
    """A label and its value as the language writes them: "Phone: 123", "电话：123"."""
    return gettext("%(label)s: %(value)s", label=label, value=value)
