"""Fixtures: ``settings``, ``engine``, ``session`` (a fresh database per test) and ``client``.

The database is SQLite unless PORTAL_TEST_DATABASE_URL names a PostgreSQL database; either way
it is migrated once with Alembic and emptied for every test.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, SQLModel, select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.base.db import make_engine
from portal.base.settings import Settings
from tests.conftest import PG_URL, REPLICA_SCRIPT

STRONG_PASSWORD = "violet kettle harbour 42 moss"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
CONFIRMATION_LINK = re.compile(r"https?://[^/\s]+(/verify-email\?token=\S+)")


def _reset_postgres(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrate a database to head once; SQLite tests copy it, PostgreSQL tests truncate it."""
    from portal.ops.migrate import upgrade

    if PG_URL:
        _reset_postgres(PG_URL)
        upgrade(Settings(database_url=PG_URL, data_dir=tmp_path_factory.mktemp("pg")))
        return PG_URL
    template_dir = tmp_path_factory.mktemp("template")
    upgrade(Settings(data_dir=template_dir))
    return str(template_dir / "portal.db")


@pytest.fixture
def database_url(migrated_database: str, tmp_path: Path) -> str:
    if PG_URL:
        engine = make_engine(PG_URL)
        tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return PG_URL
    db = tmp_path / "data" / "portal.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(migrated_database, db)
    return f"sqlite:///{db}"


def _free_port(start: int = 5433) -> int:
    for port in range(start, start + 100):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port for a replica")


@dataclass
class Replica:
    """A streaming replica of the test database's primary (tests/pg_replica.sh)."""

    dir: str
    port: int
    url: str  # the test database on the replica

    def sql(self, statement: str) -> Any:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                             dbname="postgres", autocommit=True) as conn:
            row = conn.execute(statement).fetchone()  # type: ignore[arg-type]
            return None if row is None else row[0]

    def script(self, *args: str) -> None:
        subprocess.run([str(REPLICA_SCRIPT), *args], check=True)


@pytest.fixture(scope="session")
def replica(migrated_database: str) -> Iterator[Replica]:
    """A streaming replica made from the running primary, for the session (``replica``
    tests only: they are deselected where none can be made)."""
    directory = tempfile.mkdtemp(prefix="portal-replica-")
    port = _free_port()
    subprocess.run([str(REPLICA_SCRIPT), "start", directory, str(port)],
                   check=True)
    url = make_url(PG_URL)
    replica_url = url.set(host="127.0.0.1", port=port, query={}).render_as_string(
        hide_password=False)
    try:
        yield Replica(directory, port, replica_url)
    finally:
        subprocess.run([str(REPLICA_SCRIPT), "stop", directory], check=False)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        base_url="http://testserver",
        # No background publishing of the log's checkpoints: a test's own session reads, then
        # writes, and a checkpoint committed in between would make SQLite refuse the write.
        # The app still publishes one at startup; tests publish when they need a newer one.
        log_publish_seconds=0,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.resolved_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    app = create_app(settings)
    yield app
    app.state.engine.dispose()


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, follow_redirects=False) as client:
        yield client


def csrf_from(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


class Auth:
    """Sign up and log in through the real forms, as a browser would."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def token(self, path: str = "/login") -> str:
        return csrf_from(self.client.get(path).text)

    def post(self, path: str, data: dict[str, str], *, token_from: str | None = None):  # type: ignore[no-untyped-def]
        token = self.token(token_from or path)
        return self.client.post(path, data={**data, "csrf_token": token})

    def sign_up_only(self, email: str = "streamer@example.com",  # type: ignore[no-untyped-def]
                     password: str = STRONG_PASSWORD):
        """Post the sign-up form (the answer is the same whether or not the address is free)."""
        return self.post(
            "/signup", {"email": email, "password": password, "password_confirm": password}
        )

    def confirmation_link(self, email: str) -> str:
        """The path of the newest email-confirmation link sent to ``email``."""
        from portal.platforms.notify import MailboxMessage

        with Session(self.client.app.state.engine) as db:  # type: ignore[attr-defined]
            bodies = db.exec(select(MailboxMessage.body).where(MailboxMessage.to == email)
                             .order_by(MailboxMessage.id.desc())).all()  # type: ignore[union-attr]
        for body in bodies:
            if match := CONFIRMATION_LINK.search(body):
                return match.group(1)
        raise AssertionError(f"no confirmation link was sent to {email}")

    def sign_up(self, email: str = "streamer@example.com", password: str = STRONG_PASSWORD):  # type: ignore[no-untyped-def]
        """Sign up, open the link the mail brought and log in, as a person would: returns the
        login's answer (303 to /me)."""
        sent = self.sign_up_only(email, password)
        assert sent.headers.get("location") == "/signup/sent", sent.status_code
        moved = self.client.get(self.confirmation_link(email))
        assert self.client.get(moved.headers["location"]).status_code == 200
        return self.log_in(email, password)

    def log_in(self, email: str, password: str = STRONG_PASSWORD):  # type: ignore[no-untyped-def]
        return self.post("/login", {"email": email, "password": password})

    def log_out(self):  # type: ignore[no-untyped-def]
        return self.post("/logout", {}, token_from="/")



@pytest.fixture
def auth(client: TestClient) -> Auth:
    return Auth(client)


def make_user(session: Session, *, email: str, role: str = "applicant",
              password: str = STRONG_PASSWORD, confirmed: bool = True):  # type: ignore[no-untyped-def]
    """An account (an applicant's address confirmed, unless ``confirmed=False``)."""
    from portal import accounts
    from portal.base.db import utcnow

    session.rollback()  # a write from an old read snapshot would fail in WAL mode
    user = accounts.create_user(session, email=email, password=password,
                                role=accounts.Role(role))
    if confirmed and user.email_verified_at is None:
        user.email_verified_at = utcnow()
    session.commit()  # services leave the commit to the caller: here, the test
    return user


def staff_client(app, session: Session, email: str, role: str = "auditor",  # type: ignore[no-untyped-def]
                 jurisdiction: str = "national") -> TestClient:
    """A staff member (with a jurisdiction, for auditors) logged in through the real form."""
    user = make_user(session, email=email, role=role)
    user.jurisdiction = jurisdiction
    session.add(user)
    session.commit()
    client = TestClient(app, follow_redirects=False)
    assert Auth(client).log_in(email).status_code == 303
    return client


# --- registrations at each stage, made through the services (tests/unit/factories.py) -------


def applicant_logged_in(client: TestClient, app, session: Session, registration):  # type: ignore[no-untyped-def]
    """Log ``client`` in as the registration's applicant (its session cookie, no password)."""
    from portal.accounts import User
    from tests.unit.factories import log_in

    user = session.get(User, registration.user_id)
    assert user is not None
    log_in(client, app, user)
    return user


@pytest.fixture
def submitted(client, auth, session, app, settings) -> str:
    """An adult streamer's submitted registration; returns its number.

    ``client`` is logged in as its applicant, applicant@example.com.
    """
    from tests.unit.factories import make_registration

    registration = make_registration(session, settings, status="submitted")
    number: str = registration.number  # type: ignore[assignment]
    applicant_logged_in(client, app, session, registration)
    session.rollback()  # no read snapshot left open: the app writes next
    return number


@pytest.fixture
def moderator(app, session):  # type: ignore[no-untyped-def]
    make_user(session, email="mod@example.com", role="moderator")
    with TestClient(app, follow_redirects=False) as client:
        assert Auth(client).log_in("mod@example.com").status_code == 303
        yield client


@pytest.fixture
def approved(client, auth, session, app, settings):  # type: ignore[no-untyped-def]
    """An approved registration: (number, moderator client).

    ``client`` is logged in as its applicant, applicant@example.com; the moderator client as
    mod@example.com, who approved it.
    """
    from portal.accounts import User
    from tests.unit.factories import MODERATOR_EMAIL, log_in, make_registration

    registration = make_registration(session, settings, status="approved")
    number = registration.number
    applicant_logged_in(client, app, session, registration)
    mod = session.exec(select(User).where(User.email == MODERATOR_EMAIL)).one()
    with TestClient(app, follow_redirects=False) as moderator:
        log_in(moderator, app, mod)
        session.rollback()  # no read snapshot left open: the app writes next
        yield number, moderator


class Platform:
    """An API client with a key, and a TestClient that sends it."""

    def __init__(self, app, session: Session, name: str, kind: str = "platform",  # type: ignore[no-untyped-def]
                 jurisdiction: str = "national") -> None:
        from portal.platforms import clients

        self.row = clients.create_client(session, name=name, kind=kind,
                                         jurisdiction=jurisdiction)
        self.key = clients.issue_key(session, self.row)
        session.commit()
        self.id = self.row.id
        self.http = TestClient(app, follow_redirects=False,
                               headers={"Authorization": f"Bearer {self.key}"})

    def get(self, path: str, **kwargs):  # type: ignore[no-untyped-def]
        return self.http.get("/api/v1" + path, **kwargs)

    def post(self, path: str, json=None, **kwargs):  # type: ignore[no-untyped-def]
        return self.http.post("/api/v1" + path, json=json, **kwargs)

    def delete(self, path: str, **kwargs):  # type: ignore[no-untyped-def]
        return self.http.delete("/api/v1" + path, **kwargs)


@pytest.fixture
def platform(app, session) -> Platform:  # type: ignore[no-untyped-def]
    """A livestream platform's API client ("Platform A") with one key."""
    return Platform(app, session, "Platform A")


@pytest.fixture
def other_platform(app, session) -> Platform:  # type: ignore[no-untyped-def]
    """A second platform, to check that one never sees what belongs to the other."""
    return Platform(app, session, "Platform B")
