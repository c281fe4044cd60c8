"""The witness of ``portal witness serve`` (C2SP tlog-witness), over its HTTP interface.

The logs here are built in the test: leaves, their RFC 6962 roots and proofs, notes signed with
a log key the witness trusts. Cosignatures are checked by ``cosignature_ok`` below, written from
the tlog-cosignature text (Ed25519, ``cosignature/v1``) apart from the portal's own code. The
witness must cosign what extends what it saw and refuse a fork: the same size with another
root, or a larger tree whose proof does not connect.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from starlette.testclient import TestClient

from portal.api.witness_app import build_witness_app
from portal.ledger import tlog
from portal.ledger import witness as witnessing

ORIGIN = "portal.example.gov.cn/log"
NOW = 1_796_000_000


# --- from the specifications (signed-note, tlog-checkpoint, tlog-cosignature) ------------------


def note_key_id(name: str, key_type: int, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + public).digest()[:4]


def sign_checkpoint(key: Ed25519PrivateKey, size: int, root: bytes,
                    origin: str = ORIGIN) -> str:
    """A tlog-checkpoint signed as a signed-note by the log key (type 0x01)."""
    text = f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"
    public = key.public_key().public_bytes_raw()
    sig = note_key_id(origin, 0x01, public) + key.sign(text.encode())
    return f"{text}\n\u2014 {origin} {base64.b64encode(sig).decode()}\n"


def cosignature_ok(note: str, line: str, name: str, public: Ed25519PublicKey) -> int | None:
    """tlog-cosignature/v1: the timestamp of a valid Ed25519 cosignature line on the note."""
    text = note[:note.rindex("\n\n") + 1]
    assert line.startswith("\u2014 ") and line.endswith("\n")
    line_name, blob = line[2:-1].split(" ")
    raw = base64.b64decode(blob)
    expected_id = note_key_id(name, 0x04, public.public_bytes_raw())
    if line_name != name or raw[:4] != expected_id or len(raw) != 4 + 8 + 64:
        return None
    timestamp = struct.unpack(">Q", raw[4:12])[0]
    message = f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()
    try:
        public.verify(raw[12:], message)
    except InvalidSignature:
        return None
    return int(timestamp)


def body(old: int, proof: list[bytes], note: str) -> bytes:
    lines = [f"old {old}\n", *(base64.b64encode(h).decode() + "\n" for h in proof), "\n"]
    return ("".join(lines) + note).encode()


# --- a witness and a log -----------------------------------------------------------------------


class Log:
    def __init__(self, key: Ed25519PrivateKey, leaves: list[bytes]) -> None:
        self.key = key
        self.leaves = leaves

    def root(self, size: int) -> bytes:
        return tlog.mth(self.leaves[:size])

    def note(self, size: int) -> str:
        return sign_checkpoint(self.key, size, self.root(size))

    def proof(self, old: int, size: int) -> list[bytes]:
        return tlog.proof(old, self.leaves[:size]) if 0 < old < size else []


@pytest.fixture
def log_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def log(log_key: Ed25519PrivateKey) -> Log:
    return Log(log_key, [f"entry {i}".encode() for i in range(20)])


@pytest.fixture
def witness_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def witness(tmp_path: Path, log_key: Ed25519PrivateKey,
            witness_key: Ed25519PrivateKey) -> witnessing.Witness:
    log_vkey = witnessing.NoteKey(ORIGIN, 0x01, log_key.public_key().public_bytes_raw())
    return witnessing.Witness("witness.example.org/w1", witness_key, [log_vkey],
                              tmp_path / "state" / "witness.json", clock=lambda: NOW)


@pytest.fixture
def http(witness: witnessing.Witness) -> TestClient:
    return TestClient(build_witness_app(witness))


def add(http: TestClient, old: int, proof: list[bytes], note: str) -> Any:
    return http.post("/add-checkpoint", content=body(old, proof, note))


def cosigned(http: TestClient, log: Log, old: int, size: int,
             witness_key: Ed25519PrivateKey) -> int | None:
    note = log.note(size)
    answer = add(http, old, log.proof(old, size), note)
    assert answer.status_code == 200, answer.text
    return cosignature_ok(note, answer.text, "witness.example.org/w1", witness_key.public_key())


def test_a_growing_log_is_cosigned_each_time(http, log, witness_key) -> None:
    assert cosigned(http, log, 0, 3, witness_key) == NOW
    assert cosigned(http, log, 3, 8, witness_key) == NOW
    assert cosigned(http, log, 8, 8, witness_key) == NOW  # the same head again
    assert cosigned(http, log, 8, 20, witness_key) == NOW

    served = http.get(f"/{hashlib.sha256(ORIGIN.encode()).hexdigest()}/checkpoint")
    assert served.status_code == 200
    text, signatures = served.text.split("\n\n")
    assert text + "\n" == log.note(20).split("\n\n")[0] + "\n"
    log_line, cosig_line = signatures.splitlines()
    assert log_line.startswith(f"\u2014 {ORIGIN} ")
    assert cosignature_ok(served.text, cosig_line + "\n", "witness.example.org/w1",
                          witness_key.public_key()) == NOW


def test_a_fork_of_the_same_size_is_refused_and_kept_as_evidence(http, log, log_key, witness,
                                                                  witness_key) -> None:
    assert cosigned(http, log, 0, 5, witness_key)
    forked = Log(log_key, [*log.leaves[:4], b"rewritten", *log.leaves[5:]])
    answer = add(http, 5, [], forked.note(5))
    assert answer.status_code == 422
    assert "forked" in answer.text
    evidence = [json.loads(line) for line in witness.evidence_path.read_text().splitlines()]
    assert [e["checkpoint"] for e in evidence] == [forked.note(5)]
    # The witness still stands by the honest head, and cosigns what extends it.
    assert json.loads(witness.state_path.read_text())["logs"][ORIGIN]["root"] == \
        base64.b64encode(log.root(5)).decode()
    assert cosigned(http, log, 5, 9, witness_key)


def test_a_larger_tree_that_does_not_extend_the_cosigned_one_is_refused(http, log, log_key,
                                                                        witness_key) -> None:
    assert cosigned(http, log, 0, 6, witness_key)
    forked = Log(log_key, [*log.leaves[:2], b"rewritten", *log.leaves[3:]])
    # The fork's own proof from 6 to 12 connects the fork's roots, not the one cosigned.
    answer = add(http, 6, forked.proof(6, 12), forked.note(12))
    assert answer.status_code == 422
    answer = add(http, 6, [], forked.note(12))
    assert answer.status_code == 422


def test_a_stale_old_size_gets_409_with_the_size_cosigned(http, log, witness_key) -> None:
    assert cosigned(http, log, 0, 7, witness_key)
    answer = add(http, 3, log.proof(3, 10), log.note(10))
    assert answer.status_code == 409
    assert answer.headers["content-type"].startswith("text/x.tlog.size")
    assert answer.text == "7\n"
    answer = add(http, 0, [], log.note(10))  # a log that does not know asks with 0
    assert (answer.status_code, answer.text) == (409, "7\n")


@pytest.mark.parametrize("case", ["unknown origin", "no trusted signature", "bad signature",
                                  "old beyond size", "proof from zero", "empty tree root",
                                  "malformed"])
def test_what_the_specification_refuses(http, log, log_key, case) -> None:
    status = {"unknown origin": 404, "no trusted signature": 403, "bad signature": 403,
              "old beyond size": 400, "proof from zero": 422, "empty tree root": 422,
              "malformed": 400}[case]
    if case == "unknown origin":
        request = body(0, [], sign_checkpoint(log_key, 3, log.root(3), "other.example/log"))
    elif case == "no trusted signature":
        request = body(0, [], sign_checkpoint(Ed25519PrivateKey.generate(), 3, log.root(3)))
    elif case == "bad signature":
        request = body(0, [], log.note(3).replace("\n3\n", "\n4\n"))
    elif case == "old beyond size":
        request = body(5, [], log.note(3))
    elif case == "proof from zero":
        request = body(0, [log.root(1)], log.note(3))
    elif case == "empty tree root":
        request = body(0, [], sign_checkpoint(log_key, 0, log.root(3)))
    else:
        request = b"old 01\n\n" + log.note(3).encode()
    answer = http.post("/add-checkpoint", content=request)
    assert answer.status_code == status, answer.text
    assert http.get(f"/{hashlib.sha256(ORIGIN.encode()).hexdigest()}/checkpoint"
                    ).status_code == 404, "nothing cosigned"


def test_the_empty_tree_is_cosigned(http, log_key, witness_key) -> None:
    note = sign_checkpoint(log_key, 0, hashlib.sha256(b"").digest())
    answer = add(http, 0, [], note)
    assert answer.status_code == 200
    assert cosignature_ok(note, answer.text, "witness.example.org/w1", witness_key.public_key())


def test_the_state_survives_a_restart(tmp_path, log, log_key, witness, http, witness_key
                                      ) -> None:
    assert cosigned(http, log, 0, 4, witness_key)
    again = witnessing.Witness(
        "witness.example.org/w1", witness_key,
        [witnessing.NoteKey(ORIGIN, 0x01, log_key.public_key().public_bytes_raw())],
        witness.state_path, clock=lambda: NOW)
    restarted = TestClient(build_witness_app(again))
    assert add(restarted, 0, [], log.note(6)).text == "4\n"
    assert (witness.state_path.stat().st_mode & 0o777) == 0o600


def test_key_files_and_verifier_keys(tmp_path) -> None:
    path = tmp_path / "w.key"
    key = witnessing.create_key_file(path, "witness.example.org/w1")
    assert (path.stat().st_mode & 0o777) == 0o600
    name, private = witnessing.load_key_file(path)
    assert name == "witness.example.org/w1"
    public = private.public_key().public_bytes_raw()
    # signed-note "Verifier keys", with the cosigner type 0x04 of tlog-cosignature
    material = base64.b64encode(bytes([4]) + public).decode()
    expected = f"witness.example.org/w1+{note_key_id(name, 0x04, public).hex()}+{material}"
    assert key.vkey == expected
    assert witnessing.parse_vkey(expected) == key
    with pytest.raises(FileExistsError):
        witnessing.create_key_file(path, "witness.example.org/w1")
    with pytest.raises(ValueError):
        witnessing.parse_vkey(expected.replace("+", "+00", 1))
