"""The transparency log: the RFC 6962 reference, the RFC 9162 verifiers, the stored tree (proofs
from stored complete subtrees, O(log n) reads), serialised appends, entries and checkpoints."""

from __future__ import annotations

import base64
import hashlib
import random
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import rfc8785
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import MetaData, event, func, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from portal.base.db import session_scope
from portal.ledger import tlog

AT = "2026-11-30T08:00:00Z"
N = 300  # the stored tree the exhaustive tests take prefixes of


def entry(i: int) -> dict[str, Any]:
    return {"type": "registration.approved", "at": AT, "number": f"LSR-2026-{i:06d}",
            "status": "approved"}


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def bottom_up_root(leaves: list[bytes]) -> bytes:
    """An independent construction of the RFC 6962 tree: pair nodes level by level from the left
    and promote a level's odd last node unchanged (never duplicate it)."""
    if not leaves:
        return sha256(b"")
    level = [sha256(b"\x00" + d) for d in leaves]
    while len(level) > 1:
        paired = [sha256(b"\x01" + level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = paired + ([level[-1]] if len(level) % 2 else [])
    return level[0]


def flip(h: bytes) -> bytes:
    return bytes([h[0] ^ 1]) + h[1:]


def ceil_log2(n: int) -> int:
    return (n - 1).bit_length()


# --- encodings --------------------------------------------------------------------------------


def test_entry_bytes_are_jcs() -> None:
    assert tlog.entry_bytes({"b": 1, "a": "é", "c": [True, None]}) == (
        b'{"a":"\xc3\xa9","b":1,"c":[true,null]}')
    assert tlog.entry_bytes(entry(7)) == rfc8785.dumps(entry(7))


@pytest.mark.parametrize("bad", [{"x": 1.0}, {"x": [0.5]}, {"x": 2**53}, {"x": {"y": -(2**60)}}])
def test_signed_objects_hold_no_floats_or_big_integers(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        tlog.entry_bytes(bad)


@pytest.mark.parametrize(
    "bad",
    [
        {"at": AT},
        {"type": "registration.approved"},
        {"type": "no.such.event", "at": AT},
        {"type": "registration.approved", "at": "30/11/2026"},
        {"type": "registration.approved", "at": AT, "number": None},
        {"type": "registration.approved", "at": AT, "colour": "red"},
        {"type": "certificate.issued", "at": AT, "certificate_sha256": "AB" * 32},
        {"type": "registration.approved", "at": AT, "status": 1.5},
    ],
)
def test_append_refuses_entries_outside_the_contract(engine: Engine, bad: dict[str, Any]) -> None:
    with session_scope(engine, write=True) as session:
        with pytest.raises(ValueError):
            tlog.append(session, bad)
        assert tlog.size(session) == 0


def test_base64_is_standard_with_padding() -> None:
    assert tlog.b64(b"\xfb\xff") == "+/8="
    assert tlog.unb64("+/8=") == b"\xfb\xff"
    for bad in ["-_8=", "+/8", "+/9=", "+/8= "]:
        with pytest.raises(ValueError):
            tlog.unb64(bad)


# --- the reference definitions (RFC 6962 §2.1) --------------------------------------------------

# Certificate Transparency's published test vectors (also in Trillian and transparency-dev).
CT_LEAVES = [bytes.fromhex(x) for x in ["", "00", "10", "2021", "3031", "40414243",
                                        "5051525354555657", "606162636465666768696a6b6c6d6e6f"]]
CT_ROOTS = [bytes.fromhex(x) for x in [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]]
CT_PATHS = {
    (0, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (5, 8): ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}
CT_CONSISTENCY = {
    (1, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (6, 8): ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
    (2, 5): ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"],
}


def test_hashes_are_domain_separated() -> None:
    assert tlog.mth([]) == sha256(b"") == CT_ROOTS[0]
    assert tlog.leaf_hash(b"abc") == sha256(b"\x00abc") != sha256(b"abc")
    assert tlog.node_hash(b"L" * 32, b"R" * 32) == sha256(b"\x01" + b"L" * 32 + b"R" * 32)
    assert tlog.mth([b"abc"]) == tlog.leaf_hash(b"abc")


def test_reference_matches_the_certificate_transparency_vectors() -> None:
    for n, root in enumerate(CT_ROOTS):
        assert tlog.mth(CT_LEAVES[:n]) == root, n
    for (m, n), expected in CT_PATHS.items():
        assert tlog.path(m, CT_LEAVES[:n]) == [bytes.fromhex(x) for x in expected]
    for (m, n), expected in CT_CONSISTENCY.items():
        assert tlog.proof(m, CT_LEAVES[:n]) == [bytes.fromhex(x) for x in expected]


def rfc_example_tree() -> dict[str, bytes]:
    """The seven-leaf tree of RFC 6962 §2.1.3, its nodes named as in the RFC's figures."""
    d = [f"d{i}".encode() for i in range(7)]
    a, b, c, d_, e, f = (tlog.leaf_hash(x) for x in d[:6])
    j = tlog.leaf_hash(d[6])
    g, h, i = tlog.node_hash(a, b), tlog.node_hash(c, d_), tlog.node_hash(e, f)
    k, ll = tlog.node_hash(g, h), tlog.node_hash(i, j)
    return {"a": a, "b": b, "c": c, "d": d_, "e": e, "f": f, "g": g, "h": h, "i": i, "j": j,
            "k": k, "l": ll, "root": tlog.node_hash(k, ll), "hash0": tlog.node_hash(g, c),
            "hash2": tlog.node_hash(k, i)}


def test_reference_matches_the_rfc_6962_examples() -> None:
    t = rfc_example_tree()
    leaves = [f"d{i}".encode() for i in range(7)]
    assert tlog.mth(leaves) == t["root"]
    # §2.1.3: the audit paths for d0, d3, d4 and d6.
    assert tlog.path(0, leaves) == [t["b"], t["h"], t["l"]]
    assert tlog.path(3, leaves) == [t["c"], t["g"], t["l"]]
    assert tlog.path(4, leaves) == [t["f"], t["j"], t["k"]]
    assert tlog.path(6, leaves) == [t["i"], t["k"]]
    # §2.1.3: PROOF(3, D[7]) = [c, d, g, l]; PROOF(4, D[7]) = [l]; PROOF(6, D[7]) = [i, j, k].
    assert tlog.proof(3, leaves) == [t["c"], t["d"], t["g"], t["l"]]
    assert tlog.proof(4, leaves) == [t["l"]]
    assert tlog.proof(6, leaves) == [t["i"], t["j"], t["k"]]
    assert tlog.mth(leaves[:3]) == t["hash0"] and tlog.mth(leaves[:6]) == t["hash2"]
    assert tlog.proof(7, leaves) == []
    with pytest.raises(ValueError):
        tlog.proof(0, leaves)
    with pytest.raises(ValueError):
        tlog.path(7, leaves)


def test_reference_builds_the_rfc_tree_for_every_size() -> None:
    leaves = [i.to_bytes(2, "big") for i in range(70)]
    for n in range(71):
        assert tlog.mth(leaves[:n]) == bottom_up_root(leaves[:n]), n
        for m in range(n):
            assert len(tlog.path(m, leaves[:n])) <= ceil_log2(n)
        if n & (n - 1) == 0 and n:
            assert all(len(tlog.path(m, leaves[:n])) == ceil_log2(n) for m in range(n))


# --- the verifiers (RFC 9162 §2.1.3.2, §2.1.4.2) ----------------------------------------------


def test_inclusion_verifier_accepts_every_reference_path_and_refuses_edits() -> None:
    leaves = [bytes([i]) for i in range(33)]
    for n in range(1, 34):
        root = tlog.mth(leaves[:n])
        for m in range(n):
            audit = tlog.path(m, leaves[:n])
            lh = tlog.leaf_hash(leaves[m])
            assert tlog.verify_inclusion(lh, m, n, audit, root)
            assert not tlog.verify_inclusion(lh, m, n, [*audit, lh], root)
            if audit:
                assert not tlog.verify_inclusion(lh, m, n, audit[:-1], root)
                assert not tlog.verify_inclusion(lh, m, n, [flip(audit[0]), *audit[1:]], root)


def test_inclusion_verifier_edge_cases() -> None:
    lh = tlog.leaf_hash(b"x")
    assert tlog.verify_inclusion(lh, 0, 1, [], lh)
    assert not tlog.verify_inclusion(lh, 1, 1, [], lh)  # index >= tree_size
    assert not tlog.verify_inclusion(lh, -1, 1, [], lh)
    assert not tlog.verify_inclusion(lh, 0, 0, [], lh)
    assert not tlog.verify_inclusion(lh, 0, 1, [lh], lh)  # sn reaches 0 with path left
    assert not tlog.verify_inclusion(lh, 0, 2, [], lh)  # sn is not 0 at the end
    assert not tlog.verify_inclusion(lh[:31], 0, 1, [], lh[:31])  # not a SHA-256 hash


def test_consistency_verifier_accepts_every_reference_proof_and_refuses_edits() -> None:
    leaves = [bytes([i]) for i in range(33)]
    for n in range(1, 34):
        second_root = tlog.mth(leaves[:n])
        for m in range(1, n + 1):
            first_root = tlog.mth(leaves[:m])
            p = tlog.proof(m, leaves[:n])
            assert tlog.verify_consistency(m, n, first_root, second_root, p)
            assert not tlog.verify_consistency(m, n, flip(first_root), second_root, p)
            assert not tlog.verify_consistency(m, n, first_root, flip(second_root), p)
            assert not tlog.verify_consistency(m, n, first_root, second_root, [*p, first_root])
            if p:
                assert not tlog.verify_consistency(m, n, first_root, second_root, p[:-1])
                for at in range(len(p)):
                    edited = [*p[:at], flip(p[at]), *p[at + 1:]]
                    assert not tlog.verify_consistency(m, n, first_root, second_root, edited)


def test_consistency_verifier_edge_cases() -> None:
    one, two = tlog.mth([b"a"]), tlog.mth([b"a", b"b"])
    assert tlog.verify_consistency(1, 1, one, one, [])  # equal sizes: the empty proof
    assert not tlog.verify_consistency(1, 1, one, two, [])  # ... and equal roots
    assert not tlog.verify_consistency(1, 1, one, one, [one])
    assert not tlog.verify_consistency(0, 0, tlog.EMPTY_ROOT, tlog.EMPTY_ROOT, [])  # first == 0
    assert not tlog.verify_consistency(0, 2, tlog.EMPTY_ROOT, two, [])
    assert not tlog.verify_consistency(1, 2, one, two, [])  # step 1: the empty path fails
    assert tlog.verify_consistency(1, 2, one, two, [tlog.leaf_hash(b"b")])
    assert not tlog.verify_consistency(2, 1, two, one, [tlog.leaf_hash(b"b")])  # first > second


# --- the stored tree ----------------------------------------------------------------------------


@pytest.fixture
def tree(engine: Engine) -> list[bytes]:
    """N entries appended one by one, in one transaction; returns their leaf bytes."""
    with session_scope(engine, write=True) as session:
        for i in range(N):
            assert tlog.append(session, entry(i)) == i
        session.commit()
    return [rfc8785.dumps(entry(i)) for i in range(N)]


@pytest.fixture
def reference(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[bytes]], bytes]:
    """Memoise the reference MTH, so tens of thousands of reference paths and proofs stay cheap
    (``path`` and ``subproof`` call ``tlog.mth`` by name; the recursion is unchanged)."""
    plain = tlog.mth
    memo: dict[tuple[bytes, ...], bytes] = {}

    def mth(leaves: Any) -> bytes:
        key = tuple(leaves)
        if key not in memo:
            memo[key] = plain(leaves)
        return memo[key]

    monkeypatch.setattr(tlog, "mth", mth)
    return mth


def test_stored_tree_matches_the_reference(engine: Engine, tree: list[bytes], reference) -> None:
    with Session(engine) as session:
        assert tlog.size(session) == N
        for n in range(N + 1):
            assert tlog.root_hash(session, n) == reference(tree[:n]) == bottom_up_root(tree[:n])
        # Every complete subtree above the leaves is stored, once, with the right hash.
        nodes = session.exec(select(tlog.LogNode)).all()
        expected = {(level, i) for level in range(1, 9) for i in range(N >> level)}
        assert {(node.level, node.index) for node in nodes} == expected
        for node in nodes:
            lo = node.index << node.level
            assert node.hash == reference(tree[lo:lo + (1 << node.level)])
        # The entry is kept as its exact JCS text.
        rows = session.exec(select(tlog.LogEntry).order_by(tlog.LogEntry.index)).all()
        assert [row.entry.encode() for row in rows] == tree
        assert [row.leaf_hash for row in rows] == [tlog.leaf_hash(leaf) for leaf in tree]


def test_inclusion_proofs_for_every_size_and_index(engine: Engine, tree: list[bytes],
                                                   reference) -> None:
    with Session(engine) as session:
        for n in range(1, N + 1):
            root = reference(tree[:n])
            other_root = reference(tree[:n - 1])
            for m in range(n):
                got = tlog.inclusion_proof(session, m, n)
                assert got.audit_path == tlog.path(m, tree[:n]), (m, n)
                assert got.leaf_hash == tlog.leaf_hash(tree[m])
                assert tlog.verify_inclusion(got.leaf_hash, m, n, got.audit_path, root)
                # A tampered leaf, a wrong index and a wrong root are refused.
                assert not tlog.verify_inclusion(flip(got.leaf_hash), m, n, got.audit_path, root)
                for wrong in {(m + 1) % n, n} - {m}:  # another leaf of the tree; past its end
                    assert not tlog.verify_inclusion(got.leaf_hash, wrong, n, got.audit_path, root)
                assert not tlog.verify_inclusion(got.leaf_hash, m, n, got.audit_path, other_root)


def test_inclusion_proof_as_json(engine: Engine, tree: list[bytes]) -> None:
    with Session(engine) as session:
        got = tlog.inclusion_proof(session, 5, 8).as_json()
    assert got == {"index": 5, "tree_size": 8, "leaf_hash": tlog.b64(tlog.leaf_hash(tree[5])),
                   "audit_path": [tlog.b64(h) for h in tlog.path(5, tree[:8])]}
    assert all(base64.b64decode(h, validate=True) for h in got["audit_path"])


def _check_consistency(session: Session, tree: list[bytes], reference, m: int, n: int) -> None:
    first_root, second_root = reference(tree[:m]), reference(tree[:n])
    got = tlog.consistency_proof(session, m, n).proof
    assert got == tlog.proof(m, tree[:n]), (m, n)
    assert tlog.verify_consistency(m, n, first_root, second_root, got)
    assert not tlog.verify_consistency(m, n, flip(first_root), second_root, got)
    assert not tlog.verify_consistency(m, n, first_root, flip(second_root), got)
    if got:
        at = (m * 7 + n) % len(got)
        edited = [*got[:at], flip(got[at]), *got[at + 1:]]
        assert not tlog.verify_consistency(m, n, first_root, second_root, edited)
        assert not tlog.verify_consistency(m, n, first_root, second_root, got[:-1])
    assert not tlog.verify_consistency(m, n, first_root, second_root, [*got, second_root])


def test_consistency_proofs_for_all_pairs_up_to_64(engine: Engine, tree: list[bytes],
                                                   reference) -> None:
    with Session(engine) as session:
        for n in range(1, 65):
            for m in range(1, n + 1):
                _check_consistency(session, tree, reference, m, n)


def test_consistency_proofs_for_pairs_up_to_300(engine: Engine, tree: list[bytes],
                                                reference) -> None:
    rng = random.Random(9162)
    pairs = {tuple(sorted(rng.sample(range(1, N + 1), 2))) for _ in range(1500)}
    pairs |= {(m, N) for m in range(1, N + 1)}
    pairs |= {(255, 256), (256, 257), (128, 300), (1, 257), (257, 257)}
    with Session(engine) as session:
        for m, n in sorted(pairs):
            _check_consistency(session, tree, reference, m, n)
        assert tlog.consistency_proof(session, 7, 7).as_json() == {"first": 7, "second": 7,
                                                                   "proof": []}


def test_proof_arguments_are_checked(engine: Engine, tree: list[bytes]) -> None:
    with Session(engine) as session:
        for call in [
            lambda: tlog.inclusion_proof(session, 8, 8),
            lambda: tlog.inclusion_proof(session, -1, 8),
            lambda: tlog.inclusion_proof(session, 0, N + 1),
            lambda: tlog.inclusion_proof(session, N, N + 1),
            lambda: tlog.consistency_proof(session, 0, 8),
            lambda: tlog.consistency_proof(session, 9, 8),
            lambda: tlog.consistency_proof(session, 8, N + 1),
            lambda: tlog.consistency_proof(session, N + 1, N + 1),
            lambda: tlog.root_hash(session, N + 1),
            lambda: tlog.root_hash(session, -1),
        ]:
            with pytest.raises(ValueError):
                call()


def test_empty_log(engine: Engine) -> None:
    with Session(engine) as session:
        assert tlog.size(session) == 0
        assert tlog.root_hash(session, 0) == sha256(b"")
        assert tlog.entries(session, 0, 10) == []


def test_append_does_not_commit(engine: Engine) -> None:
    with session_scope(engine, write=True) as session:
        assert tlog.append(session, entry(0)) == 0
        assert tlog.size(session) == 1
        session.rollback()
    with Session(engine) as session:
        assert tlog.size(session) == 0


def test_entries_window(engine: Engine) -> None:
    with session_scope(engine, write=True) as session:
        for i in range(5):
            tlog.append(session, entry(i))
        session.commit()
    with Session(engine) as session:
        got = tlog.entries(session, 1, 3)
        assert got == [{"index": i, "entry": entry(i),
                        "leaf_hash": tlog.b64(tlog.leaf_hash(rfc8785.dumps(entry(i))))}
                       for i in (1, 2)]
        assert [e["index"] for e in tlog.entries(session, 3, 1000)] == [3, 4]
        assert tlog.entries(session, 2, 2) == []
        for start, end in [(-1, 2), (3, 2), (0, 1001)]:
            with pytest.raises(ValueError):
                tlog.entries(session, start, end)


# --- costs ------------------------------------------------------------------------------------


class Statements:
    """Records the SQL an engine runs (with its parameters) while active."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seen: list[tuple[str, Any]] = []

    def _record(self, conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        self.seen.append((statement, parameters))

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def queries(self) -> list[tuple[str, Any]]:
        """Everything but the transaction's BEGIN (SQLite's is a statement of its own)."""
        return [(s, p) for s, p in self.seen if not s.lstrip().upper().startswith("BEGIN")]

    def selects(self) -> list[tuple[str, Any]]:
        return [(s, p) for s, p in self.seen if s.lstrip().upper().startswith("SELECT")]

    def inserts(self) -> list[tuple[str, Any]]:
        return [(s, p) for s, p in self.seen if s.lstrip().upper().startswith("INSERT")]

    def clear(self) -> None:
        self.seen.clear()


def _row_count(session: Session) -> int:
    entries = session.execute(select(func.count()).select_from(tlog.LogEntry)).scalar_one()
    nodes = session.execute(select(func.count()).select_from(tlog.LogNode)).scalar_one()
    return int(entries) + int(nodes)


def test_append_inserts_the_leaf_and_only_the_subtrees_it_completes(engine: Engine) -> None:
    with session_scope(engine, write=True) as session, Statements(engine) as sql:
        for n in range(1, 131):  # n is the size after the append
            before = _row_count(session)
            sql.clear()
            tlog.append(session, entry(n))
            reads, writes = sql.selects(), sql.inserts()
            added = _row_count(session) - before
            trailing_zeros = (n & -n).bit_length() - 1
            assert added == 1 + trailing_zeros <= ceil_log2(n) + 1, n
            # The size, the left siblings (one SELECT) and, on PostgreSQL, the lock.
            assert len(reads) <= 3 and len(writes) <= 2, (n, reads)
        session.commit()


def _parameters(selects: list[tuple[str, Any]]) -> int:
    """Bound parameters of the SELECTs: every stored hash is read by primary key, one parameter
    for a leaf and two for a (level, index) node, so keys read ≤ parameters ≤ 2 · keys read."""
    total = 0
    for statement, parameters in selects:
        assert "WHERE" in statement.upper(), statement  # never a scan
        total += len(parameters)
    return total


def test_proofs_read_logarithmically_many_rows(engine: Engine, tree: list[bytes]) -> None:
    cases = [(0, 1), (0, 2), (2, 3), (6, 7), (5, 8), (0, 100), (99, 100), (31, 255), (0, 256),
             (255, 256), (256, 257), (0, 299), (150, 300), (299, 300)]
    with Session(engine) as session, Statements(engine) as sql:
        for m, n in cases:
            bound = 2 * ceil_log2(n) + 1
            sql.clear()
            tlog.inclusion_proof(session, m, n)
            assert len(sql.queries()) == 1 and len(sql.selects()) == 1
            assert _parameters(sql.selects()) <= 2 * bound, (m, n)
            sql.clear()
            tlog.consistency_proof(session, m + 1, n)
            assert len(sql.queries()) == 1 and len(sql.selects()) == 1
            assert _parameters(sql.selects()) <= 2 * bound, (m + 1, n)
            sql.clear()
            tlog.root_hash(session, n)
            assert len(sql.selects()) == 1
            assert _parameters(sql.selects()) <= 2 * bin(n).count("1")


def test_internal_reads_are_bounded_by_the_proof_size() -> None:
    # The exact number of stored hashes a proof needs, computed without a database: at most
    # one range of a proof is a non-complete right edge, so 2·⌈log2 n⌉ + 1 bounds every proof.
    for n in range(1, 1025):
        bound = 2 * ceil_log2(n) + 1
        for m in {0, 1, n // 3, n // 2, n - 2, n - 1} & set(range(n)):
            ranges = tlog.path_ranges(m, n)
            keys = {c for lo, hi in ranges for c in tlog.cover(lo, hi)} | {(0, m)}
            assert len(keys) <= bound, (m, n)
            assert sum(hi - lo > 0 and (hi - lo) & (hi - lo - 1) != 0 for lo, hi in ranges) <= 1
            ranges = tlog.proof_ranges(m + 1, n)
            keys = {c for lo, hi in ranges for c in tlog.cover(lo, hi)} | {(0, n - 1)}
            assert len(keys) <= bound, (m + 1, n)


# --- concurrency --------------------------------------------------------------------------------


def _append_concurrently(engine: Engine, threads: int) -> None:
    barrier = threading.Barrier(threads)
    got: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            with session_scope(engine, write=True) as session:
                index = tlog.append(session, entry(i))
                time.sleep(0.01)  # hold the transaction open: a race would have room to happen
                session.commit()
            got.append((index, i))
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert not worker.is_alive()
    assert errors == []
    assert sorted(index for index, _ in got) == list(range(threads))  # no gap, no duplicate
    with Session(engine) as session:
        assert tlog.size(session) == threads
        stored = tlog.entries(session, 0, 1000)
        assert [e["index"] for e in stored] == list(range(threads))
        for index, i in got:
            assert stored[index]["entry"] == entry(i)
        leaves = [rfc8785.dumps(e["entry"]) for e in stored]
        assert tlog.root_hash(session, threads) == tlog.mth(leaves)
        for m in range(threads):
            p = tlog.inclusion_proof(session, m, threads)
            assert p.audit_path == tlog.path(m, leaves)


def test_concurrent_appends_are_serialised(engine: Engine) -> None:
    _append_concurrently(engine, 8)


@pytest.mark.postgres
def test_concurrent_appends_are_serialised_on_postgres(engine: Engine) -> None:
    assert engine.dialect.name == "postgresql"
    _append_concurrently(engine, 8)


def test_a_second_appender_waits_for_the_first_to_commit(engine: Engine) -> None:
    done = threading.Event()
    result: list[int] = []

    def second() -> None:
        with session_scope(engine, write=True) as session:
            result.append(tlog.append(session, entry(1)))
            session.commit()
        done.set()

    with session_scope(engine, write=True) as session:
        assert tlog.append(session, entry(0)) == 0
        worker = threading.Thread(target=second)
        worker.start()
        assert not done.wait(0.3)  # blocked by the lock the first append holds
        session.commit()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert result == [1]


@pytest.mark.postgres
def test_postgres_append_holds_the_advisory_lock_until_commit(engine: Engine) -> None:
    try_lock = text("SELECT pg_try_advisory_xact_lock(:key)")
    with session_scope(engine, write=True) as session:
        tlog.append(session, entry(0))
        with engine.connect() as other:
            assert other.execute(try_lock, {"key": tlog.LOCK_KEY}).scalar() is False
            other.rollback()
            session.commit()
            assert other.execute(try_lock, {"key": tlog.LOCK_KEY}).scalar() is True
            other.rollback()


# --- checkpoints ------------------------------------------------------------------------------


def _append(engine: Engine, count: int, start: int = 0) -> None:
    with session_scope(engine, write=True) as session:
        for i in range(start, start + count):
            tlog.append(session, entry(i))
        session.commit()


def test_checkpoint_signs_the_jcs_of_the_object_without_its_signature(engine: Engine) -> None:
    _append(engine, 3)
    key = Ed25519PrivateKey.generate()
    signed: list[bytes] = []

    def sign(message: bytes) -> bytes:
        signed.append(message)
        return key.sign(message)

    with session_scope(engine, write=True) as session:
        checkpoint = tlog.record_checkpoint(session, origin="https://portal.example", kid="k1",
                                            sign=sign)
        session.commit()
    assert set(checkpoint) == {"origin", "tree_size", "root_hash", "timestamp", "kid",
                               "signature"}
    body = {k: v for k, v in checkpoint.items() if k != "signature"}
    assert signed == [rfc8785.dumps(body)]
    assert signed[0].startswith(b'{"kid":"k1","origin":"https://portal.example","root_hash":"')
    leaves = [rfc8785.dumps(entry(i)) for i in range(3)]
    assert checkpoint["tree_size"] == 3
    assert base64.b64decode(checkpoint["root_hash"], validate=True) == tlog.mth(leaves)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", checkpoint["timestamp"])
    key.public_key().verify(base64.b64decode(checkpoint["signature"], validate=True), signed[0])
    with Session(engine) as session:
        assert tlog.latest_checkpoint(session) == checkpoint


def test_latest_checkpoint_is_the_newest(engine: Engine) -> None:
    calls: list[bytes] = []

    def sign(message: bytes) -> bytes:
        calls.append(message)
        return b"signature %d" % len(calls)

    with Session(engine) as session:
        assert tlog.latest_checkpoint(session) is None
    with session_scope(engine, write=True) as session:
        empty = tlog.record_checkpoint(session, origin="o", kid="k1", sign=sign)
        session.commit()
    assert empty["tree_size"] == 0 and empty["root_hash"] == tlog.b64(sha256(b""))
    _append(engine, 3)
    with session_scope(engine, write=True) as session:
        first = tlog.record_checkpoint(session, origin="o", kid="k1", sign=sign)
        session.commit()
    _append(engine, 2, start=3)
    with session_scope(engine, write=True) as session:
        second = tlog.record_checkpoint(session, origin="o", kid="k2", sign=sign)
        session.commit()
    assert (first["tree_size"], second["tree_size"]) == (3, 5)
    assert second["signature"] == tlog.b64(b"signature 3")
    with Session(engine) as session:
        assert tlog.latest_checkpoint(session) == second
        assert second["root_hash"] == tlog.b64(tlog.root_hash(session, 5))
    # Nothing new to cover: the checkpoint of this size is returned, nothing is signed again.
    with session_scope(engine, write=True) as session:
        assert tlog.record_checkpoint(session, origin="o", kid="k3", sign=sign) == second
        session.commit()
    assert len(calls) == 3


def test_migration_creates_the_tables_as_modelled(engine: Engine) -> None:
    mine = MetaData()
    for model in (tlog.LogEntry, tlog.LogNode, tlog.Checkpoint, tlog.Cosignature):
        model.__table__.to_metadata(mine)  # type: ignore[attr-defined]
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, mine)
    assert [d for d in diff if "tlog_" in repr(d)] == []
    assert {"tlog_entries", "tlog_nodes", "tlog_checkpoints", "tlog_cosignatures"} <= set(
        inspect(engine).get_table_names())
