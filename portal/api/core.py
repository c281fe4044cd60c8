"""The JSON API's conventions (DESIGN §7), written once for every endpoint.

An endpoint is a plain function registered with ``@operation``: it gets a ``Call`` (a database
session in the request's transaction, the client, the validated body and query) and returns
what to answer. Around it, in this order: the body size limit (413), the key (401), the kind
of key (403), the per-key rate limit (429 with ``Retry-After``), JSON (400) and schema (422)
checks, the ``Idempotency-Key`` replay, one transaction for the change and its records, and
problem+json for every error. The same registry feeds the router and the OpenAPI document, so
the schemas that validate requests are the ones published.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import inspect
import json
import logging
import math
import re
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import redis.asyncio
import rfc8785
from limits import parse, storage
from pydantic import BaseModel, ValidationError
from redis.commands.core import AsyncScript
from sqlalchemy import bindparam, true
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from portal.api.problems import problem
from portal.base import inputs
from portal.base.errors import FormErrors, NotFound
from portal.base.settings import Settings
from portal.platforms import clients
from portal.records import registry

logger = logging.getLogger("portal.api")

PREFIX = "/api/v1"
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


class ApiError(Exception):
    """An answer other than success: turned into problem+json."""

    def __init__(self, status: int, detail: str = "", *,
                 errors: list[dict[str, str]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail or HTTPStatus(status).phrase)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


def field_error(field_name: str, message: str, status: int = 422) -> ApiError:
    return ApiError(status, "The request breaks a rule",
                    errors=[{"field": field_name, "message": message}])


@dataclass
class Reply:
    """A success: ``body`` is serialised as JSON, ``raw`` is sent as it is, ``stream`` is sent
    as it is produced (after the request's session has closed: it reads through its own)."""

    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    stream: Iterable[str | bytes] | None = None
    media_type: str | None = None  # of a stream; the operation's content type by default


class _Sessions:
    """The request's database session, opened on first use: a hot read whose key is cached
    never builds one."""

    def __init__(self, bind: Any) -> None:
        self.bind = bind
        self.opened: Session | None = None

    def get(self) -> Session:
        if self.opened is None:
            self.opened = Session(self.bind, expire_on_commit=False)
        return self.opened

    def close(self) -> None:
        if self.opened is not None:
            self.opened.close()


@dataclass
class Call:
    sessions: _Sessions
    settings: Settings
    client: dict[str, Any]
    body: Any
    query: Any
    params: dict[str, str]
    headers: dict[str, str]
    engine: Any = None
    # The body as received, for an operation that reads a form (``Operation.form``).
    raw: bytes = b""

    @property
    def session(self) -> Session:
        return self.sessions.get()


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    name: str
    kind: str  # "platform" | "authority" | "public"
    summary: str
    handler: Callable[[Call], Any]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    description: str = ""
    content_type: str = "application/json"
    read_only: bool = False
    # False where an answer must not be stored for replay (clear personal data): an
    # Idempotency-Key is then ignored and every call runs.
    idempotency: bool = True
    # One primary-key read: answered on the event loop when the database is embedded and the
    # rate limits in memory (nothing then waits on a network), sparing the thread hop.
    hot: bool = False
    # A multipart/form-data body (the endpoint parses ``Call.raw``); its model documents it.
    form: type[BaseModel] | None = None
    # The body limit when it is not the settings' api_max_body_bytes (bodies carrying files).
    max_body: int = 0
    # A hot read as (a Core SELECT whose parameters are named after the path's, a function
    # turning its row, or None when there is none, into the Reply): read in the same statement
    # as the API key, on the event loop (see ``_hot``).
    hot_read: tuple[Any, Callable[[Any], Reply]] | None = None

    @property
    def writes(self) -> bool:
        return self.method != "GET" and not self.read_only


OPERATIONS: list[Operation] = []
Handler = Callable[[Call], Any]


def operation(method: str, path: str, *, name: str, kind: str, summary: str,
              body: type[BaseModel] | None = None, query: type[BaseModel] | None = None,
              response: type[BaseModel] | None = None, status: int = 200,
              errors: tuple[int, ...] = (), description: str = "",
              content_type: str = "application/json", read_only: bool = False,
              idempotency: bool = True, hot: bool = False, form: type[BaseModel] | None = None,
              max_body: int = 0, hot_read: tuple[Any, Callable[[Any], Reply]] | None = None
              ) -> Callable[[Handler], Handler]:
    """Register an endpoint under /api/v1 (``path`` without the prefix)."""

    def register(handler: Handler) -> Handler:
        if any(op.name == name for op in OPERATIONS):
            raise ValueError(f"operation {name!r} registered twice")
        OPERATIONS.append(Operation(
            method=method, path=path, name=name, kind=kind, summary=summary, handler=handler,
            body=body, query=query, response=response, status=status, errors=errors,
            description=description or inspect.cleandoc(handler.__doc__ or ""),
            content_type=content_type, read_only=read_only, idempotency=idempotency,
            hot=hot and method == "GET", form=form, max_body=max_body,
            hot_read=hot_read if hot and method == "GET" else None))
        return handler

    return register


# --- Rate limits ------------------------------------------------------------------------------


class _CounterStorage(storage.MemoryStorage):
    """`limits`' memory storage, less the thread it starts every 10 ms under load to drop
    expired entries (under load that cost more CPU than the rest of a request). Fixed windows
    need no sweeping: ``get`` drops a counter whose window is over, and there is one counter
    per API key."""

    def incr(self, key: str, expiry: float, amount: int = 1, **_: Any) -> int:
        self.get(key)
        with self.locks[key]:
            self.storage[key] += amount
            if self.storage[key] == amount:
                self.expirations[key] = time.time() + expiry
        return int(self.storage.get(key, 0))


# The counter as `limits`' Redis storage keeps it (its incr script: the first hit of a window
# sets the expiry), read back with its time to live in the same round trip.
_INCR_AND_TTL = """
local current = redis.call('incrby', KEYS[1], 1)
if current == 1 then
    redis.call('expire', KEYS[1], ARGV[1])
end
return {current, redis.call('ttl', KEYS[1])}
"""


class Limits:
    """Per-key fixed windows (the `limits` package): in memory, or shared through Redis."""

    def __init__(self, settings: Settings) -> None:
        url = settings.redis_url
        self.memory = None if url else _CounterStorage()
        self.redis = storage.RedisStorage(url) if url else None
        self.rule = parse(settings.rate_limit)
        self.window = self.rule.get_expiry()
        self.policy = f'"default";q={self.rule.amount};w={self.window}'
        self.keys: dict[int, str] = {}
        self.redis_url = url
        # The verification read counts through Redis's asyncio client, one per event loop (a
        # connection belongs to the loop that opened it: uvicorn has one a process, a test
        # client one for each ``with``).
        self.on_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncScript] = \
            weakref.WeakKeyDictionary()

    def hit(self, key_id: int) -> tuple[bool, dict[str, str]]:
        """Count a request; return whether it is allowed and the RateLimit headers."""
        if self.memory is not None:
            # In memory, the counter's own numbers: what FixedWindowRateLimiter.hit and
            # get_window_stats compute from it, without building the key three times.
            key = self.keys.get(key_id)
            if key is None:
                if len(self.keys) > 100_000:
                    self.keys.clear()
                key = self.keys[key_id] = self.rule.key_for("api", str(key_id))
            count = self.memory.incr(key, self.window)
            return self._verdict(count, self.memory.expirations.get(key, time.time()))
        # Redis: what FixedWindowRateLimiter.hit and get_window_stats read, in two calls.
        assert self.redis is not None
        key = self.rule.key_for("api", str(key_id))
        return self._verdict(self.redis.incr(key, self.window), self.redis.get_expiry(key))

    async def hit_on_loop(self, key_id: int) -> tuple[bool, dict[str, str]]:
        """``hit`` without leaving the event loop: in memory as ``hit`` does; with Redis, one
        round trip of the asyncio client instead of the blocking client in the thread pool."""
        if self.redis is None:
            return self.hit(key_id)
        loop = asyncio.get_running_loop()
        script = self.on_loop.get(loop)
        if script is None:
            client = redis.asyncio.Redis.from_url(self.redis_url)
            script = self.on_loop[loop] = client.register_script(_INCR_AND_TTL)
        key = self.redis.prefixed_key(self.rule.key_for("api", str(key_id)))
        count, ttl = await script(keys=[key], args=[self.window])
        return self._verdict(int(count), time.time() + max(int(ttl), 0))

    async def close_on_loop(self) -> None:
        """Close this event loop's Redis connections (the app's shutdown)."""
        script = self.on_loop.pop(asyncio.get_running_loop(), None)
        if script is not None:
            await script.registered_client.aclose()

    def _verdict(self, count: int, reset_at: float) -> tuple[bool, dict[str, str]]:
        """Whether the ``count``-th request of the window is allowed, and its headers."""
        allowed = count <= self.rule.amount
        remaining = self.rule.amount - count
        reset = max(0, math.ceil(reset_at - time.time()))
        headers = {
            "RateLimit-Policy": self.policy,
            "RateLimit": f'"default";r={max(0, remaining)};t={reset}',
        }
        if not allowed:
            headers["Retry-After"] = str(max(1, reset))
        return allowed, headers


# --- Request handling -------------------------------------------------------------------------


def _unauthorized() -> ApiError:
    return ApiError(401, "A valid API key is needed (Authorization: Bearer <key>)",
                    headers={"WWW-Authenticate": 'Bearer realm="portal"'})


def _validation_errors(exc: ValidationError) -> list[dict[str, str]]:
    errors = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "body"
        errors.append({"field": where, "message": error["msg"]})
    return errors


# I-JSON (RFC 7493 §2.2): integers beyond ±(2^53 - 1) are refused, whatever the field, so
# that none reaches the database (SQLite and PostgreSQL stop at 2^63 - 1) or a JSON reader
# that holds numbers as doubles. The OpenAPI document states these bounds on every integer.
SAFE_INTEGER = 2**53 - 1


def unsafe_integer(value: Any, where: str) -> str | None:
    """The dotted path of the first integer out of range in a validated value, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return where if abs(value) > SAFE_INTEGER else None
    items: Any = ()
    if isinstance(value, BaseModel):
        items = ((name, getattr(value, name)) for name in type(value).model_fields)
    elif isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    for key, item in items:
        found = unsafe_integer(item, f"{where}.{key}" if where else str(key))
        if found is not None:
            return found
    return None


def _validate(model: type[BaseModel], data: Any) -> BaseModel:
    try:
        value = model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, "The request does not match the schema",
                       errors=_validation_errors(exc)) from None
    where = unsafe_integer(value, "")
    if where is not None:
        raise field_error(where, f"Integers must be between -{SAFE_INTEGER} and {SAFE_INTEGER}")
    return value


def _bearer(headers: dict[str, str]) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"The body may be at most {limit} bytes")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"The body may be at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _idempotent_replay(session: Session, client_id: int, key: str, digest: str
                       ) -> Reply | None:
    record = session.exec(select(clients.IdempotencyRecord).where(
        clients.IdempotencyRecord.client_id == client_id,
        clients.IdempotencyRecord.key == key)).first()
    if record is None:
        return None
    if record.request_hash != digest:
        raise ApiError(422, "This Idempotency-Key was already used for a different request",
                       errors=[{"field": "Idempotency-Key",
                                "message": "already used for a different request"}])
    return Reply(status=record.status_code, raw=record.body.encode(),
                 headers={"Idempotent-Replayed": "true"})


def _canonical(data: Any, raw_body: bytes) -> bytes:
    """What an Idempotency-Key's request is compared by: a JSON body in its RFC 8785 form
    (the same JSON with its keys in another order or other spacing is the same request), any
    other body as sent."""
    if data is None:
        return raw_body
    try:
        return rfc8785.dumps(data)
    except (rfc8785.CanonicalizationError, ValueError):  # beyond I-JSON: compared as sent
        return raw_body


def _check_text(params: dict[str, str], query: dict[str, str]) -> None:
    """The input rule on the path's values and the query string: no control characters."""
    for where in (params, query):
        for name, value in where.items():
            if inputs.has_control(name) or inputs.has_control(value):
                raise field_error(inputs.strip_control(name) or "query",
                                  "Control characters are not allowed", status=400)


def _encode(reply: Reply) -> bytes:
    if reply.raw is not None:
        return reply.raw
    return json.dumps(reply.body, ensure_ascii=False, separators=(",", ":")).encode()


def _run(op: Operation, app_state: Any, headers: dict[str, str], params: dict[str, str],
         query: dict[str, str], raw_body: bytes, limit_headers: dict[str, str]) -> Reply:
    settings: Settings = app_state.settings
    engine = app_state.engine
    sessions = _Sessions(engine.execution_options(sqlite_begin="IMMEDIATE") if op.writes
                         else engine)
    try:
        client: dict[str, Any] = {}
        if op.kind != "public":
            key = _bearer(headers)
            found = (clients.cached_client(key) or clients.authenticate(sessions.get(), key)
                     if key else None)
            if found is None:
                raise _unauthorized()
            if found["kind"] != op.kind:
                raise ApiError(403, f"This endpoint is for {op.kind} keys")
            client = found
            allowed, rate = app_state.api_limits.hit(found["key_id"])
            limit_headers.update(rate)
            if not allowed:
                raise ApiError(429, "Too many requests for this key; slow down",
                               headers={"Retry-After": rate["Retry-After"]})
        _check_text(params, query)
        body = None
        data = None
        if op.body is not None:
            if raw_body and not inputs.is_json_type(headers.get("content-type")):
                raise ApiError(415, "The body must be sent as application/json",
                               headers={"Accept-Post": "application/json"})
            if not raw_body:
                raise ApiError(400, "The body must be a JSON object")
            try:
                data = inputs.load_json(raw_body)
            except inputs.InputRefused as exc:
                if exc.field == "body":
                    raise ApiError(400, exc.message) from None
                raise field_error(exc.field, exc.message) from None
            body = _validate(op.body, data)
        parsed_query = _validate(op.query, query) if op.query is not None else None
        idem_key = headers.get("idempotency-key")
        digest = ""
        if (op.writes and op.idempotency and op.method == "POST" and idem_key is not None
                and client):
            if not IDEMPOTENCY_KEY.match(idem_key):
                raise field_error("Idempotency-Key",
                                  "1 to 255 visible ASCII characters")
            # Keyed: a body may hold an identity number, which a plain hash would let anyone
            # with the table guess back.
            digest = hmac.new(
                settings.secret("secret_key").encode(),
                f"{op.method} {op.path} {json.dumps(params, sort_keys=True)}\n".encode()
                + _canonical(data, raw_body), hashlib.sha256).hexdigest()
            replay = _idempotent_replay(sessions.get(), client["id"], idem_key, digest)
            if replay is not None:
                return replay
        call = Call(sessions=sessions, settings=settings, client=client, body=body,
                    query=parsed_query, params=params, headers=headers, engine=engine,
                    raw=raw_body if op.form is not None else b"")
        result = op.handler(call)
        reply = result if isinstance(result, Reply) else Reply(body=result, status=op.status)
        if op.writes:
            session = sessions.get()
            if digest:
                session.add(clients.IdempotencyRecord(
                    client_id=client["id"], key=idem_key or "", request_hash=digest,
                    status_code=reply.status, body=_encode(reply).decode()))
            try:
                session.commit()
            except IntegrityError:
                # The same key committed by a concurrent request a moment ago: answer as it did.
                session.rollback()
                if digest:
                    replay = _idempotent_replay(session, client["id"], idem_key or "", digest)
                    if replay is not None:
                        return replay
                raise
        return reply
    finally:
        sessions.close()

# --- Hot reads ----------------------------------------------------------------------------------
#
# Platforms ask before every stream. An operation with ``hot_read`` is answered on the event loop
# by one statement that reads the API key (with its client) and the answer together: the key is
# still read from the database on every call, so a revoked key stops at once in every process,
# and the connection is held for that one read only. SQLite reads through this thread's own
# connection (records.registry); PostgreSQL through a few autocommit psycopg connections of the
# event loop (``_Readers``), with psycopg's prepared statements. What the fast path does not
# cover (no key or a malformed one, a control character in the path or query) goes through
# ``_run`` as every other call, so every answer but the common one comes from one place. With a
# read replica (``app.state.read_engine``), the key is still read from the primary (a revocation
# must not wait for the replica's lag) and the answer from the read engine, which picks the
# replica or, when it is down or lags, the primary.

HOT_CONNECTIONS = 8  # per process and event loop: reads wait for one beyond that


class _Readers:
    """A handful of autocommit psycopg connections for one event loop, opened on demand.

    Not psycopg_pool's AsyncConnectionPool: that one runs tasks of its own in the loop and
    outlives it when the loop is gone (a test client may start a loop per request); these are
    plain connections kept in a list, closed with the loop."""

    def __init__(self, conninfo: str, size: int, prepare_threshold: int | None) -> None:
        self.conninfo = conninfo
        self.prepare_threshold = prepare_threshold
        self.idle: list[Any] = []
        self.slots = asyncio.Semaphore(size)

    async def fetchone(self, sql: str, params: Any) -> Any:
        import psycopg

        async with self.slots:
            for attempt in (1, 2):
                reused = bool(self.idle)
                conn = self.idle.pop() if reused else await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True, prepare_threshold=self.prepare_threshold)
                try:
                    cursor = conn.cursor()
                    await cursor.execute(sql, params)
                    row = await cursor.fetchone()
                    await cursor.close()
                except psycopg.OperationalError:
                    await conn.close()
                    if reused and attempt == 1:  # a connection the server closed: once more
                        continue
                    raise
                except BaseException:
                    # Cancelled or failed mid-read: the connection's state is unknown.
                    await conn.close()
                    raise
                self.idle.append(conn)
                return row
        raise AssertionError("unreachable")


    def finish(self) -> None:
        """Close every idle connection at once (the loop they belong to is gone)."""
        while self.idle:
            conn = self.idle.pop()  # held while it closes: psycopg warns of one deleted open
            conn.pgconn.finish()


# Per event loop (by id, dropped with the loop by a finalizer that closes its connections).
_READERS: dict[int, dict[str, _Readers]] = {}


def _drop_readers(loop_id: int) -> None:
    for readers in _READERS.pop(loop_id, {}).values():
        readers.finish()


def _readers(engine: Any) -> _Readers:
    loop = asyncio.get_running_loop()
    mine = _READERS.get(id(loop))
    if mine is None:
        mine = _READERS[id(loop)] = {}
        weakref.finalize(loop, _drop_readers, id(loop))
    conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    found = mine.get(conninfo)
    if found is None:
        found = mine[conninfo] = _Readers(conninfo, HOT_CONNECTIONS, _prepare_threshold(engine))
    return found


_THRESHOLDS: weakref.WeakKeyDictionary[Any, tuple[int | None]] = weakref.WeakKeyDictionary()


def _prepare_threshold(engine: Any) -> int | None:
    """psycopg's prepare_threshold on the engine's own connections (None behind PgBouncer in
    transaction mode, ``?pgbouncer=true``), asked once of a pooled connection."""
    found = _THRESHOLDS.get(engine)
    if found is None:
        raw = engine.raw_connection()
        try:
            found = _THRESHOLDS[engine] = (raw.dbapi_connection.prepare_threshold,)
        finally:
            raw.close()
    return found[0]


_KEYS = clients.ApiKey.__table__  # type: ignore[attr-defined]
_CLIENTS = clients.ApiClient.__table__  # type: ignore[attr-defined]
_HOT_SQL: dict[tuple[str, str], tuple[str, tuple[str, ...] | None]] = {}


def _hot_sql(op: Operation, dialect: Any) -> tuple[str, tuple[str, ...] | None]:
    """The key's read and ``op``'s in one statement, compiled once per database: its SQL and,
    for positional parameters, their names in order."""
    found = _HOT_SQL.get((op.name, dialect.name))
    if found is None:
        assert op.hot_read is not None
        read = op.hot_read[0].subquery("hot")
        statement = core_select(
            _KEYS.c.id, _KEYS.c.key_hash, _KEYS.c.revoked_at, _CLIENTS.c.id, _CLIENTS.c.name,
            _CLIENTS.c.kind, _CLIENTS.c.jurisdiction, _CLIENTS.c.revoked_at, *read.c,
        ).select_from(
            _KEYS.join(_CLIENTS, _CLIENTS.c.id == _KEYS.c.client_id).outerjoin(read, true())
        ).where(_KEYS.c.prefix == bindparam("prefix"))
        compiled = statement.compile(dialect=dialect)
        names = tuple(compiled.positiontup or ()) if compiled.positional else None
        found = _HOT_SQL[(op.name, dialect.name)] = (str(compiled), names)
    return found


@functools.lru_cache(maxsize=256)
def _digest(key: str) -> str:
    """A presented key's SHA-256 (what is stored), remembered for the keys in use: only the
    hash is kept, never whether the key is valid, which is read on every call."""
    return clients.hash_key(key)


def _plain(values: Iterable[str]) -> bool:
    return not any(inputs.has_control(v) for v in values)


async def _hot(op: Operation, state: Any, headers: dict[str, str], params: dict[str, str],
               query: dict[str, str], limit_headers: dict[str, str]) -> Reply | None:
    """``op``'s answer by its hot read, or None for a call the fast path leaves to ``_run``."""
    assert op.hot_read is not None
    key = _bearer(headers)
    # The input rule at the edge: the statement below sees only values without control
    # characters (so no NUL reaches the database); anything else takes the common path.
    if (key is None or not key.startswith(clients.KEY_PREFIX) or len(key) > 200
            or not _plain((key, *params.values(), *query.keys(), *query.values()))):
        return None
    # The key is read from the primary: a revocation must stop it at once, which a replica's
    # lag would not.
    engine = state.engine
    sql, names = _hot_sql(op, engine.dialect)
    values = {"prefix": key[:clients.PREFIX_LENGTH], **params}
    if engine.dialect.name == "sqlite":
        cursor = registry.sqlite_reader(engine).execute(
            sql, tuple(values[n] for n in names) if names is not None else values)
        row = cursor.fetchone()
        cursor.close()
    else:
        row = await _readers(engine).fetchone(
            sql, tuple(values[n] for n in names) if names is not None else values)
    if (row is None or not hmac.compare_digest(row[1], _digest(key))
            or row[2] is not None or row[7] is not None):
        raise _unauthorized()
    if row[5] != op.kind:
        raise ApiError(403, f"This endpoint is for {op.kind} keys")
    allowed, rate = await state.api_limits.hit_on_loop(row[0])
    limit_headers.update(rate)
    if not allowed:
        raise ApiError(429, "Too many requests for this key; slow down",
                       headers={"Retry-After": rate["Retry-After"]})
    reader = getattr(state, "read_engine", engine)
    if reader is not engine:
        # A streaming replica serves the answer (the read engine picks it, or the primary when
        # it is down or lags): through its pool, in the thread pool, for this read only.
        return await run_in_threadpool(_replica_read, op, reader, params)
    return op.hot_read[1](row[8:])


def _replica_read(op: Operation, reader: Any, params: dict[str, str]) -> Reply:
    assert op.hot_read is not None
    with reader.connect() as conn:
        row = conn.execute(op.hot_read[0], params).first()
    return op.hot_read[1](row)


def _problem(exc: ApiError, limit_headers: dict[str, str]) -> Response:
    return problem(exc.status, exc.detail, errors=exc.errors,
                   headers={**limit_headers, **exc.headers})


async def _answer(op: Operation, state: Any, headers: dict[str, str], params: dict[str, str],
                  query: dict[str, str], raw: bytes) -> Response:
    """The response to one call of ``op``: the pipeline in ``_run``, its errors as problems."""
    limit_headers: dict[str, str] = {}
    try:
        reply = None
        if op.hot_read is not None:
            reply = await _hot(op, state, headers, params, query, limit_headers)
        if reply is not None:
            pass  # answered by the hot read
        elif op.hot and state.local_reads:
            reply = _run(op, state, headers, params, query, raw, limit_headers)
        else:
            reply = await run_in_threadpool(_run, op, state, headers, params, query, raw,
                                            limit_headers)
    except ApiError as exc:
        return _problem(exc, limit_headers)
    except FormErrors as exc:
        return problem(422, "The request breaks a rule",
                       errors=[{"field": k, "message": str(v)}
                               for k, v in exc.errors.items()],
                       headers=limit_headers)
    except NotFound:
        return problem(404, headers=limit_headers)
    except inputs.InputRefused as exc:  # the database's guard: a value no check above saw
        return problem(400, exc.message, errors=[{"field": exc.field, "message": exc.message}],
                       headers=limit_headers)
    out_headers = {**limit_headers, **reply.headers, "Cache-Control": "no-store"}
    if reply.status == 204:
        return Response(status_code=204, headers=out_headers)
    if reply.stream is not None:
        return StreamingResponse(reply.stream, status_code=reply.status, headers=out_headers,
                                 media_type=reply.media_type or op.content_type)
    return Response(_encode(reply), status_code=reply.status, headers=out_headers,
                    media_type=op.content_type)


def endpoint(op: Operation) -> Callable[[Request], Any]:
    async def handle(request: Request) -> Response:
        try:
            raw = b""
            if op.method != "GET":
                raw = await _read_body(request, op.max_body
                                       or request.app.state.settings.api_max_body_bytes)
        except ApiError as exc:
            return problem(exc.status, exc.detail, errors=exc.errors, headers=exc.headers)
        headers = {k.lower(): v for k, v in request.headers.items()}
        params = {k: str(v) for k, v in request.path_params.items()}
        return await _answer(op, request.app.state, headers, params,
                             dict(request.query_params), raw)

    handle.__name__ = op.name
    return handle


def hot_app(op: Operation) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """``op`` (a GET) as a plain ASGI app, for ``portal.app.HotRoutes``: what ``endpoint``
    does, read straight from the ASGI scope (no Request object, no exception wrapping: an
    unexpected error goes up to the server's error middleware)."""

    content_type = op.content_type.encode("latin-1")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        # ASGI header names are lower case already.
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        params = {k: str(v) for k, v in scope["path_params"].items()}
        query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)) \
            if scope["query_string"] else {}
        state = scope["app"].state
        if op.hot_read is not None:
            limit_headers: dict[str, str] = {}
            try:
                reply = await _hot(op, state, headers, params, query, limit_headers)
            except ApiError as exc:
                await _problem(exc, limit_headers)(scope, receive, send)
                return
            if reply is not None and reply.raw is not None and not reply.headers:
                # The answer as Starlette's Response would send it (same headers, same order),
                # without building one.
                await send({"type": "http.response.start", "status": reply.status, "headers": [
                    (b"content-length", str(len(reply.raw)).encode()),
                    (b"content-type", content_type),
                    *((k.lower().encode("latin-1"), v.encode("latin-1"))
                      for k, v in limit_headers.items()),
                    (b"cache-control", b"no-store")]})
                await send({"type": "http.response.body", "body": reply.raw})
                return
        response = await _answer(op, state, headers, params, query, b"")
        await response(scope, receive, send)

    return app


def routes() -> list[Route]:
    """Routes for every registered operation (import the endpoint modules first)."""
    # Paths without parameters first: ``/registrations/verify`` (POST) before
    # ``/registrations/{number}`` (GET), so that a 405 there names the methods of the path as
    # written (``Allow: POST``); every request that matched a route before still does.
    ordered = sorted(OPERATIONS, key=lambda op: "{" in op.path)
    return [Route(PREFIX + op.path, endpoint(op), methods=[op.method], name=f"api:{op.name}")
            for op in ordered]
