"""Liveness, database reachability and, with a read replica, where reads go."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.base.replicas import read_state


def _database_ok(request: Request) -> bool:
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:  # any failure means "not ok"; the reason goes to the server log
        request.app.state.logger.exception("health check: database unreachable")
        return False
    return True


def _replica(request: Request) -> dict[str, Any]:
    """Where the read engine reads from, after taking a connection from it (which asks the
    replica how far behind it is when that is due, and tries a replica marked down or lagging
    again once its back-off has passed)."""
    read_engine = request.app.state.read_engine
    if read_state(read_engine) is None:
        return {}
    try:
        with read_engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:  # the primary failed too: _database_ok says so
        request.app.state.logger.exception("health check: read engine unreachable")
    state = read_state(read_engine)
    assert state is not None
    body: dict[str, Any] = {}
    if state.state == "ok":
        body["replica"] = "ok"
    elif state.state == "lagging":
        body["replica"] = "lagging, reading from the primary"
    else:
        body["replica"] = "down, reading from the primary"
    if state.lag is not None:
        body["replica_lag_seconds"] = round(state.lag, 1)
    return body


def _check(request: Request) -> tuple[bool, dict[str, Any]]:
    return _database_ok(request), _replica(request)


async def show_health(request: Request) -> Response:
    ok, replica = await run_in_threadpool(_check, request)
    body = {"status": "ok" if ok else "error", "database": "ok" if ok else "error", **replica}
    return JSONResponse(body, status_code=200 if ok else 503)


routes = [Route("/healthz", show_health, methods=["GET"], name="healthz")]
