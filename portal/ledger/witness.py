"""Witnesses of the log (DESIGN §6, "Witnesses"): C2SP ``tlog-witness`` with Ed25519
``tlog-cosignature`` (``cosignature/v1``), both sides of it.

* The notes: C2SP ``signed-note`` verifier keys (``<name>+<hex key ID>+base64(type ‖ key)``),
  parsing a note into its text and signature lines, checking a log's signature (type 0x01) and a
  witness's cosignature (type 0x04, over ``cosignature/v1\\ntime <t>\\n`` and the note's text).
* ``Witness``: what ``portal witness serve`` runs. It trusts the log keys it was given, keeps
  the last checkpoint it cosigned for each origin in a state file, and cosigns a checkpoint only
  when a consistency proof shows it extends that one; a fork (same size, another root; or a
  proof that does not verify) is refused and kept as evidence beside the state file.
* ``add_checkpoint_body``: the request a log sends to a witness's ``add-checkpoint``.

Ed25519 cosignatures, not ML-DSA-44: the log's own key is Ed25519, ``cryptography`` signs it
everywhere we run, and C2SP keeps the Ed25519 type for existing deployments (docs/decisions.md).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from portal.ledger import tlog

LOG_KEY_TYPE = 0x01  # an Ed25519 signed-note key (the log's)
COSIGNATURE_KEY_TYPE = 0x04  # an Ed25519 tlog-cosignature/v1 key (a witness's)
MAX_PROOF_LINES = 63
MAX_REQUEST_BYTES = 64 * 1024
SIZE_MEDIA_TYPE = "text/x.tlog.size"
_DECIMAL = re.compile(r"\A(0|[1-9][0-9]{0,18})\Z")


# --- signed-note keys and notes -----------------------------------------------------------------


def key_id(name: str, key_type: int, public_key: bytes) -> bytes:
    """SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4] (signed-note; tlog-cosignature)."""
    return tlog.note_key_id(name, public_key, bytes([key_type]))


@dataclass(frozen=True)
class NoteKey:
    """A signed-note verifier key: a log's (type 0x01) or a witness's (type 0x04)."""

    name: str
    key_type: int
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.key_type, self.public_key)

    @property
    def vkey(self) -> str:
        material = base64.b64encode(bytes([self.key_type]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def verifier(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public_key)


def parse_vkey(text: str) -> NoteKey:
    """A verifier key ``<name>+<hex key ID>+base64(type ‖ 32-byte Ed25519 key)``; ValueError
    when it is not one (unknown type, wrong length, a key ID that does not match)."""
    name, sep, rest = text.strip().partition("+")
    hex_id, sep2, material = rest.partition("+")
    if not (sep and sep2 and name) or any(c.isspace() for c in name):
        raise ValueError("a verifier key is <name>+<key ID>+<key>")
    raw = tlog.unb64(material)
    if len(raw) != 33 or raw[0] not in (LOG_KEY_TYPE, COSIGNATURE_KEY_TYPE):
        raise ValueError("only Ed25519 note keys (type 0x01) and cosigner keys (0x04) are known")
    key = NoteKey(name, raw[0], raw[1:])
    if hex_id.lower() != key.key_id.hex() or len(hex_id) != 8:
        raise ValueError("the verifier key's ID does not match its name and key")
    return key


def cosigner_key(name: str, private_key: Ed25519PrivateKey) -> NoteKey:
    return NoteKey(name, COSIGNATURE_KEY_TYPE, private_key.public_key().public_bytes_raw())


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: bytes
    signature: bytes  # what follows the key ID
    line: str  # "— name base64\n"


@dataclass(frozen=True)
class Note:
    text: str  # up to and including the newline before the blank line
    signatures: list[Signature] = field(default_factory=list)


def parse_note(note: str) -> Note:
    """The text and signature lines of a signed note; ValueError when it is not one."""
    if not note.endswith("\n") or "\n\n" not in note:
        raise ValueError("a signed note is its text, a blank line and signature lines")
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise ValueError("a signed note has no control characters")
    cut = note.rindex("\n\n")
    text, rest = note[:cut + 1], note[cut + 2:]
    signatures = []
    for line in rest.splitlines():
        if not line.startswith("\u2014 "):
            raise ValueError("a signature line starts with an em dash and a space")
        parts = line[2:].split(" ")
        if len(parts) != 2 or not parts[0]:
            raise ValueError("a signature line is '— <name> <base64>'")
        raw = tlog.unb64(parts[1])
        if len(raw) < 5:
            raise ValueError("a signature is a key ID and a signature")
        signatures.append(Signature(parts[0], raw[:4], raw[4:], line + "\n"))
    if not signatures:
        raise ValueError("a signed note has at least one signature")
    return Note(text, signatures)


def checkpoint_fields(text: str) -> tuple[str, int, bytes]:
    """Origin, tree size and root hash of a tlog-checkpoint note text (extension lines
    allowed); ValueError when it is not one."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise ValueError("a checkpoint is an origin, a size and a root hash, one a line")
    origin, size_line, root_line = lines[0], lines[1], lines[2]
    if not origin or not _DECIMAL.match(size_line):
        raise ValueError("the checkpoint's origin or size is not valid")
    root = tlog.unb64(root_line)
    if len(root) != tlog.HASH_SIZE:
        raise ValueError("the checkpoint's root hash is not 32 bytes")
    return origin, int(size_line), root


def signed_by(note: Note, key: NoteKey) -> bool | None:
    """Whether the note carries a valid signature by ``key`` (type 0x01, over the text): True,
    False when a line names the key but its signature fails, None when no line names it."""
    found = None
    for sig in note.signatures:
        if sig.name != key.name or sig.key_id != key.key_id:
            continue
        try:
            key.verifier().verify(sig.signature, note.text.encode("utf-8"))
        except InvalidSignature:
            return False
        found = True
    return found


def cosignature_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def cosign(name: str, private_key: Ed25519PrivateKey, text: str, timestamp: int) -> str:
    """A cosignature line (tlog-cosignature/v1, Ed25519) on the note text."""
    key = cosigner_key(name, private_key)
    signature = private_key.sign(cosignature_message(text, timestamp))
    payload = key.key_id + struct.pack(">Q", timestamp) + signature
    return f"\u2014 {name} {base64.b64encode(payload).decode('ascii')}\n"


def cosigned_at(note: Note, key: NoteKey) -> int | None:
    """The timestamp of a valid cosignature by ``key`` on the note, or None."""
    for sig in note.signatures:
        if sig.name != key.name or sig.key_id != key.key_id or len(sig.signature) != 72:
            continue
        timestamp = struct.unpack(">Q", sig.signature[:8])[0]
        try:
            key.verifier().verify(sig.signature[8:], cosignature_message(note.text, timestamp))
        except InvalidSignature:
            continue
        return int(timestamp)
    return None


# --- the request ------------------------------------------------------------------------------


def add_checkpoint_body(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    """``old <size>``, the proof's hashes one a line, a blank line, the checkpoint note."""
    lines = [f"old {old_size}\n", *(f"{tlog.b64(h)}\n" for h in proof), "\n"]
    return ("".join(lines) + note).encode("utf-8")


@dataclass(frozen=True)
class Submission:
    old_size: int
    proof: list[bytes]
    note: str


def parse_add_checkpoint(body: bytes) -> Submission:
    """The parts of an ``add-checkpoint`` request; ValueError when it is malformed."""
    if len(body) > MAX_REQUEST_BYTES:
        raise ValueError("the request is too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError("the request is not UTF-8") from exc
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise ValueError("the request is an old size line, proof lines, a blank line, a note")
    lines = (head + "\n").split("\n")[:-1]
    old = lines[0].removeprefix("old ")
    if not lines[0].startswith("old ") or not _DECIMAL.match(old):
        raise ValueError("the first line is 'old <size>'")
    proof = []
    for line in lines[1:]:
        raw = tlog.unb64(line)
        if len(raw) != tlog.HASH_SIZE:
            raise ValueError("a proof line is one base64 hash")
        proof.append(raw)
    if len(proof) > MAX_PROOF_LINES:
        raise ValueError(f"at most {MAX_PROOF_LINES} proof lines")
    return Submission(int(old), proof, note)


# --- the witness ------------------------------------------------------------------------------


class Refused(Exception):
    """The witness does not cosign: an HTTP status, a message, and for a 409 the size it has."""

    def __init__(self, status: int, message: str, *, size: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.size = size

    @property
    def body(self) -> str:
        return f"{self.size}\n" if self.size is not None else f"{self.message}\n"

    @property
    def media_type(self) -> str:
        return SIZE_MEDIA_TYPE if self.size is not None else "text/plain; charset=utf-8"


def origin_hash(origin: str) -> str:
    return hashlib.sha256(origin.encode("utf-8")).hexdigest()


class Witness:
    """A C2SP witness for the logs whose keys it was given. Its state (per origin: the size,
    root and cosigned note last cosigned) is a JSON file, replaced atomically under a file lock,
    so that checking the old size and storing the new checkpoint are one step even across
    processes. Refused submissions that a trusted log signed are appended to
    ``<state>.evidence.jsonl``: a fork is proof the log misbehaved."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey, logs: Sequence[NoteKey],
                 state_path: Path, *, clock: Callable[[], float] = time.time) -> None:
        if not name or any(c.isspace() or c == "+" for c in name):
            raise ValueError("a witness name has no spaces and no '+'")
        self.name = name
        self._private = private_key
        self.key = cosigner_key(name, private_key)
        self._logs: dict[str, list[NoteKey]] = {}
        for log in logs:
            if log.key_type != LOG_KEY_TYPE:
                raise ValueError(f"{log.name}: a log's key is an Ed25519 note key (type 0x01)")
            self._logs.setdefault(log.name, []).append(log)
        self.state_path = state_path
        self._clock = clock
        self._lock = threading.Lock()

    @property
    def evidence_path(self) -> Path:
        return self.state_path.with_name(self.state_path.name + ".evidence.jsonl")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.state_path.with_name(self.state_path.name + ".lock")
        with self._lock, open(lock_path, "a+") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield self._read()
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _read(self) -> dict[str, Any]:
        try:
            state = json.loads(self.state_path.read_text("utf-8"))
        except FileNotFoundError:
            return {"logs": {}}
        if not isinstance(state, dict) or not isinstance(state.get("logs"), dict):
            raise RuntimeError(f"{self.state_path} is not a witness state file")
        return state

    def _write(self, state: dict[str, Any]) -> None:
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(state, out, indent=1, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.state_path)

    def _evidence(self, origin: str, submission: Submission, reason: str) -> None:
        record = {"at": int(self._clock()), "origin": origin, "reason": reason,
                  "old": submission.old_size, "proof": [tlog.b64(h) for h in submission.proof],
                  "checkpoint": submission.note}
        with open(self.evidence_path, "a", encoding="utf-8") as out:
            out.write(json.dumps(record, sort_keys=True) + "\n")

    def add_checkpoint(self, body: bytes) -> str:
        """Check a submission and cosign it: the cosignature lines, or Refused with the status
        C2SP tlog-witness prescribes."""
        try:
            submission = parse_add_checkpoint(body)
            note = parse_note(submission.note)
            origin, size, root = checkpoint_fields(note.text)
        except ValueError as exc:
            raise Refused(400, str(exc)) from exc
        keys = self._logs.get(origin)
        if not keys:
            raise Refused(404, f"unknown log {origin!r}")
        verdicts = [signed_by(note, key) for key in keys]
        if False in verdicts or True not in verdicts:
            raise Refused(403, "the checkpoint is not signed by the log's key")
        if submission.old_size > size:
            raise Refused(400, "the old size is larger than the checkpoint's")
        with self._locked() as state:
            known = state["logs"].get(origin)
            known_size = int(known["size"]) if known else 0
            if submission.old_size != known_size:
                raise Refused(409, "the old size is not the last cosigned size", size=known_size)
            reason = self._inconsistency(submission, size, root, known)
            if reason is not None:
                self._evidence(origin, submission, reason)
                raise Refused(422, reason)
            timestamp = max(int(self._clock()), int(known.get("time", 0)) if known else 0)
            line = cosign(self.name, self._private, note.text, timestamp)
            log_lines = "".join(s.line for s in note.signatures
                                if any(s.name == k.name and s.key_id == k.key_id for k in keys))
            state["logs"][origin] = {"size": size, "root": tlog.b64(root), "time": timestamp,
                                     "checkpoint": f"{note.text}\n{log_lines}{line}"}
            self._write(state)
        return line

    @staticmethod
    def _inconsistency(submission: Submission, size: int, root: bytes,
                       known: dict[str, Any] | None) -> str | None:
        if size == 0:
            return None if root == tlog.EMPTY_ROOT else "a tree of size 0 has the empty root"
        if submission.old_size == 0:
            return None if not submission.proof else "no proof is sent from size 0"
        assert known is not None  # old size == known size > 0
        known_root = tlog.unb64(known["root"])
        if submission.old_size == size:
            if root != known_root or submission.proof:
                return "a different root for the size already cosigned: the log forked"
            return None
        if not tlog.verify_consistency(submission.old_size, size, known_root, root,
                                       submission.proof):
            return "the consistency proof does not verify: the log forked or rewrote history"
        return None

    def checkpoint(self, hashed_origin: str) -> str | None:
        """The last checkpoint cosigned for the log whose origin hashes to ``hashed_origin``,
        with the log's signature and the cosignature; None if none."""
        with self._locked() as state:
            for origin, known in state["logs"].items():
                if origin_hash(origin) == hashed_origin:
                    return str(known["checkpoint"])
        return None


# --- the witness's key file -------------------------------------------------------------------


def create_key_file(path: Path, name: str) -> NoteKey:
    """A new witness key named ``name`` in ``path`` (JSON, mode 0600; never overwritten); its
    verifier key."""
    if not name or any(c.isspace() or c == "+" for c in name):
        raise ValueError("a witness name has no spaces and no '+' (e.g. witness.example.org/w1)")
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"name": name, "ed25519": base64.b64encode(seed).decode("ascii")}, out)
        out.write("\n")
    return cosigner_key(name, private)


def load_key_file(path: Path) -> tuple[str, Ed25519PrivateKey]:
    """The name and private key kept by ``create_key_file``; ValueError when it is not one."""
    try:
        data = json.loads(path.read_text("utf-8"))
        name, seed = data["name"], tlog.unb64(data["ed25519"])
        return str(name), Ed25519PrivateKey.from_private_bytes(seed)
    except (OSError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not a witness key file: {exc}") from exc
