"""`portal log verify`: an auditor's cron job against the log served over real HTTP.

The portal runs under uvicorn on a local port that is also its issuer; the auditor pins it with
``--issuer`` (the keys are then found at ``<issuer>/.well-known/portal-keys.json``) or gives
``--keys``. The log's checkpoints are published as the server's publisher does. Tampering
"in transit" wraps ``verifier.fetch_json``, which still fetches over HTTP underneath.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portal import cli
from portal.api.log import publish
from portal.base.db import session_scope, utcnow
from portal.ledger import tlog
from portal.records import verifier
from tests.unit.api.test_log_api import verify_consistency, verify_inclusion


@pytest.fixture
def settings(settings, listener):  # type: ignore[no-untyped-def]
    """The shared settings, with the live server's address as the issuer (the log's origin)."""
    host, port = listener.getsockname()
    settings.issuer = f"http://{host}:{port}"
    return settings


def run(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`portal log verify ARGS`, pinned to the issuer the --url belongs to unless the args pin
    trust themselves."""
    if "--keys" not in args and "--issuer" not in args:
        url = args[args.index("--url") + 1]
        args = (*args, "--issuer", url.rstrip("/").removesuffix("/api/v1/log"))
    code = cli.main(["log", "verify", *args])
    out = capsys.readouterr().out.strip()
    assert "\n" not in out, "one line of output"
    return code, out


def append(app: Any, count: int) -> None:
    """Entries as a blocklist addition appends them (as test_log_api.py does)."""
    for i in range(count):
        with session_scope(app.state.engine, write=True) as session:
            tlog.append(session, {"type": "blocklist.person_added",
                                  "at": tlog.rfc3339(utcnow()), "entry_id": i + 1})
            session.commit()
    publish(app.state.engine, app.state.settings)


def tamper(monkeypatch: pytest.MonkeyPatch, path: str,
           change: Callable[[dict[str, Any]], None]) -> None:
    """Alter the answers for URLs whose path ends with ``path`` on their way to the verifier."""
    real = verifier.fetch_json

    def fetch(url: str) -> Any:
        body = real(url)
        if url.split("?")[0].endswith(path):
            change(body)
        return body

    monkeypatch.setattr(verifier, "fetch_json", fetch)


def flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def test_first_run_stores_and_later_runs_are_consistent(approved, app, live, state, capsys
                                                        ) -> None:
    from tests.unit.oversight.test_sanctions import sanction

    code, out = run("--url", live, "--state", str(state), capsys=capsys)
    assert code == 0 and out.startswith("first checkpoint stored: tree_size 1 root ")
    first = json.loads(state.read_text())
    assert first["tree_size"] == 1 and first["origin"] == app.state.settings.issuer
    assert verifier.certificates.verify_signature(
        first, verifier.load_keys(f"{first['origin']}/.well-known/portal-keys.json"))

    number, moderator = approved
    assert sanction(moderator, number, "suspend", until="2099-01-01").status_code == 303
    append(app, 5)
    code, out = run("--url", live, "--state", str(state), capsys=capsys)
    second = json.loads(state.read_text())
    assert second["tree_size"] > 6
    assert code == 0 and out == (f"consistent: tree_size {second['tree_size']} root "
                                 f"{second['root_hash']} (was 1)")

    # Nothing new: the same tree, still consistent; the trailing slash is optional.
    code, out = run("--url", live + "/", "--state", str(state), capsys=capsys)
    assert code == 0 and out.endswith(f"(was {second['tree_size']})")
    assert [p.name for p in state.parent.iterdir()] == [state.name], "no temporary file left"


def test_an_empty_log_is_extended_by_any_tree(client, app, live, state, capsys) -> None:
    code, out = run("--url", live, "--state", str(state), capsys=capsys)
    assert code == 0 and out.startswith("first checkpoint stored: tree_size 0 ")
    append(app, 3)
    code, out = run("--url", live, "--state", str(state), capsys=capsys)
    assert code == 0 and out.startswith("consistent: tree_size 3 ") and out.endswith("(was 0)")


@pytest.fixture
def stored(approved, app, live, state, capsys) -> bytes:  # type: ignore[no-untyped-def]
    """A state file from a good first run, then the log grown to 4 entries; its bytes."""
    assert run("--url", live, "--state", str(state), capsys=capsys)[0] == 0
    append(app, 3)
    return state.read_bytes()


def test_a_tampered_checkpoint_signature_is_refused(stored, live, state, monkeypatch, capsys
                                                    ) -> None:
    tamper(monkeypatch, "/checkpoint", lambda c: c.update(signature=flip(c["signature"])))
    code, out = run("--url", live, "--state", str(state), capsys=capsys)
    assert (code, out) == (1, "invalid: the checkpoint's signature does not match")
    assert state.read_bytes() == stored


def test_a_checkpoint_altered_under_its_signature_is_refused(stored, live, state, monkeypatch,
                                                             capsys) -> None:
    tamper(monkeypatch, "/checkpoint", lambda c: c.update(tree_size=c["tree_size"] + 1))
    code, out = run("--url", live, "--state", str(state), capsys=capsys)
    assert (code, out) == (1, "invalid: the checkpoint's signature does not match")
    assert state.read_bytes() == stored


def test_a_first_run_with_a_bad_signature_stores_nothing(approved, live, state, monkeypatch,
                                                         capsys) -> None:
    tamper(monkeypatch, "/checkpoint", lambda c: c.update(signature=flip(c["signature"])))
    code, out = run("--url", live, "--state", str(state), capsys=capsys)
    assert code == 1 and out.startswith("invalid: ")
    assert not state.exists()


def _other_keys(tmp_path: Path, kid: str) -> Path:
    raw = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    path = tmp_path / "other-keys.json"
    path.write_text(json.dumps({"keys": [{"kid": kid, "kty": "OKP", "crv": "Ed25519", "x": x,
                                          "status": "active", "created_at": "2026-01-01"}]}))
    return path


def test_a_wrong_key_set_is_refused(stored, live, state, tmp_path, capsys) -> None:
    kid = json.loads(stored)["kid"]
    keys = _other_keys(tmp_path, kid)  # the right kid, another key
    code, out = run("--url", live, "--state", str(state), "--keys", str(keys), capsys=capsys)
    assert (code, out) == (1, "invalid: the checkpoint's signature does not match")
    keys = _other_keys(tmp_path, "someone-else")
    code, out = run("--url", live, "--state", str(state), "--keys", str(keys), capsys=capsys)
    assert (code, out) == (1, "invalid: unknown signing key " + repr(kid))
    assert state.read_bytes() == stored


def test_the_keys_can_be_given_as_a_file(stored, live, state, tmp_path, capsys) -> None:
    keys = tmp_path / "keys.json"
    keys.write_bytes(verifier.urllib.request.urlopen(
        live.removesuffix("/api/v1/log") + "/.well-known/portal-keys.json").read())
    code, out = run("--url", live, "--state", str(state), "--keys", str(keys), capsys=capsys)
    assert code == 0 and out.startswith("consistent: tree_size 4 ") and out.endswith("(was 1)")


def _forge(kind: str, real: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A stored checkpoint the served tree (4 entries) does not extend, and why."""
    other_root = base64.b64encode(hashlib.sha256(b"another tree").digest()).decode()
    if kind == "same size, other root":
        return {**real, "tree_size": 4, "root_hash": other_root}, "same size, different root"
    if kind == "smaller size, other root":
        return ({**real, "tree_size": 2, "root_hash": other_root},
                "the consistency proof does not verify")
    if kind == "larger size":
        return {**real, "tree_size": 9}, "the tree is smaller"
    return {**real, "origin": "https://elsewhere.example"}, "its origin is"


@pytest.mark.parametrize("kind", ["same size, other root", "smaller size, other root",
                                  "larger size", "other origin"])
def test_a_checkpoint_that_does_not_extend_the_stored_one_is_refused(
        kind, stored, live, state, capsys) -> None:
    forged, reason = _forge(kind, json.loads(stored))
    state.write_text(json.dumps(forged))
    before = state.read_bytes()
    code, out = run("--url", live, "--state", str(state), capsys=capsys)
    assert code == 1 and out.startswith("invalid: the checkpoint (tree_size 4) does not extend "
                                        "the stored one"), out
    assert reason in out
    assert state.read_bytes() == before


def test_a_consistency_proof_tampered_in_transit_is_refused(stored, live, state, monkeypatch,
                                                            capsys) -> None:
    def change(answer: dict[str, Any]) -> None:
        answer["proof"][-1] = flip(answer["proof"][-1])

    tamper(monkeypatch, "/proof/consistency", change)
    code, out = run("--url", live, "--state", str(state), capsys=capsys)
    assert (code, out) == (1, "invalid: the checkpoint (tree_size 4) does not extend the stored "
                              "one (tree_size 1): the consistency proof does not verify")
    assert state.read_bytes() == stored

    tamper(monkeypatch, "/proof/consistency", lambda a: a.update(proof=a["proof"][:-1]))
    assert run("--url", live, "--state", str(state), capsys=capsys)[0] == 1
    tamper(monkeypatch, "/proof/consistency", lambda a: a.update(proof="not a list"))
    code, out = run("--url", live, "--state", str(state), capsys=capsys)
    assert code == 1 and out.endswith("the consistency proof is malformed")
    assert state.read_bytes() == stored


def test_network_and_json_failures_are_reported(approved, live, state, listener, capsys
                                                ) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    code, out = run("--url", f"http://127.0.0.1:{port}/api/v1/log", "--state", str(state),
                    capsys=capsys)
    assert code == 1 and out.startswith(
        f"invalid: could not fetch http://127.0.0.1:{port}/api/v1/log/checkpoint: ")
    # The home page is HTML, not JSON; a missing path is a 404.
    code, out = run("--url", live.removesuffix("/api/v1/log") + "/?", "--state", str(state),
                    capsys=capsys)
    assert code == 1 and out.startswith("invalid: could not fetch ")
    code, out = run("--url", live + "/nowhere", "--state", str(state), capsys=capsys)
    assert code == 1 and out.startswith("invalid: could not fetch ") and "404" in out
    assert not state.exists()


def test_an_unreadable_state_file_is_left_alone(stored, live, state, capsys) -> None:
    state.write_text("{not json")
    code, out = run("--url", live, "--state", str(state), capsys=capsys)
    assert code == 1 and out.startswith(f"invalid: the state file {state} is not JSON")
    assert state.read_text() == "{not json"


# --- the "done when": an independently written verifier accepts the log's proofs ---------------


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 Merkle Tree Hash over leaf hashes, written apart from portal.ledger.tlog."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def test_every_proof_the_api_serves_verifies_independently(approved, app, client) -> None:
    """Consistency proofs for every pair of sizes 1 ≤ m ≤ n ≤ 21, and inclusion proofs for every
    leaf of every size, checked with test_log_api.py's RFC 9162 verifiers (not portal.ledger.tlog's)
    against roots computed here from the entries."""
    append(app, 20)
    checkpoint = client.get("/api/v1/log/checkpoint").json()
    size = checkpoint["tree_size"]
    assert size == 21
    entries = client.get(f"/api/v1/log/entries?start=0&end={size}").json()["entries"]
    leaves = [hashlib.sha256(b"\x00" + rfc8785.dumps(item["entry"])).digest()
              for item in entries]
    assert [base64.b64decode(item["leaf_hash"]) for item in entries] == leaves
    roots = {n: _mth(leaves[:n]) for n in range(1, size + 1)}
    assert base64.b64decode(checkpoint["root_hash"]) == roots[size]

    for n in range(1, size + 1):
        for m in range(1, n + 1):
            answer = client.get(f"/api/v1/log/proof/consistency?first={m}&second={n}").json()
            assert (answer["first"], answer["second"]) == (m, n)
            proof = [base64.b64decode(p) for p in answer["proof"]]
            assert verify_consistency(m, n, proof, roots[m], roots[n]), (m, n)
            if m < n:
                assert not verify_consistency(m, n, proof, roots[m], roots[n - 1]), (m, n)
                bent = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
                assert not verify_consistency(m, n, bent, roots[m], roots[n]), (m, n)
        for index in range(n):
            answer = client.get(f"/api/v1/log/proof/inclusion?index={index}&tree_size={n}").json()
            path = [base64.b64decode(p) for p in answer["audit_path"]]
            assert verify_inclusion(leaves[index], index, n, path, roots[n]), (index, n)


def test_trust_must_be_pinned(live, state, capsys) -> None:
    code = cli.main(["log", "verify", "--url", live, "--state", str(state)])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert "give --keys FILE_OR_URL or --issuer URL" in captured.err
    assert not state.exists()


def test_a_log_of_another_issuer_is_refused(live, state, capsys) -> None:
    code, out = run("--url", live, "--state", str(state), "--issuer", "https://portal.example",
                    capsys=capsys)
    assert code == 1 and out.startswith("invalid: the checkpoint's origin is ")
    assert "not 'https://portal.example' given with --issuer" in out
    assert not state.exists()
