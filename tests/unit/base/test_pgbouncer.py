"""A PostgreSQL URL with ?pgbouncer=true: the driver prepares no statements (PgBouncer in
transaction mode before 1.21 would hand a prepared statement's name to another connection)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from portal.base.db import driver_options, make_engine
from tests.conftest import PG_URL


def test_the_pgbouncer_parameter_is_the_portals_own_and_turns_preparing_off() -> None:
    url, options = driver_options(
        "postgresql+psycopg://portal:pw@bouncer:6432/portal?pgbouncer=true&sslmode=require")
    assert options == {"prepare_threshold": None}
    parsed = make_url(url)
    assert dict(parsed.query) == {"sslmode": "require"}
    assert (parsed.host, parsed.port, parsed.password) == ("bouncer", 6432, "pw")


def test_without_the_parameter_nothing_changes() -> None:
    for url in ("postgresql+psycopg://portal@db/portal", "sqlite:///x.db"):
        assert driver_options(url) == (url, {})
    assert driver_options("postgresql+psycopg://p@db/p?pgbouncer=false")[1] == {}


@pytest.mark.postgres
def test_an_engine_behind_pgbouncer_prepares_nothing() -> None:
    parsed = make_url(PG_URL)
    flagged = parsed.update_query_dict({"pgbouncer": "true"}).render_as_string(
        hide_password=False)
    engine = make_engine(flagged)
    plain = make_engine(parsed.difference_update_query(["pgbouncer"]).render_as_string(
        hide_password=False))
    try:
        with engine.connect() as conn:
            assert conn.connection.driver_connection.prepare_threshold is None  # type: ignore[union-attr]
        with plain.connect() as conn:
            assert conn.connection.driver_connection.prepare_threshold == 5  # type: ignore[union-attr]
    finally:
        engine.dispose()
        plain.dispose()
