"""The public log endpoints, checked by a verifier written here from RFC 9162 and DESIGN §6."""

from __future__ import annotations

import base64
import hashlib

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from portal.api.log import publish
from portal.records.certificates import Certificate
from tests.unit.http_wizard import fresh


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def verify_inclusion(leaf: bytes, index: int, size: int, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2, independently of portal.ledger.tlog."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _h(b"\x01" + p + r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _h(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, proof: list[bytes], r1: bytes, r2: bytes
                       ) -> bool:
    """RFC 9162 §2.1.4.2, independently of portal.ledger.tlog."""
    if first == second:
        return not proof and r1 == r2
    if not proof:
        return False
    if first & (first - 1) == 0:
        proof = [r1, *proof]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _h(b"\x01" + c + fr)
            sr = _h(b"\x01" + c + sr)
            while fn & 1 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = _h(b"\x01" + sr + c)
        fn >>= 1
        sn >>= 1
    return fr == r1 and sr == r2 and sn == 0


def checkpoint_ok(checkpoint: dict, keys: list[dict]) -> bool:
    key = next(k for k in keys if k["kid"] == checkpoint["kid"])
    raw = base64.urlsafe_b64decode(key["x"] + "=" * (-len(key["x"]) % 4))
    unsigned = {k: v for k, v in checkpoint.items() if k != "signature"}
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(
            base64.b64decode(checkpoint["signature"]), rfc8785.dumps(unsigned))
    except Exception:
        return False
    return True


def published(client) -> dict:  # type: ignore[no-untyped-def]
    """Publish a checkpoint of the log as it stands (what the server's publisher does within
    PORTAL_LOG_PUBLISH_SECONDS), then read it as a client does."""
    publish(client.app.state.engine, client.app.state.settings)
    return client.get("/api/v1/log/checkpoint").json()


def test_checkpoint_entries_and_proofs_verify_independently(approved, client, session) -> None:
    keys = client.get("/.well-known/portal-keys.json").json()["keys"]
    first = published(client)
    assert set(first) == {"origin", "tree_size", "root_hash", "timestamp", "kid", "signature"}
    assert first["origin"] == "http://localhost:8000" and first["tree_size"] == 1
    assert checkpoint_ok(first, keys)
    assert not checkpoint_ok({**first, "tree_size": 2}, keys)

    certificate = fresh(session, Certificate)[0]
    entries = client.get("/api/v1/log/entries?start=0&end=1").json()["entries"]
    entry = entries[0]["entry"]
    assert entry["certificate_sha256"] == certificate.sha256 and entry["number"]
    leaf = _h(b"\x00" + rfc8785.dumps(entry))
    assert base64.b64decode(entries[0]["leaf_hash"]) == leaf

    proof = client.get("/api/v1/log/proof/inclusion?index=0&tree_size=1").json()
    assert proof["audit_path"] == [] and proof["leaf_hash"] == entries[0]["leaf_hash"]
    assert verify_inclusion(leaf, 0, 1, [], base64.b64decode(first["root_hash"]))


def test_log_grows_consistently(approved, client, session) -> None:
    from portal.base.db import session_scope, utcnow
    from portal.ledger import tlog

    first = published(client)
    engine = client.app.state.engine
    for i in range(6):
        with session_scope(engine, write=True) as s:
            tlog.append(s, {"type": "blocklist.person_added", "at": tlog.rfc3339(utcnow()),
                            "entry_id": i + 1})
            s.commit()
    second = published(client)
    assert second["tree_size"] == 7
    proof = client.get("/api/v1/log/proof/consistency?first=1&second=7").json()
    assert verify_consistency(1, 7, [base64.b64decode(p) for p in proof["proof"]],
                              base64.b64decode(first["root_hash"]),
                              base64.b64decode(second["root_hash"]))
    entries = client.get("/api/v1/log/entries?start=0&end=7").json()["entries"]
    for index, item in enumerate(entries):
        path = client.get(f"/api/v1/log/proof/inclusion?index={index}&tree_size=7").json()
        assert verify_inclusion(base64.b64decode(item["leaf_hash"]), index, 7,
                                [base64.b64decode(p) for p in path["audit_path"]],
                                base64.b64decode(second["root_hash"]))


def test_bad_parameters_are_problem_documents(approved, client) -> None:
    for url in ("/api/v1/log/entries?start=x&end=1", "/api/v1/log/entries?start=1&end=1",
                "/api/v1/log/entries?start=0&end=5000", "/api/v1/log/entries?start=0&end=9",
                "/api/v1/log/proof/inclusion?index=3&tree_size=1",
                "/api/v1/log/proof/consistency?first=0&second=1",
                # Beyond what SQLite (or a JSON reader holding doubles) can take.
                "/api/v1/log/proof/consistency?first=9223372036854775808"
                "&second=9223372036854775809",
                "/api/v1/log/entries?start=0&end=99999999999999999999"):
        response = client.get(url)
        assert response.status_code == 422, url
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 422


def _append(engine, count: int) -> None:  # type: ignore[no-untyped-def]
    from portal.base.db import session_scope, utcnow
    from portal.ledger import tlog

    for i in range(count):
        with session_scope(engine, write=True) as s:
            tlog.append(s, {"type": "blocklist.person_added", "at": tlog.rfc3339(utcnow()),
                            "entry_id": i + 1})
            s.commit()


def test_the_checkpoint_is_the_published_one_and_publishing_signs_once_per_size(app) -> None:
    from starlette.testclient import TestClient

    # Without its lifespan the app has published nothing: 503, try again.
    http = TestClient(app)
    response = http.get("/api/v1/log/checkpoint")
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    first = publish(app.state.engine, app.state.settings)
    assert first is not None and first["tree_size"] == 0
    assert publish(app.state.engine, app.state.settings) is None  # nothing new: nothing signed
    _append(app.state.engine, 3)
    # A GET serves what is stored, even though the log grew since.
    response = http.get("/api/v1/log/checkpoint")
    assert response.json() == first
    assert response.headers["cache-control"] == "public, max-age=1"
    second = publish(app.state.engine, app.state.settings)
    assert second is not None and second["tree_size"] == 3
    assert http.get("/api/v1/log/checkpoint").json() == second


def test_publishing_at_startup_and_then_when_the_log_grew(settings) -> None:
    from starlette.testclient import TestClient

    from portal.app import create_app

    settings.log_publish_seconds = 0.05
    app = create_app(settings)
    with TestClient(app) as http:
        assert http.get("/api/v1/log/checkpoint").json()["tree_size"] == 0
        _append(app.state.engine, 2)
        import time
        deadline = time.monotonic() + 10
        while http.get("/api/v1/log/checkpoint").json()["tree_size"] != 2:
            assert time.monotonic() < deadline, "the publisher did not publish the new size"
            time.sleep(0.05)
    app.state.engine.dispose()


def test_a_thousand_concurrent_checkpoint_reads_write_nothing(app) -> None:
    import asyncio
    import json

    from sqlalchemy import event, func, select

    from portal.base.db import session_scope
    from portal.ledger.tlog import Checkpoint

    engine = app.state.engine
    _append(engine, 5)
    expected = publish(engine, app.state.settings)
    _append(engine, 3)  # grown since: a read that signed would write a checkpoint of size 8
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)

    async def get(path: str) -> tuple[int, bytes]:
        """One GET straight through the ASGI interface."""
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
                 "query_string": b"", "root_path": "", "headers": [(b"host", b"testserver")],
                 "client": ("127.0.0.1", 1), "server": ("testserver", 80)}
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        await app(scope, receive, send)
        status = next(m["status"] for m in sent if m["type"] == "http.response.start")
        return status, b"".join(m.get("body", b"") for m in sent
                                if m["type"] == "http.response.body")

    async def read_all() -> list[tuple[int, bytes]]:
        return await asyncio.gather(*(get("/api/v1/log/checkpoint") for _ in range(1000)))

    try:
        answers = asyncio.run(read_all())
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert [status for status, _ in answers] == [200] * 1000
    assert all(json.loads(body) == expected for _, body in answers)
    assert len(statements) >= 1000  # each read did read
    writes = [s for s in statements
              if s.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE")
              or "advisory" in s.lower()]
    assert writes == []
    with session_scope(engine) as session:
        assert session.execute(select(func.count()).select_from(Checkpoint)).scalar() == 1
