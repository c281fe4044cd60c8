"""``tlog.append_many`` writes exactly what ``tlog.append`` writes, one entry at a time: the same
entry and node rows, so the same roots and the same proofs, from an empty log or after it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal.base.db import make_engine, session_scope
from portal.base.settings import Settings
from portal.ledger import tlog
from portal.ops.migrate import upgrade

AT = "2026-11-30T08:00:00Z"
N = 150


def entry(i: int) -> dict[str, Any]:
    return {"type": "certificate.issued", "at": AT, "number": f"LR-2026-{i:07d}",
            "status": "approved", "certificate_sha256": f"{i:064x}", "kid": "k1"}


@pytest.fixture
def second_engine(tmp_path: Path, migrated_database: str) -> Iterator[Engine]:
    """Another empty database beside the ``engine`` fixture's, to compare the two: an SQLite
    file, also when ``engine`` is PostgreSQL (the rows must then match across databases)."""
    copy = tmp_path / "other" / "portal.db"
    copy.parent.mkdir()
    if Path(migrated_database).is_file():
        shutil.copyfile(migrated_database, copy)
    else:
        upgrade(Settings(data_dir=copy.parent, _env_file=None))  # type: ignore[call-arg]
    engine = make_engine(f"sqlite:///{copy}")
    yield engine
    engine.dispose()


def rows(engine: Engine) -> tuple[list[Any], list[Any]]:
    """Every entry row (without its timestamp) and every node row, in key order."""
    with engine.connect() as conn:
        leaves = list(conn.execute(text(
            'SELECT "index", entry, leaf_hash FROM tlog_entries ORDER BY "index"')))
        nodes = list(conn.execute(text(
            'SELECT level, "index", hash FROM tlog_nodes ORDER BY level, "index"')))
    # Hashes as bytes whichever driver read them.
    return ([(int(i), e, bytes(h)) for i, e, h in leaves],
            [(int(lv), int(i), bytes(h)) for lv, i, h in nodes])


def one_by_one(engine: Engine, numbers: range) -> None:
    with session_scope(engine, write=True) as session:
        for i in numbers:
            tlog.append(session, entry(i))
        session.commit()


def in_bulk(engine: Engine, numbers: range, *, chunk: int = 10_000) -> range:
    with session_scope(engine, write=True) as session:
        added = tlog.append_many(session, (entry(i) for i in numbers), chunk=chunk)
        session.commit()
    return added


@pytest.mark.parametrize("chunk", [1, 7, 10_000])
def test_bulk_writes_the_rows_of_the_normal_path(engine: Engine, second_engine: Engine,
                                                 chunk: int) -> None:
    one_by_one(engine, range(N))
    assert in_bulk(second_engine, range(N), chunk=chunk) == range(N)
    assert rows(second_engine) == rows(engine)
    leaves, nodes = rows(engine)
    assert len(leaves) == N and len(nodes) == N - bin(N).count("1")


@pytest.mark.parametrize("first", [0, 1, 2, 5, 8, 13, 64, 100])
def test_bulk_continues_a_log_as_append_would(engine: Engine, second_engine: Engine,
                                              first: int) -> None:
    one_by_one(engine, range(N))
    one_by_one(second_engine, range(first))
    assert in_bulk(second_engine, range(first, N)) == range(first, N)
    assert rows(second_engine) == rows(engine)
    one_by_one(second_engine, range(N, N + 3))  # and append carries on after it
    one_by_one(engine, range(N, N + 3))
    assert rows(second_engine) == rows(engine)


def test_bulk_tree_gives_the_same_roots_and_proofs(engine: Engine,
                                                   second_engine: Engine) -> None:
    one_by_one(engine, range(N))
    in_bulk(second_engine, range(40))
    in_bulk(second_engine, range(40, N))
    leaves = [tlog.entry_bytes(entry(i)) for i in range(N)]
    with Session(engine) as normal, Session(second_engine) as bulk:
        for size in range(1, N + 1):
            assert tlog.root_hash(bulk, size) == tlog.root_hash(normal, size) == tlog.mth(
                leaves[:size])
        for size in (1, 2, 3, 64, 65, 127, N):
            for index in range(size):
                assert tlog.inclusion_proof(bulk, index, size) == tlog.inclusion_proof(
                    normal, index, size)
            for first in range(1, size + 1):
                proof = tlog.consistency_proof(bulk, first, size)
                assert proof == tlog.consistency_proof(normal, first, size)
                assert proof.proof == tlog.proof(first, leaves[:size])


def test_bulk_checks_every_entry_and_writes_nothing_of_a_bad_batch(engine: Engine) -> None:
    bad = [entry(0), {"type": "no.such.event", "at": AT}]
    with session_scope(engine, write=True) as session, pytest.raises(ValueError):
        tlog.append_many(session, bad)
    with Session(engine) as session:
        assert tlog.size(session) == 0


def test_bulk_of_nothing_adds_nothing(engine: Engine) -> None:
    one_by_one(engine, range(5))
    assert in_bulk(engine, range(5, 5)) == range(5, 5)
    with Session(engine) as session:
        assert tlog.size(session) == 5
