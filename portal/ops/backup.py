"""`portal backup` and `portal restore`: the database to a file and back, then proven intact.

What a backup holds is the database, all of it, and nothing else (docs/decisions.md, "Backup
and restore"). The keys that open and sign it — ``PORTAL_DATA_KEY`` and ``PORTAL_OLD_DATA_KEYS``,
``PORTAL_INDEX_KEY``, ``PORTAL_SECRET_KEY``, the signing key file — are backed up separately,
so that whoever holds a backup does not hold the keys to its personal data too.

- **SQLite**: SQLite's online backup (``sqlite3.Connection.backup``) copies every page in one
  step inside one read transaction, so the copy is the database as of one commit while the
  server goes on writing (WAL readers do not block writers). The copy is switched out of WAL
  (one self-contained file), checked with ``PRAGMA quick_check``, and renamed into place.
- **PostgreSQL**: ``pg_dump --format=custom`` (one snapshot, so consistent too), restored with
  ``pg_restore --single-transaction --no-owner --no-privileges`` into a database that has none
  of the portal's tables (``--force``: ``--clean --if-exists``, in the same single transaction).

Both write the file as ``<name>.partial`` with mode 0600 and rename it when complete, and refuse
to overwrite an existing file. After a restore the schema is migrated to head (a backup made by
an older release) and ``verify`` checks the whole record: the transparency log recomputed from
its stored leaves, every signed checkpoint, every certificate and its log entry, every
registration's integrity (``auditing.integrity``), and that the configured data keys open every
encrypted value.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.util import CommandError
from sqlalchemy import inspect, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, SQLModel, col
from sqlmodel import select as select_model

from portal.base import i18n
from portal.base.db import driver_options, make_engine
from portal.base.settings import Settings
from portal.ledger import tlog
from portal.ops import schema as _schema  # noqa: F401  (every table in SQLModel.metadata)
from portal.ops.migrate import upgrade
from portal.oversight import auditing
from portal.privacy import data_keys
from portal.records import certificates
from portal.records.verifier import Invalid, check_checkpoint
from portal.registration.models import Registration

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
PAGE = 1000  # rows read per query while verifying
MAX_PROBLEMS = 50  # problems kept (and printed); the count goes on


class BackupError(Exception):
    """The backup or restore cannot be made as asked; the message says why, in one line."""


@dataclass(frozen=True)
class Result:
    path: Path
    kind: str  # "sqlite" | "postgresql"
    size: int
    seconds: float


def _kind(url: str) -> str:
    name = make_url(url).get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise BackupError(f"cannot back up or restore a {name} database")
    return name


def _sqlite_file(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError("the SQLite database must be a file named in PORTAL_DATABASE_URL")
    return Path(database).expanduser().resolve()


def _target(dest: Path, kind: str) -> Path:
    """The file to write: DEST, or a new timestamped name inside DEST when it is a directory."""
    if dest.is_dir():
        suffix = "sqlite3" if kind == "sqlite" else "pgdump"
        dest = dest / f"portal-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.{suffix}"
    if dest.exists():
        raise BackupError(f"{dest} already exists: give a new file name or a directory")
    if not dest.parent.is_dir():
        raise BackupError(f"{dest.parent} is not a directory")
    return dest


def _partial(dest: Path) -> Path:
    """An empty file beside DEST that only its owner may read (backups hold personal data)."""
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return partial


def _finish(partial: Path, dest: Path) -> None:
    with partial.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(partial, dest)


# --- backup -----------------------------------------------------------------------------------


def backup(settings: Settings, dest: Path) -> Result:
    """Copy the database of ``settings`` to ``dest`` (a new file, or a directory to put one in)."""
    url = settings.resolved_database_url
    kind = _kind(url)
    started = time.monotonic()
    target = _target(dest.expanduser().resolve(), kind)
    try:
        partial = _partial(target)
    except OSError as exc:
        raise BackupError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        if kind == "sqlite":
            _sqlite_backup(_sqlite_file(url), partial)
        else:
            _pg_dump(url, partial)
        _finish(partial, target)
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"the SQLite backup failed: {exc}") from None
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"cannot write {target}: {exc.strerror or exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return Result(target, kind, target.stat().st_size, time.monotonic() - started)


def _sqlite_backup(source: Path, partial: Path) -> None:
    if not source.is_file():
        raise BackupError(f"there is no database at {source}")
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(partial)
    try:
        # pages=-1: every page in one step, so one read transaction sees one commit throughout.
        src.backup(dst, pages=-1)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        _quick_check(dst, partial)
    finally:
        dst.close()
        src.close()


def _quick_check(conn: sqlite3.Connection, path: Path) -> None:
    rows = [row[0] for row in conn.execute("PRAGMA quick_check")]
    if rows != ["ok"]:
        raise BackupError(f"{path} fails SQLite's quick_check: {rows[0]}")


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URI for ``url`` without its password, and the environment that passes
    the password (so that it never shows in the process list). The portal's own URL parameters
    (``?pgbouncer=true``) are not libpq's: they are left out."""
    parsed = make_url(driver_options(url)[0])
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    uri = parsed.set(drivername="postgresql", password=None).render_as_string(
        hide_password=False)
    return uri, env


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not on PATH: install the PostgreSQL client tools (the "
                          "server's major version or newer)")
    return found


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        detail = lines[-1] if lines else f"exit code {done.returncode}"
        raise BackupError(f"{Path(command[0]).name} failed: {detail}")


def _pg_dump(url: str, partial: Path) -> None:
    uri, env = _libpq(url)
    _run([_pg_tool("pg_dump"), "--format=custom", "--no-password", f"--file={partial}",
          f"--dbname={uri}"], env)


# --- restore ----------------------------------------------------------------------------------


def backup_kind(path: Path) -> str:
    """"sqlite" or "postgresql", from the file's first bytes."""
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror or exc}") from None
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "postgresql"
    raise BackupError(f"{path} is neither an SQLite backup nor a pg_dump custom-format file")


def portal_tables(engine: Engine) -> list[str]:
    """The portal's tables (and Alembic's) that the database already has."""
    ours = {*SQLModel.metadata.tables, "alembic_version"}
    return sorted(ours & set(inspect(engine).get_table_names()))


def restore(settings: Settings, source: Path, *, force: bool = False) -> Result:
    """Restore ``source`` into the database of ``settings``, which must have none of the
    portal's tables unless ``force``; then migrate it to head. Verification is ``verify``."""
    url = settings.resolved_database_url
    kind = _kind(url)
    source = source.expanduser().resolve()
    found = backup_kind(source)
    if found != kind:
        raise BackupError(f"{source} is a {_NAMES[found]} backup but the database is "
                          f"{_NAMES[kind]}: restore it into {_NAMES[found]}")
    started = time.monotonic()
    if kind == "sqlite":
        target = _sqlite_file(url)
        if target == source:
            raise BackupError("the backup and the database are the same file")
        target.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    try:
        existing = portal_tables(engine)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise BackupError(f"cannot open the database {_display(url)}: {reason}") from None
    finally:
        engine.dispose()
    if existing and not force:
        raise BackupError(
            f"the database {_display(url)} already has the portal's tables ({len(existing)}, "
            f"e.g. {existing[0]}): restore into an empty database, or add --force to replace "
            "them")
    if kind == "sqlite":
        try:
            _sqlite_restore(source, _sqlite_file(url))
        except sqlite3.Error as exc:
            raise BackupError(f"the SQLite restore failed: {exc}") from None
    else:
        _pg_restore(url, source, clean=bool(existing))
    try:
        upgrade(settings)  # a backup made by an older release
    except CommandError as exc:
        raise BackupError(f"restored, but its schema cannot be brought to this release's: "
                          f"{exc}") from None
    return Result(source, kind, source.stat().st_size, time.monotonic() - started)


_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def _display(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_restore(source: Path, target: Path) -> None:
    src = sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True)
    try:
        _quick_check(src, source)
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst, pages=-1)  # replaces every page of the target, under its lock
            dst.execute("PRAGMA journal_mode=WAL")
        finally:
            dst.close()
    finally:
        src.close()


def _pg_restore(url: str, source: Path, *, clean: bool) -> None:
    uri, env = _libpq(url)
    command = [_pg_tool("pg_restore"), "--no-password", "--single-transaction",
               "--exit-on-error", "--no-owner", "--no-privileges", f"--dbname={uri}"]
    if clean:
        command += ["--clean", "--if-exists"]
    _run([*command, str(source)], env)


# --- verification -----------------------------------------------------------------------------


@dataclass
class Verification:
    """What ``verify`` checked, and every problem it found (the first MAX_PROBLEMS kept)."""

    log_size: int = 0
    root: bytes = tlog.EMPTY_ROOT
    checkpoints: int = 0
    certificates: int = 0
    registrations: int = 0
    encrypted_rows: int = 0
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def problem(self, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)

    def summary(self) -> str:
        what = (f"log of {self.log_size} entries (root {tlog.b64(self.root)}), "
                f"{self.checkpoints} signed checkpoints, {self.certificates} certificates of "
                f"{self.registrations} registrations, {self.encrypted_rows} rows with encrypted "
                "data")
        if self.ok:
            return f"verified: {what}: all check out"
        first = self.problems[0]
        return f"invalid: {self.problem_count} problems in {what}; first: {first}"


def verify(engine: Engine, settings: Settings) -> Verification:
    """Check the whole record in the database, reading it only."""
    report = Verification()
    language = i18n.set_language("en")  # the integrity check's messages, in the CLI's language
    try:
        with Session(engine) as session:
            keys = certificates.public_keys(session)
            levels, logged = _check_leaves(session, report)
            _check_nodes(session, levels, report)
            report.log_size = len(levels[0])
            report.root = root_of(levels, report.log_size)
            _check_checkpoints(session, levels, keys, report)
            _check_certificates(session, keys, logged, report)
            _check_registrations(session, report)
        _check_data_keys(engine, settings, report)
    finally:
        i18n.reset_language(language)
    return report


def _pages(session: Session, column: Any, *columns: Any) -> Iterator[Any]:
    """Every row of ``columns`` in order of ``column`` (unique), PAGE rows per query."""
    after = None
    while True:
        query = select(column, *columns).order_by(column).limit(PAGE)
        if after is not None:
            query = query.where(column > after)
        rows = list(session.execute(query))
        if not rows:
            return
        yield from rows
        after = rows[-1][0]


_ENTRIES = tlog.LogEntry.__table__  # type: ignore[attr-defined]
_NODES = tlog.LogNode.__table__  # type: ignore[attr-defined]


def _check_leaves(session: Session, report: Verification
                  ) -> tuple[list[list[bytes]], dict[int, tuple[str, str]]]:
    """Recompute every leaf hash from the stored entry; build every complete subtree's hash
    from them (level 0 the leaves). Also returns, by index, the certificate hash and number of
    every entry that names a certificate."""
    leaves: list[bytes] = []
    logged: dict[int, tuple[str, str]] = {}
    for index, text, stored in _pages(session, _ENTRIES.c.index, _ENTRIES.c.entry,
                                      _ENTRIES.c.leaf_hash):
        if index != len(leaves):
            report.problem(f"log entry {len(leaves)} is missing (the next stored is {index})")
            break
        leaf = text.encode("utf-8")
        hashed = tlog.leaf_hash(leaf)
        if hashed != bytes(stored):
            report.problem(f"log entry {index} does not hash to its stored leaf hash")
        try:
            entry = json.loads(text)
            tlog.check_entry(entry)
            if tlog.entry_bytes(entry) != leaf:
                raise ValueError("it is not in RFC 8785 canonical form")
        except ValueError as exc:
            report.problem(f"log entry {index} is malformed: {exc}")
        else:
            if "certificate_sha256" in entry:
                logged[index] = (entry["certificate_sha256"], entry.get("number", ""))
        leaves.append(hashed)
    return levels_of(leaves), logged


def levels_of(leaf_hashes: list[bytes]) -> list[list[bytes]]:
    """The hash of every complete subtree, by level: ``levels[l][i]`` covers leaves
    [i·2^l, (i+1)·2^l), level 0 being the leaf hashes themselves (tlog's coordinates)."""
    levels = [leaf_hashes]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([tlog.node_hash(below[i], below[i + 1])
                       for i in range(0, len(below) - 1, 2)])
    return levels


def _check_nodes(session: Session, levels: list[list[bytes]], report: Verification) -> None:
    """The stored subtree hashes are exactly those recomputed from the leaves."""
    expected = sum(len(level) for level in levels[1:])
    seen = 0
    query = select(_NODES.c.level, _NODES.c.index, _NODES.c.hash).order_by(
        _NODES.c.level, _NODES.c.index)
    for level, index, stored in session.execute(query):
        if 1 <= level < len(levels) and 0 <= index < len(levels[level]):
            seen += 1
            if bytes(stored) != levels[level][index]:
                report.problem(f"the stored hash of subtree ({level}, {index}) is not the one "
                               "its leaves give")
        else:
            report.problem(f"a stored subtree ({level}, {index}) lies beyond the log")
    if seen != expected:
        report.problem(f"{expected - seen} subtree hashes of the log are missing")


def root_of(levels: list[list[bytes]], size: int) -> bytes:
    """MTH of the first ``size`` leaves (RFC 6962 §2.1) from the complete subtrees of
    ``levels``: the binary digits of ``size``, largest first, folded from the right."""
    if size == 0:
        return tlog.EMPTY_ROOT
    parts = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            parts.append(levels[level][start >> level])
            start += 1 << level
    result = parts[-1]
    for left in reversed(parts[:-1]):
        result = tlog.node_hash(left, result)
    return result


def _check_checkpoints(session: Session, levels: list[list[bytes]], keys: list[dict[str, Any]],
                       report: Verification) -> None:
    """Every signed tree head: its signature, and its root is the recomputed one."""
    size = len(levels[0])
    rows = session.exec(select_model(tlog.Checkpoint).order_by(
        col(tlog.Checkpoint.tree_size)))
    for row in rows:
        report.checkpoints += 1
        checkpoint = {"origin": row.origin, "tree_size": row.tree_size,
                      "root_hash": row.root_hash, "timestamp": row.timestamp, "kid": row.kid,
                      "signature": row.signature}
        try:
            check_checkpoint(checkpoint, keys)
        except Invalid as exc:
            report.problem(f"checkpoint of tree size {row.tree_size}: {exc}")
            continue
        if row.tree_size > size:
            report.problem(f"checkpoint of tree size {row.tree_size} is beyond the log "
                           f"({size} entries)")
        elif row.root_hash != tlog.b64(root_of(levels, row.tree_size)):
            report.problem(f"checkpoint of tree size {row.tree_size}: its root is not the one "
                           "recomputed from the stored entries")


def _check_certificates(session: Session, keys: list[dict[str, Any]],
                        logged: dict[int, tuple[str, str]], report: Verification) -> None:
    """Every certificate: its bytes hash to the stored hash, its signature verifies, and the log
    entry it names holds that hash."""
    table = certificates.Certificate.__table__  # type: ignore[attr-defined]
    for serial, document, digest, number, log_index in _pages(
            session, table.c.serial, table.c.document, table.c.sha256, table.c.number,
            table.c.log_index):
        report.certificates += 1
        if hashlib.sha256(document.encode()).hexdigest() != digest:
            report.problem(f"certificate {serial}: its bytes do not hash to the stored hash")
            continue
        try:
            body = json.loads(document)
        except ValueError:
            report.problem(f"certificate {serial} is not JSON")
            continue
        if not certificates.verify_signature(body, keys):
            report.problem(f"certificate {serial}: the signature does not verify")
        if body.get("number") != number or body.get("serial") != serial:
            report.problem(f"certificate {serial}: its number or serial is not the stored one")
        if log_index is None or log_index not in logged:
            report.problem(f"certificate {serial} has no entry in the log")
        elif logged[log_index] != (digest, number):
            report.problem(f"certificate {serial}: log entry {log_index} does not hold its hash")


def _check_registrations(session: Session, report: Verification) -> None:
    """``auditing.integrity`` of every registration with a certificate: the answers it approved
    still hash to the certificates' values, and the current answers match the current one."""
    table = certificates.Certificate.__table__  # type: ignore[attr-defined]
    ids = session.execute(select(table.c.registration_id).distinct()
                          .order_by(table.c.registration_id)).scalars().all()
    for start in range(0, len(ids), PAGE):
        batch = session.exec(select_model(Registration).where(
            col(Registration.id).in_(ids[start:start + PAGE]))).all()
        for registration in batch:
            report.registrations += 1
            integrity = auditing.integrity(session, registration)
            if not integrity.ok:
                report.problem(f"registration {registration.number}: "
                               f"{integrity.first_problem}")
        session.expunge_all()


def _check_data_keys(engine: Engine, settings: Settings, report: Verification) -> None:
    """Every encrypted value is under a configured data key (a dry run of the rotation)."""
    rotation = data_keys.rotate(engine, settings, dry_run=True)
    report.encrypted_rows = sum(t.rows for t in rotation.tables)
    failures = rotation.failures
    if failures:
        report.problem(f"{len(failures)} encrypted values open with none of the configured data "
                       f"keys (PORTAL_DATA_KEY, PORTAL_OLD_DATA_KEYS), e.g. {failures[0]}")
