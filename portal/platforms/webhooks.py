"""Webhooks: outbox events delivered to each platform's URL, signed by Standard Webhooks.

Three steps, each safe in several processes at once, each keeping its state in the database so a
restart loses nothing:

1. **Fan-out** (``fan_out``): for every active platform with a webhook, the outbox events after
   its cursor that it may see (``events.visible_to_platform``) become deliveries and the cursor
   moves past them, in one transaction. PostgreSQL: the client rows are locked ``FOR UPDATE SKIP
   LOCKED``, so two processes never fan out the same client; SQLite: the transaction holds the
   database's single write lock (``BEGIN IMMEDIATE``).
2. **Claim**: due deliveries are leased to one worker by setting ``locked_until`` (PostgreSQL
   ``FOR UPDATE SKIP LOCKED``, SQLite the write lock) and committing. A worker that dies holding
   a lease only delays its deliveries until the lease ends.
3. **Send**: each claimed delivery is POSTed outside any transaction, through
   ``outbound.pinned_connection`` (the address checked is the address connected to), signed by
   the Standard Webhooks scheme; the attempt is recorded and the lease released, with the next
   try scheduled by exponential backoff with full jitter, or the delivery given up after
   ``PORTAL_WEBHOOK_MAX_ATTEMPTS``.

Delivery is at least once: a worker that dies after sending but before recording lets the lease
expire and the event is sent again, with the same ``webhook-id`` (``evt_<event id>``) so the
receiver can drop the duplicate.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import logging
import random
import secrets
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, UniqueConstraint, and_, func, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select
from standardwebhooks import Webhook

from portal.base import outbound
from portal.base.crypto import DecryptionError, cipher_for
from portal.base.db import UTCDateTime, session_scope, utcnow
from portal.base.errors import FormErrors, NotFound
from portal.base.i18n import gettext as _
from portal.base.settings import Settings
from portal.ledger.events import OutboxEvent, event_json, visible_to_platform
from portal.platforms.clients import ApiClient

logger = logging.getLogger("portal.platforms.webhooks")

STATES = ("pending", "delivered", "failed")
SECRET_PREFIX = "whsec_"  # noqa: S105  (the Standard Webhooks prefix, not a secret)
SECRET_BYTES = 32
URL_MAX_LENGTH = 500  # ApiClient.webhook_url
# A claimed delivery is the worker's for this long at least (more with a long request timeout).
LEASE_SECONDS = 60.0
# Backoff: up to 5 s after the first failure, doubling, never more than an hour.
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 3600.0
BACKOFF_MIN_SECONDS = 1.0
# Events turned into deliveries per client in one fan-out transaction.
FAN_OUT_BATCH = 1000
# Claims per `run` (cron, the server's loop): at most this many batches, then wait for the next.
MAX_ROUNDS = 100
MAX_ERROR_CHARS = 500
USER_AGENT = "livestream-portal-webhooks"


class WebhookDelivery(SQLModel, table=True):
    """One event for one platform: retried with backoff until delivered or given up."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("client_id", "event_id"),)

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="api_clients.id", index=True)
    event_id: int = Field(foreign_key="outbox.id", index=True)
    # pending | delivered | failed
    state: str = Field(default="pending", max_length=16, index=True)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    # A worker that took the delivery holds it until then (so no two send it at once).
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status: int | None = Field(default=None)
    last_error: str = Field(default="")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebhookAttempt(SQLModel, table=True):
    __tablename__ = "webhook_attempts"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="webhook_deliveries.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    status_code: int | None = Field(default=None)
    error: str = Field(default="")
    duration_ms: int = Field(default=0)


# --- configuration ----------------------------------------------------------------------------


def secret_context(client_id: int | None) -> bytes:
    return f"api_client:{client_id}:webhook_secret".encode()


def new_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_of(settings: Settings, client: ApiClient) -> str | None:
    """The client's signing secret in clear (for signing; never shown again)."""
    if client.webhook_secret is None:
        return None
    return cipher_for(settings).decrypt_text(
        client.webhook_secret, context=secret_context(client.id))


def store_secret(settings: Settings, client: ApiClient) -> str:
    secret = new_secret()
    client.webhook_secret = cipher_for(settings).encrypt_text(
        secret, context=secret_context(client.id))
    return secret


def _refuse(message: str) -> NoReturn:
    raise FormErrors({"webhook_url": message})


def check_webhook_url(
    url: str, settings: Settings, *, resolve: outbound.Resolver = socket.getaddrinfo
) -> str:
    """Check a webhook URL as an administrator typed it; raise FormErrors({"webhook_url"}).

    http or https, a host that resolves, and only public addresses unless
    ``PORTAL_OUTBOUND_ALLOW`` covers them (DESIGN §5). Delivery checks again before every
    request, since the name may resolve elsewhere by then.
    """
    url = url.strip()
    example = _("Enter a web address such as https://platform.example.com/webhooks")
    if len(url) > URL_MAX_LENGTH:
        _refuse(_("Write %(max)d characters or fewer", max=URL_MAX_LENGTH))
    if not url.isascii():
        _refuse(_("Write the address in ASCII: an international domain name in its xn-- form, "
                  "other characters percent-encoded"))
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        _refuse(example)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        _refuse(example)
    if parts.scheme.lower() not in outbound.SCHEMES or not parts.hostname:
        _refuse(example)
    if "@" in parts.netloc:
        _refuse(_("The address must not contain a user name or password"))
    outbound.parse_allow(settings.outbound_allow)  # a broken setting is the server's fault
    resolved = False

    def resolve_noted(*args: Any, **kwargs: Any) -> Sequence[tuple[Any, ...]]:
        nonlocal resolved
        infos = resolve(*args, **kwargs)
        resolved = bool(infos)
        return infos

    try:
        outbound.check_url(url, settings.outbound_allow, resolve=resolve_noted)
    except outbound.OutboundRefused:
        if not resolved:
            _refuse(_("The server %(host)s cannot be found: check the address",
                      host=parts.hostname))
        _refuse(_("This address is private, loopback or link-local: webhooks go only to "
                  "public addresses"))
    return url


def _outbox_end(session: Session) -> int:
    return int(session.exec(select(func.max(OutboxEvent.id))).one() or 0)


def configure(
    session: Session, settings: Settings, client: ApiClient, url: str,
    *, resolve: outbound.Resolver = socket.getaddrinfo,
) -> str | None:
    """Set, change or (with an empty URL) remove a platform's webhook. The caller commits.

    Setting a URL where there was none makes a new signing secret and returns it in clear, the
    only time it is seen (it is stored encrypted); the platform then receives the events from
    now on (the rest are in its events feed). Changing the URL keeps the secret and returns
    None; so does removing it (which also forgets the secret). Deliveries still pending go to
    the URL in force when they are sent, or are given up if there is none.
    """
    if client.kind != "platform":
        _refuse(_("Only platforms receive webhooks: leave this empty"))
    if not client.active:
        _refuse(_("This client has been revoked"))
    url = (url or "").strip()
    if not url:
        client.webhook_url = ""
        client.webhook_secret = None
        session.add(client)
        session.flush()
        return None
    url = check_webhook_url(url, settings, resolve=resolve)
    secret = None
    if not client.webhook_url or client.webhook_secret is None:
        secret = store_secret(settings, client)
        client.webhook_cursor = _outbox_end(session)
    client.webhook_url = url
    session.add(client)
    session.flush()
    return secret


def rotate_secret(session: Session, settings: Settings, client: ApiClient) -> str:
    """Replace the signing secret; return the new one in clear (shown once). The caller commits.

    Every request from the commit on, retries included, is signed with the new secret only.
    """
    if not client.active:
        _refuse(_("This client has been revoked"))
    if client.kind != "platform" or not client.webhook_url:
        _refuse(_("Set a webhook URL first"))
    secret = store_secret(settings, client)
    session.add(client)
    session.flush()
    return secret


# --- fan-out ----------------------------------------------------------------------------------


def _has_webhook() -> ColumnElement[bool]:
    return and_(col(ApiClient.kind) == "platform", col(ApiClient.revoked_at).is_(None),
                col(ApiClient.webhook_url) != "", col(ApiClient.webhook_secret).is_not(None))


def _fan_out_needed(session: Session) -> bool:
    end = select(func.max(OutboxEvent.id)).scalar_subquery()
    found = session.exec(select(ApiClient.id).where(_has_webhook(),
                                                    col(ApiClient.webhook_cursor) < end).limit(1))
    return found.first() is not None


def fan_out(session: Session, *, now: datetime | None = None, batch: int = FAN_OUT_BATCH) -> int:
    """Turn new outbox events into deliveries for every platform with a webhook; commit.

    Open the session with ``session_scope(engine, write=True)``: on SQLite that transaction
    holds the single write lock; on PostgreSQL each client row is locked ``FOR UPDATE SKIP
    LOCKED`` (a client another process is fanning out is left to it). At most ``batch`` events
    per client per call; the next call goes on from the cursor. Returns the deliveries made.
    """
    now = now or utcnow()
    made = 0
    query = (select(ApiClient).where(_has_webhook()).order_by(col(ApiClient.id))
             .with_for_update(skip_locked=True))
    for client in session.exec(query).all():
        cursor = client.webhook_cursor
        ids = session.exec(select(OutboxEvent.id).where(col(OutboxEvent.id) > cursor)
                           .order_by(col(OutboxEvent.id)).limit(batch)).all()
        if not ids:
            continue
        upper = int(ids[-1] or 0)
        visible = session.exec(
            select(OutboxEvent.id)
            .where(col(OutboxEvent.id) > cursor, col(OutboxEvent.id) <= upper,
                   visible_to_platform(client.id or 0))
            .order_by(col(OutboxEvent.id))
        ).all()
        for event_id in visible:
            session.add(WebhookDelivery(client_id=client.id or 0, event_id=event_id or 0,
                                        next_attempt_at=now))
        client.webhook_cursor = upper
        session.add(client)
        made += len(visible)
    session.commit()
    return made


# --- delivery ---------------------------------------------------------------------------------


@dataclass
class Report:
    queued: int = 0  # deliveries the fan-out made
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    released: int = 0  # claimed but left for the next round (time up, or stopping)

    @property
    def attempted(self) -> int:
        return self.delivered + self.retrying + self.failed

    def add(self, other: Report) -> None:
        for name in ("queued", "delivered", "retrying", "failed", "released"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def __str__(self) -> str:
        return (f"queued {self.queued}, delivered {self.delivered}, retrying {self.retrying}, "
                f"failed {self.failed}")


@dataclass
class _Job:
    """A claimed delivery and all that sending it needs, read inside the claim's transaction."""

    delivery_id: int
    attempts: int
    lease: datetime
    event_id: int
    payload: dict[str, Any]
    client_id: int
    url: str
    secret_blob: bytes


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(col(WebhookDelivery.state) == "pending",
                col(WebhookDelivery.next_attempt_at) <= now,
                or_(col(WebhookDelivery.locked_until).is_(None),
                    col(WebhookDelivery.locked_until) <= now))


def backoff(attempts: int, *, rng: random.Random | None = None) -> timedelta:
    """How long to wait after the ``attempts``-th failure: full jitter under a doubling cap."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0))
    delay = (rng or random).uniform(0, ceiling)
    return timedelta(seconds=max(BACKOFF_MIN_SECONDS, delay))


def lease_seconds(settings: Settings) -> float:
    """A lease long enough for at least a couple of requests at their time limit."""
    return max(LEASE_SECONDS, 4 * settings.webhook_timeout_seconds)


def claim(engine: Engine, settings: Settings, *, now: datetime, limit: int
           ) -> tuple[list[_Job], int]:
    """Lease up to ``limit`` due deliveries to this worker and commit; return what to send, and
    how many were given up at once because their platform no longer has a webhook."""
    with Session(engine) as session:  # most calls find nothing: look before taking the lock
        if session.exec(select(WebhookDelivery.id).where(_due(now)).limit(1)).first() is None:
            return [], 0
    lease = now + timedelta(seconds=lease_seconds(settings))
    jobs: list[_Job] = []
    given_up = 0
    with session_scope(engine, write=True) as session:
        rows = session.exec(
            select(WebhookDelivery).where(_due(now))
            .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
            .limit(limit).with_for_update(skip_locked=True)
        ).all()
        if not rows:
            return [], 0
        clients = {c.id: c for c in session.exec(
            select(ApiClient).where(col(ApiClient.id).in_({d.client_id for d in rows})))}
        events = {e.id: e for e in session.exec(
            select(OutboxEvent).where(col(OutboxEvent.id).in_({d.event_id for d in rows})))}
        for delivery in rows:
            client = clients[delivery.client_id]
            if not client.active or not client.webhook_url or client.webhook_secret is None:
                # Nowhere to send it any more: give it up, with the reason for the admin page.
                delivery.state = "failed"
                delivery.last_error = ("the client was revoked" if not client.active
                                       else "the platform's webhook was removed")
                session.add(delivery)
                given_up += 1
                continue
            delivery.locked_until = lease
            session.add(delivery)
            jobs.append(_Job(
                delivery_id=delivery.id or 0, attempts=delivery.attempts, lease=lease,
                event_id=delivery.event_id, payload=event_json(events[delivery.event_id]),
                client_id=client.id or 0, url=client.webhook_url,
                secret_blob=bytes(client.webhook_secret),
            ))
        session.commit()
    return jobs, given_up


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    return (f"{name}: {text}" if text else name)[:MAX_ERROR_CHARS]


def _post(connection: http.client.HTTPConnection, target: str, body: bytes,
          headers: dict[str, str], timeout: float) -> tuple[int | None, str]:
    """POST once; the status, or None and what went wrong. ``timeout`` bounds the exchange.

    The socket's own timeout bounds each read; a watchdog also shuts the socket when the whole
    exchange takes longer, so a server that trickles its answer cannot hold the worker.
    """
    expired = threading.Event()

    def abort() -> None:
        expired.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(timeout, abort)
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request("POST", target, body=body, headers=headers)
        # Only the status counts: the body is never read (an answer that keeps the connection
        # open after its headers must not make a delivered event look failed).
        return connection.getresponse().status, ""
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if expired.is_set() or isinstance(exc, TimeoutError):
            return None, f"no answer within the time limit of {timeout:g} s"
        return None, _describe(exc)
    finally:
        watchdog.cancel()
        connection.close()


def _send(job: _Job, settings: Settings, *, resolve: outbound.Resolver
          ) -> tuple[int | None, str]:
    """Sign and POST one event; the HTTP status, or None and the error (never the secret)."""
    try:
        secret = cipher_for(settings).decrypt_text(
            job.secret_blob, context=secret_context(job.client_id))
    except DecryptionError:
        return None, "the signing secret cannot be decrypted (was the data key replaced?)"
    body = json.dumps(job.payload, ensure_ascii=False, separators=(",", ":"))
    msg_id = f"evt_{job.event_id}"
    # The real clock, whatever `now` the caller scheduled with: receivers refuse a signature
    # whose timestamp is more than a few minutes off their own clock.
    timestamp = int(time.time())
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), body)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }
    timeout = settings.webhook_timeout_seconds
    try:
        connection, target = outbound.pinned_connection(
            job.url, settings.outbound_allow, timeout=timeout, resolve=resolve)
    except outbound.OutboundRefused as exc:
        return None, f"refused: {exc}"[:MAX_ERROR_CHARS]
    return _post(connection, target, body.encode("utf-8"), headers, timeout)


def _record(engine: Engine, settings: Settings, job: _Job, *, now: datetime,
            status: int | None, error: str, duration_ms: int) -> str:
    """Record the attempt and release the lease; return the delivery's new state."""
    attempts = job.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "locked_until": None,
                              "last_status": status, "last_error": error}
    if status is not None and 200 <= status < 300:
        values.update(state="delivered", delivered_at=now, last_error="")
    elif attempts >= settings.webhook_max_attempts:
        values.update(state="failed")
    else:
        values.update(state="pending", next_attempt_at=now + backoff(attempts))
    if status is not None and not error and values["state"] != "delivered":
        values["last_error"] = f"HTTP {status}"
    with session_scope(engine, write=True) as session:
        session.add(WebhookAttempt(delivery_id=job.delivery_id, at=now, status_code=status,
                                   error=values["last_error"], duration_ms=duration_ms))
        # Only while the lease is still ours: after it ran out, another worker may own the row.
        session.exec(update(WebhookDelivery)
                     .where(col(WebhookDelivery.id) == job.delivery_id,
                            col(WebhookDelivery.locked_until) == job.lease)
                     .values(**values))
        session.commit()
    return str(values["state"])


def _release(engine: Engine, jobs: Sequence[_Job]) -> None:
    if not jobs:
        return
    with session_scope(engine, write=True) as session:
        session.exec(update(WebhookDelivery)
                     .where(col(WebhookDelivery.id).in_([j.delivery_id for j in jobs]),
                            col(WebhookDelivery.locked_until) == jobs[0].lease)
                     .values(locked_until=None))
        session.commit()


def deliver_due(
    engine: Engine, settings: Settings, *, now: datetime | None = None, limit: int = 50,
    resolve: outbound.Resolver = socket.getaddrinfo, stop: threading.Event | None = None,
) -> Report:
    """Fan out new events, then send up to ``limit`` due deliveries once each.

    ``now`` is the time deliveries are judged due, attempts recorded and retries scheduled
    from (tests move it forward instead of sleeping; by default the real time of each step);
    signatures always carry the real time. ``stop`` (set when
    the server shuts down) ends the round early, handing unsent claims back.
    """
    fixed = now
    now = now or utcnow()
    report = Report()
    with Session(engine) as session:
        needed = _fan_out_needed(session)
    if needed:
        with session_scope(engine, write=True) as session:
            report.queued = fan_out(session, now=now)
    jobs, report.failed = claim(engine, settings, now=now, limit=limit)
    started = time.monotonic()
    # Leave room for one more request at its time limit before the lease runs out.
    budget = lease_seconds(settings) - 2 * settings.webhook_timeout_seconds
    for index, job in enumerate(jobs):
        if (stop is not None and stop.is_set()) or time.monotonic() - started > budget:
            _release(engine, jobs[index:])
            report.released = len(jobs) - index
            break
        begun = time.monotonic()
        status, error = _send(job, settings, resolve=resolve)
        duration_ms = int((time.monotonic() - begun) * 1000)
        state = _record(engine, settings, job, now=fixed or utcnow(), status=status,
                        error=error, duration_ms=duration_ms)
        if state == "delivered":
            report.delivered += 1
        elif state == "failed":
            report.failed += 1
            logger.warning("webhook delivery %d to client %d given up: %s",
                           job.delivery_id, job.client_id, error or f"HTTP {status}")
        else:
            report.retrying += 1
    return report


def run(
    engine: Engine, settings: Settings, *, now: datetime | None = None, limit: int = 50,
    resolve: outbound.Resolver = socket.getaddrinfo, stop: threading.Event | None = None,
) -> Report:
    """Send everything due now, batch after batch (``portal webhooks run``, the server's loop)."""
    total = Report()
    for _round in range(MAX_ROUNDS):
        report = deliver_due(engine, settings, now=now, limit=limit, resolve=resolve, stop=stop)
        total.add(report)
        if report.attempted + report.released < limit or report.released or (
                stop is not None and stop.is_set()):
            break
    return total


# --- administration ---------------------------------------------------------------------------


def retry(session: Session, delivery_id: int, *, now: datetime | None = None
          ) -> WebhookDelivery:
    """Have a pending or given-up delivery attempted at once. The caller commits.

    A given-up delivery gets one more attempt: if that fails too, it is given up again.
    """
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise NotFound()
    if delivery.state == "delivered":
        raise FormErrors({"_": _("This event has already been delivered")})
    delivery.state = "pending"
    delivery.next_attempt_at = now or utcnow()
    session.add(delivery)
    session.flush()
    return delivery


def recent(
    session: Session, *, client_id: int | None = None, state: str | None = None,
    page: int = 1, per_page: int = 50,
) -> tuple[list[tuple[WebhookDelivery, OutboxEvent, ApiClient]], int]:
    """Deliveries, newest first, with their event and platform; and how many match."""
    conditions: list[ColumnElement[bool]] = []
    if client_id is not None:
        conditions.append(col(WebhookDelivery.client_id) == client_id)
    if state:
        conditions.append(col(WebhookDelivery.state) == state)
    total = int(session.exec(select(func.count()).select_from(WebhookDelivery)
                             .where(*conditions)).one())
    rows = session.exec(
        select(WebhookDelivery, OutboxEvent, ApiClient)
        .where(col(WebhookDelivery.event_id) == col(OutboxEvent.id),
               col(WebhookDelivery.client_id) == col(ApiClient.id), *conditions)
        .order_by(col(WebhookDelivery.id).desc())
        .offset((max(page, 1) - 1) * per_page).limit(per_page)
    ).all()
    return [(d, e, c) for d, e, c in rows], total


def attempts_of(session: Session, delivery_ids: Sequence[int]) -> dict[int, list[WebhookAttempt]]:
    """Each delivery's attempts, oldest first."""
    found: dict[int, list[WebhookAttempt]] = {i: [] for i in delivery_ids}
    if delivery_ids:
        for attempt in session.exec(
            select(WebhookAttempt).where(col(WebhookAttempt.delivery_id).in_(delivery_ids))
            .order_by(col(WebhookAttempt.id))
        ):
            found[attempt.delivery_id].append(attempt)
    return found
