"""What every HTML route shares: templates, the request's user, CSRF, and the page wrapper."""

from __future__ import annotations

import functools
import hmac
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from sqlmodel import Session
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates
from starlette.types import Message

from portal import accounts
from portal.accounts import Role, User
from portal.base import i18n, uploads
from portal.base.crypto import mask_email, mask_name
from portal.base.db import session_scope, utcnow
from portal.base.errors import FormErrors
from portal.base.forms import ID_MAX, whole_number
from portal.base.resources import templates_dir
from portal.base.settings import Settings
from portal.ledger.event_names import EVENT_NAMES
from portal.platforms import notify

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# python-multipart limits: uploads are checked to 5 MB by the upload code, with room for forms.
MAX_PART_SIZE = 6 * 1024 * 1024
MAX_FILES = 20
MAX_FIELDS = 2000
# A whole form post: six uploads at their 5 MB and the fields. A larger body is refused (413) as
# it arrives, declared or not, before the rest is read (python-multipart bounds only each part).
MAX_BODY_BYTES = 32 * 1024 * 1024


class IdConvertor(Convertor[int]):
    """``{name:id}`` in a route: a record id of at most 9 digits. A longer number names no row
    (ids are PostgreSQL INTEGERs), so it does not match: 404, not a database error."""

    regex = "[0-9]{1,9}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        if not 0 <= int(value) <= ID_MAX:
            raise ValueError("not a record id")
        return str(int(value))


register_url_convertor("id", IdConvertor())



def home_for(user: User | None) -> str:
    """The route name of a user's start page."""
    if user is None:
        return "home"
    return {
        Role.moderator: "review:queue",
        Role.auditor: "audit:search",
        Role.admin: "staff:admin_home",
    }.get(Role(user.role), "accounts:me")


def _context(request: Request) -> dict[str, Any]:
    session = request.scope.get("session")
    return {
        "user": getattr(request.state, "user", None),
        "unread": getattr(request.state, "unread", 0),
        "csrf_token": csrf_token(request) if session is not None else "",
        "lang": i18n.current_language(),
        "languages": i18n.LANGUAGE_NAMES,
        "settings": request.app.state.settings,
        "home_for": home_for,
        "url": lambda name, **params: str(request.app.url_path_for(name, **params)),
    }


def make_templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(str(templates_dir())),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda s: i18n.translations(i18n.current_language()).ugettext(s),
        lambda s, p, n: i18n.translations(i18n.current_language()).ungettext(s, p, n),
        newstyle=True,
    )
    env.globals["format_datetime"] = i18n.format_datetime
    # The words for the log's entry types, wherever a page lists entries or events.
    env.globals["event_names"] = EVENT_NAMES
    # Dates, moments and numbers in the page's language: {{ x | date }}, {{ x | number }}.
    env.filters["date"] = i18n.format_date
    env.filters["datetime"] = i18n.format_datetime
    env.filters["day"] = i18n.format_day
    env.filters["number"] = i18n.format_number
    env.filters["linkify"] = linkify
    env.globals["mask_name"] = mask_name
    env.globals["mask_email"] = mask_email
    return Jinja2Templates(env=env, context_processors=[_context])


_URL = re.compile(r"https?://[^\s<>\"']+")


def linkify(text: str) -> Markup:
    """Escape text, keep its line breaks and make its web addresses links."""
    out: list[str] = []
    last = 0
    for match in _URL.finditer(text):
        out.append(str(escape(text[last : match.start()])))
        href = escape(match.group(0))
        out.append(f'<a href="{href}">{href}</a>')
        last = match.end()
    out.append(str(escape(text[last:])))
    # Every piece above was escaped, so the joined text is safe to mark as such.
    return Markup("".join(out).replace("\n", "<br>\n"))  # noqa: S704


# --- sessions and CSRF ------------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


def check_csrf(request: Request, form: FormData | None) -> None:
    """Refuse a state-changing request whose form field or header lacks the session's token."""
    expected = request.session.get("csrf")
    candidates = [form.get(CSRF_FIELD) if form else None, request.headers.get(CSRF_HEADER)]
    if not expected or not any(
        isinstance(given, str) and hmac.compare_digest(expected, given) for given in candidates
    ):
        raise HTTPException(status_code=403, detail="csrf")


SESSION_ID = "sid"
# How often a session's row notes that it is in use (what keeps its idle timer running).
TOUCH_SECONDS = 60


def log_in(request: Request, user: User) -> None:
    """Start a fresh session for the user: a new row on the server, a new cookie and a new CSRF
    token; the session the browser had before, if any, ends."""
    settings: Settings = request.app.state.settings
    db: Session = request.state.db
    accounts.end_session(db, request.session.get(SESSION_ID))
    request.session.clear()
    token = accounts.start_session(
        db, user, lifetime=timedelta(hours=settings.session_max_hours),
        user_agent=request.headers.get("user-agent", ""))
    request.session.update({SESSION_ID: token, "csrf": secrets.token_urlsafe(32)})


def log_out(request: Request) -> None:
    """End the session on the server (its cookie opens nothing any more) and forget it here."""
    accounts.end_session(request.state.db, request.session.get(SESSION_ID))
    request.session.clear()


def must_enrol_totp(settings: Settings, user: User | None) -> bool:
    """Staff in production set up TOTP before anything else (DESIGN §8)."""
    return settings.is_production and user is not None and user.is_staff and not user.has_totp


def _load_user(request: Request, db: Session, settings: Settings) -> User | None:
    token = request.session.get(SESSION_ID)
    if token is None:
        return None
    found = accounts.session_user(db, token, idle=timedelta(minutes=settings.session_idle_minutes))
    if found is None:
        # Ended (logout, everywhere, a new password), timed out or unknown: a visitor again.
        request.session.clear()
        return None
    row, user = found
    if (utcnow() - row.last_seen_at).total_seconds() > TOUCH_SECONDS:
        request.state.touch = token
    return user


# --- pages -------------------------------------------------------------------------------------


def safe_next(target: str | None, default: str) -> str:
    """Follow a ``next`` only to a path on this site."""
    if not target:
        return default
    try:
        parts = urlsplit(target)
    except ValueError:  # e.g. a host that NFKC turns into other characters ("//／evil")
        return default
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target:
        return default
    return target


def stored_file(data: bytes, *, filename: str, content_type: str) -> Response:
    """An uploaded file served to the people who may read it: shown inline, never cached, and,
    opened on its own, able to run nothing and reach nothing. A PDF is served as qpdf writes
    it again (``uploads.rewrite_pdf``), never as uploaded; one that cannot be is a download."""
    safe = filename.encode("ascii", "replace").decode().replace('"', "")
    disposition = "inline"
    if content_type == "application/pdf":
        rewritten = uploads.rewrite_pdf(data)
        if rewritten is None:
            disposition, content_type = "attachment", "application/octet-stream"
        else:
            data = rewritten
    return Response(data, media_type=content_type, headers={
        "Content-Disposition": f'{disposition}; filename="{safe}"',
        "Cache-Control": "private, no-store",
        "Content-Security-Policy": "default-src 'none'; img-src 'self'; sandbox",
    })


def redirect(url: str) -> RedirectResponse:
    """303 after a POST, so a reload does not post again."""
    return RedirectResponse(url, status_code=303)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    partial: str | None = None,
) -> Response:
    """Render a page, or only its partial when htmx asked for a piece of it."""
    name = template
    if partial and request.headers.get("hx-request") and not request.headers.get("hx-boosted"):
        name = partial
    return request.app.state.templates.TemplateResponse(
        request, name, context or {}, status_code=status_code
    )


def form_value(form: FormData | None, name: str) -> str:
    """A text field's value as the person typed it ('' when absent or a file)."""
    if form is None:
        return ""
    value = form.get(name)
    return value if isinstance(value, str) else ""


Handler = Callable[[Request], Response]


async def _read_form(request: Request) -> FormData:
    declared = whole_number(request.headers.get("content-length", ""), digits=30, maximum=None)
    if declared is not None and declared > MAX_BODY_BYTES:
        raise HTTPException(status_code=413)
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        received += len(message.get("body", b""))
        if received > MAX_BODY_BYTES:
            raise HTTPException(status_code=413)
        return message

    return await Request(request.scope, receive).form(
        max_files=MAX_FILES, max_fields=MAX_FIELDS, max_part_size=MAX_PART_SIZE
    )


def page(
    *, login: bool = False, roles: Iterable[str] | None = None, before_totp: bool = False,
    writes: bool = False,
) -> Callable[[Handler], Callable[[Request], Any]]:
    """Wrap a synchronous handler: parse the form, check CSRF, load the user, open a DB session.

    The handler runs in a worker thread with ``request.state.db``, ``request.state.user`` and
    ``request.state.form`` set. ``login`` sends visitors to the login page; ``roles`` answers
    403 to a logged-in user of another role. In production, staff without TOTP are sent to set
    it up from every page but those marked ``before_totp`` (setting it up, logging out).
    ``writes`` marks a GET that writes (a POST always may): its transaction takes the write
    lock when it begins.
    """
    allowed = frozenset(roles or ())
    needs_login = login or bool(allowed)

    def decorate(handler: Handler) -> Callable[[Request], Any]:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            form: FormData | None = None
            if request.method in UNSAFE_METHODS:
                form = await _read_form(request)
            try:
                if request.method in UNSAFE_METHODS:
                    check_csrf(request, form)
                request.state.form = form
                return await run_in_threadpool(
                    _run, handler, request, allowed, needs_login, before_totp,
                    writes or request.method in UNSAFE_METHODS,
                )
            finally:
                if form is not None:
                    await form.close()

        return endpoint

    return decorate


def _run(
    handler: Handler,
    request: Request,
    allowed: frozenset[str],
    needs_login: bool,
    before_totp: bool,
    write: bool,
) -> Response:
    settings: Settings = request.app.state.settings
    # A request that may write takes SQLite's write lock when its transaction begins, so two
    # writers queue (busy timeout) instead of one failing on a stale read snapshot.
    engine = request.app.state.engine
    request.state.touch = None
    with session_scope(engine, write=write) as db:
        request.state.db = db
        request.state.mail = []
        request.state.later = []
        request.state.keep = False
        response = _handle(handler, request, db, settings, allowed, needs_login, before_totp)
        # The unit of work (DESIGN §1): what the handler changed is committed once, here, when
        # it answered with a success or a redirect (or kept what it wrote before a failed
        # attempt: ``keep_writes``); an error answer or an exception rolls back.
        if response.status_code >= 400 and not request.state.keep:
            db.rollback()
        else:
            db.commit()
            if request.state.mail:
                # Mail goes out once the change it announces is committed.
                notify.deliver(settings, request.state.mail, session=db)
                db.commit()
            if request.state.later:
                response.background = BackgroundTask(
                    _deliver_later, engine, settings, list(request.state.later))
    if request.state.touch:
        # The idle timer, in a transaction of its own (a GET's reads stay lock-free), once a
        # minute per session at most.
        with session_scope(engine, write=True) as db:
            accounts.touch_session(db, request.state.touch)
            db.commit()
    return response


def keep_writes(request: Request) -> None:
    """Commit what the request has written so far even if it then answers with an error: the
    files of a wizard step that passed their checks when the rest of the page did not. What
    comes after runs in an ``attempt``, so a failure there leaves nothing half-written."""
    request.state.keep = True


@contextmanager
def attempt(request: Request) -> Iterator[None]:
    """Run a part of the request that may fail with FormErrors: on failure, what it wrote is
    undone (a savepoint) and what the request wrote before it stays."""
    savepoint = request.state.db.begin_nested()
    try:
        yield
    except FormErrors:
        savepoint.rollback()
        raise
    savepoint.commit()


def send_after_commit(request: Request, messages: Iterable[notify.Message]) -> None:
    """Queue emails to send once the request's transaction has committed."""
    request.state.mail.extend(messages)


def send_after_response(request: Request, messages: Iterable[notify.Message]) -> None:
    """Queue emails to send once the answer has gone out (and the transaction committed): for
    a page whose answer must take the same time whether or not it sends a message."""
    request.state.later.extend(messages)


def _deliver_later(engine: Any, settings: Settings, messages: list[notify.Message]) -> None:
    with session_scope(engine, write=True) as db:
        notify.deliver(settings, messages, session=db)
        db.commit()


def _handle(
    handler: Handler,
    request: Request,
    db: Session,
    settings: Settings,
    allowed: frozenset[str],
    needs_login: bool,
    before_totp: bool,
) -> Response:
    user = _load_user(request, db, settings)
    request.state.user = user
    request.state.unread = (
        notify.unread_count(db, user.id or 0) if user is not None and not user.is_staff
        else 0
    )
    if needs_login and user is None:
        query = urlencode({"next": request.url.path})
        return redirect(f"{request.app.url_path_for('accounts:login')}?{query}")
    if must_enrol_totp(settings, user) and not before_totp:
        return redirect(str(request.app.url_path_for("accounts:security")))
    if allowed and (user is None or user.role not in allowed):
        raise HTTPException(status_code=403)
    return handler(request)



def namespaced(namespace: str, routes: list[Any]) -> list[Any]:
    """Name routes ``namespace:name`` so templates say url_for("accounts:login")."""
    for route in routes:
        route.name = f"{namespace}:{route.name}"
    return routes
