"""Translations: gettext catalogs in ``portal/locale``; the request's language in a context var."""

from __future__ import annotations

import io
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
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
