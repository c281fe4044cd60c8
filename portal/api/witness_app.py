"""The HTTP face of ``portal witness serve`` (C2SP ``tlog-witness``): a small application of its
own, apart from the portal's.

* ``POST /add-checkpoint``: an old size line, proof lines, a blank line and a checkpoint note →
  200 with the cosignature line; 400, 403, 404, 409 (``text/x.tlog.size``: the size last
  cosigned) or 422 as the specification says.
* ``GET /<sha256 of the origin, hex>/checkpoint``: the last checkpoint cosigned for that log,
  with the log's signature and the cosignature; 404 before the first.
* ``GET /``: the witness's name and verifier key, for whoever configures a log or a verifier.
"""

from __future__ import annotations

import re

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from portal.ledger import witness as witnessing

TEXT = "text/plain; charset=utf-8"
_HASH = re.compile(r"\A[0-9a-f]{64}\Z")


async def _read_limited(request: Request) -> bytes | None:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > witnessing.MAX_REQUEST_BYTES:
            return None
    return bytes(body)


def build_witness_app(witness: witnessing.Witness) -> Starlette:
    async def add_checkpoint(request: Request) -> Response:
        body = await _read_limited(request)
        if body is None:
            return PlainTextResponse("the request is too large\n", status_code=413)
        try:
            line = await run_in_threadpool(witness.add_checkpoint, body)
        except witnessing.Refused as refused:
            return Response(refused.body, status_code=refused.status,
                            media_type=refused.media_type)
        return Response(line, media_type=TEXT)

    async def show_checkpoint(request: Request) -> Response:
        hashed = request.path_params["origin_hash"]
        found = None
        if _HASH.match(hashed):
            found = await run_in_threadpool(witness.checkpoint, hashed)
        if found is None:
            return PlainTextResponse("this witness has cosigned no checkpoint of that log\n",
                                     status_code=404)
        return Response(found, media_type=TEXT, headers={"Cache-Control": "no-cache"})

    async def home(_request: Request) -> Response:
        return PlainTextResponse(
            f"C2SP tlog-witness {witness.name}\nvkey {witness.key.vkey}\n")

    return Starlette(routes=[
        Route("/", home, methods=["GET"]),
        Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
        Route("/{origin_hash}/checkpoint", show_checkpoint, methods=["GET"]),
    ])
