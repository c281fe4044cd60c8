"""Public, keyless records: the signing keys (DESIGN §6)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.base.db import session_scope
from portal.records import certificates


def _keys(request: Request) -> dict[str, object]:
    with session_scope(request.app.state.engine) as session:
        return {"keys": certificates.public_keys(session)}


async def show_keys(request: Request) -> Response:
    body = await run_in_threadpool(_keys, request)
    return JSONResponse(body, headers={"Cache-Control": "public, max-age=300"})


routes = [
    Route("/.well-known/portal-keys.json", show_keys, methods=["GET"], name="portal_keys"),
]
