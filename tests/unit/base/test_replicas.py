"""Reads that may lag go to a real streaming replica (DESIGN §9), made by tests/pg_replica.sh:
what the reader sees while the replica is behind, past the lag bound, and when it is down."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session
from starlette.testclient import TestClient

from portal.app import create_app
from portal.base.replicas import read_state
from portal.base.settings import Settings, SettingsError
from tests.unit.conftest import Platform, Replica
from tests.unit.factories import make_registration


def needs_replica(test: Callable[..., None]) -> Callable[..., None]:
    return pytest.mark.postgres(pytest.mark.replica(test))


def wait_for(condition: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


def caught_up(engine: Engine, replica: Replica) -> None:
    """Wait until the replica has replayed everything the primary has written so far."""
    with engine.connect() as conn:
        lsn = conn.execute(text("SELECT pg_current_wal_lsn()::text")).scalar_one()
    wait_for(lambda: replica.sql(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn"))


@contextmanager
def replay_paused(replica: Replica) -> Iterator[None]:
    replica.sql("SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        replica.sql("SELECT pg_wal_replay_resume()")


@contextmanager
def replica_app(settings: Settings, replica: Replica, **options: Any) -> Iterator[Any]:
    app = create_app(settings.model_copy(update={"read_database_url": replica.url,
                                                 **options}))
    try:
        with TestClient(app, follow_redirects=False):  # the lifespan: a first checkpoint
            yield app
    finally:
        app.state.read_engine.dispose()
        app.state.engine.dispose()


def authority(app: Any, session: Session) -> Platform:
    client = Platform(app, session, "National market regulator", kind="authority")
    client.row.jurisdiction = "national"
    session.add(client.row)
    session.commit()
    return client


def found(client: Platform, number: str) -> bool:
    answer = client.get("/audit/registrations", params={"q": number})
    assert answer.status_code == 200, answer.text
    return [item["number"] for item in answer.json()["items"]] == [number]


def reads_from_replica(app: Any) -> bool:
    with app.state.read_engine.connect() as conn:
        return bool(conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one())


def health(app: Any) -> dict[str, Any]:
    with TestClient(app) as client:
        answer = client.get("/healthz")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def registration(session: Session, settings: Settings, email: str) -> str:
    session.rollback()
    number = make_registration(session, settings, status="approved", email=email).number
    assert number is not None
    return number


@needs_replica
def test_reads_come_from_the_replica_and_see_it_as_it_stands(
        settings: Settings, session: Session, engine: Engine, replica: Replica) -> None:
    with replica_app(settings, replica, read_max_lag_seconds=3600) as app:
        regulator = authority(app, session)
        first = registration(session, settings, "first@example.com")
        caught_up(engine, replica)
        assert reads_from_replica(app)
        assert found(regulator, first)
        with engine.connect() as conn:  # the primary's engine stays on the primary
            assert conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one() is False

        with replay_paused(replica):
            second = registration(session, settings, "second@example.com")
            # Within the bound the reader sees the replica as it stands: not yet the second.
            assert not found(regulator, second)
            assert found(regulator, first)
            state = health(app)
            assert state["replica"] == "ok"
            assert 0 <= state["replica_lag_seconds"] <= 3600
        caught_up(engine, replica)
        assert found(regulator, second)
        assert reads_from_replica(app)


@needs_replica
def test_a_replica_behind_the_bound_is_left_for_the_primary_until_it_catches_up(
        settings: Settings, session: Session, engine: Engine, replica: Replica) -> None:
    with replica_app(settings, replica, read_max_lag_seconds=1,
                     read_retry_seconds=0.3) as app:
        regulator = authority(app, session)
        registration(session, settings, "first@example.com")
        caught_up(engine, replica)
        assert reads_from_replica(app)
        assert health(app)["replica"] == "ok"

        with replay_paused(replica):
            second = registration(session, settings, "second@example.com")
            wait_for(lambda: replica.sql(
                "SELECT EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) > 1.5"))
            time.sleep(1.1)  # the next read asks the replica its lag again
            assert found(regulator, second)  # from the primary
            assert not reads_from_replica(app)
            state = health(app)
            assert state["replica"] == "lagging, reading from the primary"
            assert state["replica_lag_seconds"] > 1
            state_now = read_state(app.state.read_engine)
            assert state_now is not None and state_now.state == "lagging"

        caught_up(engine, replica)
        time.sleep(0.4)  # past the back-off: the replica is asked again
        assert health(app)["replica"] == "ok"
        assert reads_from_replica(app)
        assert found(regulator, second)


@needs_replica
def test_a_replica_that_is_down_leaves_reads_on_the_primary_and_health_says_so(
        settings: Settings, session: Session, engine: Engine, replica: Replica) -> None:
    with replica_app(settings, replica, read_retry_seconds=2) as app:
        regulator = authority(app, session)
        assert reads_from_replica(app)
        replica.script("halt", replica.dir)
        try:
            number = registration(session, settings, "first@example.com")
            started = time.monotonic()
            assert found(regulator, number)  # the replica refused: the primary answered
            assert not reads_from_replica(app)
            state = health(app)
            assert state == {"status": "ok", "database": "ok",
                             "replica": "down, reading from the primary"}
            # Within the back-off nobody waits for the replica again.
            for _ in range(5):
                assert found(regulator, number)
            assert time.monotonic() - started < 2
            assert read_state(app.state.read_engine).reading_from == "primary"  # type: ignore[union-attr]
        finally:
            replica.script("resume", replica.dir)
        caught_up(engine, replica)
        wait_for(lambda: health(app)["replica"] == "ok", timeout=10)
        assert reads_from_replica(app)
        assert found(regulator, number)


def test_without_a_replica_reads_use_the_primary_engine(app: Any) -> None:
    assert app.state.read_engine is app.state.engine
    assert read_state(app.state.read_engine) is None
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}


def test_a_replica_needs_a_postgresql_primary(tmp_path: Any) -> None:
    settings = Settings(data_dir=tmp_path, read_database_url="postgresql+psycopg://r/portal",
                        _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(SettingsError, match="PORTAL_READ_DATABASE_URL"):
        create_app(settings)


@pytest.mark.postgres
def test_a_replica_nobody_answers_at_leaves_reads_on_the_primary_at_once(
        settings: Settings, session: Session) -> None:
    """No server on the replica's port: the first read falls back, and within the back-off
    the replica is not tried again."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nowhere = make_url(settings.resolved_database_url).set(host="127.0.0.1", port=port,
                                                         query={})
    fake = Replica("", port, nowhere.render_as_string(hide_password=False))
    with replica_app(settings, fake, read_retry_seconds=60) as app:
        regulator = authority(app, session)
        number = registration(session, settings, "first@example.com")
        assert found(regulator, number)
        assert not reads_from_replica(app)
        assert health(app)["replica"] == "down, reading from the primary"
        ports = []
        event.listen(app.state.read_engine, "connect",
                     lambda conn, _record: ports.append(conn.info.port))
        app.state.read_engine.dispose()  # new connections: each would try the replica again
        for _ in range(3):
            assert found(regulator, number)
        assert ports and port not in ports
        state = read_state(app.state.read_engine)
        assert state is not None and (state.state, state.reading_from) == ("down", "primary")
