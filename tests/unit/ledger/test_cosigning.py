"""The log's side of C2SP tlog-witness: each new checkpoint goes to the witnesses in
PORTAL_WITNESSES with a consistency proof; their cosignatures are checked and served on the
checkpoint; the published checkpoint is the newest one PORTAL_WITNESS_QUORUM of them cosigned.

The witnesses are ``portal witness``'s own HTTP application, reached through a test transport;
cosignatures are checked with the verifier of test_witness.py, written from the specification.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.testclient import TestClient

from portal.api.log import publish, witness
from portal.api.witness_app import build_witness_app
from portal.app import create_app
from portal.base.db import session_scope, utcnow
from portal.base.settings import SettingsError
from portal.ledger import cosigning, tlog
from portal.ledger import witness as witnessing
from tests.unit.ledger.test_witness import cosignature_ok

KEYS = {name: Ed25519PrivateKey.generate() for name in ("w1.example/w", "w2.example/w")}


def vkey(name: str) -> str:
    return witnessing.cosigner_key(name, KEYS[name]).vkey


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    settings.witnesses = "; ".join(f"http://{name.split('/')[0]}/ {vkey(name)}" for name in KEYS)
    settings.witness_quorum = 2
    return settings


@pytest.fixture
def http(app) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(app)  # no lifespan: the test publishes


def fill(app: Any, count: int) -> None:
    entries = ({"type": "blocklist.person_added", "at": tlog.rfc3339(utcnow()),
                "entry_id": i + 1} for i in range(count))
    with session_scope(app.state.engine, write=True) as session:
        tlog.append_many(session, entries)
        session.commit()
    publish(app.state.engine, app.state.settings)


class Witnesses:
    """The two witnesses, served by their own application, trusting the app's log key."""

    def __init__(self, app: Any, http: TestClient, tmp_path: Any) -> None:
        fill(app, 1)
        log_key = witnessing.parse_vkey(http.get("/log/vkey").text.splitlines()[0])
        self.served = {
            name: witnessing.Witness(name, key, [log_key], tmp_path / f"{name[:2]}.json")
            for name, key in KEYS.items()}
        self.clients = {name.split("/")[0]: TestClient(build_witness_app(w))
                        for name, w in self.served.items()}
        self.down: set[str] = set()
        self.requests: list[tuple[str, bytes]] = []

    def post(self, url: str, body: bytes) -> tuple[int, str, bytes]:
        host = url.split("/")[2]
        self.requests.append((host, body))
        if host in self.down:
            raise ConnectionRefusedError("the witness is down")
        answer = self.clients[host].post("/" + url.split("/", 3)[3], content=body)
        return answer.status_code, answer.headers["content-type"], answer.content


@pytest.fixture
def witnesses(app, http, tmp_path) -> Iterator[Witnesses]:  # type: ignore[no-untyped-def]
    yield Witnesses(app, http, tmp_path)


def gather(app: Any, witnesses: Witnesses) -> int:
    return cosigning.gather(app.state.engine, app.state.settings, post=witnesses.post)


def published(http: TestClient) -> tuple[int, str]:
    answer = http.get("/log/checkpoint")
    assert answer.status_code == 200, answer.text
    return int(answer.text.split("\n")[1]), answer.text


def cosigners(note: str) -> set[str]:
    lines = note.split("\n\n")[1].splitlines()
    found = set()
    for name, key in KEYS.items():
        if any(cosignature_ok(note, line + "\n", name, key.public_key()) for line in lines):
            found.add(name)
    return found


def test_a_checkpoint_is_published_once_the_quorum_cosigned_it(app, http, witnesses) -> None:
    assert http.get("/log/checkpoint").status_code == 503, "nothing cosigned yet"
    assert http.get("/api/v1/log/checkpoint").status_code == 503
    assert gather(app, witnesses) == 2
    size, note = published(http)
    assert cosigners(note) == set(KEYS)
    checkpoint = http.get("/api/v1/log/checkpoint").json()
    assert checkpoint["tree_size"] == size
    assert http.get(f"/log/note/{size}").text == note, "the same note, for the JSON head"
    assert http.get(f"/log/note/{size + 1}").status_code == 404

    # The log grows: the new head waits for its cosignatures, the old one stays published.
    fill(app, 5)
    assert published(http)[0] == size
    assert gather(app, witnesses) == 2
    new_size, note = published(http)
    assert new_size == size + 5 and cosigners(note) == set(KEYS)
    # Each witness got a consistency proof from the size it had cosigned.
    old_line = witnesses.requests[-1][1].decode().splitlines()[0]
    assert old_line == f"old {size}"
    assert gather(app, witnesses) == 0, "nothing more to ask"


def test_a_witness_down_holds_publication_at_the_quorum(app, http, witnesses) -> None:
    assert gather(app, witnesses) == 2
    size, _ = published(http)
    witnesses.down.add("w2.example")
    fill(app, 3)
    assert gather(app, witnesses) == 1
    assert published(http)[0] == size, "one of two is not the quorum of two"
    with session_scope(app.state.engine) as session:
        assert tlog.latest_checkpoint(session, quorum=1)["tree_size"] == size + 3
    witnesses.down.clear()
    assert gather(app, witnesses) == 1, "the witness that was down is asked again"
    assert published(http)[0] == size + 3


def test_a_witness_ahead_of_our_record_answers_409_and_is_asked_again(app, http, witnesses
                                                                     ) -> None:
    assert gather(app, witnesses) == 2
    fill(app, 4)
    # Another process of the log had the new head cosigned by w1 and did not keep it.
    with session_scope(app.state.engine) as session:
        size, note = tlog.newest_note(session)
        proof = tlog.consistency_proof(session, size - 4, size).proof
    assert witnesses.post("http://w1.example/add-checkpoint",
                          witnessing.add_checkpoint_body(size - 4, proof, note))[0] == 200
    assert gather(app, witnesses) == 2
    assert published(http)[0] == size
    statuses = [witness_request.decode().splitlines()[0]
                for host, witness_request in witnesses.requests if host == "w1.example"]
    assert statuses[-2:] == [f"old {size - 4}", f"old {size}"], "asked again from its size"


def test_a_wrong_cosignature_is_not_kept(app, http, witnesses) -> None:
    real = witnesses.post

    def forged(url: str, body: bytes) -> tuple[int, str, bytes]:
        status, media, answer = real(url, body)
        blob = bytearray(answer)
        blob[-5] ^= 1  # one base64 character of the signature changed
        return status, media, bytes(blob)

    witnesses.post = forged  # type: ignore[method-assign]
    assert gather(app, witnesses) == 0
    assert http.get("/log/checkpoint").status_code == 503


def test_the_configuration_is_checked_at_start(settings) -> None:
    good = settings.witnesses
    for bad in ("w1.example/w " + vkey("w1.example/w"),  # no scheme
                "http://w1.example/ not-a-key",
                f"http://a/ {vkey('w1.example/w')}; http://b/ {vkey('w1.example/w')}"):
        settings.witnesses = bad
        with pytest.raises(SettingsError, match="PORTAL_WITNESSES"):
            create_app(settings)
    settings.witnesses = good
    settings.witness_quorum = 5
    assert cosigning.quorum(settings) == 2, "never more than the witnesses configured"
    settings.witnesses = ""
    assert cosigning.quorum(settings) == 0


def test_the_server_round_asks_the_witnesses(app, witnesses, monkeypatch) -> None:
    """``portal.api.log.witness``, run by the server after each publication, is gather."""
    monkeypatch.setattr(cosigning, "http_post", lambda timeout: witnesses.post)
    assert witness(app.state.engine, app.state.settings) == 2
    origin_hash = hashlib.sha256(app.state.settings.log_origin.encode()).hexdigest()
    cosigned = witnesses.clients["w1.example"].get(f"/{origin_hash}/checkpoint")
    assert cosigned.status_code == 200 and "w1.example/w" in cosigned.text
