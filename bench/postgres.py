"""The seeded data on PostgreSQL: the cached SQLite seed copied, table by table, into a database.

Seeding through the portal's own code runs about 15 registrations a second on PostgreSQL on a
busy two-core machine (each one a transaction with its log entry and events), so 100,000 would
take hours. The benchmarks of the PostgreSQL path instead migrate ``BENCH_DATABASE_URL``'s
database with Alembic and copy the rows of the SQLite seed into it, through the models' own
column types (timestamps, JSON, booleans), with foreign-key triggers off while copying, then move
every sequence past the copied ids. The same data, keys and numbers on both databases: the run's
data dir (its keys) serves both.

The database is copied once per seed: the database's comment names the seed it holds, so a later
run with the same seed and migration head skips the copy.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.context import log

CHUNK = 2000


def _marker(engine: Any) -> str:
    from sqlalchemy import text

    with engine.connect() as conn:
        value = conn.execute(text(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
            "WHERE datname = current_database()")).scalar()
    return str(value or "")


def _rows(engine: Any) -> int:
    """The registry's rows (-1 without the table): a test run may have emptied the database
    since it was copied."""
    from sqlalchemy import text

    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM registry")).scalar() or 0)
    except Exception:  # no such table
        return -1
    finally:
        engine.dispose()


def copy_seed(sqlite_db: Path, url: str, seed_name: str) -> str:
    """Make ``url``'s database hold the rows of ``sqlite_db`` (a seed named ``seed_name``);
    return how (copied or already there), for the notes."""
    from sqlalchemy import create_engine, func, insert, select, text
    from sqlmodel import SQLModel

    from portal.base.settings import Settings
    from portal.ops import schema as _schema  # noqa: F401  (every table in the metadata)
    from portal.ops.migrate import upgrade

    target = create_engine(url)
    try:
        if _marker(target) == f"bench {seed_name}" and _rows(target) == _rows(
                create_engine(f"sqlite:///file:{sqlite_db}?mode=ro&uri=true")):
            log(f"PostgreSQL already holds {seed_name}")
            return f"copied before ({seed_name})"
        started = time.monotonic()
        log(f"copying {seed_name} into PostgreSQL (once)")
        with target.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        upgrade(Settings(_env_file=None, database_url=url))  # type: ignore[call-arg]
        source = create_engine(f"sqlite:///file:{sqlite_db}?mode=ro&uri=true")
        tables = [t for t in SQLModel.metadata.sorted_tables]
        rows_copied = 0
        with source.connect() as src, target.begin() as dst:
            dst.execute(text("SET session_replication_role = replica"))
            # Rows the migrations wrote themselves (none expected, but the copy is the truth).
            for table in reversed(tables):
                dst.execute(table.delete())
            for table in tables:
                result = src.execute(select(table))
                while chunk := result.fetchmany(CHUNK):
                    dst.execute(insert(table), [dict(row._mapping) for row in chunk])
                    rows_copied += len(chunk)
            for table in tables:
                for column in table.primary_key.columns:
                    if column.autoincrement is True or (
                            column.autoincrement == "auto" and column.type.python_type is int
                            and len(table.primary_key.columns) == 1):
                        sequence = dst.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                               {"t": table.name, "c": column.name}).scalar()
                        if sequence:
                            top = dst.execute(select(func.max(column))).scalar() or 0
                            dst.execute(text("SELECT setval(:s, :v)"),
                                        {"s": sequence, "v": max(int(top), 1)})
            database = dst.execute(text("SELECT current_database()")).scalar()
            marker = f"bench {seed_name}".replace("'", "''")
            dst.execute(text(f"COMMENT ON DATABASE \"{database}\" IS '{marker}'"))
        with target.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        source.dispose()
        seconds = time.monotonic() - started
        log(f"copied {rows_copied:,} rows into PostgreSQL in {seconds:.0f} s")
        return f"copied from the SQLite seed in {seconds:.0f} s ({rows_copied:,} rows)"
    finally:
        target.dispose()
