"""The public log endpoints, checked by a verifier written here from RFC 9162 and DESIGN §6."""

from __future__ import annotations

import base64
import hashlib

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

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


def test_checkpoint_entries_and_proofs_verify_independently(approved, client, session) -> None:
    keys = client.get("/.well-known/portal-keys.json").json()["keys"]
    first = client.get("/api/v1/log/checkpoint").json()
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

    first = client.get("/api/v1/log/checkpoint").json()
    engine = client.app.state.engine
    for i in range(6):
        with session_scope(engine, write=True) as s:
            tlog.append(s, {"type": "blocklist.person_added", "at": tlog.rfc3339(utcnow()),
                            "entry_id": i + 1})
            s.commit()
    second = client.get("/api/v1/log/checkpoint").json()
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
