"""Liveness and database reachability."""

from __future__ import annotations

from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def _database_ok(request: Request) -> bool:
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:  # any failure means "not ok"; the reason goes to the server log
        request.app.state.logger.exception("health check: database unreachable")
        return False
    return True


async def show_health(request: Request) -> Response:
    ok = await run_in_threadpool(_database_ok, request)
    body = {"status": "ok" if ok else "error", "database": "ok" if ok else "error"}
    return JSONResponse(body, status_code=200 if ok else 503)


routes = [Route("/healthz", show_health, methods=["GET"], name="healthz")]
