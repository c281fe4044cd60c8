"""The transparency log (portal/ledger/tlog.py), in process, on databases of its own.

3a. Appends per second with ``tlog.append``, many in one transaction (a batch): ≥ 2,000/s.
3b. Appends per second, one transaction each (BEGIN IMMEDIATE, append, COMMIT): ≥ 200/s.
3c. Inclusion and consistency proofs at 1,000,000 leaves, p50 ≤ 2 ms each.

The million-leaf tree is built with ``tlog.append_many``, which writes exactly the rows a
million ``tlog.append`` calls would (tests/unit/ledger/test_tlog_bulk.py) in one pass; it is kept in
bench/.cache/ (keyed by the migration head and the code of ``append_many``) for the next run.
"""

from __future__ import annotations

import hashlib
import inspect
import random
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import Result, median, percentile
from bench.context import CACHE, Context, log, migration_head

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

LEAVES = 1_000_000
BATCH_APPENDS = 5_000
SINGLE_SECONDS = 5.0
PROOFS = 1_000


def entry(i: int) -> dict[str, Any]:
    """An entry of the shape certificates are logged with (portal.records.certificates)."""
    return {"type": "certificate.issued", "at": "2026-11-30T08:00:00Z",
            "number": f"LR-2026-{i:07d}", "status": "approved",
            "certificate_sha256": hashlib.sha256(i.to_bytes(8, "big")).hexdigest(),
            "kid": "bench-key"}


def _fresh(directory: Path) -> Engine:
    from portal.base.db import make_engine
    from portal.base.settings import Settings
    from portal.ops.migrate import upgrade

    settings = Settings(data_dir=directory, _env_file=None)  # type: ignore[call-arg]
    upgrade(settings)
    return make_engine(settings.resolved_database_url)


def append_rates(work: Path) -> list[Result]:
    from portal.base.db import session_scope
    from portal.ledger import tlog

    engine = _fresh(work / "tlog-appends")
    try:
        with session_scope(engine, write=True) as session:  # warm up: a tree to append to
            tlog.append_many(session, (entry(i) for i in range(1000)))
            session.commit()
        began = time.perf_counter()
        with session_scope(engine, write=True) as session:
            for i in range(1000, 1000 + BATCH_APPENDS):
                tlog.append(session, entry(i))
            session.commit()
        batched = BATCH_APPENDS / (time.perf_counter() - began)
        single = 0
        began = time.perf_counter()
        deadline = began + SINGLE_SECONDS
        next_index = 1000 + BATCH_APPENDS
        while time.perf_counter() < deadline:
            with session_scope(engine, write=True) as session:
                tlog.append(session, entry(next_index))
                session.commit()
            next_index += 1
            single += 1
        one_by_one = single / (time.perf_counter() - began)
    finally:
        engine.dispose()
    return [
        Result("Log appends, batched in one transaction", batched, "/s", 2000, True,
               note=f"{BATCH_APPENDS:,} tlog.append calls, one commit, fresh SQLite database"),
        Result("Log appends, one transaction each", one_by_one, "/s", 200, True,
               note=f"{single:,} appends in {SINGLE_SECONDS:g} s, BEGIN IMMEDIATE … COMMIT each"),
    ]


def million_leaf_tree(ctx: Context) -> tuple[Path, str]:
    """The database of a 1,000,000-leaf log (cached) and how it was built."""
    from portal.base.db import session_scope
    from portal.ledger import tlog

    # The rows depend on the schema and on what append_many writes (the same as append).
    code = hashlib.sha256(inspect.getsource(tlog.append_many).encode()).hexdigest()[:12]
    cached = CACHE / f"tlog-{LEAVES}-{migration_head()}-{code}"
    if (cached / "portal.db").exists():
        log(f"{LEAVES:,}-leaf log from the cache: {cached}")
        return cached, "built with tlog.append_many (cached)"
    building = CACHE / f".building-tlog-{LEAVES}"
    shutil.rmtree(building, ignore_errors=True)
    log(f"building a {LEAVES:,}-leaf log with tlog.append_many (cached in {cached})")
    engine = _fresh(building)
    began = time.perf_counter()
    try:
        with session_scope(engine, write=True) as session:
            tlog.append_many(session, (entry(i) for i in range(LEAVES)))
            session.commit()
    finally:
        engine.dispose()
    seconds = time.perf_counter() - began
    for stale in building.glob("portal.db-*"):
        stale.unlink()
    shutil.rmtree(cached, ignore_errors=True)
    building.rename(cached)
    log(f"built in {seconds:.0f} s ({LEAVES / seconds:,.0f} leaves/s)")
    return cached, (f"built with tlog.append_many in {seconds:.0f} s "
                    f"({LEAVES / seconds:,.0f} leaves/s)")


def proof_times(ctx: Context) -> list[Result]:
    from sqlmodel import Session

    from portal.base.db import make_engine
    from portal.ledger import tlog

    directory, built = million_leaf_tree(ctx)
    engine = make_engine(f"sqlite:///{directory / 'portal.db'}")
    rng = random.Random(1)
    inclusion: list[float] = []
    consistency: list[float] = []
    try:
        with Session(engine) as session:
            assert tlog.size(session) == LEAVES
            root = tlog.root_hash(session, LEAVES)
            leaves = rng.sample(range(LEAVES), PROOFS)
            firsts = [rng.randrange(1, LEAVES) for _ in range(PROOFS)]
            for i in leaves[:20]:  # warm up; and the proofs must verify
                proof = tlog.inclusion_proof(session, i, LEAVES)
                assert tlog.verify_inclusion(proof.leaf_hash, i, LEAVES, proof.audit_path, root)
            for first in firsts[:20]:
                old_root = tlog.root_hash(session, first)
                made = tlog.consistency_proof(session, first, LEAVES)
                assert tlog.verify_consistency(first, LEAVES, old_root, root, made.proof)
            for i in leaves:
                began = time.perf_counter()
                tlog.inclusion_proof(session, i, LEAVES)
                inclusion.append((time.perf_counter() - began) * 1000)
            for first in firsts:
                began = time.perf_counter()
                tlog.consistency_proof(session, first, LEAVES)
                consistency.append((time.perf_counter() - began) * 1000)
    finally:
        engine.dispose()
    where = f"{LEAVES:,} leaves, {built}"
    return [
        Result("Log inclusion proof at 1,000,000 leaves, p50", median(inclusion), "ms", 2,
               note=f"{PROOFS:,} random leaves, p99 {percentile(inclusion, 99):.2f} ms; {where}"),
        Result("Log consistency proof at 1,000,000 leaves, p50", median(consistency), "ms", 2,
               note=f"{PROOFS:,} random first sizes, p99 "
                    f"{percentile(consistency, 99):.2f} ms"),
    ]


def run(ctx: Context) -> list[Result]:
    return [*append_rates(ctx.work), *proof_times(ctx)]
