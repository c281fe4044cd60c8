"""The log under /log/, read by a verifier written here straight from the C2SP texts
(signed-note, tlog-checkpoint, tlog-tiles) and RFC 6962 §2.1, apart from portal's own code: only
hashlib and cryptography. The portal is used to fill the log and publish, nothing else."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from starlette.testclient import TestClient

from portal.api.log import publish
from portal.base.db import session_scope, utcnow
from portal.ledger import tlog

# --- the verifier, from the specifications -----------------------------------------------------

WIDTH = 256  # tlog-tiles: a full tile is 256 hashes, a subtree of height 8
EM_DASH = "\u2014"


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(entry: bytes) -> bytes:  # RFC 6962 §2.1
    return sha256(b"\x00" + entry)


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def mth(hashes: list[bytes]) -> bytes:
    """MTH over already hashed leaves (RFC 6962 §2.1: split at the largest power of two < n)."""
    if not hashes:
        return sha256(b"")
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return node_hash(mth(hashes[:k]), mth(hashes[k:]))


def parse_vkey(vkey: str) -> tuple[str, bytes, Ed25519PublicKey]:
    """signed-note "Verifier keys": <name>+hex(key ID)+base64(0x01 || 32-byte key)."""
    name, key_id_hex, material = vkey.split("+", 2)  # base64 may hold "+" too
    raw = base64.b64decode(material, validate=True)
    assert raw[0] == 0x01 and len(raw) == 33, "an Ed25519 vkey"
    key_id = bytes.fromhex(key_id_hex)
    assert key_id == sha256(name.encode() + b"\n" + b"\x01" + raw[1:])[:4]
    return name, key_id, Ed25519PublicKey.from_public_bytes(raw[1:])


def open_note(note: str, vkey: str) -> str:
    """signed-note "Format" and "Signatures": the note text, once a signature by the known key
    (same name and key ID) verifies; AssertionError otherwise."""
    name, key_id, public = parse_vkey(vkey)
    assert note.endswith("\n")
    assert all(c == "\n" or ord(c) >= 0x20 for c in note), "no control characters"
    cut = note.rindex("\n\n")
    text, lines = note[:cut + 1], note[cut + 2:].splitlines()
    verified = False
    for line in lines:
        assert line.startswith(EM_DASH + " ")
        signer, signature = line[2:].split(" ")
        raw = base64.b64decode(signature, validate=True)
        if signer != name or raw[:4] != key_id:
            continue  # an unknown key: ignored
        public.verify(raw[4:], text.encode())  # a known key's signature must verify
        verified = True
    assert verified, "no signature by the known key"
    return text


def read_checkpoint(text: str) -> tuple[str, int, bytes]:
    """tlog-checkpoint "Note text": origin, tree size (no leading zeroes), base64 root."""
    lines = text.split("\n")[:-1]
    assert len(lines) >= 3 and all(lines)
    origin, size, root = lines[:3]
    assert size == str(int(size))
    raw = base64.b64decode(root, validate=True)
    assert len(raw) == 32
    return origin, int(size), raw


def tile_path(n: int) -> str:
    """tlog-tiles: zero-padded 3-digit elements, all but the last prefixed with x."""
    parts = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        parts.insert(0, f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(parts)


class TileReader:
    """The tiles a tree of ``size`` needs, fetched once each: level L holds the hashes of the
    complete subtrees of height 8·L, the last tile partial (floor(size / 256^L) mod 256)."""

    def __init__(self, get: Any, size: int) -> None:
        self.get, self.size = get, size
        self.levels: dict[int, list[bytes]] = {}

    def level(self, level: int) -> list[bytes]:
        if level not in self.levels:
            count = self.size // WIDTH ** level
            hashes: list[bytes] = []
            for n in range((count + WIDTH - 1) // WIDTH):
                width = min(WIDTH, count - n * WIDTH)
                path = f"/log/tile/{level}/{tile_path(n)}" + ("" if width == WIDTH
                                                              else f".p/{width}")
                body = self.get(path)
                assert len(body) == 32 * width, path
                hashes += [body[i:i + 32] for i in range(0, len(body), 32)]
            self.levels[level] = hashes
        return self.levels[level]

    def subtree(self, height: int, index: int) -> bytes:
        """The hash of the complete subtree of ``height`` at ``index``, from the tile level
        at or below it: 2^(height mod 8) hashes of level height div 8, hashed up."""
        base = self.level(height // 8)
        span = 1 << (height % 8)
        return mth(base[index * span:(index + 1) * span])

    def root(self) -> bytes:
        """The root from complete subtrees, largest (leftmost) first, folded from the right."""
        parts, lo = [], 0
        while lo < self.size:
            height = (self.size - lo).bit_length() - 1
            parts.append(self.subtree(height, lo >> height))
            lo += 1 << height
        if not parts:
            return sha256(b"")
        root = parts[-1]
        for left in reversed(parts[:-1]):
            root = node_hash(left, root)
        return root


def read_bundle(body: bytes) -> list[bytes]:
    """tlog-tiles "Log entries": big-endian uint16 length-prefixed entries."""
    entries, i = [], 0
    while i < len(body):
        length = int.from_bytes(body[i:i + 2], "big")
        entries.append(body[i + 2:i + 2 + length])
        i += 2 + length
    assert i == len(body)
    return entries


# --- the verifier checked against the specification's own example -------------------------------

def test_the_note_verifier_accepts_the_signed_note_example_and_nothing_altered() -> None:
    vkey = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
    note = ("This is an example message.\n\n"
            f"{EM_DASH} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1E"
            "RYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n")
    assert open_note(note, vkey) == "This is an example message.\n"
    with pytest.raises(InvalidSignature):
        open_note(note.replace("example message", "exemplary message"), vkey)


# --- the portal's log, read with it --------------------------------------------------------------

def fill(app: Any, count: int) -> None:
    """``count`` entries appended in one transaction, then a checkpoint published."""
    entries = ({"type": "blocklist.person_added", "at": tlog.rfc3339(utcnow()),
                "entry_id": i + 1} for i in range(count))
    with session_scope(app.state.engine, write=True) as session:
        tlog.append_many(session, entries)
        session.commit()
    publish(app.state.engine, app.state.settings)


@pytest.fixture
def http(app) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(app)  # no lifespan: the test publishes


def getter(http: TestClient) -> Any:
    def get(path: str) -> bytes:
        response = http.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "application/octet-stream"
        full = ".p/" not in path
        assert response.headers["cache-control"] == (
            "public, max-age=31536000, immutable" if full else "public, max-age=60")
        return response.content
    return get


@pytest.mark.parametrize("size", [1, 255, 256, 257, 600])
def test_the_checkpoint_and_tiles_verify_from_the_specification(app, http, size) -> None:
    fill(app, size)
    vkey_response = http.get("/log/vkey")
    assert vkey_response.headers["content-type"] == "text/plain; charset=utf-8"
    vkey = vkey_response.text.splitlines()[0]
    response = http.get("/log/checkpoint")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=1"
    origin, tree_size, root = read_checkpoint(open_note(response.text, vkey))
    assert origin == "localhost:8000/log" == parse_vkey(vkey)[0]  # key name = origin
    assert tree_size == size

    reader = TileReader(getter(http), size)
    assert reader.root() == root
    # Each tile above level 0 holds the MTH of a full tile below it.
    for level in range(1, 3):
        for i, hashed in enumerate(reader.level(level)):
            assert hashed == mth(reader.level(level - 1)[i * WIDTH:(i + 1) * WIDTH])

    # The entry bundles hash to the level-0 tiles, and their leaves to the root.
    get = getter(http)
    leaves: list[bytes] = []
    for n in range((size + WIDTH - 1) // WIDTH):
        width = min(WIDTH, size - n * WIDTH)
        leaves += read_bundle(get(f"/log/tile/entries/{tile_path(n)}"
                                  + ("" if width == WIDTH else f".p/{width}")))
    assert len(leaves) == size
    assert [leaf_hash(e) for e in leaves] == reader.level(0)
    assert mth([leaf_hash(e) for e in leaves]) == root
    assert leaves[0] == b'{"at":"' + leaves[0][7:27] + b'","entry_id":1,' \
        b'"type":"blocklist.person_added"}'  # the JCS bytes of the entry


def test_only_the_published_tree_is_served(app, http) -> None:
    assert http.get("/log/checkpoint").status_code == 503  # nothing published yet
    fill(app, 300)
    with session_scope(app.state.engine, write=True) as session:  # grown, not yet published
        tlog.append_many(session, ({"type": "blocklist.person_added",
                                    "at": tlog.rfc3339(utcnow()), "entry_id": 1000 + i}
                                   for i in range(300)))
        session.commit()
    get = getter(http)
    assert len(get("/log/tile/0/000")) == 32 * 256
    assert len(get("/log/tile/0/001.p/44")) == 32 * 44
    assert len(get("/log/tile/0/001.p/10")) == 32 * 10  # a smaller size published earlier
    assert len(get("/log/tile/1/000.p/1")) == 32
    for beyond in ("/log/tile/0/001", "/log/tile/0/001.p/45", "/log/tile/0/002.p/1",
                   "/log/tile/entries/001", "/log/tile/1/000", "/log/tile/2/000.p/1",
                   # not the spec's encoding: leading zero elements, widths, levels
                   "/log/tile/0/x000/000", "/log/tile/0/0", "/log/tile/0/000.p/0",
                   "/log/tile/0/000.p/256", "/log/tile/0/000.p/010", "/log/tile/64/000",
                   "/log/tile/00/000", "/log/tile/entries", "/log/tile/x/000"):
        assert http.get(beyond).status_code == 404, beyond
    publish(app.state.engine, app.state.settings)
    assert len(get("/log/tile/0/001")) == 32 * 256
    assert len(get("/log/tile/0/002.p/88")) == 32 * 88
