"""The transparency log: an RFC 6962 / RFC 9162 Merkle tree of the changes platforms hear of.

Encodings (DESIGN, "Encodings" and "Transparency log"): an entry is a small JSON object; its leaf
bytes are the RFC 8785 (JCS) canonical JSON of the entry; leaf hash = SHA-256(0x00 ‖ leaf) and
node hash = SHA-256(0x01 ‖ left ‖ right). Hashes and signatures leave this module as standard
base64 with padding (RFC 4648 §4); inside it they are raw bytes.

The module has three layers:

* Pure functions, bytes in and bytes out: ``leaf_hash``, ``node_hash``, ``entry_bytes``; the
  reference definitions of RFC 6962 §2.1 (``mth``, ``path``, ``subproof``, ``proof``), which
  recompute everything from the leaves and exist to check the stored tree against; and the
  verifiers of RFC 9162 §2.1.3.2 and §2.1.4.2 (``verify_inclusion``, ``verify_consistency``).
* Storage: ``LogEntry`` (one row per leaf, the entry kept as its exact JCS text) and ``LogNode``
  (the hash of every complete subtree above the leaves). ``append`` runs inside the caller's
  transaction, beside the change it records and that change's outbox event.
* Checkpoints: ``record_checkpoint`` signs the tree head for the current size with a callable
  given by the caller (key management lives elsewhere), as our JSON object and, given the
  public key, as a C2SP ``tlog-checkpoint`` in a ``signed-note`` too, and stores both;
  ``latest_checkpoint`` and ``latest_note`` read the newest stored one and never sign.
* Tiles (C2SP ``tlog-tiles``): ``tile`` and ``entry_bundle`` read the stored tree as tiles of
  256 hashes at height 8: tile (L, n) hash i is the stored subtree hash at tree level 8·L,
  index 256·n + i, so a tile is one range read.

Tree coordinates: node (level, i) covers leaves [i·2^level, (i+1)·2^level). Level 0 is the
leaves, whose hashes are ``LogEntry.leaf_hash``; ``LogNode`` holds levels ≥ 1. Every node is
written once, by the append that completes it, and never changes.

Read cost. Every range the RFC's recursion hashes is [lo, hi) with lo aligned, so it is the
concatenation of at most ⌈log2 n⌉ complete subtrees (the binary digits of hi − lo). An inclusion
or consistency proof has at most ⌈log2 n⌉ elements, all complete subtrees except at most one
(the first time the recursion turns left, the sibling on the right edge of the tree), so a proof
reads at most 2·⌈log2 n⌉ + 1 stored hashes, fetched by primary key in one SELECT; ``root_hash``
reads popcount(n) hashes; ``append`` reads the size and at most ⌈log2 n⌉ left siblings (two
SELECTs) and inserts one entry row plus one node per subtree the new leaf completes.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785
from sqlalchemy import (
    Column,
    Integer,
    LargeBinary,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    func,
    insert,
    literal_column,
    or_,
    text,
    union_all,
)
from sqlalchemy import select as core_select
from sqlmodel import Field, Session, SQLModel, col, select

from portal.base.db import UTCDateTime, utcnow

# DESIGN §7 event types, of log entries and of outgoing events (portal.ledger.events); platforms
# receive the registration, certificate and blocklist events.
EVENT_TYPES = frozenset(
    {
        "registration.submitted",
        "registration.approved",
        "registration.changes_requested",
        "registration.rejected",
        "registration.suspended",
        "registration.reinstated",
        "registration.revoked",
        "registration.deregistered",
        "registration.expired",
        "registration.updated",
        "certificate.issued",
        "sanction.applied",
        "appeal.decided",
        "blocklist.person_added",
        "blocklist.person_removed",
        "blocklist.buyer_added",
        "blocklist.buyer_removed",
        "case.opened",
        "case.closed",
        "key.rotated",
        "sanction.ended",
        "sanction.overturned",
        "inspection.requested",
        "inspection.answered",
        "inspection.overdue",
    }
)


HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) = SHA-256()
MAX_ENTRIES = 1000  # most entries one ``entries`` call (and GET /api/v1/log/entries) returns
# pg_advisory_xact_lock key that serialises appends on PostgreSQL: the bytes "portaLog".
LOCK_KEY = 0x706F_7274_614C_6F67

# The contract's entry fields: {"type", "at", "number"?, "status"?, "certificate_sha256"?,
# "entry_id"?, "kid"?}. Optional fields are left out, never null.
REQUIRED_FIELDS = frozenset({"type", "at"})
OPTIONAL_FIELDS = frozenset({"number", "status", "certificate_sha256", "entry_id", "kid"})
RFC3339 = re.compile(
    r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})\Z"
)
SHA256_HEX = re.compile(r"\A[0-9a-f]{64}\Z")
MAX_SAFE_INTEGER = 2**53 - 1


# --- encodings --------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    """Standard base64 with padding (RFC 4648 §4)."""
    return base64.b64encode(data).decode("ascii")


def unb64(data: str) -> bytes:
    """Strict inverse of ``b64``: ValueError for anything that is not canonical base64."""
    try:
        raw = base64.b64decode(data.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError("not standard base64") from exc
    if b64(raw) != data:
        raise ValueError("not canonical base64")
    return raw


def rfc3339(moment: datetime) -> str:
    """A UTC timestamp as RFC 3339 with a ``Z`` and whole seconds, e.g. 2026-11-30T08:00:00Z."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given; use portal.base.db.utcnow()")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_signable(value: Any) -> None:
    """Signed objects hold no floating-point numbers and no integers beyond 2^53."""
    if isinstance(value, float):
        raise ValueError("signed objects contain no floating-point numbers")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INTEGER:
        raise ValueError("signed objects contain no integers beyond 2^53")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError("object keys must be strings")
            _check_signable(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_signable(item)


def entry_bytes(entry: dict[str, Any]) -> bytes:
    """The RFC 8785 (JCS) canonical JSON of an object: the leaf bytes of an entry, or the bytes a
    checkpoint's signature covers."""
    _check_signable(entry)
    return rfc8785.dumps(entry)


def check_entry(entry: dict[str, Any]) -> None:
    """Refuse an entry that is not of the contract's shape (ValueError)."""
    if not isinstance(entry, dict):
        raise ValueError("a log entry is a JSON object")
    missing = REQUIRED_FIELDS - entry.keys()
    if missing:
        raise ValueError(f"log entry lacks {sorted(missing)}")
    unknown = entry.keys() - REQUIRED_FIELDS - OPTIONAL_FIELDS
    if unknown:
        raise ValueError(f"log entry has unknown fields {sorted(unknown)}")
    if entry["type"] not in EVENT_TYPES:
        raise ValueError(f"unknown event type {entry['type']!r}")
    if not isinstance(entry["at"], str) or not RFC3339.match(entry["at"]):
        raise ValueError("log entry 'at' must be an RFC 3339 timestamp")
    for name in OPTIONAL_FIELDS & entry.keys():
        value = entry[name]
        if name == "entry_id" and isinstance(value, int) and not isinstance(value, bool):
            continue
        if not isinstance(value, str):
            raise ValueError(f"log entry {name!r} must be a string (leave absent fields out)")
    digest = entry.get("certificate_sha256")
    if digest is not None and not SHA256_HEX.match(digest):
        raise ValueError("certificate_sha256 must be 64 lowercase hex digits")


# --- the hashes -------------------------------------------------------------------------------


def leaf_hash(leaf: bytes) -> bytes:
    """SHA-256(0x00 ‖ leaf)."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """k, the largest power of two smaller than n (n > 1), where RFC 6962 splits D[n]."""
    return 1 << ((n - 1).bit_length() - 1)


# --- the reference definitions of RFC 6962 §2.1 --------------------------------------------------
# Straight from the RFC: recursive, recomputing every hash from the leaves (O(n) per call).
# They are the yardstick the stored tree is tested against, not what the log serves.


def mth(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]), the Merkle Tree Hash of the leaves (RFC 6962 §2.1)."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hash(leaves[0])
    k = _split(n)
    return node_hash(mth(leaves[:k]), mth(leaves[k:n]))


def path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]), the audit path of leaf m, leaf to root (RFC 6962 §2.1.1)."""
    n = len(leaves)
    if not 0 <= m < n:
        raise ValueError(f"leaf {m} is not in a tree of size {n}")
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:n])]
    return [*path(m - k, leaves[k:n]), mth(leaves[:k])]


def subproof(m: int, leaves: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) (RFC 6962 §2.1.2)."""
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = _split(n)
    if m <= k:
        return [*subproof(m, leaves[:k], b), mth(leaves[k:n])]
    return [*subproof(m - k, leaves[k:n], False), mth(leaves[:k])]


def proof(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true), for 0 < m ≤ n (RFC 6962 §2.1.2)."""
    if not 0 < m <= len(leaves):
        raise ValueError(f"no consistency proof from size {m} to size {len(leaves)}")
    return subproof(m, leaves, True)


# --- the verifiers of RFC 9162 §2.1.3.2 and §2.1.4.2 -------------------------------------------


def _hashes_ok(*hashes: bytes) -> bool:
    return all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes)


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, audit_path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does ``audit_path`` prove leaf ``index`` (hash ``leaf_hash``) is in the
    tree of size ``tree_size`` with root hash ``root``?"""
    if not _hashes_ok(leaf_hash, root, *audit_path):
        return False
    # 1. leaf_index >= tree_size fails.
    if not 0 <= index < tree_size:
        return False
    # 2. fn = leaf_index, sn = tree_size - 1. 3. r = hash.
    fn, sn, r = index, tree_size - 1, leaf_hash
    # 4. For each value p in the inclusion_path array:
    for p in audit_path:
        # a. If sn is 0, stop and fail.
        if sn == 0:
            return False
        # b. If LSB(fn) is set, or if fn is equal to sn:
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # If LSB(fn) is not set, right-shift fn and sn until LSB(fn) is set or fn is 0.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        # c. Right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # 5. sn must be 0 and r the root.
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: does ``proof`` show the tree of size ``second`` with root
    ``second_root`` extends the tree of size ``first`` with root ``first_root``?

    The algorithm is stated for 0 < first < second. Equal sizes have the empty proof
    (PROOF(n, D[n]) = {}), so they are consistent exactly when the proof is empty and the roots
    are equal. A first size of 0, or a first size beyond the second, is refused.
    """
    if not _hashes_ok(first_root, second_root, *proof):
        return False
    if not 0 < first <= second:
        return False
    if first == second:
        return len(proof) == 0 and first_root == second_root
    # 1. If consistency_path is an empty array, stop and fail.
    if not proof:
        return False
    path_ = list(proof)
    # 2. If first is an exact power of 2, prepend first_hash to the consistency_path array.
    if first & (first - 1) == 0:
        path_.insert(0, first_root)
    # 3. fn = first - 1, sn = second - 1.
    fn, sn = first - 1, second - 1
    # 4. If LSB(fn) is set, right-shift fn and sn equally until LSB(fn) is not set.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. fr and sr start as the first value of the consistency_path array.
    fr = sr = path_[0]
    # 6. For each subsequent value c in the consistency_path array:
    for c in path_[1:]:
        # a. If sn is 0, stop and fail.
        if sn == 0:
            return False
        # b. If LSB(fn) is set, or if fn is equal to sn:
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            # iii. If LSB(fn) is not set, right-shift until LSB(fn) is set or fn is 0.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        # c. Right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # 7. fr must be first_hash, sr second_hash, and sn 0.
    return fr == first_root and sr == second_root and sn == 0


# --- storage ----------------------------------------------------------------------------------


class LogEntry(SQLModel, table=True):
    """One leaf: the entry exactly as hashed (its JCS text) and its leaf hash. Append-only."""

    __tablename__ = "tlog_entries"

    index: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    entry: str  # JCS text; the leaf bytes are entry.encode("utf-8")
    leaf_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LogNode(SQLModel, table=True):
    """The hash of a complete subtree above the leaves: (level, index) covers leaves
    [index·2^level, (index+1)·2^level), level ≥ 1. Written once, when its last leaf arrives."""

    __tablename__ = "tlog_nodes"

    level: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    index: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Checkpoint(SQLModel, table=True):
    """A signed tree head. The strings are kept exactly as signed, so the JCS bytes the
    signature covers can be rebuilt from the row."""

    __tablename__ = "tlog_checkpoints"
    __table_args__ = (UniqueConstraint("tree_size"),)

    id: int | None = Field(default=None, primary_key=True)
    origin: str = Field(max_length=255)
    tree_size: int
    root_hash: str = Field(max_length=64)  # base64
    timestamp: str = Field(max_length=40)  # RFC 3339, as signed
    kid: str = Field(max_length=128)
    signature: str  # base64
    # The same tree head as a C2SP signed note (tlog-checkpoint), exactly as served at
    # /log/checkpoint; None for checkpoints signed before notes were.
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Cosignature(SQLModel, table=True):
    """A witness's cosignature on a checkpoint (C2SP tlog-cosignature), its signature line
    exactly as the witness returned it; served after the log's own line (DESIGN §6)."""

    __tablename__ = "tlog_cosignatures"
    __table_args__ = (UniqueConstraint("tree_size", "witness"),)

    id: int | None = Field(default=None, primary_key=True)
    tree_size: int = Field(index=True)
    witness: str = Field(max_length=255)  # the cosigner's key name
    line: str = Field(sa_column=Column(Text, nullable=False))
    signed_at: datetime = Field(sa_type=UTCDateTime)  # the cosignature's own timestamp
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


_ENTRIES = LogEntry.__table__  # type: ignore[attr-defined]
_NODES = LogNode.__table__  # type: ignore[attr-defined]
_COSIGNATURES = Cosignature.__table__  # type: ignore[attr-defined]


def lock(session: Session) -> None:
    """Serialise appends (and checkpoints) until the caller's transaction ends.

    PostgreSQL: a transaction-scoped advisory lock on a fixed key; under READ COMMITTED (the
    default) the size read after it sees every committed append. SQLite: nothing to do here —
    the caller opens the transaction with ``session_scope(engine, write=True)``, whose
    ``BEGIN IMMEDIATE`` already holds the database's single write lock. (A deferred SQLite
    transaction, or a PostgreSQL snapshot taken before the lock, cannot fork the log either:
    the index is the primary key, so a stale writer fails instead of queueing.)
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})


# Built once: building a statement costs about as much as running it.
_SIZE = core_select(func.max(_ENTRIES.c.index))
_INSERT_ENTRY = insert(_ENTRIES)
_INSERT_NODES = insert(_NODES)


def size(session: Session) -> int:
    """The number of entries in the log (one primary-key lookup, not a count)."""
    last = session.execute(_SIZE).scalar()
    return 0 if last is None else int(last) + 1


_FETCH_LEAVES = core_select(
    literal_column("0", Integer).label("level"),
    _ENTRIES.c.index,
    _ENTRIES.c.leaf_hash.label("hash"),
).where(_ENTRIES.c.index.in_(bindparam("leaves", expanding=True)))


@functools.cache
def _fetch_nodes(levels: int, with_leaves: bool) -> Any:
    """SELECT nodes by primary key, on ``levels`` levels: per level ``level = :lJ AND index IN
    :iJ``, ORed (and the leaves ``:leaves`` too, when asked).

    A row-value list, ``(level, index) IN (VALUES ...)``, is what SQLite cannot search an index
    with: it read all of tlog_nodes, 0.15 s a proof at a million leaves. Built once per number
    of levels (at most one per level of the tree), as building it costs more than running it.
    """
    nodes = core_select(_NODES.c.level, _NODES.c.index, _NODES.c.hash).where(or_(*(
        and_(_NODES.c.level == bindparam(f"l{j}"),
             _NODES.c.index.in_(bindparam(f"i{j}", expanding=True)))
        for j in range(levels))))
    return union_all(_FETCH_LEAVES, nodes) if with_leaves else nodes


def _fetch(session: Session, coords: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """The stored hashes of complete subtrees, by (level, index), in one SELECT by primary key.

    LookupError when one is missing, which means it lies beyond the log's size.
    """
    wanted = set(coords)
    leaves = sorted(i for level, i in wanted if level == 0)
    by_level: dict[int, list[int]] = {}
    for level, i in sorted(c for c in wanted if c[0] > 0):
        by_level.setdefault(level, []).append(i)
    params: dict[str, Any] = {}
    for j, (level, indexes) in enumerate(by_level.items()):
        params[f"l{j}"] = level
        params[f"i{j}"] = indexes
    if by_level:
        if leaves:
            params["leaves"] = leaves
        result = session.execute(_fetch_nodes(len(by_level), bool(leaves)), params)
    elif leaves:
        result = session.execute(_FETCH_LEAVES, {"leaves": leaves})
    else:
        return {}
    found = {(int(level), int(i)): bytes(h) for level, i, h in result}
    if len(found) != len(wanted):
        raise LookupError("the tree does not have that many entries")
    return found


def cover(lo: int, hi: int) -> list[tuple[int, int]]:
    """The complete subtrees making up [lo, hi), largest (leftmost) first."""
    parts = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        if lo % (1 << level):
            raise ValueError(f"[{lo}, {hi}) is not a subtree of the RFC 6962 tree")
        parts.append((level, lo >> level))
        lo += 1 << level
    return parts


def _range_hash(stored: dict[tuple[int, int], bytes], lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) from the stored hashes of its complete parts (RFC 6962 splits at the
    largest power of two, so the parts fold from the right)."""
    hashes = [stored[c] for c in cover(lo, hi)]
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def _hash_ranges(
    session: Session, ranges: list[tuple[int, int]], extra: Iterable[tuple[int, int]] = ()
) -> tuple[list[bytes], dict[tuple[int, int], bytes]]:
    """The hashes of the ranges, and every stored hash read for them (plus ``extra``)."""
    coords = [c for lo, hi in ranges for c in cover(lo, hi)]
    stored = _fetch(session, [*coords, *extra])
    return [_range_hash(stored, lo, hi) for lo, hi in ranges], stored


def path_ranges(index: int, tree_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes make up PATH(index, D[tree_size]), leaf to root."""
    ranges = []
    lo, hi = 0, tree_size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def proof_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes make up PROOF(first, D[second]), in the RFC's order."""
    ranges = []
    lo, hi, m, whole = 0, second, first, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def append(session: Session, entry: dict[str, Any]) -> int:
    """Add an entry to the log in the caller's transaction (no commit) and return its index.

    Takes ``lock(session)``; on SQLite the caller must have opened the transaction with
    ``session_scope(engine, write=True)`` (BEGIN IMMEDIATE) for concurrent appends to queue.
    Inserts the entry and the hash of every complete subtree the new leaf completes.
    """
    check_entry(entry)
    leaf = entry_bytes(entry)
    lock(session)
    index = size(session)
    hashed = leaf_hash(leaf)
    session.execute(_INSERT_ENTRY, {"index": index, "entry": leaf.decode("utf-8"),
                                    "leaf_hash": hashed, "created_at": utcnow()})
    # Leaf `index` completes the subtrees at levels 1..t, t = trailing zeros of index + 1; the
    # one at level l + 1 is the stored left sibling at level l joined with the new right half.
    completes = ((index + 1) & -(index + 1)).bit_length() - 1
    if completes:
        siblings = _fetch(session, [(level, (index >> level) - 1) for level in range(completes)])
        rows = []
        current = hashed
        for level in range(completes):
            current = node_hash(siblings[(level, (index >> level) - 1)], current)
            rows.append({"level": level + 1, "index": index >> (level + 1), "hash": current})
        session.execute(_INSERT_NODES, rows)
    return index


def append_many(
    session: Session, entries: Iterable[dict[str, Any]], *, chunk: int = 10_000
) -> range:
    """Add entries in order, in the caller's transaction (no commit), and return their indexes.

    Writes exactly the rows that calling ``append`` on each entry in turn would write (the
    entry rows, and the node of every complete subtree each leaf completes), in one pass and
    with one read: the hashes of the complete subtrees covering the log as it stands (at most
    ⌈log2 n⌉), kept as a stack whose top is the smallest. A leaf at index i completes t
    subtrees, t = trailing ones of i, and their left halves are the top t of that stack. Rows
    are inserted ``chunk`` at a time. For loading many entries at once (benchmarks, imports);
    takes ``lock(session)`` as ``append`` does.
    """
    lock(session)
    start = size(session)
    stored = _fetch(session, cover(0, start))
    stack = [stored[c] for c in cover(0, start)]
    index = start
    leaf_rows: list[dict[str, Any]] = []
    node_rows: list[dict[str, Any]] = []

    def flush() -> None:
        if leaf_rows:
            session.execute(_INSERT_ENTRY, leaf_rows)
            leaf_rows.clear()
        if node_rows:
            session.execute(_INSERT_NODES, node_rows)
            node_rows.clear()

    for entry in entries:
        check_entry(entry)
        leaf = entry_bytes(entry)
        current = leaf_hash(leaf)
        leaf_rows.append({"index": index, "entry": leaf.decode("utf-8"), "leaf_hash": current,
                          "created_at": utcnow()})
        completes = ((index + 1) & -(index + 1)).bit_length() - 1
        for level in range(completes):
            current = node_hash(stack.pop(), current)
            node_rows.append({"level": level + 1, "index": index >> (level + 1),
                              "hash": current})
        stack.append(current)
        index += 1
        if len(leaf_rows) >= chunk:
            flush()
    flush()
    return range(start, index)


def root_hash(session: Session, tree_size: int) -> bytes:
    """MTH of the first ``tree_size`` entries, from popcount(tree_size) stored hashes."""
    if tree_size < 0:
        raise ValueError("a tree size is not negative")
    if tree_size == 0:
        return EMPTY_ROOT
    try:
        (root,), _ = _hash_ranges(session, [(0, tree_size)])
    except LookupError:
        raise ValueError(f"the log has fewer than {tree_size} entries") from None
    return root


@dataclass(frozen=True)
class InclusionProof:
    index: int
    tree_size: int
    leaf_hash: bytes
    audit_path: list[bytes]

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "tree_size": self.tree_size,
            "leaf_hash": b64(self.leaf_hash),
            "audit_path": [b64(h) for h in self.audit_path],
        }


@dataclass(frozen=True)
class ConsistencyProof:
    first: int
    second: int
    proof: list[bytes]

    def as_json(self) -> dict[str, Any]:
        return {"first": self.first, "second": self.second, "proof": [b64(h) for h in self.proof]}


def inclusion_proof(session: Session, index: int, tree_size: int) -> InclusionProof:
    """PATH(index, D[tree_size]) from stored hashes (one SELECT, ≤ 2·⌈log2 n⌉ + 1 rows)."""
    if not 0 <= index < tree_size:
        raise ValueError(f"leaf {index} is not in a tree of size {tree_size}")
    try:
        hashes, stored = _hash_ranges(session, path_ranges(index, tree_size), [(0, index)])
    except LookupError:
        raise ValueError(f"the log has fewer than {tree_size} entries") from None
    return InclusionProof(index, tree_size, stored[(0, index)], hashes)


def consistency_proof(session: Session, first: int, second: int) -> ConsistencyProof:
    """PROOF(first, D[second]) from stored hashes (one SELECT, ≤ 2·⌈log2 n⌉ rows); 0 < first
    ≤ second, and equal sizes have the empty proof."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    try:
        hashes, _ = _hash_ranges(session, proof_ranges(first, second), [(0, second - 1)])
    except LookupError:
        raise ValueError(f"the log has fewer than {second} entries") from None
    return ConsistencyProof(first, second, hashes)


def entries(session: Session, start: int, end: int) -> list[dict[str, Any]]:
    """Entries ``start`` (inclusive) to ``end`` (exclusive), at most MAX_ENTRIES; fewer when the
    log ends first. Each is {"index", "entry" (the object), "leaf_hash" (base64)}."""
    if not 0 <= start <= end:
        raise ValueError("entries need 0 <= start <= end")
    if end - start > MAX_ENTRIES:
        raise ValueError(f"at most {MAX_ENTRIES} entries at a time")
    rows = session.execute(
        core_select(_ENTRIES.c.index, _ENTRIES.c.entry, _ENTRIES.c.leaf_hash)
        .where(_ENTRIES.c.index >= start, _ENTRIES.c.index < end)
        .order_by(_ENTRIES.c.index)
    )
    return [
        {"index": int(i), "entry": json.loads(entry), "leaf_hash": b64(bytes(hashed))}
        for i, entry, hashed in rows
    ]


# --- checkpoints ------------------------------------------------------------------------------


def _checkpoint_json(row: Checkpoint) -> dict[str, Any]:
    found: dict[str, Any] = {
        "origin": row.origin,
        "tree_size": row.tree_size,
        "root_hash": row.root_hash,
        "timestamp": row.timestamp,
        "kid": row.kid,
        "signature": row.signature,
    }
    return found


def record_checkpoint(
    session: Session, *, origin: str, kid: str, sign: Callable[[bytes], bytes],
    note_name: str | None = None, public_key: bytes | None = None,
) -> dict[str, Any]:
    """Sign and store the tree head for the log's current size, in the caller's transaction.

    ``sign`` receives the JCS bytes of {"origin", "tree_size", "root_hash", "timestamp", "kid"}
    and returns the raw signature. Returns that object with "signature" (base64) added. Given
    ``note_name`` (the C2SP origin, also the note's key name) and the raw Ed25519
    ``public_key`` that ``sign`` signs for, the same head is also signed and stored as a C2SP
    signed note. Takes the append lock, so the size cannot move under it; when a checkpoint for
    this size already exists it is returned as it is and nothing is signed (one checkpoint per
    tree size; the unique constraint on the size refuses a second one besides).
    """
    lock(session)
    tree_size = size(session)
    existing = session.exec(select(Checkpoint).where(Checkpoint.tree_size == tree_size)).first()
    if existing is not None:
        return _checkpoint_json(existing)
    root = root_hash(session, tree_size)
    body: dict[str, Any] = {
        "origin": origin,
        "tree_size": tree_size,
        "root_hash": b64(root),
        "timestamp": rfc3339(utcnow()),
        "kid": kid,
    }
    signature = sign(entry_bytes(body))
    if not isinstance(signature, bytes) or not signature:
        raise TypeError("sign must return the signature as bytes")
    note = None
    if note_name is not None and public_key is not None:
        text_ = note_text(note_name, tree_size, root)
        note = signed_note(text_, note_name, note_key_id(note_name, public_key),
                           sign(text_.encode("utf-8")))
    row = Checkpoint(**body, signature=b64(signature), note=note)
    session.add(row)
    session.flush()
    return _checkpoint_json(row)


_LATEST = core_select(func.max(Checkpoint.__table__.c.tree_size))  # type: ignore[attr-defined]


def _witnessed(query: Any, quorum: int) -> Any:
    """Only checkpoints cosigned by at least ``quorum`` witnesses (all of them when 0)."""
    if quorum <= 0:
        return query
    cosigned = (
        core_select(_COSIGNATURES.c.tree_size)
        .group_by(_COSIGNATURES.c.tree_size)
        .having(func.count() >= quorum)
    )
    return query.where(col(Checkpoint.tree_size).in_(cosigned))


def latest_checkpoint(session: Session, *, quorum: int = 0) -> dict[str, Any] | None:
    """The checkpoint of the largest tree size (the newest), or None before the first; with a
    ``quorum``, the newest one that many witnesses cosigned (the published one, DESIGN §6)."""
    row = session.exec(
        _witnessed(select(Checkpoint), quorum)
        .order_by(col(Checkpoint.tree_size).desc()).limit(1)
    ).first()
    if row is None:
        return None
    return _checkpoint_json(row)


def latest_note(session: Session, *, quorum: int = 0) -> tuple[int, str] | None:
    """The tree size and signed note, with the witnesses' cosignatures after the log's own
    signature, of the newest checkpoint stored with a note (and cosigned by ``quorum``
    witnesses), or None."""
    row = session.execute(
        _witnessed(core_select(Checkpoint.tree_size, Checkpoint.note),  # type: ignore[call-overload]
                   quorum)
        .where(col(Checkpoint.note).is_not(None))
        .order_by(col(Checkpoint.tree_size).desc()).limit(1)
    ).first()
    if row is None:
        return None
    tree_size = int(row[0])
    return tree_size, str(row[1]) + "".join(cosignature_lines(session, tree_size))


def note_of(session: Session, tree_size: int) -> str | None:
    """The signed note of the checkpoint of ``tree_size`` with the witnesses' cosignatures
    after the log's signature, or None when there is none."""
    note = session.execute(core_select(Checkpoint.note).where(  # type: ignore[call-overload]
        col(Checkpoint.tree_size) == tree_size)).scalar()
    if note is None:
        return None
    return str(note) + "".join(cosignature_lines(session, tree_size))


def newest_note(session: Session) -> tuple[int, str] | None:
    """The tree size and the log-signed note (no cosignatures) of the newest checkpoint with a
    note: what the log submits to its witnesses."""
    row = session.execute(
        core_select(Checkpoint.tree_size, Checkpoint.note)  # type: ignore[call-overload]
        .where(col(Checkpoint.note).is_not(None))
        .order_by(col(Checkpoint.tree_size).desc()).limit(1)
    ).first()
    return None if row is None else (int(row[0]), str(row[1]))


def cosignature_lines(session: Session, tree_size: int) -> list[str]:
    """The witnesses' signature lines on the checkpoint of ``tree_size``, by witness name."""
    return [str(line) for (line,) in session.execute(
        core_select(_COSIGNATURES.c.line).where(_COSIGNATURES.c.tree_size == tree_size)
        .order_by(_COSIGNATURES.c.witness)
    )]


def cosigners(session: Session, tree_size: int) -> list[str]:
    """The names of the witnesses that cosigned the checkpoint of ``tree_size``."""
    return [str(name) for (name,) in session.execute(
        core_select(_COSIGNATURES.c.witness).where(_COSIGNATURES.c.tree_size == tree_size))]


def cosigned_size(session: Session, witness: str) -> int:
    """The largest tree size the named witness cosigned for this log, 0 before the first."""
    found = session.execute(
        core_select(func.max(_COSIGNATURES.c.tree_size)).where(_COSIGNATURES.c.witness == witness)
    ).scalar()
    return 0 if found is None else int(found)


def record_cosignature(session: Session, *, tree_size: int, witness: str, line: str,
                       signed_at: datetime) -> bool:
    """Keep a witness's cosignature on the checkpoint of ``tree_size`` unless one is kept
    already (another process got it first); whether it was added. Flushes only."""
    exists = session.execute(core_select(_COSIGNATURES.c.id).where(
        _COSIGNATURES.c.tree_size == tree_size, _COSIGNATURES.c.witness == witness)).first()
    if exists is not None:
        return False
    session.add(Cosignature(tree_size=tree_size, witness=witness, line=line,
                            signed_at=signed_at))
    session.flush()
    return True


def needs_checkpoint(session: Session) -> bool:
    """Whether the log grew past its newest stored checkpoint (or none is stored): two reads,
    no lock, so that a publisher with nothing to do never queues for the write lock."""
    latest = session.execute(_LATEST).scalar()
    return latest is None or size(session) > int(latest)


# --- C2SP signed notes and tlog-checkpoint ------------------------------------------------------
# c2sp.org/signed-note and c2sp.org/tlog-checkpoint: the note text is the origin, the tree size
# and the base64 root, one a line; a signature line is "— <key name> base64(key ID ‖ sig)"; an
# Ed25519 key's ID is SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key)[:4].

ED25519_NOTE_TYPE = b"\x01"


def note_key_id(name: str, public_key: bytes, key_type: bytes = ED25519_NOTE_TYPE) -> bytes:
    """The 4-byte key ID of a note key: SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4] (type
    0x01 an Ed25519 signer, 0x04 an Ed25519 cosigner of tlog-cosignature)."""
    material = name.encode("utf-8") + b"\n" + key_type + public_key
    return hashlib.sha256(material).digest()[:4]


def vkey(name: str, public_key: bytes) -> str:
    """The note verifier key: ``<name>+<hex key ID>+base64(0x01 ‖ public key)``."""
    if not name or any(c.isspace() or c == "+" for c in name):
        raise ValueError("a note key name has no spaces and no '+'")
    return f"{name}+{note_key_id(name, public_key).hex()}+{b64(ED25519_NOTE_TYPE + public_key)}"


def note_text(origin: str, tree_size: int, root: bytes) -> str:
    """The tlog-checkpoint note text (ending in a newline)."""
    return f"{origin}\n{tree_size}\n{b64(root)}\n"


def signed_note(text_: str, name: str, key_id: bytes, signature: bytes) -> str:
    """The note: its text, a blank line, one signature line."""
    return f"{text_}\n\u2014 {name} {b64(key_id + signature)}\n"


# --- C2SP tlog-tiles ----------------------------------------------------------------------------

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # 256 hashes in a full tile


def tile_width(level: int, index: int, tree_size: int) -> int:
    """How many hashes tile (level, index) has in a tree of ``tree_size`` (0 to 256)."""
    hashes = tree_size >> (TILE_HEIGHT * level)  # complete subtrees of that height
    return max(0, min(TILE_WIDTH, hashes - index * TILE_WIDTH))


def tile(session: Session, level: int, index: int, width: int) -> bytes:
    """The first ``width`` hashes of tile (level, index), concatenated: the hashes of the
    complete subtrees at tree level 8·level, indexes 256·index to 256·index + width − 1.
    LookupError when the log does not have them all."""
    first = index * TILE_WIDTH
    if level == 0:
        query = core_select(_ENTRIES.c.leaf_hash).where(
            _ENTRIES.c.index >= first, _ENTRIES.c.index < first + width
        ).order_by(_ENTRIES.c.index)
    else:
        query = core_select(_NODES.c.hash).where(
            _NODES.c.level == TILE_HEIGHT * level,
            _NODES.c.index >= first, _NODES.c.index < first + width,
        ).order_by(_NODES.c.index)
    hashes = [bytes(h) for (h,) in session.execute(query)]
    if len(hashes) != width:
        raise LookupError("the tree does not have that tile")
    return b"".join(hashes)


def entry_bundle(session: Session, index: int, width: int) -> bytes:
    """Entries 256·index to 256·index + width − 1, each as a big-endian uint16 length and its
    leaf bytes (the JCS text). LookupError when the log does not have them all."""
    first = index * TILE_WIDTH
    rows = session.execute(core_select(_ENTRIES.c.entry).where(
        _ENTRIES.c.index >= first, _ENTRIES.c.index < first + width
    ).order_by(_ENTRIES.c.index))
    out = bytearray()
    count = 0
    for (entry,) in rows:
        leaf = entry.encode("utf-8")
        if len(leaf) > 0xFFFF:
            raise ValueError("an entry longer than 65535 bytes cannot be bundled")
        out += len(leaf).to_bytes(2, "big") + leaf
        count += 1
    if count != width:
        raise LookupError("the log does not have those entries")
    return bytes(out)
