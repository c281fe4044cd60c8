"""Database engines and sessions for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, create_engine

from portal.base import inputs


def utcnow() -> datetime:
    return datetime.now(UTC)


# A URL parameter of the portal's own, taken out before the driver sees the URL:
# ``?pgbouncer=true`` says the URL names a PgBouncer in transaction mode (older than 1.21, or
# without ``max_prepared_statements``), where a prepared statement made in one transaction may
# be asked for on another server connection: psycopg then prepares nothing.
PGBOUNCER_PARAMETER = "pgbouncer"


def driver_options(url: str) -> tuple[str, dict[str, Any]]:
    """``url`` without the portal's own parameters, and the driver's connect arguments they
    ask for (``prepare_threshold=None`` behind PgBouncer)."""
    if not url.startswith("postgresql"):
        return url, {}
    parsed = make_url(url)
    flag = parsed.query.get(PGBOUNCER_PARAMETER)
    if flag is None:
        return url, {}
    clean = parsed.difference_update_query([PGBOUNCER_PARAMETER])
    text = clean.render_as_string(hide_password=False)
    if str(flag).lower() in ("true", "1", "yes", "on", "transaction"):
        return text, {"prepare_threshold": None}
    return text, {}


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and foreign keys.

    Bound parameters are kept out of error messages: they hold names and emails, and an
    unhandled database error ends up in the server's log. Every statement's text values are
    checked for NUL first (``inputs.check_parameters``): refused input, never a database error.
    A PostgreSQL URL may carry ``?pgbouncer=true`` (``driver_options``).
    An SQLite file is created readable by its owner only (0600), like the keys.
    """
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        _private_file(url)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        _configure_sqlite(engine)
    else:
        url, options = driver_options(url)
        if options:
            kwargs["connect_args"] = {**options, **kwargs.get("connect_args", {})}
        engine = create_engine(url, pool_pre_ping=True, **kwargs)
    event.listen(engine, "before_cursor_execute", _check_parameters)
    event.listen(engine, "handle_error", _refused_by_database)
    return engine


def _refused_by_database(context: Any) -> BaseException | None:
    """A value the database cannot hold (PostgreSQL's data exceptions, class 22: a number out
    of range, a string too long, bad text; SQLite's integers beyond 64 bits) is refused input,
    answered 400, not a server error."""
    original = context.original_exception
    state = getattr(original, "sqlstate", None) or ""
    if isinstance(original, OverflowError) or state.startswith("22"):
        return inputs.InputRefused("parameter", "A value is beyond what the database holds")
    return None


def _check_parameters(_conn: Any, _cursor: Any, _statement: str, parameters: Any,
                      _context: Any, executemany: bool) -> None:
    inputs.check_parameters(parameters, many=executemany)


def _private_file(url: str) -> None:
    """Create the database file 0600 before SQLite does (its WAL and shared-memory files take
    the database file's mode), and take group and other access from an existing one."""
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    if os.path.exists(path):
        if os.stat(path).st_mode & 0o077:
            os.chmod(path, 0o600)
            for suffix in ("-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.chmod(path + suffix, 0o600)
    elif os.path.isdir(os.path.dirname(os.path.abspath(path))):
        # FileExistsError: another process created it a moment ago.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see _on_begin).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock at the start, so two writers queue instead of one
        # failing with "database is locked" when it upgrades a read lock.
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def session_scope(engine: Engine, *, write: bool = False) -> Iterator[Session]:
    """Open a session; ``write=True`` takes SQLite's write lock when the transaction begins."""
    bind = engine.execution_options(sqlite_begin="IMMEDIATE") if write else engine
    with Session(bind, expire_on_commit=False) as session:
        yield session


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use portal.base.db.utcnow()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
