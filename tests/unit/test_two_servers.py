"""Two `portal serve` processes on one PostgreSQL database and one Redis, as in production
(docs/deploy.md): moderators approve through both at once, both send webhooks, both count one
API key's requests. One log, each event delivered once, one rate limit."""

from __future__ import annotations

import base64
import os
import re
import secrets
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import pytest
from limits import storage
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select
from standardwebhooks import Webhook

from portal import accounts
from portal.base.db import make_engine
from portal.base.settings import Settings
from portal.ledger import tlog
from portal.ledger.events import HistoryEntry, OutboxEvent
from portal.ops import backup, seed
from portal.platforms import clients, webhooks
from portal.platforms.clients import ApiClient
from portal.platforms.onboarding import new_client
from portal.records import certificates, verifier
from portal.registration.models import Registration
from tests.unit.conftest import STRONG_PASSWORD, csrf_from

pytestmark = pytest.mark.postgres

# Rate limits shared through Redis: a database of its own, emptied first (the counts of an
# earlier run would be in the way).
REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
RATE = 10  # requests per minute per API key
APPROVALS = 10  # registrations approved, half through each server
CONTESTED = 2  # registrations both servers approve at the same moment
MODERATOR = "two-servers-mod@example.com"
VERSION = re.compile(r'name="version" value="(\d+)"')


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- a platform's webhook receiver ------------------------------------------------------------


class Receiver:
    """Records every webhook it is sent, after checking its Standard Webhooks signature."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []  # (webhook-id, event type)
        self.bad: list[str] = []
        self.secret = ""
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    payload = Webhook(receiver.secret).verify(body, dict(self.headers.items()))
                except Exception as exc:  # a bad signature is recorded, not raised here
                    with receiver.lock:
                        receiver.bad.append(repr(exc))
                    self.send_response(400)
                else:
                    with receiver.lock:
                        receiver.received.append((self.headers["webhook-id"], payload["type"]))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- the servers ------------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def start_server(env: dict[str, str], data_dir: Path) -> Server:
    port = free_port()
    data_dir.mkdir(parents=True)
    log = data_dir / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "portal", "serve", "--port", str(port)],
            env={**env, "PORTAL_DATA_DIR": str(data_dir)}, stdout=out, stderr=subprocess.STDOUT)
    return Server(f"http://127.0.0.1:{port}", process, log)


def wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and server.process.poll() is None:
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"the server at {server.url} did not start:\n{server.log.read_text()}")


def stop(servers: list[Server]) -> None:
    for server in servers:
        server.process.terminate()
    for server in servers:
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()


@dataclass
class Setup:
    settings: Settings  # what every process shares: database, keys, Redis
    engine: Engine
    servers: list[Server]
    receiver: Receiver
    webhook_client: int
    cursor: int  # the outbox id from which the webhook platform hears events
    rate_key: str
    numbers: list[str]


@pytest.fixture
def two_servers(database_url: str, tmp_path: Path) -> Iterator[Setup]:
    storage.storage_from_string(REDIS_URL).reset()
    key_file = certificates.generate_key_file(Settings(data_dir=tmp_path / "keys",
                                                       _env_file=None))  # type: ignore[call-arg]
    shared = {
        "database_url": database_url,
        "secret_key": secrets.token_urlsafe(48),
        "data_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        "index_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        "signing_key": str(key_file),
        "issuer": "http://portal.test",
        "redis_url": REDIS_URL,
        "rate_limit": f"{RATE}/minute",
        "outbound_allow": "127.0.0.0/8",
        "webhook_interval_seconds": "0.2",
        "jobs_interval_seconds": "0",
        # Both servers publish checkpoints, often: one checkpoint per tree size all the same.
        "log_publish_seconds": "0.1",
        "probe_timeout": "1",
    }
    settings = Settings(data_dir=tmp_path / "cli", **shared,  # type: ignore[arg-type]
                        _env_file=None)  # type: ignore[call-arg]
    engine = make_engine(database_url)
    receiver = Receiver()
    numbers = submitted(engine, settings, APPROVALS + CONTESTED)
    with Session(engine, expire_on_commit=False) as session:
        accounts.create_user(session, email=MODERATOR, password=STRONG_PASSWORD,
                             role=accounts.Role.moderator)
        session.commit()
        client, _key, secret = new_client(session, settings, name="Webhook platform",
                                          kind="platform", webhook_url=receiver.url)
        rate_client = clients.create_client(session, name="Busy platform", kind="platform")
        rate_key = clients.issue_key(session, rate_client)
        session.commit()
    assert secret
    receiver.secret = secret
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update({f"PORTAL_{name.upper()}": value for name, value in shared.items()})
    env["PYTHONUNBUFFERED"] = "1"
    servers = [start_server(env, tmp_path / name) for name in ("a", "b")]
    try:
        for server in servers:
            wait_until_up(server)
        yield Setup(settings, engine, servers, receiver, client.id or 0,
                    client.webhook_cursor, rate_key, numbers)
    except BaseException:
        for server in servers:
            print(f"--- {server.url}\n{server.log.read_text()}", file=sys.stderr)
        raise
    finally:
        stop(servers)
        receiver.close()
        engine.dispose()


def submitted(engine: Engine, settings: Settings, count: int) -> list[str]:
    """Registrations waiting for review, made by the seeder's services."""
    seeder = seed.Seeder(settings, 2024)
    report = seed.Report()
    with seed.batch(engine) as session:
        moderator = seed.seed_moderator(session)
        for number in range(1, count + 1):
            seeder.one(session, moderator, number, "submitted", report)
    assert report.statuses == Counter({"submitted": count})
    with Session(engine) as session:
        return sorted(n for n in session.exec(select(Registration.number)) if n)


# --- the test ---------------------------------------------------------------------------------


def log_in(base_url: str) -> httpx2.Cookies:
    with httpx2.Client(base_url=base_url, timeout=30) as http:
        token = csrf_from(http.get("/login").text)
        answer = http.post("/login", data={"email": MODERATOR, "password": STRONG_PASSWORD,
                                           "csrf_token": token})
        assert answer.status_code == 303, answer.text
        return http.cookies


def approve(base_url: str, cookies: httpx2.Cookies, number: str,
            barrier: threading.Barrier | None = None) -> int:
    with httpx2.Client(base_url=base_url, cookies=cookies, timeout=30) as http:
        page = http.get(f"/review/{number}")
        assert page.status_code == 200, page.text
        version = VERSION.search(page.text)
        assert version, "the review page has no version field"
        if barrier is not None:
            barrier.wait(timeout=20)
        answer = http.post(f"/review/{number}/approve",
                           data={"version": version.group(1),
                                 "csrf_token": csrf_from(page.text)})
        if answer.status_code == 303 and answer.headers["location"] == f"/review/{number}":
            # A refused decision is shown on the registration's page after a redirect
            # (post/redirect/get): there, the moderator reads that it changed meanwhile. One
            # made moves on to the next registration in the queue, or to the queue.
            shown = http.get(answer.headers["location"])
            assert "changed while you were looking at it" in shown.text, shown.text
            return 409
        return answer.status_code


def api_get(base_url: str, key: str, path: str) -> int:
    answer = httpx2.get(f"{base_url}/api/v1{path}", timeout=30,
                        headers={"Authorization": f"Bearer {key}"})
    return answer.status_code


def get_json(base_url: str, path: str) -> dict[str, Any]:
    answer = httpx2.get(f"{base_url}{path}", timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_two_servers_share_one_log_one_outbox_and_one_rate_limit(two_servers: Setup) -> None:
    try:
        _drive_both(two_servers)
    except BaseException:
        for server in two_servers.servers:
            print(f"--- {server.url}\n{server.log.read_text()}", file=sys.stderr)
        raise


def _drive_both(setup: Setup) -> None:
    a, b = (server.url for server in setup.servers)
    # Logged in on A; the same cookie works on B (one PORTAL_SECRET_KEY, no server state).
    cookies = log_in(a)
    plain, contested = setup.numbers[:APPROVALS], setup.numbers[APPROVALS:]
    barriers = {number: threading.Barrier(2) for number in contested}

    def cli_webhooks() -> None:  # a third sender, as `portal webhooks run` under cron
        for _ in range(5):
            webhooks.run(setup.engine, setup.settings)
            time.sleep(0.1)

    with ThreadPoolExecutor(max_workers=32) as pool:  # everything below at once
        approvals = [pool.submit(approve, (a, b)[i % 2], cookies, number)
                     for i, number in enumerate(plain)]
        duels = {number: [pool.submit(approve, url, cookies, number, barriers[number])
                          for url in (a, b)] for number in contested}
        checkpoints = [pool.submit(get_json, (a, b)[i % 2], "/api/v1/log/checkpoint")
                       for i in range(6)]
        # The busy platform's key: half of its allowance through each server.
        looked_up = [pool.submit(api_get, (a, b)[i % 2], setup.rate_key,
                                 f"/registrations/{setup.numbers[0]}") for i in range(RATE)]
        sender = pool.submit(cli_webhooks)
        assert [f.result() for f in approvals] == [303] * APPROVALS
        for number, pair in duels.items():
            # One decision wins; the other is refused: the version moved on (shown after a 303).
            assert sorted(f.result() for f in pair) == [303, 409], number
        for f in checkpoints:
            f.result()
        assert [f.result() for f in looked_up] == [200] * RATE
        sender.result()

    # The allowance is used up on both servers: they count together (Redis), not each alone.
    assert api_get(a, setup.rate_key, f"/registrations/{setup.numbers[0]}") == 429
    assert api_get(b, setup.rate_key, f"/registrations/{setup.numbers[0]}") == 429

    _check_one_log(setup, a, b)
    _check_each_event_delivered_once(setup)


def _check_one_log(setup: Setup, a: str, b: str) -> None:
    with Session(setup.engine) as session:
        registrations = session.exec(select(Registration)).all()
        assert {r.status for r in registrations} == {"approved"}
        issued = session.exec(select(certificates.Certificate)).all()
        # One certificate per registration: the losing server of a duel issued nothing.
        assert Counter(c.registration_id for c in issued) == Counter(
            {r.id: 1 for r in registrations})
        size = tlog.size(session)
        appended = sorted(h.data["log_index"] for h in session.exec(select(HistoryEntry))
                          if "log_index" in h.data)
    # Every append has its own index, with no gap: one log, not one per server.
    assert appended == list(range(size))
    assert len({c.log_index for c in issued}) == len(issued)

    # Published within PORTAL_LOG_PUBLISH_SECONDS by whichever server came first.
    deadline = time.monotonic() + 20
    while (checkpoint := get_json(a, "/api/v1/log/checkpoint"))["tree_size"] != size:
        assert time.monotonic() < deadline, "no checkpoint of the whole log was published"
        time.sleep(0.1)
    assert get_json(b, "/api/v1/log/checkpoint") == checkpoint  # one head per tree size
    with Session(setup.engine) as session:
        sizes = [c.tree_size for c in session.exec(select(tlog.Checkpoint))]
    assert len(sizes) == len(set(sizes))
    keys = get_json(b, "/.well-known/portal-keys.json")["keys"]
    assert len(keys) == 1  # both servers sign with the one key
    verifier.check_checkpoint(checkpoint, keys)
    root = base64.b64decode(checkpoint["root_hash"])
    entries = get_json(b, f"/api/v1/log/entries?start=0&end={size}")["entries"]
    assert [e["index"] for e in entries] == list(range(size))
    leaves = [tlog.entry_bytes(e["entry"]) for e in entries]
    assert tlog.mth(leaves) == root  # recomputed from the leaves
    for index, leaf in enumerate(leaves):
        proof = get_json((a, b)[index % 2],
                         f"/api/v1/log/proof/inclusion?index={index}&tree_size={size}")
        path = [base64.b64decode(p) for p in proof["audit_path"]]
        assert tlog.verify_inclusion(tlog.leaf_hash(leaf), index, size, path, root), index

    # Everything the servers signed and stored, checked as after a restore: every checkpoint
    # (signed by either server, at whatever size the log had), every certificate, every
    # registration's integrity.
    report = backup.verify(setup.engine, setup.settings)
    assert report.ok, report.problems
    assert report.checkpoints >= 1 and report.log_size == size == len(issued)


def _check_each_event_delivered_once(setup: Setup) -> None:
    deadline = time.monotonic() + 30
    while True:
        with Session(setup.engine) as session:
            client = session.get(ApiClient, setup.webhook_client)
            assert client is not None
            last = session.exec(select(func.max(OutboxEvent.id))).one() or 0
            deliveries = session.exec(select(webhooks.WebhookDelivery).where(
                webhooks.WebhookDelivery.client_id == setup.webhook_client)).all()
            states = Counter(d.state for d in deliveries)
        if client.webhook_cursor == last and set(states) == {"delivered"}:
            break
        assert time.monotonic() < deadline, f"deliveries still {states}, cursor " \
            f"{client.webhook_cursor} of {last}"
        time.sleep(0.2)
    with Session(setup.engine) as session:
        events = session.exec(select(OutboxEvent.id, OutboxEvent.type).where(
            col(OutboxEvent.id) > setup.cursor).order_by(col(OutboxEvent.id))).all()
        attempts = session.exec(select(func.count()).select_from(webhooks.WebhookAttempt)).one()
    assert len(events) >= 2 * APPROVALS  # at least the approval and its certificate, each
    expected = Counter((f"evt_{event_id}", kind) for event_id, kind in events)
    assert setup.receiver.bad == []
    # Each event exactly once, though two servers and a cron run were sending.
    assert Counter(setup.receiver.received) == expected
    assert attempts == len(deliveries) == len(events)
    assert all(d.attempts == 1 for d in deliveries)
