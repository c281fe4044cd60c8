"""Reads that may lag go to a streaming replica (DESIGN §9, "Past one PostgreSQL primary").

``make_read_engine`` gives an ordinary SQLAlchemy engine whose connections come from the
replica while it is reachable and no further behind the primary than ``max_lag`` seconds, and
from the primary otherwise. Whoever reads through it needs to know nothing of this: the choice
is made when a connection is made or taken from the pool.

- **Down.** A replica that does not answer within ``connect_timeout`` seconds (libpq counts 2 at
  least) is marked down: the connection is made to the primary instead, and for ``retry``
  seconds every read goes to the primary without trying the replica again (one request per
  ``retry`` seconds pays the timeout, not every request).
- **Lagging.** At most every ``probe`` seconds a connection to the replica is asked how far its
  replay is behind (``LAG_SQL``); beyond ``max_lag`` seconds the replica is marked lagging and
  reads go to the primary, again for ``retry`` seconds before the replica is asked again.
- Connections of the other kind left in the pool are replaced when they are next taken out.

``read_state`` tells ``/healthz`` what the read engine is doing.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from portal.base.db import driver_options, make_engine, session_scope

logger = logging.getLogger("portal")

# Seconds the replica's replay is behind the primary: 0 when it has replayed everything it
# received and is still streaming, else the age of the last transaction it replayed (an upper
# bound: the primary may have written nothing for a while before), NULL (unknown, counted as
# too far behind) when it has replayed none since it started. A server that is not in
# recovery (the URL names the primary, or a promoted replica) is never behind.
LAG_SQL = """
SELECT CASE
  WHEN NOT pg_is_in_recovery() THEN 0.0
  WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn()
       AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') THEN 0.0
  ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8
END
"""

REPLICA = "replica"
PRIMARY = "primary"
_TARGET = "portal_read_target"


@dataclass(frozen=True)
class ReadState:
    """What the read engine does now: ``state`` is ``ok``, ``lagging`` or ``down``; ``lag`` the
    replica's lag in seconds when it was last measured (None when it could not be)."""

    state: str
    lag: float | None
    reading_from: str


class _Router:
    def __init__(self, *, max_lag: float, retry: float, probe: float) -> None:
        self.max_lag = max_lag
        self.retry = retry
        self.probe = probe
        self.state = "ok"
        self.lag: float | None = None
        self.retry_at = 0.0
        self.probed_at = float("-inf")
        self.lock = threading.Lock()

    def target(self) -> str:
        if self.state == "ok" or time.monotonic() >= self.retry_at:
            return REPLICA
        return PRIMARY

    def probe_due(self) -> bool:
        return self.state != "ok" or time.monotonic() - self.probed_at >= self.probe

    def mark(self, state: str, lag: float | None = None) -> None:
        with self.lock:
            if state != self.state:
                logger.warning("read replica: %s (lag %s s)", state,
                               "unknown" if lag is None else f"{lag:.1f}")
            self.state = state
            self.lag = lag
            self.probed_at = time.monotonic()
            if state != "ok":
                self.retry_at = time.monotonic() + self.retry

    def check_lag(self, dbapi_conn: Any) -> bool:
        """Measure the lag on a replica connection; whether reads may stay on it."""
        try:
            # Outside any transaction (the connection is idle when made or taken out): the
            # question opens none, so nothing is left to end.
            autocommit = dbapi_conn.autocommit
            dbapi_conn.autocommit = True
            try:
                cursor = dbapi_conn.cursor()
                try:
                    cursor.execute(LAG_SQL)
                    measured = cursor.fetchone()[0]
                finally:
                    cursor.close()
            finally:
                dbapi_conn.autocommit = autocommit
        except Exception:  # the replica went away between connecting and asking
            self.mark("down")
            return False
        lag = None if measured is None else max(float(measured), 0.0)
        if lag is None or lag > self.max_lag:
            self.mark("lagging", lag)
            return False
        self.mark("ok", lag)
        return True


_ROUTERS: weakref.WeakKeyDictionary[Engine, _Router] = weakref.WeakKeyDictionary()
_READERS: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def make_read_engine(primary: Engine, primary_url: str, replica_url: str, *,
                     max_lag: float = 5.0, retry: float = 5.0, connect_timeout: int = 2,
                     probe: float = 1.0, **kwargs: Any) -> Engine:
    """An engine reading from ``replica_url`` and falling back to the primary (``primary``,
    made from ``primary_url``) as described above.

    ``read_engine_for(primary)`` returns it afterwards, for code that holds only the primary.
    """
    if primary.dialect.name != "postgresql" or not replica_url.startswith("postgresql"):
        raise ValueError("a read replica needs PostgreSQL for both the primary and the replica")
    router = _Router(max_lag=max_lag, retry=retry, probe=probe)
    engine = make_engine(replica_url, **kwargs)
    # The primary as the primary's own engine connects to it (its URL's options included).
    primary_clean, primary_options = driver_options(primary_url)
    primary_cargs, primary_params = engine.dialect.create_connect_args(make_url(primary_clean))
    primary_params = {**primary_params, **primary_options}

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        if router.target() == REPLICA:
            try:
                conn = dialect.connect(*cargs, **{"connect_timeout": connect_timeout,
                                                  **cparams})
            except Exception:
                router.mark("down")
            else:
                if not router.probe_due() or router.check_lag(conn):
                    record.info[_TARGET] = REPLICA
                    return conn
                conn.close()
        record.info[_TARGET] = PRIMARY
        return dialect.connect(*primary_cargs, **primary_params)

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        target = record.info.get(_TARGET)
        if target != router.target():
            raise exc.DisconnectionError(f"read connection to the {target} is to be replaced")
        if target == REPLICA and router.probe_due() and not router.check_lag(dbapi_conn):
            raise exc.DisconnectionError("the read replica is behind or gone")

    _ROUTERS[engine] = router
    _READERS[primary] = engine
    return engine


def read_engine_for(primary: Engine) -> Engine:
    """The read engine made for ``primary``; the primary itself when it has none."""
    return _READERS.get(primary, primary)


def read_state(engine: Engine) -> ReadState | None:
    """What a read engine from ``make_read_engine`` is doing; None for any other engine."""
    router = _ROUTERS.get(engine)
    if router is None:
        return None
    return ReadState(state=router.state, lag=router.lag,
                     reading_from=REPLICA if router.target() == REPLICA else PRIMARY)


@contextmanager
def reading(session: Session, primary: Engine, reader: Engine | None = None
            ) -> Iterator[Session]:
    """A session for reads that may lag: ``session`` (the request's, on ``primary``) when
    there is no read replica, else a session of its own on the read engine (``reader``, by
    default ``read_engine_for(primary)``)."""
    reader = read_engine_for(primary) if reader is None else reader
    if reader is primary:
        yield session
        return
    with session_scope(reader) as own:
        yield own
