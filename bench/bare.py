"""The ceiling of the verification API: a bare Starlette endpoint reading the same row.

``GET /api/v1/registrations/{number}`` answers with one primary-key read of the ``registry``
table (portal/records/registry.py). This app does only that read, with the standard library's
sqlite3, and sends the stored JSON document: no key, no rate limit, no middleware, no ORM. The
read runs on the event loop (the ceiling), or with ``--threads`` in Starlette's thread pool. It
is served exactly as ``portal serve`` serves the portal (uvicorn, one worker, the same options;
see ``portal.cli.cmd_serve``), so the ratio of the two measures what the portal's own code
costs.

On PostgreSQL (``--pg URL``) the ceiling is the same read with psycopg's async connection pool
on the event loop (a prepared statement per connection), one worker.

    python -m bench.bare --db PATH --port PORT [--threads]
    python -m bench.bare --pg postgresql://... --port PORT
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import threading

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

DB_ENV = "BENCH_BARE_DB"
PG_ENV = "BENCH_BARE_PG"
PG_POOL = 10
_local = threading.local()


def _connection(path: str) -> sqlite3.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        _local.conn = conn
    return conn


THREADS_ENV = "BENCH_BARE_THREADS"


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def create_pg_app(url: str) -> Starlette:
    from contextlib import asynccontextmanager

    from psycopg_pool import AsyncConnectionPool

    pool = AsyncConnectionPool(url, min_size=PG_POOL, max_size=PG_POOL, open=False,
                               kwargs={"autocommit": True, "prepare_threshold": 0})

    @asynccontextmanager
    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        await pool.open(wait=True)
        yield
        await pool.close()

    async def registration(request: Request) -> Response:
        number = request.path_params["number"]
        async with pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT document FROM registry WHERE number = %s", (number,))
            row = await cursor.fetchone()
        if row is None:
            return JSONResponse({"detail": "not found"}, status_code=404)
        return Response(row[0].encode(), media_type="application/json")

    return Starlette(routes=[
        Route("/api/v1/registrations/{number}", registration, methods=["GET"]),
        Route("/healthz", _health, methods=["GET"]),
    ], lifespan=lifespan)


def create_app() -> Starlette:
    if os.environ.get(PG_ENV):
        return create_pg_app(os.environ[PG_ENV])
    path = os.environ[DB_ENV]

    def read(request: Request) -> Response:
        number = request.path_params["number"]
        row = _connection(path).execute(
            "SELECT document FROM registry WHERE number = ?", (number,)).fetchone()
        if row is None:
            return JSONResponse({"detail": "not found"}, status_code=404)
        return Response(row[0].encode(), media_type="application/json")

    async def on_loop(request: Request) -> Response:
        # The ceiling: the read on the event loop, as the portal answers it on an embedded
        # database, is the fastest way Starlette serves it.
        return read(request)

    # With --threads, the usual Starlette form of a blocking read: a sync endpoint, which
    # Starlette runs in its thread pool.
    registration = read if os.environ.get(THREADS_ENV) == "1" else on_loop

    return Starlette(routes=[
        Route("/api/v1/registrations/{number}", registration, methods=["GET"]),
        Route("/healthz", _health, methods=["GET"]),
    ])


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.bare")
    parser.add_argument("--db", default="")
    parser.add_argument("--pg", default="", help="a PostgreSQL URL (postgresql://...)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--threads", action="store_true",
                        help="a sync endpoint, run in the thread pool")
    args = parser.parse_args()
    if not args.db and not args.pg:
        parser.error("--db or --pg is needed")
    os.environ[DB_ENV] = args.db
    os.environ[PG_ENV] = args.pg.replace("postgresql+psycopg://", "postgresql://")
    os.environ[THREADS_ENV] = "1" if args.threads else "0"
    # The same call as portal.cli.cmd_serve, with one worker.
    uvicorn.run(
        "bench.bare:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=1,
        proxy_headers=True,
        server_header=False,
        log_level="info",
    )


if __name__ == "__main__":
    main()
