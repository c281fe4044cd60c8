"""The one input rule (DESIGN §8): what reaches a query or a validator is text without control
characters, JSON of bounded depth with finite numbers. Used by the request edges (paths and
query strings, JSON bodies) and, as the last guard, by every database statement."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

# C0 controls and DEL: nothing a person types, and PostgreSQL refuses NUL in text outright.
# Tab and line breaks are text in a multi-line field or a JSON string (``TEXT_CONTROL``); in a
# path or a query string they are not (``CONTROL``).
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Request models nest three levels at most; a body nested deeper is refused before it is
# parsed, so no parser recurses into it (100,000 ``[`` once ended in RecursionError).
MAX_JSON_DEPTH = 32
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
JSON_TYPES = ("application/json", "application/problem+json")


class InputRefused(ValueError):
    """Input that breaks the rule: ``field`` names where (``path``, a query parameter, a
    dotted JSON path, or ``parameter`` for a database value)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def has_control(text: str, *, multiline: bool = False) -> bool:
    """True if ``text`` holds a control character (tab and line breaks allowed if multiline)."""
    return bool((TEXT_CONTROL if multiline else CONTROL).search(text))


def strip_control(text: str) -> str:
    """``text`` without control characters."""
    return CONTROL.sub("", text)


def json_too_deep(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True if the JSON text ``raw`` nests arrays and objects deeper than ``limit``, counted
    without parsing it (brackets inside strings do not count)."""
    depth = 0
    for token in _JSON_TOKEN.finditer(raw):
        char = token.group()
        if char in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif char in (b"]", b"}"):
            depth -= 1
    return False


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number beyond the range of a double")
    return value


def load_json(raw: bytes) -> Any:
    """Parse a JSON body under the rule, or raise ``InputRefused`` (field ``body``) when it is
    not JSON, nests too deep, or holds NaN, Infinity or a number no double can hold; a string
    with a control character (tab and line breaks aside) is refused with its dotted path."""
    if json_too_deep(raw):
        raise InputRefused("body", f"JSON may nest at most {MAX_JSON_DEPTH} levels")
    try:
        data = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite)
    except (UnicodeDecodeError, ValueError, RecursionError):
        # ValueError covers JSONDecodeError, the refused constants and an integer of more
        # than 4,300 digits, which Python will not convert.
        raise InputRefused("body", "The body is not valid JSON") from None
    where = control_in(data, "")
    if where is not None:
        raise InputRefused(where or "body", "Control characters and lone surrogates are not "
                                            "allowed")
    return data


def control_in(value: Any, where: str) -> str | None:
    """The dotted path of the first string (value or key) with a control character or a lone
    surrogate (``"\\ud800"``: no Unicode text, refused by I-JSON, RFC 7493), or None."""
    if isinstance(value, str):
        return where if has_control(value, multiline=True) or _SURROGATE.search(value) \
            else None
    items: Any = ()
    if isinstance(value, Mapping):
        items = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    for key, item in items:
        path = f"{where}.{key}" if where else str(key)
        if isinstance(key, str) and (has_control(key, multiline=True) or _SURROGATE.search(key)):
            return path
        found = control_in(item, path)
        if found is not None:
            return found
    return None


def is_json_type(content_type: str | None) -> bool:
    """True for ``application/json`` and its ``+json`` kin, whatever the parameters."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))


def check_parameters(parameters: Any, *, many: bool = False) -> None:
    """Refuse a database statement's bound values holding NUL, which PostgreSQL refuses in
    text and SQLite would store: the guard behind every edge, so a value no edge checked ends
    as a refused input, never a server error. ``many``: a list of batches (executemany)."""
    for batch in (parameters or ()) if many else (parameters,):
        if isinstance(batch, Mapping):
            values: Any = batch.values()
        elif isinstance(batch, list | tuple):
            values = batch
        else:
            continue
        for value in values:
            if isinstance(value, str) and "\x00" in value:
                raise InputRefused("parameter", "NUL characters are not allowed")


Refuse = Callable[[MutableMapping[str, Any], Any, Any, InputRefused], Awaitable[None]]


class InputRule:
    """ASGI middleware: a path with a control character is refused (``refuse`` answers, 400)
    before any route sees it; in a query string, control characters are refused under
    ``strict_prefix`` (the API answers with a problem naming the parameter) and stripped
    elsewhere (a search box then searches for what remains)."""

    def __init__(self, app: Any, *, refuse: Refuse, strict_prefix: str = "/api/") -> None:
        self.app = app
        self.refuse = refuse
        self.strict_prefix = strict_prefix

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            try:
                self._clean(scope)
            except InputRefused as exc:
                await self.refuse(scope, receive, send, exc)
                return
        await self.app(scope, receive, send)

    def _clean(self, scope: MutableMapping[str, Any]) -> None:
        if CONTROL.search(scope["path"]):
            raise InputRefused("path", "Control characters are not allowed in the path")
        raw = scope.get("query_string") or b""
        if not raw:
            return
        pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True, encoding="utf-8",
                          errors="replace")
        dirty = [name for name, value in pairs if CONTROL.search(name + value)]
        if not dirty:
            return
        if scope["path"].startswith(self.strict_prefix):
            raise InputRefused(strip_control(dirty[0]) or "query",
                               "Control characters are not allowed")
        scope["query_string"] = urlencode(
            [(strip_control(name), strip_control(value)) for name, value in pairs]).encode()
