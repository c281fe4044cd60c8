"""The ASGI application."""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import AsyncIterator
from http import HTTPStatus
from http.cookies import SimpleCookie

import anyio
import anyio.to_thread
from limits import RateLimitItem, parse_many
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.api import audit as audit_api  # noqa: F401  (registers its operations)
from portal.api import core as api_core
from portal.api import credentials as credentials_api
from portal.api import health
from portal.api import inspection_requests as inspection_requests_api  # noqa: F401  (registers its operations)
from portal.api import log as log_api
from portal.api import openapi as openapi_api
from portal.api import platform as platform_api  # noqa: F401  (registers its operations)
from portal.api import records as records_api
from portal.api import tiles as tiles_api
from portal.api.problems import problem
from portal.base import i18n, inputs, throttle
from portal.base.db import is_sqlite, make_engine
from portal.base.replicas import make_read_engine
from portal.base.resources import static_dir
from portal.base.settings import Settings, SettingsError, get_settings
from portal.ledger import cosigning
from portal.ops import jobs
from portal.platforms import webhooks
from portal.web import (
    accounts,
    api_reference,
    apply,
    audit_log,
    cases,
    complaints,
    compliance,
    dashboard,
    pages,
    preferences,
    review,
    staff,
    staff_admin,
    verify,
)
from portal.web import admin as admin_pages
from portal.web import audit as audit_pages
from portal.web import inspection_requests as inspection_request_pages
from portal.web import inspections as inspection_pages
from portal.web import webhooks as webhook_pages
from portal.web.core import make_templates

logger = logging.getLogger("portal")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)


class SecurityHeaders:
    """Add DESIGN §8's headers to every answer."""

    def __init__(self, app: ASGIApp, *, production: bool) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", CSP.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        ]
        if production:
            self.headers.append(
                (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in present]
                if b"cache-control" not in present and not static:
                    # Pages show personal data: no browser or proxy keeps a copy unless the
                    # answer says it may (published log tiles, keys, the static files).
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Language:
    """Choose the page language: the switcher's cookie, else the browser's Accept-Language."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]}
        lang = None
        if "cookie" in headers:
            cookie = SimpleCookie()
            try:
                cookie.load(headers["cookie"])
            except Exception:  # a malformed cookie header is ignored, not an error page
                cookie = SimpleCookie()
            morsel = cookie.get(i18n.LANG_COOKIE)
            if morsel and morsel.value in i18n.LANGUAGES:
                lang = morsel.value
        lang = lang or i18n.negotiate(headers.get("accept-language"))
        token = i18n.set_language(lang)

        async def send_with_language(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"content-language", lang.encode()),
                    (b"vary", b"Accept-Language"),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_language)
        finally:
            i18n.reset_language(token)


class HotRoutes:
    """Send the API's hot reads (``operation(hot=True)``) straight to their endpoint.

    Platforms ask before every stream; such a request needs neither the page language, nor a
    cookie session, nor the router's walk through every page route. Everything else goes on
    through the rest of the stack. Placed inside SecurityHeaders, so its answers carry the
    same headers, and inside Starlette's ServerErrorMiddleware, so an unexpected error is
    still a logged 500.
    """

    def __init__(self, app: ASGIApp, routes: list[Route]) -> None:
        self.app = app
        ops = {f"api:{op.name}": op for op in api_core.OPERATIONS}
        self.routes = [(route, api_core.hot_app(ops[route.name])) for route in routes]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" \
                and scope["path"].startswith(api_core.PREFIX):
            for route, app in self.routes:
                match, child = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child)
                    await app(scope, receive, send)
                    return
        await self.app(scope, receive, send)


class QueryStringsOutOfAccessLog(logging.Filter):
    """The access log (uvicorn's) keeps the path of each request, never its query string:
    people type names and ID numbers into searches, and links carry one-time tokens."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def keep_query_strings_out_of_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, QueryStringsOutOfAccessLog) for f in access.filters):
        access.addFilter(QueryStringsOutOfAccessLog())


# Public pages anyone may call without an account, limited per network address against floods
# only (their answers are read from storage): the verification pages and the report form, a
# report's page (its reference), and the transparency log's endpoints, which an auditor's
# mirror walks through quickly.
PUBLIC_LIMITS = (
    ("/verify", "120/minute; 2000/hour"),
    ("/complaints", "120/minute; 2000/hour"),
    ("/api/v1/log/", "1200/minute; 30000/hour"),
    ("/log/", "1200/minute; 30000/hour"),
)


class PublicLimits:
    """Answer 429 to a network address that floods the public pages (DESIGN §8)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.rules = [(prefix, parse_many(rules)) for prefix, rules in PUBLIC_LIMITS]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            for prefix, rules in self.rules:
                if path == prefix or path.startswith(prefix if prefix.endswith("/")
                                                     else prefix + "/"):
                    check = functools.partial(self._allowed, scope, prefix, rules)
                    # Counted in memory, or in Redis (across the network: off the event loop).
                    allowed = (await anyio.to_thread.run_sync(check)
                               if scope["app"].state.settings.redis_url else check())
                    if not allowed:
                        await self._refuse(scope, receive, send)
                        return
                    break
        await self.app(scope, receive, send)

    @staticmethod
    def _allowed(scope: Scope, prefix: str, rules: list[RateLimitItem]) -> bool:
        limiter = scope["app"].state.limiter
        address = scope["client"][0] if scope.get("client") else "unknown"
        # Every rule is counted, so the longer window fills even while the shorter refuses.
        return all([limiter.hit(rule, "public", prefix, address) for rule in rules])

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        headers = {"Retry-After": "60"}
        if _is_api(request):
            response: Response = problem(429, "Too many requests from this address; slow down",
                                         headers=headers)
        else:
            response = request.app.state.templates.TemplateResponse(
                request, "errors/error.html", {"kind": "too_many", "status": 429},
                status_code=429, headers=headers)
        await response(scope, receive, send)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


ERROR_TEMPLATES = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "not_allowed",
                   413: "too_large", 500: "server_error"}


def _error_page(request: Request, status: int) -> Response:
    templates = request.app.state.templates
    kind = ERROR_TEMPLATES.get(status, "server_error" if status >= 500 else "bad_request")
    user = getattr(request.state, "user", None)
    if user is not None and sa_inspect(user).expired_attributes:
        # The failed request's transaction was rolled back and its session closed: the user's
        # row can no longer be read, so the error page is shown as to a visitor.
        user = None
    request.state.user = user
    return templates.TemplateResponse(
        request, "errors/error.html", {"kind": kind, "status": status}, status_code=status
    )


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if _is_api(request):
        return problem(exc.status_code, headers=dict(exc.headers or {}))
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    response = _error_page(request, exc.status_code)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def input_refused(request: Request, exc: Exception) -> Response:
    """The input rule (portal.base.inputs) refused a value: 400, never a server error."""
    assert isinstance(exc, inputs.InputRefused)
    if _is_api(request):
        return problem(400, exc.message,
                       errors=[{"field": exc.field, "message": exc.message}])
    return _error_page(request, 400)


async def _refuse_input(scope: Scope, receive: Receive, send: Send,
                        exc: inputs.InputRefused) -> None:
    response = await input_refused(Request(scope, receive), exc)
    await response(scope, receive, send)


async def server_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    if _is_api(request):
        return problem(500, HTTPStatus(500).phrase)
    return _error_page(request, 500)


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Run the scheduled jobs every few minutes, send webhooks and publish the log's checkpoints
    while the server is up. A checkpoint of the log as it stands is published before the first
    request, so that the checkpoint endpoints always have one to serve."""
    interval = app.state.settings.jobs_interval_seconds
    webhook_interval = app.state.settings.webhook_interval_seconds
    publish_interval = app.state.settings.log_publish_seconds
    stop = threading.Event()  # ends a webhook round early at shutdown
    await _publish_checkpoint(app)
    async with anyio.create_task_group() as tasks:
        if interval > 0:
            tasks.start_soon(_run_jobs_forever, app, interval)
        if webhook_interval > 0:
            tasks.start_soon(_run_webhooks_forever, app, webhook_interval, stop)
        if publish_interval > 0:
            tasks.start_soon(_publish_checkpoints_forever, app, publish_interval)
        yield
        stop.set()
        tasks.cancel_scope.cancel()
    await app.state.api_limits.close_on_loop()


async def _run_jobs_forever(app: Starlette, interval: int) -> None:
    while True:
        await anyio.sleep(interval)
        try:
            await anyio.to_thread.run_sync(jobs.run, app.state.engine, app.state.settings)
        except Exception:  # a failed run is retried at the next interval
            logger.exception("scheduled jobs failed")


async def _run_webhooks_forever(app: Starlette, interval: float, stop: threading.Event) -> None:
    send = functools.partial(webhooks.run, app.state.engine, app.state.settings, stop=stop)
    while True:
        await anyio.sleep(interval)
        try:
            await anyio.to_thread.run_sync(send)
        except Exception:  # what was not sent stays due for the next round
            logger.exception("webhook delivery failed")


async def _publish_checkpoint(app: Starlette, *, witness: bool = False) -> None:
    try:
        await anyio.to_thread.run_sync(log_api.publish, app.state.engine, app.state.settings)
        if witness:  # each round after the first, which must not wait on a witness to start
            await anyio.to_thread.run_sync(log_api.witness, app.state.engine, app.state.settings)
    except Exception:  # published at the next round
        logger.exception("publishing the log's checkpoint failed")


async def _publish_checkpoints_forever(app: Starlette, interval: float) -> None:
    """A new checkpoint when the log grew, at most every ``interval`` seconds (DESIGN §6)."""
    while True:
        await anyio.sleep(interval)
        await _publish_checkpoint(app, witness=True)


def _read_engine(settings: Settings, engine: Engine) -> Engine:
    if not settings.read_database_url:
        return engine
    if is_sqlite(engine):
        raise SettingsError("PORTAL_READ_DATABASE_URL needs a PostgreSQL PORTAL_DATABASE_URL")
    return make_read_engine(engine, settings.resolved_database_url, settings.read_database_url,
                            max_lag=settings.read_max_lag_seconds,
                            retry=settings.read_retry_seconds,
                            connect_timeout=settings.read_connect_timeout)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    settings.check_production()
    secret_key = settings.secret("secret_key")
    engine = make_engine(settings.resolved_database_url)
    read_engine = _read_engine(settings, engine)

    api_routes = api_core.routes()
    routes = [
        # First: platforms call the API before every stream, and the router tries routes in
        # order (no other route's path starts with /api/v1, so the order changes no match).
        *api_routes,
        *pages.routes,
        *accounts.routes,
        *preferences.routes,
        *apply.routes,
        *review.routes,
        *cases.routes,
        *verify.routes,
        *complaints.routes,
        *staff.routes,
        *staff_admin.routes,
        *audit_pages.routes,
        *audit_log.routes,
        *dashboard.routes,
        *inspection_pages.routes,
        *inspection_request_pages.routes,
        *compliance.routes,
        *admin_pages.routes,
        *webhook_pages.routes,
        *health.routes,
        *records_api.routes,
        *credentials_api.routes,
        *log_api.routes,
        *tiles_api.routes,
        *openapi_api.routes,
        *api_reference.routes,
        Mount("/static", app=StaticFiles(directory=static_dir()), name="static"),
    ]
    hot = {f"api:{op.name}" for op in api_core.OPERATIONS if op.hot}
    middleware = [
        Middleware(SecurityHeaders, production=settings.is_production),
        Middleware(HotRoutes, routes=[r for r in api_routes if r.name in hot]),
        Middleware(Language),
        Middleware(PublicLimits),
        Middleware(inputs.InputRule, refuse=_refuse_input),
        Middleware(
            SessionMiddleware,
            secret_key=secret_key,
            session_cookie="portal_session",
            max_age=settings.session_max_hours * 3600,
            same_site="lax",
            https_only=settings.is_production,
        ),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: http_error, inputs.InputRefused: input_refused,
                            Exception: server_error},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    # Reads that may lag (DESIGN §9): the replica's engine, or the primary's when none is set.
    app.state.read_engine = read_engine
    # The checkpoint endpoints serve the newest one this many witnesses cosigned (0: none set);
    # a malformed PORTAL_WITNESSES stops the start here.
    app.state.witness_quorum = cosigning.quorum(settings)
    app.state.templates = make_templates()
    app.state.api_reference = openapi_api.reference_context
    app.state.logger = logger
    app.state.limiter = throttle.make_limiter(settings)
    app.state.api_limits = api_core.Limits(settings)
    # Hot API reads run on the event loop only when nothing they touch is across a network.
    app.state.local_reads = is_sqlite(engine) and not settings.redis_url
    keep_query_strings_out_of_access_log()
    return app
