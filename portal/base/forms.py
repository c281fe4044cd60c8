"""Reading a submitted form into clean values and per-field messages, for every step's validator."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from typing import Any, TypeVar

from portal.base.errors import FormErrors
from portal.base.i18n import gettext as _

# A form as the web layer hands it over: every field as the list of its values.
FormInput = Mapping[str, Sequence[str]]

T = TypeVar("T")

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_CONTROL_SINGLE_LINE = re.compile(r"[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


# The largest id a table holds (PostgreSQL INTEGER): a bigger number names nothing, and asking
# the database about it would be an error rather than "not found".
ID_MAX = 2**31 - 1


def whole_number(raw: str, *, digits: int = 18, maximum: int | None = ID_MAX) -> int | None:
    """A typed count or id: at most ``digits`` ASCII digits and at most ``maximum``, else None.
    (``str.isdigit`` is true of "²", which ``int`` refuses, and ``int`` refuses more than 4300
    digits.)"""
    if not (raw.isascii() and raw.isdigit() and len(raw) <= digits):
        return None
    value = int(raw)
    return value if maximum is None or value <= maximum else None


class Checker:
    """Collects clean values in ``data`` and the first message per field in ``errors``."""

    def __init__(self, form: FormInput) -> None:
        self.form = form
        self.data: dict[str, Any] = {}
        self.errors: dict[str, str] = {}

    def raw(self, name: str) -> str:
        values = self.form.get(name) or []
        return values[0] if values else ""

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    def text(
        self,
        name: str,
        label: str,
        *,
        required: str | None = None,
        max_length: int = 200,
        multiline: bool = False,
        store: bool = True,
        plain: bool = False,
    ) -> str:
        """A free-text answer: trimmed, bounded, without control characters. ``plain``: a name
        or a handle, which also refuses invisible format characters (a zero-width space makes
        ``李\u200b四`` look like a name it is not)."""
        value = self.raw(name).replace("\r\n", "\n").strip()
        if not multiline:
            value = " ".join(value.split())
        pattern = CONTROL if multiline else _CONTROL_SINGLE_LINE
        if pattern.search(value):
            self.error(name, _("%(label)s contains characters that cannot be used", label=label))
            value = pattern.sub("", value)
        elif plain and any(unicodedata.category(ch) == "Cf" for ch in value):
            self.error(name, _("%(label)s contains invisible characters: type it again without "
                               "copying it", label=label))
            value = "".join(ch for ch in value if unicodedata.category(ch) != "Cf")
        elif len(value) > max_length:
            self.error(
                name,
                _("%(label)s must be %(max)d characters or fewer", label=label, max=max_length),
            )
        elif not value and required:
            self.error(name, required)
        value = unicodedata.normalize("NFC", value)
        if store:
            self.data[name] = value
        return value

    def choice(
        self, name: str, options: Iterable[str], *, required: str, store: bool = True
    ) -> str:
        """One of a fixed set of options (radios, selects)."""
        value = self.raw(name)
        if value not in set(options):
            self.error(name, required)
            value = ""
        if store:
            self.data[name] = value
        return value

    def many(
        self,
        name: str,
        options: Iterable[str],
        *,
        required: str | None = None,
        store: bool = True,
    ) -> list[str]:
        """Any number of a fixed set (checkboxes), in the options' order."""
        allowed = list(options)
        given = set(self.form.get(name) or [])
        if given - set(allowed):
            self.error(name, _("Choose from the options shown"))
        values = [option for option in allowed if option in given]
        if not values and required:
            self.error(name, required)
        if store:
            self.data[name] = values
        return values

    def yes_no(self, name: str, *, required: str, store: bool = True) -> bool | None:
        value = self.raw(name)
        answer = {"yes": True, "no": False}.get(value)
        if answer is None:
            self.error(name, required)
        if store:
            self.data[name] = answer
        return answer

    def checked(self, name: str, *, required: str | None = None, store: bool = True) -> bool:
        value = self.raw(name) in ("yes", "on", "true", "1")
        if not value and required:
            self.error(name, required)
        if store:
            self.data[name] = value
        return value

    def integer(
        self, name: str, label: str, *, minimum: int = 0, maximum: int = 10**12,
        required: str | None = None,
    ) -> int | None:
        raw = self.raw(name).replace(",", "").replace("，", "").strip()
        if not raw:
            if required:
                self.error(name, required)
            self.data[name] = None
            return None
        number = whole_number(raw, digits=len(str(maximum)), maximum=None)
        if number is None or not minimum <= number <= maximum:
            self.error(name, _("%(label)s must be a whole number", label=label))
            self.data[name] = None
            return None
        self.data[name] = number
        return number

    def apply(
        self, name: str, parse: Callable[[str], T], *, required: str, store: bool = True
    ) -> T | None:
        """Run one of the domain validators (they raise ValueError with the message)."""
        raw = self.raw(name).strip()
        if not raw:
            self.error(name, required)
            return None
        try:
            value = parse(raw)
        except ValueError as exc:
            self.error(name, str(exc))
            return None
        if store:
            self.data[name] = value.isoformat() if isinstance(value, date) else value
        return value


def form_input(pairs: Iterable[tuple[str, Any]]) -> dict[str, list[str]]:
    """Turn (name, value) pairs into a FormInput, dropping file parts."""
    out: dict[str, list[str]] = {}
    for key, value in pairs:
        if isinstance(value, str):
            out.setdefault(key, []).append(value)
    return out


class StepContext:
    """What a step's validator may know besides its own form."""

    def __init__(
        self,
        *,
        today: date,
        answers: Mapping[str, Mapping[str, Any]],
        documents: set[str],
        secrets: Mapping[str, str] | None = None,
    ) -> None:
        self.today = today
        self.answers = answers
        # Upload fields that already hold a stored document or arrive with this post.
        self.documents = documents
        # Clear values of this step's saved sensitive fields (kept when left blank on edit).
        self.secrets = secrets or {}

    def answer(self, step: str, name: str, default: Any = None) -> Any:
        return (self.answers.get(step) or {}).get(name, default)


def staff_text(value: str, field: str, *, required: str | None = None,
               max_length: int = 4000) -> str:
    """A staff member's free text (a message, a note, facts): trimmed and bounded."""
    text = (value or "").replace("\r\n", "\n").strip()
    if required and not text:
        raise FormErrors({field: required})
    if len(text) > max_length:
        raise FormErrors({field: _("Write %(max)d characters or fewer", max=max_length)})
    return text
