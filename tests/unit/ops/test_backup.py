"""`portal backup` and `portal restore`: seeded registrations backed up, restored into an empty
database and verified (the log recomputed, every checkpoint, certificate and registration), on
SQLite and on PostgreSQL; and the verification catches what was altered."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import rfc8785
from sqlalchemy import func, select, table, text, update
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from portal import cli
from portal.base.db import make_engine, session_scope
from portal.base.settings import Settings
from portal.ledger import tlog
from portal.ops import backup, seed
from portal.privacy import data_keys
from portal.records import certificates
from portal.registration.attestations import Attestation
from tests.conftest import PG_URL

COUNTED = ("registrations", "certificates", "tlog_entries", "tlog_nodes", "tlog_checkpoints",
           "history", "outbox", "users", "attestations", "documents")


def sign_checkpoint(engine: Engine, settings: Settings) -> dict[str, object]:
    with session_scope(engine, write=True) as session:
        kid, private = certificates.ensure_registered(session, settings)
        checkpoint = tlog.record_checkpoint(session, origin=settings.issuer, kid=kid,
                                            sign=private.sign)
        session.commit()
    return checkpoint


def seeded(engine: Engine, settings: Settings, *, first: int, then: int) -> None:
    """Registrations in a mix of states, with a signed checkpoint after each of two seedings."""
    seed.seed(engine, settings, registrations=first, seed=11, batch_size=10)
    sign_checkpoint(engine, settings)
    seed.seed(engine, settings, registrations=then, seed=12, batch_size=10)
    sign_checkpoint(engine, settings)


def counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {name: conn.execute(select(func.count()).select_from(table(name)))
                    .scalar_one() for name in COUNTED}
    finally:
        engine.dispose()


def use(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """Point `portal` (cli.main, which reads the environment) at these settings."""
    monkeypatch.setenv("PORTAL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PORTAL_DATABASE_URL", settings.resolved_database_url)
    for name in ("secret_key", "data_key", "index_key"):
        monkeypatch.setenv(f"PORTAL_{name.upper()}", settings.secret(name))


def elsewhere(settings: Settings, data_dir: Path, database_url: str = "") -> Settings:
    """Another installation with the same keys (restored from their own backup) and its own
    data dir and database."""
    return Settings(data_dir=data_dir, database_url=database_url,
                    secret_key=settings.secret("secret_key"),
                    data_key=settings.secret("data_key"),
                    index_key=settings.secret("index_key"),
                    _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def sqlite_settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """An SQLite installation, also when the suite runs on PostgreSQL (these tests are about
    SQLite's backup; PostgreSQL has its own below)."""
    if not PG_URL:
        return request.getfixturevalue("settings")  # a copy of the migrated template
    from portal.ops.migrate import upgrade

    settings = Settings(data_dir=tmp_path / "data", database_url="",
                        _env_file=None)  # type: ignore[call-arg]
    upgrade(settings)
    return settings


@pytest.fixture
def sqlite_engine(sqlite_settings: Settings) -> Iterator[Engine]:
    engine = make_engine(sqlite_settings.resolved_database_url)
    yield engine
    engine.dispose()


def test_root_from_complete_subtrees_is_rfc6962_mth() -> None:
    leaves = [f"leaf {i}".encode() for i in range(40)]
    levels = backup.levels_of([tlog.leaf_hash(leaf) for leaf in leaves])
    for size in range(len(leaves) + 1):
        assert backup.root_of(levels, size) == tlog.mth(leaves[:size]), size


def test_sqlite_backup_restore_and_verify(sqlite_engine, sqlite_settings, tmp_path,
                                          monkeypatch, capsys) -> None:
    engine, settings = sqlite_engine, sqlite_settings
    seeded(engine, settings, first=20, then=10)
    source = counts(settings.resolved_database_url)
    assert source["tlog_checkpoints"] == 2 and source["certificates"] > 10
    use(monkeypatch, settings)
    backups = tmp_path / "backups"
    backups.mkdir()

    assert cli.main(["backup", str(backups)]) == 0
    out = capsys.readouterr().out
    (made,) = backups.iterdir()
    assert made.suffix == ".sqlite3" and str(made) in out and "Not included" in out
    assert stat.S_IMODE(made.stat().st_mode) == 0o600
    assert made.read_bytes().startswith(backup.SQLITE_MAGIC)
    assert not (backups / (made.name + "-wal")).exists()  # one self-contained file
    assert cli.main(["backup", str(made)]) == 2  # never overwrites
    assert "already exists" in capsys.readouterr().err

    restored = elsewhere(settings, tmp_path / "restored")
    use(monkeypatch, restored)
    assert cli.main(["restore", str(made)]) == 0
    out = capsys.readouterr().out.splitlines()
    with Session(engine) as session:
        size = tlog.size(session)
        root = tlog.b64(tlog.root_hash(session, size))
    assert out[-1].startswith(
        f"verified: log of {size} entries (root {root}), 2 signed checkpoints, "
        f"{source['certificates']} certificates of ")
    assert out[-1].endswith(": all check out")
    assert counts(restored.resolved_database_url) == source

    # A database that has the portal's tables is not overwritten unless asked.
    assert cli.main(["restore", str(made)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("portal: the database sqlite:///") and "--force" in err
    assert len(err.strip().splitlines()) == 1
    assert cli.main(["restore", "--force", str(made)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("verified: ")
    assert counts(restored.resolved_database_url) == source

    # Restored without the data key it was made with: restored, but not verified (exit 1).
    keyless = restored.model_copy(update={"data_dir": tmp_path / "keyless",
                                          "data_key": data_keys.new_data_key()})
    use(monkeypatch, keyless)
    assert cli.main(["restore", str(made)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines()[-1].startswith("invalid: 1 problems in log of ")
    assert "open with none of the configured data keys" in captured.err


def test_backup_while_the_server_writes_is_consistent(sqlite_engine, sqlite_settings,
                                                      tmp_path) -> None:
    engine, settings = sqlite_engine, sqlite_settings
    seed.seed(engine, settings, registrations=3, seed=5)
    writer = threading.Thread(target=seed.seed, args=(engine, settings),
                              kwargs={"registrations": 12, "seed": 6, "batch_size": 1})
    copies = []
    writer.start()
    try:
        while writer.is_alive() and len(copies) < 8:
            copies.append(backup.backup(settings, tmp_path / f"copy-{len(copies)}.db").path)
            writer.join(timeout=0.3)
    finally:
        writer.join()
    copies.append(backup.backup(settings, tmp_path / "final.db").path)
    sizes = []
    for n, copy in enumerate(copies):
        restored = elsewhere(settings, tmp_path / f"restored-{n}")
        backup.restore(restored, copy)
        restored_engine = make_engine(restored.resolved_database_url)
        try:
            report = backup.verify(restored_engine, restored)
        finally:
            restored_engine.dispose()
        assert report.ok, (copy, report.problems)
        sizes.append(report.log_size)
    # Taken while the writer wrote: the log grew between the first copy and the last.
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def test_restore_refuses_what_is_not_a_backup_of_this_kind(sqlite_settings, tmp_path,
                                                           monkeypatch, capsys) -> None:
    target = elsewhere(sqlite_settings, tmp_path / "target")
    use(monkeypatch, target)
    dump = tmp_path / "portal.pgdump"
    dump.write_bytes(b"PGDMP\x01\x0f\x00")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a backup\n")
    assert cli.main(["restore", str(dump)]) == 2
    assert "is a PostgreSQL backup but the database is SQLite" in capsys.readouterr().err
    assert cli.main(["restore", str(notes)]) == 2
    assert "neither an SQLite backup nor a pg_dump" in capsys.readouterr().err
    assert cli.main(["restore", str(tmp_path / "missing.db")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert not target.data_dir.exists() or not (target.data_dir / "portal.db").exists()


# --- what verification catches --------------------------------------------------------------


@pytest.fixture
def copy_of(sqlite_engine, sqlite_settings, tmp_path) -> Iterator:  # type: ignore[type-arg]
    """A function giving a fresh restored copy of a seeded database: (settings, engine)."""
    engine, settings = sqlite_engine, sqlite_settings
    seed.seed(engine, settings, registrations=12, seed=21, batch_size=6)
    sign_checkpoint(engine, settings)
    made = backup.backup(settings, tmp_path / "seeded.db").path
    engines: list[Engine] = []

    def fresh(name: str) -> tuple[Settings, Engine]:
        target = elsewhere(settings, tmp_path / name)
        target.data_dir.mkdir()
        shutil.copyfile(made, target.data_dir / "portal.db")
        engines.append(make_engine(target.resolved_database_url))
        return target, engines[-1]

    yield fresh
    for each in engines:
        each.dispose()


ENTRIES = tlog.LogEntry.__table__  # type: ignore[attr-defined]
NODES = tlog.LogNode.__table__  # type: ignore[attr-defined]
CERTIFICATES = certificates.Certificate.__table__  # type: ignore[attr-defined]
CHECKPOINTS = tlog.Checkpoint.__table__  # type: ignore[attr-defined]
ATTESTATIONS = Attestation.__table__  # type: ignore[attr-defined]


def _alter_entry(conn) -> str:  # type: ignore[no-untyped-def]
    entry = conn.execute(select(ENTRIES.c.entry).where(ENTRIES.c.index == 1)).scalar_one()
    changed = json.loads(entry)
    changed["at"] = "2020-01-01T00:00:00Z"
    conn.execute(update(ENTRIES).where(ENTRIES.c.index == 1)
                 .values(entry=rfc8785.dumps(changed).decode()))
    return "log entry 1 does not hash to its stored leaf hash"


def _rewrite_entry_and_its_hash(conn) -> str:  # type: ignore[no-untyped-def]
    # Rewriting history consistently (the leaf hash too) still breaks every subtree above it
    # and the signed checkpoint.
    entry = conn.execute(select(ENTRIES.c.entry).where(ENTRIES.c.index == 0)).scalar_one()
    changed = json.loads(entry)
    changed["at"] = "2020-01-01T00:00:00Z"
    leaf = rfc8785.dumps(changed)
    conn.execute(update(ENTRIES).where(ENTRIES.c.index == 0)
                 .values(entry=leaf.decode(), leaf_hash=tlog.leaf_hash(leaf)))
    return "the stored hash of subtree (1, 0) is not the one its leaves give"


def _drop_last_entry(conn) -> str:  # type: ignore[no-untyped-def]
    last = conn.execute(select(func.max(ENTRIES.c.index))).scalar_one()
    conn.execute(ENTRIES.delete().where(ENTRIES.c.index == last))
    return "is beyond the log"


def _alter_node(conn) -> str:  # type: ignore[no-untyped-def]
    conn.execute(update(NODES).where(NODES.c.level == 2, NODES.c.index == 0)
                 .values(hash=b"\x00" * 32))
    return "the stored hash of subtree (2, 0) is not the one its leaves give"


def _alter_certificate(conn) -> str:  # type: ignore[no-untyped-def]
    serial, document = conn.execute(select(CERTIFICATES.c.serial, CERTIFICATES.c.document)
                                    .limit(1)).one()
    body = json.loads(document)
    body["valid_until"] = "2099-12-31T00:00:00Z"
    canonical = rfc8785.dumps(body)
    conn.execute(update(CERTIFICATES).where(CERTIFICATES.c.serial == serial).values(
        document=canonical.decode(), sha256=hashlib.sha256(canonical).hexdigest()))
    return f"certificate {serial}: the signature does not verify"


def _alter_checkpoint(conn) -> str:  # type: ignore[no-untyped-def]
    conn.execute(update(CHECKPOINTS).values(root_hash=tlog.b64(b"\x01" * 32)))
    return "the checkpoint's signature does not match"


def _alter_attestation(conn) -> str:  # type: ignore[no-untyped-def]
    # The answers a certificate approved, changed afterwards.
    certified = select(CERTIFICATES.c.registration_id)
    row_id, data = conn.execute(select(ATTESTATIONS.c.id, ATTESTATIONS.c.data).where(
        ATTESTATIONS.c.registration_id.in_(certified)).order_by(ATTESTATIONS.c.id).limit(1)).one()
    conn.execute(update(ATTESTATIONS).where(ATTESTATIONS.c.id == row_id)
                 .values(data={**data, "incident_plan": "none"}))
    return "No stored attestation hashes to the value in certificate"


TAMPERING = {
    "entry": _alter_entry,
    "entry and leaf hash": _rewrite_entry_and_its_hash,
    "last entry dropped": _drop_last_entry,
    "subtree hash": _alter_node,
    "certificate re-hashed": _alter_certificate,
    "checkpoint root": _alter_checkpoint,
    "attestation": _alter_attestation,
}


def test_verification_finds_what_was_altered(copy_of) -> None:  # type: ignore[no-untyped-def]
    intact, intact_engine = copy_of("intact")
    report = backup.verify(intact_engine, intact)
    assert report.ok, report.problems
    assert report.log_size >= 8 and report.checkpoints == 1 and report.certificates >= 5

    for name, tamper in TAMPERING.items():
        target, engine = copy_of(name.replace(" ", "-"))
        with engine.begin() as conn:
            expected = tamper(conn)
        report = backup.verify(engine, target)
        assert not report.ok, name
        assert any(expected in problem for problem in report.problems), (name, report.problems)
        assert report.summary().startswith(f"invalid: {report.problem_count} problems in ")

    # Restored where the data keys were not brought along: the personal data is unreadable.
    target, engine = copy_of("other-keys")
    other_keys = target.model_copy(update={"data_key": data_keys.new_data_key(),
                                           "old_data_keys": ""})
    report = backup.verify(engine, other_keys)
    assert not report.ok
    assert "open with none of the configured data keys" in report.problems[-1]


# --- PostgreSQL -------------------------------------------------------------------------------


@pytest.fixture
def scratch_database(database_url: str) -> Iterator[str]:
    """An empty database beside the test database (its name derives from it), dropped after."""
    url = make_url(database_url)
    name = f"{url.database}_restore"[:63]
    admin = make_engine(database_url, isolation_level="AUTOCOMMIT")

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    drop()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        drop()
        admin.dispose()


@pytest.mark.postgres
def test_postgres_backup_restore_and_verify(engine, settings, tmp_path, monkeypatch, capsys,
                                            scratch_database) -> None:
    assert PG_URL
    seeded(engine, settings, first=16, then=8)
    source = counts(settings.resolved_database_url)
    use(monkeypatch, settings)
    dump = tmp_path / "portal.pgdump"
    assert cli.main(["backup", str(dump)]) == 0
    assert str(dump) in capsys.readouterr().out
    assert dump.read_bytes().startswith(backup.PGDUMP_MAGIC)
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600

    restored = elsewhere(settings, tmp_path / "restored", scratch_database)
    use(monkeypatch, restored)
    assert cli.main(["restore", str(dump)]) == 0
    summary = capsys.readouterr().out.splitlines()[-1]
    assert summary.startswith(f"verified: log of {source['tlog_entries']} entries (root ")
    assert f", 2 signed checkpoints, {source['certificates']} certificates of " in summary
    assert counts(scratch_database) == source

    assert cli.main(["restore", str(dump)]) == 2
    assert "already has the portal's tables" in capsys.readouterr().err
    assert cli.main(["restore", "--force", str(dump)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("verified: ")
    assert counts(scratch_database) == source

    # An SQLite backup does not go into PostgreSQL.
    sqlite_copy = tmp_path / "other.db"
    sqlite_copy.write_bytes(backup.SQLITE_MAGIC + b"\x00" * 84)
    assert cli.main(["restore", "--force", str(sqlite_copy)]) == 2
    assert "is a SQLite backup but the database is PostgreSQL" in capsys.readouterr().err

    # A database that cannot be reached, and no pg_dump: one line each, exit 2.
    missing = make_url(scratch_database)
    missing = missing.set(database=f"{missing.database}_missing")
    monkeypatch.setenv("PORTAL_DATABASE_URL", missing.render_as_string(hide_password=False))
    assert cli.main(["restore", str(dump)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("portal: cannot open the database ") and len(err.splitlines()) == 1
    use(monkeypatch, settings)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert cli.main(["backup", str(tmp_path / "again.pgdump")]) == 2
    assert "pg_dump is not on PATH" in capsys.readouterr().err
    assert not list(tmp_path.glob("again.pgdump*"))
