"""The transparency log as a C2SP tiled log under ``/log/`` (DESIGN §6, "The log in the formats
its ecosystem uses"): the same tree as the JSON endpoints of ``portal.api.log``.

* ``GET /log/checkpoint``: the newest published checkpoint as a C2SP ``tlog-checkpoint`` in a
  ``signed-note`` (origin ``<issuer host>/log``, signed with the log's Ed25519 key under that
  name), as stored when it was published; read only.
* ``GET /log/vkey``: the note verifier keys, one a line, the active one first.
* ``GET /log/note/<N>``: the checkpoint of size N as a signed note with the witnesses'
  cosignatures (a portal extension: what a verifier holding a JSON checkpoint checks them on).
* ``GET /log/tile/<L>/<N>[.p/<W>]`` and ``GET /log/tile/entries/<N>[.p/<W>]`` per C2SP
  ``tlog-tiles``: 256-wide tiles of hashes at height 8, and entry bundles (each entry a
  big-endian uint16 length and its leaf bytes, the JCS text). Only what the published tree
  holds is served (else 404); full tiles are immutable, partial ones cached briefly.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from portal.api.log import PUBLISHED_MAX_AGE
from portal.base.db import session_scope
from portal.ledger import tlog
from portal.records import certificates

TEXT = "text/plain; charset=utf-8"
BINARY = "application/octet-stream"
IMMUTABLE = "public, max-age=31536000, immutable"
PARTIAL = "public, max-age=60"
MAX_LEVEL = 63

_ELEMENT = re.compile(r"\Ax\d{3}\Z")
_LAST = re.compile(r"\A\d{3}\Z")
_WIDTH = re.compile(r"\A[1-9]\d{0,2}\Z")
_LEVEL = re.compile(r"\A(0|[1-9]\d?)\Z")


def parse_index(parts: list[str]) -> int | None:
    """The tile index of its path elements (``x001``, ``x234``, ``067``), or None."""
    if not parts or not _LAST.match(parts[-1]) or not all(_ELEMENT.match(p) for p in parts[:-1]):
        return None
    index = 0
    for part in parts:
        index = index * 1000 + int(part.lstrip("x"))
    return index


def index_path(index: int) -> str:
    """The path elements of a tile index: 1234067 → ``x001/x234/067``."""
    parts = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        parts.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(parts))


def parse_tile_path(rest: str) -> tuple[int | None, int, int | None] | None:
    """``<L>/<N>[.p/<W>]`` or ``entries/<N>[.p/<W>]`` → (level, or None for entries, index,
    width or None for a full tile); None when the path is not one."""
    parts = rest.split("/")
    if len(parts) < 2:
        return None
    head, parts = parts[0], parts[1:]
    if head == "entries":
        level = None
    elif _LEVEL.match(head) and int(head) <= MAX_LEVEL:
        level = int(head)
    else:
        return None
    width = None
    if len(parts) >= 2 and parts[-2].endswith(".p"):
        if not _WIDTH.match(parts[-1]) or int(parts[-1]) >= tlog.TILE_WIDTH:
            return None
        width = int(parts[-1])
        parts = [*parts[:-2], parts[-2].removesuffix(".p")]
    index = parse_index(parts)
    if index is None or index_path(index) != "/".join(parts):
        return None  # no leading zero elements: one path per tile
    return level, index, width


def _not_found(why: str = "no such tile in the published tree") -> Response:
    return PlainTextResponse(f"{why}\n", status_code=404, headers={"Cache-Control": "no-store"})


def _published_size(session: Any) -> int | None:
    checkpoint = tlog.latest_checkpoint(session)
    return None if checkpoint is None else int(checkpoint["tree_size"])


async def show_checkpoint(request: Request) -> Response:
    def work() -> tuple[int, str] | None:
        with session_scope(request.app.state.read_engine) as session:
            return tlog.latest_note(session, quorum=request.app.state.witness_quorum)

    found = await run_in_threadpool(work)
    if found is None:
        return PlainTextResponse("no checkpoint is published yet\n", status_code=503,
                                 headers={"Retry-After": str(PUBLISHED_MAX_AGE)})
    return Response(found[1], media_type=TEXT,
                    headers={"Cache-Control": f"public, max-age={PUBLISHED_MAX_AGE}"})


def vkeys(name: str, keys: list[dict[str, Any]]) -> list[str]:
    """The note verifier keys of the JWKs, the active ones first."""
    ordered = sorted(keys, key=lambda k: k.get("status") != "active")
    return [tlog.vkey(name, base64.urlsafe_b64decode(k["x"] + "=" * (-len(k["x"]) % 4)))
            for k in ordered]


async def show_vkey(request: Request) -> Response:
    def work() -> str:
        with session_scope(request.app.state.read_engine) as session:
            keys = certificates.public_keys(session)
        return "".join(f"{line}\n" for line in vkeys(request.app.state.settings.log_origin,
                                                        keys))

    body = await run_in_threadpool(work)
    if not body:
        return PlainTextResponse("no key is published yet\n", status_code=503,
                                 headers={"Retry-After": str(PUBLISHED_MAX_AGE)})
    return Response(body, media_type=TEXT, headers={"Cache-Control": "public, max-age=300"})


async def show_tile(request: Request) -> Response:
    parsed = parse_tile_path(request.path_params["rest"])
    if parsed is None:
        return _not_found("not a tile path")
    level, index, width = parsed

    def work() -> bytes | None:
        with session_scope(request.app.state.read_engine) as session:
            size = _published_size(session)
            if size is None:
                return None
            available = tlog.tile_width(level or 0, index, size)
            wanted = tlog.TILE_WIDTH if width is None else width
            if available < wanted:
                return None
            try:
                if level is None:
                    return tlog.entry_bundle(session, index, wanted)
                return tlog.tile(session, level, index, wanted)
            except LookupError:
                return None

    body = await run_in_threadpool(work)
    if body is None:
        return _not_found()
    return Response(body, media_type=BINARY,
                    headers={"Cache-Control": IMMUTABLE if width is None else PARTIAL})


async def show_note(request: Request) -> Response:
    """``GET /log/note/<N>``: the checkpoint of tree size N as a signed note with the
    witnesses' cosignatures, for a verifier holding the JSON checkpoint of that size."""
    raw = request.path_params["tree_size"]
    if not raw.isdigit() or len(raw) > 16 or (raw != "0" and raw.startswith("0")):
        return _not_found("no checkpoint of that size")

    def work() -> str | None:
        with session_scope(request.app.state.read_engine) as session:
            return tlog.note_of(session, int(raw))

    note = await run_in_threadpool(work)
    if note is None:
        return _not_found("no checkpoint of that size")
    return Response(note, media_type=TEXT, headers={"Cache-Control": "public, max-age=60"})


routes = [
    Route("/log/checkpoint", show_checkpoint, methods=["GET"], name="tlog_checkpoint"),
    Route("/log/vkey", show_vkey, methods=["GET"], name="tlog_vkey"),
    Route("/log/note/{tree_size}", show_note, methods=["GET"], name="tlog_note"),
    Route("/log/tile/{rest:path}", show_tile, methods=["GET"], name="tlog_tile"),
]
