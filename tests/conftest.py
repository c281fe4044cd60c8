"""Shared test set-up: PostgreSQL tests are deselected, not skipped, without a PostgreSQL URL.

Under pytest-xdist each worker gets a PostgreSQL database of its own, named after the one in
PORTAL_TEST_DATABASE_URL and the worker (``test`` → ``test_gw0``, ``test_gw1``…), created when
missing: tests that empty the database, spawn servers or take the log's advisory lock (which
PostgreSQL keeps per database) then never meet another worker's. ``PG_URL`` is that
database's URL. The read-replica tests (``replica`` marker) are deselected too unless
tests/pg_replica.sh can make a streaming replica on this machine, and the tests of what the
portal keeps in Redis (``redis`` marker) unless Redis answers at PORTAL_TEST_REDIS_URL
(``redis://127.0.0.1:6379`` by default); each xdist worker uses a Redis database of its own
(``REDIS_URL``: gw0 → 8, gw1 → 9…).
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

BASE_PG_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
REPLICA_SCRIPT = Path(__file__).parent / "pg_replica.sh"


def _worker_url(url: str, worker: str) -> str:
    if not url.startswith("postgresql") or not worker:
        return url
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}"[:63]).render_as_string(
        hide_password=False)


PG_URL = _worker_url(BASE_PG_URL, WORKER)
BASE_REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
REDIS_URL = f"{BASE_REDIS_URL}/{8 + int(WORKER.removeprefix('gw') or 0) % 8}"


def _create_database(url: str) -> None:
    from sqlalchemy import text

    from portal.base.db import make_engine

    name = make_url(url).database
    admin = make_engine(make_url(url).set(database="postgres").render_as_string(
        hide_password=False), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                            {"n": name}).first() is None:
                # template0: template1 may be in use by another worker's CREATE DATABASE.
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
    finally:
        admin.dispose()


def pytest_configure(config: pytest.Config) -> None:
    if PG_URL != BASE_PG_URL:
        _create_database(PG_URL)


@functools.cache
def replica_unavailable() -> str:
    """Why no streaming replica can be made here ("" when one can)."""
    if not PG_URL.startswith("postgresql"):
        return "no PostgreSQL"
    if make_url(PG_URL).host not in ("127.0.0.1", "localhost", None):
        return "the test database is not on this machine"
    done = subprocess.run([str(REPLICA_SCRIPT), "check"], capture_output=True, text=True,
                          check=False)
    return "" if done.returncode == 0 else (done.stdout + done.stderr).strip() or "check failed"


@functools.cache
def redis_unavailable() -> str:
    """Why Redis cannot be used here ("" when it can)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except (redis.RedisError, OSError) as exc:
        return str(exc)
    return ""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def unwanted(item: pytest.Item) -> bool:
        if item.get_closest_marker("postgres") and not PG_URL.startswith("postgresql"):
            return True
        if item.get_closest_marker("redis") and redis_unavailable():
            return True
        return bool(item.get_closest_marker("replica")) and bool(replica_unavailable())

    deselected = [item for item in items if unwanted(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not unwanted(item)]
