"""Webhooks (DESIGN §7): signed by Standard Webhooks, retried with backoff, each attempt recorded,
safe with several workers, only to addresses the outbound rules allow (DESIGN §5)."""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import standardwebhooks
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from portal import cli
from portal.base.crypto import cipher_for
from portal.base.db import make_engine, session_scope, utcnow
from portal.base.errors import FormErrors
from portal.ledger.events import OutboxEvent, event_json, visible_to_platform
from portal.oversight import buyers
from portal.platforms import clients, webhooks
from portal.platforms.webhooks import WebhookAttempt, WebhookDelivery
from tests.unit.conftest import Auth, csrf_from, make_user

PUBLIC_IP = "93.184.215.14"  # a global address: passes the outbound check without an allow list


# --- a receiver on loopback ---------------------------------------------------------------------


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


class Receiver:
    """An HTTP server on 127.0.0.1 that records every request and answers as told."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.fail_first = 0  # answer 500 to the first N requests of each (path, webhook-id)
        self.delay = 0.0  # seconds to wait before answering
        self._seen: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                request = Request(self.path, dict(self.headers.items()), body)
                with receiver._lock:
                    receiver.requests.append(request)
                    key = (self.path, request.headers.get("webhook-id", ""))
                    receiver._seen[key] += 1
                    status = 500 if receiver._seen[key] <= receiver.fail_first else 204
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/a", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def ids(self, path: str | None = None) -> Counter[str]:
        return Counter(r.id for r in self.requests if path is None or r.path == path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():  # type: ignore[no-untyped-def]
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    """Loopback allowed for the receiver; the server's own delivery loop off (tests drive it)."""
    settings.outbound_allow = "127.0.0.1/32"
    settings.webhook_interval_seconds = 0
    return settings


def resolver(*addresses: str):  # type: ignore[no-untyped-def]
    """A stand-in for getaddrinfo that answers every name with these addresses."""
    def resolve(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port)) for a in addresses]
    return resolve


def unresolvable(host: str, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@dataclass
class Hook:
    client_id: int
    secret: str


def make_hook(session: Session, settings, url: str, name: str = "Platform A",  # type: ignore[no-untyped-def]
              **kwargs: Any) -> Hook:
    client = clients.create_client(session, name=name)
    secret = webhooks.configure(session, settings, client, url, **kwargs)
    session.commit()
    assert secret is not None and client.id is not None
    return Hook(client.id, secret)


@pytest.fixture
def hook(session, settings, receiver) -> Hook:  # type: ignore[no-untyped-def]
    """Platform A with a webhook to the receiver's /a, made before the test's events."""
    return make_hook(session, settings, receiver.url("/a"))


_refs = itertools.count(1)


def block_buyers(session: Session, client_id: int, n: int) -> list[int]:
    """n blocklist.buyer_added events for one platform, through the real service."""
    for _ in range(n):
        buyers.add_buyer(session, client_id=client_id, buyer_ref=f"buyer-{next(_refs)}",
                         reason="fraud")
        session.commit()
    session.commit()
    return [e.id or 0 for e in session.exec(select(OutboxEvent).where(
        OutboxEvent.type == "blocklist.buyer_added", OutboxEvent.client_id == client_id))]


def deliveries(engine: Engine) -> list[WebhookDelivery]:
    with Session(engine) as session:
        return list(session.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.id))))


def attempts(engine: Engine, delivery_id: int) -> list[WebhookAttempt]:
    with Session(engine) as session:
        return list(session.exec(select(WebhookAttempt).where(
            WebhookAttempt.delivery_id == delivery_id).order_by(col(WebhookAttempt.id))))


def visible_events(engine: Engine, client_id: int) -> list[OutboxEvent]:
    with Session(engine) as session:
        return list(session.exec(select(OutboxEvent).where(visible_to_platform(client_id))
                                 .order_by(col(OutboxEvent.id))))


# --- configuration ------------------------------------------------------------------------------


def test_the_secret_is_shown_once_and_kept_encrypted(session, settings, receiver) -> None:
    client = clients.create_client(session, name="Platform A")
    secret = webhooks.configure(session, settings, client, receiver.url("/a"))
    assert secret is not None and secret.startswith("whsec_")
    import base64

    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert client.webhook_url == receiver.url("/a")
    assert client.webhook_secret is not None and secret.encode() not in client.webhook_secret
    assert webhooks.secret_of(settings, client) == secret
    # Bound to this client: the same ciphertext does not decrypt as another client's secret.
    from portal.base.crypto import DecryptionError

    with pytest.raises(DecryptionError):
        cipher_for(settings).decrypt_text(client.webhook_secret,
                                          context=b"api_client:999:webhook_secret")
    # A new URL keeps the secret; rotating makes a new one; an empty URL removes the webhook.
    assert webhooks.configure(session, settings, client, "  " + receiver.url("/b") + " ") is None
    assert client.webhook_url == receiver.url("/b")
    assert webhooks.secret_of(settings, client) == secret
    rotated = webhooks.rotate_secret(session, settings, client)
    assert rotated != secret and webhooks.secret_of(settings, client) == rotated
    assert webhooks.configure(session, settings, client, "") is None
    assert client.webhook_url == "" and client.webhook_secret is None
    with pytest.raises(FormErrors):
        webhooks.rotate_secret(session, settings, client)
    again = webhooks.configure(session, settings, client, receiver.url("/a"))
    assert again is not None and again not in (secret, rotated)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.0.10", "172.16.5.4",
                                     "169.254.169.254", "100.64.0.1", "::1", "fe80::1",
                                     "fd00::1", "::ffff:10.0.0.1", "0.0.0.0"])  # noqa: S104
def test_a_url_resolving_to_a_non_public_address_is_refused(address, session, settings) -> None:
    settings.outbound_allow = ""
    client = clients.create_client(session, name="Platform A")
    with pytest.raises(FormErrors) as refused:
        webhooks.configure(session, settings, client, "https://hooks.example.test/in",
                           resolve=resolver(PUBLIC_IP, address))
    assert "private, loopback or link-local" in refused.value.errors["webhook_url"]
    assert client.webhook_url == "" and client.webhook_secret is None


def test_literal_private_addresses_are_refused_unless_allowed(session, settings) -> None:
    client = clients.create_client(session, name="Platform A")
    settings.outbound_allow = ""
    for url in ("http://127.0.0.1:9000/hook", "http://[::1]/hook", "http://169.254.169.254/"):
        with pytest.raises(FormErrors) as refused:
            webhooks.configure(session, settings, client, url)
        assert "private, loopback or link-local" in refused.value.errors["webhook_url"]
    settings.outbound_allow = "127.0.0.0/8"
    assert webhooks.configure(session, settings, client, "http://127.0.0.1:9000/hook")


@pytest.mark.parametrize(("url", "says"), [
    ("ftp://hooks.example.com/in", "Enter a web address"),
    ("hooks.example.com/in", "Enter a web address"),
    ("https:///in", "Enter a web address"),
    ("https://hooks.example.com:99999/in", "Enter a web address"),
    ("https://hooks.example.com/a b", "Enter a web address"),
    ("https://user:pw@hooks.example.com/in", "user name or password"),
    ("https://例子.测试/in", "ASCII"),
    ("https://hooks.example.com/" + "a" * 500, "500 characters or fewer"),
])
def test_malformed_urls_are_refused(url, says, session, settings) -> None:
    client = clients.create_client(session, name="Platform A")
    with pytest.raises(FormErrors) as refused:
        webhooks.configure(session, settings, client, url, resolve=resolver(PUBLIC_IP))
    assert says in refused.value.errors["webhook_url"]


def test_an_unknown_host_and_non_platforms_are_refused(session, settings) -> None:
    client = clients.create_client(session, name="Platform A")
    with pytest.raises(FormErrors) as refused:
        webhooks.configure(session, settings, client, "https://nowhere.example.test/",
                           resolve=unresolvable)
    assert "nowhere.example.test cannot be found" in refused.value.errors["webhook_url"]
    authority = clients.create_client(session, name="Authority", kind="authority")
    with pytest.raises(FormErrors):
        webhooks.configure(session, settings, authority, "https://hooks.example.com/",
                           resolve=resolver(PUBLIC_IP))
    clients.revoke_client(session, client)
    with pytest.raises(FormErrors):
        webhooks.configure(session, settings, client, "https://hooks.example.com/",
                           resolve=resolver(PUBLIC_IP))


# --- delivery -----------------------------------------------------------------------------------


def test_events_arrive_signed_and_verify_with_the_standard_library(
    hook, approved, engine, settings, receiver,
) -> None:
    events = visible_events(engine, hook.client_id)
    assert {"registration.approved", "certificate.issued"} <= {e.type for e in events}
    report = webhooks.deliver_due(engine, settings)
    assert report.queued == len(events) and report.delivered == len(events)
    assert [r.id for r in receiver.requests] == [f"evt_{e.id}" for e in events]
    verifier = standardwebhooks.Webhook(hook.secret)
    for request, event in zip(receiver.requests, events, strict=True):
        assert request.path == "/a"
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["webhook-signature"].startswith("v1,")
        payload = verifier.verify(request.body, request.headers)
        assert payload == json.loads(json.dumps(event_json(event)))
        assert set(payload) == {"id", "type", "number", "created_at", "data"}
        with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
            verifier.verify(request.body.replace(b"}", b" }", 1), request.headers)
        with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
            standardwebhooks.Webhook(webhooks.new_secret()).verify(request.body, request.headers)
    for delivery in deliveries(engine):
        assert delivery.state == "delivered" and delivery.attempts == 1
        assert delivery.last_status == 204 and delivery.delivered_at is not None
        assert delivery.locked_until is None
        [attempt] = attempts(engine, delivery.id or 0)
        assert attempt.status_code == 204 and attempt.error == ""
    # Nothing is sent twice.
    assert webhooks.deliver_due(engine, settings).attempted == 0
    assert len(receiver.requests) == len(events)


def test_a_failing_receiver_gets_the_event_on_the_fourth_try_across_restarts(
    hook, approved, settings, receiver,
) -> None:
    receiver.fail_first = 3
    now = utcnow()
    for round_ in range(1, 5):
        # Each round is a new process: a fresh engine, nothing kept in memory.
        engine = make_engine(settings.resolved_database_url)
        try:
            report = webhooks.deliver_due(engine, settings, now=now)
            rows = deliveries(engine)
        finally:
            engine.dispose()
        assert rows and report.attempted == len(rows)
        assert all(d.attempts == round_ and d.locked_until is None for d in rows)
        if round_ < 4:
            assert report.retrying == len(rows) and report.delivered == 0
            ceiling = timedelta(seconds=5 * 2 ** (round_ - 1))
            for d in rows:
                assert d.state == "pending" and d.last_status == 500
                assert now + timedelta(seconds=1) <= d.next_attempt_at <= now + ceiling
            # Not due again before the backoff: a worker at the same time sends nothing.
            engine = make_engine(settings.resolved_database_url)
            try:
                assert webhooks.deliver_due(engine, settings, now=now).attempted == 0
            finally:
                engine.dispose()
            now = max(d.next_attempt_at for d in rows)
    assert report.delivered == len(rows)
    engine = make_engine(settings.resolved_database_url)
    try:
        for d in deliveries(engine):
            assert d.state == "delivered" and d.last_status == 204
            tries = attempts(engine, d.id or 0)
            assert [a.status_code for a in tries] == [500, 500, 500, 204]
            assert [a.error for a in tries] == ["HTTP 500"] * 3 + [""]
    finally:
        engine.dispose()
    assert set(receiver.ids().values()) == {4}
    # The same webhook-id each time, so the receiver can tell a retry from a new event.
    assert len(receiver.ids()) == len(rows)


def test_a_crashed_worker_only_delays_its_deliveries(hook, session, engine, settings,
                                                     receiver) -> None:
    block_buyers(session, hook.client_id, 2)
    now = utcnow()
    crashed = make_engine(settings.resolved_database_url)
    with session_scope(crashed, write=True) as db:
        assert webhooks.fan_out(db, now=now) == 2
    claimed, _ = webhooks.claim(crashed, settings, now=now, limit=50)
    crashed.dispose()  # dies before sending anything
    assert len(claimed) == 2
    assert webhooks.deliver_due(engine, settings, now=now + timedelta(seconds=30)).attempted == 0
    assert receiver.requests == []
    later = now + timedelta(seconds=webhooks.lease_seconds(settings) + 1)
    assert webhooks.deliver_due(engine, settings, now=later).delivered == 2
    assert sorted(receiver.ids().values()) == [1, 1]


def test_only_what_the_platform_may_see_is_sent(hook, session, engine, settings,
                                                receiver) -> None:
    other = make_hook(session, settings, receiver.url("/b"), name="Platform B")
    mine = block_buyers(session, hook.client_id, 2)
    theirs = block_buyers(session, other.client_id, 1)
    assert webhooks.deliver_due(engine, settings).delivered == 3
    assert receiver.ids("/a") == Counter(f"evt_{i}" for i in mine)
    assert receiver.ids("/b") == Counter(f"evt_{i}" for i in theirs)


def test_a_webhook_set_later_gets_only_later_events(session, engine, settings, receiver) -> None:
    client = clients.create_client(session, name="Platform A")
    session.commit()
    block_buyers(session, client.id or 0, 2)  # before the webhook: in the events feed only
    webhooks.configure(session, settings, client, receiver.url("/a"))
    session.commit()
    assert webhooks.deliver_due(engine, settings).attempted == 0
    later = block_buyers(session, client.id or 0, 1)[-1]
    assert webhooks.deliver_due(engine, settings).delivered == 1
    assert list(receiver.ids()) == [f"evt_{later}"]


def test_the_address_is_checked_again_at_delivery_and_connected_to(
    session, engine, settings, receiver,
) -> None:
    url = receiver.url("/a", host="hooks.example.test")  # a name no real DNS answers
    hook = make_hook(session, settings, url, resolve=resolver(PUBLIC_IP))
    block_buyers(session, hook.client_id, 1)
    # The name now points at loopback, which is not allowed: refused, nothing sent.
    settings.outbound_allow = ""
    now = utcnow()
    report = webhooks.deliver_due(engine, settings, now=now, resolve=resolver("127.0.0.1"))
    assert report.retrying == 1 and receiver.requests == []
    [delivery] = deliveries(engine)
    [attempt] = attempts(engine, delivery.id or 0)
    assert attempt.status_code is None and "non-public address 127.0.0.1" in attempt.error
    assert delivery.last_error == attempt.error and delivery.state == "pending"
    # Allowed again: the request goes to the address that was checked, not to a new lookup.
    settings.outbound_allow = "127.0.0.1/32"
    report = webhooks.deliver_due(engine, settings, now=now + timedelta(hours=2),
                                  resolve=resolver("127.0.0.1"))
    assert report.delivered == 1 and len(receiver.requests) == 1
    assert receiver.requests[0].headers["Host"] == f"hooks.example.test:{receiver.port}"


def test_unreachable_and_slow_receivers_are_recorded(session, engine, settings,
                                                     receiver) -> None:
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    hook = make_hook(session, settings, f"http://127.0.0.1:{closed_port}/a")
    block_buyers(session, hook.client_id, 1)
    now = utcnow()
    webhooks.deliver_due(engine, settings, now=now)
    [delivery] = deliveries(engine)
    [attempt] = attempts(engine, delivery.id or 0)
    assert "refused" in attempt.error.lower() and attempt.status_code is None
    # Now slower than the time limit.
    with Session(engine) as db:
        client = db.get(clients.ApiClient, hook.client_id)
        assert client is not None
        webhooks.configure(db, settings, client, receiver.url("/a"))
        db.commit()
    settings.webhook_timeout_seconds = 0.3
    receiver.delay = 1.0
    started = time.monotonic()
    webhooks.deliver_due(engine, settings, now=now + timedelta(hours=2))
    assert time.monotonic() - started < 0.9
    second = attempts(engine, delivery.id or 0)[1]
    assert second.error == "no answer within the time limit of 0.3 s"
    assert hook.secret not in second.error


def test_two_workers_never_send_the_same_delivery(session, settings, receiver) -> None:
    a = make_hook(session, settings, receiver.url("/a"))
    b = make_hook(session, settings, receiver.url("/b"), name="Platform B")
    block_buyers(session, a.client_id, 4)
    block_buyers(session, b.client_id, 4)
    receiver.delay = 0.02
    now = utcnow()
    start = threading.Barrier(4)
    reports: list[webhooks.Report] = []
    errors: list[BaseException] = []

    def worker() -> None:
        engine = make_engine(settings.resolved_database_url)  # as another process would
        try:
            start.wait()
            reports.append(webhooks.run(engine, settings, now=now, limit=1))
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sum(r.delivered for r in reports) == 8
    assert len(receiver.requests) == 8
    assert set(receiver.ids("/a").values()) == {1} and set(receiver.ids("/b").values()) == {1}
    engine = make_engine(settings.resolved_database_url)
    try:
        rows = deliveries(engine)
        assert len(rows) == 8 and all(d.state == "delivered" and d.attempts == 1 for d in rows)
        assert all(len(attempts(engine, d.id or 0)) == 1 for d in rows)
    finally:
        engine.dispose()


def test_a_delivery_is_given_up_after_the_last_attempt(hook, session, engine, settings,
                                                       receiver) -> None:
    settings.webhook_max_attempts = 3
    receiver.fail_first = 100
    block_buyers(session, hook.client_id, 1)
    now = utcnow()
    outcomes = []
    for _ in range(4):
        report = webhooks.deliver_due(engine, settings, now=now)
        outcomes.append((report.retrying, report.failed))
        now += timedelta(hours=2)
    assert outcomes == [(1, 0), (1, 0), (0, 1), (0, 0)]
    [delivery] = deliveries(engine)
    assert delivery.state == "failed" and delivery.attempts == 3 and delivery.last_status == 500
    assert len(attempts(engine, delivery.id or 0)) == 3 and len(receiver.requests) == 3


def test_deliveries_of_a_removed_webhook_are_given_up(hook, session, engine, settings,
                                                      receiver) -> None:
    block_buyers(session, hook.client_id, 1)
    with session_scope(engine, write=True) as db:
        webhooks.fan_out(db)
    session.rollback()  # a write from an old read snapshot would fail in WAL mode
    client = session.get(clients.ApiClient, hook.client_id)
    assert client is not None
    webhooks.configure(session, settings, client, "")
    session.commit()
    assert webhooks.deliver_due(engine, settings).failed == 1
    [delivery] = deliveries(engine)
    assert delivery.state == "failed" and "removed" in delivery.last_error
    assert receiver.requests == []


def test_the_server_delivers_in_the_background(hook, session, app, settings, receiver) -> None:
    block_buyers(session, hook.client_id, 1)
    settings.webhook_interval_seconds = 0.05
    with TestClient(app):
        deadline = time.monotonic() + 10
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(receiver.requests) == 1


def test_portal_webhooks_run(hook, session, settings, receiver, monkeypatch, capsys) -> None:
    block_buyers(session, hook.client_id, 2)
    monkeypatch.setenv("PORTAL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PORTAL_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("PORTAL_OUTBOUND_ALLOW", "127.0.0.1/32")
    assert cli.main(["webhooks", "run"]) == 0
    assert "Webhooks done: queued 2, delivered 2, retrying 0, failed 0" in capsys.readouterr().out
    assert len(receiver.requests) == 2


def test_backoff_has_full_jitter_under_a_doubling_cap() -> None:
    import random

    rng = random.Random(7)
    for attempt, cap in [(1, 5), (2, 10), (3, 20), (8, 640), (10, 2560), (11, 3600), (30, 3600)]:
        delays = [webhooks.backoff(attempt, rng=rng).total_seconds() for _ in range(200)]
        assert min(delays) >= 1 and max(delays) <= cap
        assert max(delays) > cap * 0.8  # spread over the whole range


# --- the administrator's page ---------------------------------------------------------------


@pytest.fixture
def admin(app, session):  # type: ignore[no-untyped-def]
    make_user(session, email="admin@example.com", role="admin")
    with TestClient(app, follow_redirects=False) as client:
        assert Auth(client).log_in("admin@example.com").status_code == 303
        yield client


def test_the_deliveries_page_is_for_admins_only(approved, app, client) -> None:
    _number, moderator = approved
    assert client.get("/admin/deliveries").status_code == 403  # the applicant
    with TestClient(app, follow_redirects=False) as visitor:
        answer = visitor.get("/admin/deliveries")
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert moderator.get("/admin/deliveries").status_code == 403
    token = csrf_from(moderator.get("/review").text)
    assert moderator.post("/admin/deliveries/1/retry",
                          data={"csrf_token": token}).status_code == 403


def test_an_admin_sees_each_attempt_and_retries_now(hook, session, engine, settings, receiver,
                                                    admin) -> None:
    settings.webhook_max_attempts = 1
    receiver.fail_first = 1
    [event_id] = block_buyers(session, hook.client_id, 1)
    webhooks.deliver_due(engine, settings)
    [delivery] = deliveries(engine)
    assert delivery.state == "failed"

    page = admin.get("/admin/deliveries")
    assert page.status_code == 200
    assert "Platform A" in page.text and "blocklist.buyer_added" in page.text
    assert f"evt_{event_id}" in page.text and "HTTP 500" in page.text and "Given up" in page.text
    assert "Retry now" in page.text
    assert "Given up" in admin.get("/admin/deliveries?state=failed").text
    assert "No deliveries." in admin.get("/admin/deliveries?state=delivered").text
    assert "No deliveries." in admin.get(
        f"/admin/deliveries?platform={hook.client_id + 100}").text

    path = f"/admin/deliveries/{delivery.id}/retry"
    assert admin.post(path, data={"state": "failed"}).status_code == 403  # no CSRF token
    token = csrf_from(page.text)
    answer = admin.post(path, data={"csrf_token": token, "state": "failed"})
    assert answer.status_code == 303
    assert answer.headers["location"] == (
        f"/admin/deliveries?state=failed&retried={delivery.id}#delivery-{delivery.id}")
    assert "will be attempted within a few seconds" in admin.get(answer.headers["location"]).text
    [retried] = deliveries(engine)
    assert retried.state == "pending" and retried.next_attempt_at <= utcnow()

    assert webhooks.deliver_due(engine, settings).delivered == 1
    [done] = deliveries(engine)
    assert done.state == "delivered" and done.attempts == 2
    assert [a.status_code for a in attempts(engine, done.id or 0)] == [500, 204]
    again = admin.post(path, data={"csrf_token": token})
    assert again.status_code == 409 and "already been delivered" in again.text
    assert admin.post("/admin/deliveries/999999/retry",
                      data={"csrf_token": token}).status_code == 404


def test_the_deliveries_page_in_chinese(hook, session, engine, settings, receiver,
                                        admin) -> None:
    block_buyers(session, hook.client_id, 1)
    webhooks.deliver_due(engine, settings)
    page = admin.get("/admin/deliveries", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200 and "Platform A" in page.text
