"""The transparency log's four public endpoints (DESIGN §6), no key needed, and the publisher
of its checkpoints.

Checkpoints are published: ``publish`` signs one when the log grew (the app's lifespan runs it
at startup and then every ``PORTAL_LOG_PUBLISH_SECONDS``) and stores it; a GET serves the newest
stored one and never writes nor signs. Before any is stored (an app run without its lifespan)
the GET answers 503 with Retry-After.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.api.core import SAFE_INTEGER
from portal.api.problems import problem
from portal.base.db import session_scope
from portal.base.settings import Settings
from portal.ledger import cosigning, tlog
from portal.records import certificates


class BadParameters(Exception):
    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors


def _int(request: Request, name: str, *, minimum: int = 0) -> int:
    raw = request.query_params.get(name)
    if raw is None or not raw.isdigit():
        raise BadParameters([{"field": name, "message": f"{name} must be a whole number"}])
    value = int(raw)
    if value > SAFE_INTEGER:
        raise BadParameters([{"field": name, "message": f"{name} must be at most {SAFE_INTEGER}"}])
    if value < minimum:
        raise BadParameters([{"field": name, "message": f"{name} must be at least {minimum}"}])
    return value


async def _answer(request: Request, work: Callable[[], dict[str, Any]]) -> Response:
    try:
        body = await run_in_threadpool(work)
    except BadParameters as exc:
        return problem(422, "The query parameters are not valid", errors=exc.errors)
    except ValueError as exc:
        return problem(422, str(exc))
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


PUBLISHED_MAX_AGE = 1  # seconds a client or cache may keep a checkpoint answer


def publish(engine: Engine, settings: Settings) -> dict[str, Any] | None:
    """Sign and store a checkpoint of the log's current size when none is stored for it, in a
    transaction of its own; the new checkpoint, or None when there was nothing to do.

    Several processes may run it at once: a read without the lock skips most rounds; the rest
    queue on the log's lock, and the second one for a size finds the first's checkpoint (the
    unique tree size refuses a duplicate besides, which counts as nothing to do)."""
    with session_scope(engine) as session:
        if not tlog.needs_checkpoint(session):
            return None
    try:
        with session_scope(engine, write=True) as session:
            kid, private = certificates.ensure_registered(session, settings)
            before = tlog.latest_checkpoint(session)
            checkpoint = tlog.record_checkpoint(
                session, origin=settings.issuer, kid=kid, sign=private.sign,
                note_name=settings.log_origin,
                public_key=private.public_key().public_bytes_raw())
            session.commit()
    except IntegrityError:
        return None
    if before is not None and before["tree_size"] == checkpoint["tree_size"]:
        return None
    return checkpoint


def witness(engine: Engine, settings: Settings) -> int:
    """Have the newest checkpoint cosigned by the configured witnesses (``cosigning.gather``)."""
    return cosigning.gather(engine, settings)


def not_published_yet() -> Response:
    return problem(503, "No checkpoint is published yet; try again shortly",
                   headers={"Retry-After": str(PUBLISHED_MAX_AGE)})


async def show_checkpoint(request: Request) -> Response:
    """The newest published head of the log; read only (it covers every entry committed more
    than PORTAL_LOG_PUBLISH_SECONDS ago; with witnesses, the newest that PORTAL_WITNESS_QUORUM
    of them cosigned). ``note`` is the same head as a C2SP signed note with the cosignatures."""
    def work() -> dict[str, Any] | None:
        with session_scope(request.app.state.read_engine) as session:
            return tlog.latest_checkpoint(session, quorum=request.app.state.witness_quorum)

    checkpoint = await run_in_threadpool(work)
    if checkpoint is None:
        return not_published_yet()
    return JSONResponse(checkpoint,
                        headers={"Cache-Control": f"public, max-age={PUBLISHED_MAX_AGE}"})


async def list_entries(request: Request) -> Response:
    def work() -> dict[str, Any]:
        start = _int(request, "start")
        end = _int(request, "end")
        if end <= start:
            raise BadParameters([{"field": "end", "message": "end must be greater than start"}])
        if end - start > tlog.MAX_ENTRIES:
            raise BadParameters([{"field": "end",
                                  "message": f"at most {tlog.MAX_ENTRIES} entries at a time"}])
        with session_scope(request.app.state.read_engine) as session:
            size = tlog.size(session)
            if end > size:
                raise BadParameters([{"field": "end",
                                      "message": f"the log has {size} entries"}])
            return {"entries": tlog.entries(session, start, end)}

    return await _answer(request, work)


async def show_inclusion_proof(request: Request) -> Response:
    def work() -> dict[str, Any]:
        index = _int(request, "index")
        tree_size = _int(request, "tree_size", minimum=1)
        with session_scope(request.app.state.read_engine) as session:
            return tlog.inclusion_proof(session, index, tree_size).as_json()

    return await _answer(request, work)


async def show_consistency_proof(request: Request) -> Response:
    def work() -> dict[str, Any]:
        first = _int(request, "first", minimum=1)
        second = _int(request, "second", minimum=1)
        with session_scope(request.app.state.read_engine) as session:
            return tlog.consistency_proof(session, first, second).as_json()

    return await _answer(request, work)


routes = [
    Route("/api/v1/log/checkpoint", show_checkpoint, methods=["GET"], name="log_checkpoint"),
    Route("/api/v1/log/entries", list_entries, methods=["GET"], name="log_entries"),
    Route("/api/v1/log/proof/inclusion", show_inclusion_proof, methods=["GET"],
          name="log_inclusion"),
    Route("/api/v1/log/proof/consistency", show_consistency_proof, methods=["GET"],
          name="log_consistency"),
]
