"""Moving stored personal data to the current data key (``portal keys rotate --data``).

Every ciphertext names the key that made it (DESIGN §8), so rotating is: set the new key as
PORTAL_DATA_KEY with the old one in PORTAL_OLD_DATA_KEYS on every process, then re-encrypt what
is still under an old key. This module does the second part while the servers keep running:
each table is read a batch at a time by primary key, and each batch is one short write
transaction (the rows are locked on PostgreSQL, SQLite has its single writer), so a request
waits for at most one batch. Values already under the current key are left alone, so a run
that stops half-way is simply started again, and a second run finds nothing to do.

Where ciphertexts live, with the associated data each is bound to:

- ``registrations.answers`` and ``submissions.answers``: ``<step>.<field>_enc``, base64,
  ``registration:<registration id>:<step>:<field>`` (submissions copy the registration's);
- ``documents.ciphertext``: ``document:<registration id>:<kind>`` (empty once purged);
- ``api_clients.webhook_secret``: ``api_client:<id>:webhook_secret``;
- ``users.totp_secret``: ``user:<id>:totp``;
- ``inspection_files.ciphertext``: ``inspection_request:<request id>``;
- ``platform_documents.ciphertext``: ``platform_document:<client id>:<kind>``.

A new place that stores ciphertext adds a ``_Target`` to ``TARGETS``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Table, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal.base.crypto import DataCipher, DecryptionError, cipher_for
from portal.base.db import session_scope
from portal.base.settings import Settings
from portal.oversight.inspection_requests import file_context as inspection_file_context
from portal.platforms.filings import document_context as platform_document_context
from portal.platforms.webhooks import secret_context as webhook_secret_context
from portal.registration.models import document_context, secret_context

BATCH_SIZE = 200
ENC_SUFFIX = "_enc"

Progress = Callable[[str], None]


@dataclass
class TableReport:
    """What one run found in one place: rows read, values under an old key, rows rewritten."""

    name: str
    rows: int = 0
    values: int = 0
    rows_changed: int = 0
    # "<table> <id>: <reason>" for values no known key opens (nothing secret in them).
    failures: list[str] = field(default_factory=list)


@dataclass
class RotationReport:
    dry_run: bool
    tables: list[TableReport]

    @property
    def values(self) -> int:
        return sum(t.values for t in self.tables)

    @property
    def rows_changed(self) -> int:
        return sum(t.rows_changed for t in self.tables)

    @property
    def failures(self) -> list[str]:
        return [f for t in self.tables for f in t.failures]


class _Unreadable(Exception):
    pass


def _rotate_blob(cipher: DataCipher, blob: bytes, context: bytes, *, dry_run: bool
                 ) -> bytes | None:
    """The blob under the current key, or None when it already is; _Unreadable if no key opens
    it. A dry run decrypts too, so that it reports what a real run would fail on."""
    try:
        if not cipher.needs_rotation(blob):
            return None
        clear = cipher.decrypt(blob, context=context)
    except DecryptionError as exc:
        raise _Unreadable(str(exc)) from None
    return blob if dry_run else cipher.encrypt(clear, context=context)


# --- the places ---------------------------------------------------------------------------------


def _answers_context(registration_id: int, step: str, name: str) -> bytes:
    return secret_context(registration_id, step, name)


def _rotate_answers(cipher: DataCipher, answers: Any, registration_id: int, *, dry_run: bool
                    ) -> tuple[dict[str, Any] | None, int]:
    """(new answers or None if unchanged, values under an old key) for one answers document."""
    if not isinstance(answers, dict):
        return None, 0
    out: dict[str, Any] = dict(answers)
    count = 0
    for step, data in answers.items():
        if not isinstance(data, dict):
            continue
        new_step = None
        for key, value in data.items():
            if not key.endswith(ENC_SUFFIX) or not isinstance(value, str) or not value:
                continue
            try:
                blob = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise _Unreadable(f"{step}.{key} is not base64") from None
            context = _answers_context(registration_id, step, key[: -len(ENC_SUFFIX)])
            try:
                rotated = _rotate_blob(cipher, blob, context, dry_run=dry_run)
            except _Unreadable as exc:
                raise _Unreadable(f"{step}.{key}: {exc}") from None
            if rotated is None:
                continue
            count += 1
            new_step = new_step if new_step is not None else dict(data)
            new_step[key] = base64.b64encode(rotated).decode()
        if new_step is not None:
            out[step] = new_step
    return (out if count else None), count


@dataclass
class _Target:
    """One column holding ciphertext: how to read it and how to re-encrypt one row's value."""

    name: str
    table: Callable[[], Table]
    value_column: str
    # (cipher, row, dry_run) -> (new value or None when unchanged, values under an old key)
    rotate_row: Callable[[DataCipher, Any, bool], tuple[Any, int]]
    extra_columns: tuple[str, ...] = ()


def _answers_row(cipher: DataCipher, row: Any, dry_run: bool) -> tuple[Any, int]:
    return _rotate_answers(cipher, row.answers, row.registration_id, dry_run=dry_run)


def _registration_row(cipher: DataCipher, row: Any, dry_run: bool) -> tuple[Any, int]:
    return _rotate_answers(cipher, row.answers, row.id, dry_run=dry_run)


def _blob_row(context: Callable[[Any], bytes], column: str
              ) -> Callable[[DataCipher, Any, bool], tuple[Any, int]]:
    def rotate(cipher: DataCipher, row: Any, dry_run: bool) -> tuple[Any, int]:
        blob = getattr(row, column)
        if not blob:  # no secret set, or a document purged by retention
            return None, 0
        rotated = _rotate_blob(cipher, bytes(blob), context(row), dry_run=dry_run)
        return rotated, 0 if rotated is None else 1

    return rotate


def _document_context(row: Any) -> bytes:
    return document_context(row.registration_id, row.kind)


def _webhook_context(row: Any) -> bytes:
    return webhook_secret_context(row.id)


def _inspection_file_context(row: Any) -> bytes:
    return inspection_file_context(row.request_id)


def _platform_document_context(row: Any) -> bytes:
    return platform_document_context(row.client_id, row.kind)


def totp_row_context(row: Any) -> bytes:
    # As portal.accounts binds it (a test checks the two agree).
    return f"user:{row.id}:totp".encode()


def _table(module: str, model: str) -> Callable[[], Table]:
    def get() -> Table:
        import importlib

        table: Table = getattr(importlib.import_module(module), model).__table__
        return table

    return get


TARGETS: tuple[_Target, ...] = (
    _Target("registrations.answers", _table("portal.registration.models", "Registration"),
            "answers", _registration_row),
    _Target("submissions.answers", _table("portal.registration.models", "Submission"), "answers",
            _answers_row, ("registration_id",)),
    _Target("documents.ciphertext", _table("portal.registration.models", "Document"), "ciphertext",
            _blob_row(_document_context, "ciphertext"), ("registration_id", "kind")),
    _Target("api_clients.webhook_secret", _table("portal.platforms.clients", "ApiClient"),
            "webhook_secret", _blob_row(_webhook_context, "webhook_secret")),
    _Target("users.totp_secret", _table("portal.accounts", "User"), "totp_secret",
            _blob_row(totp_row_context, "totp_secret")),
    _Target("inspection_files.ciphertext",
            _table("portal.oversight.inspection_requests", "InspectionFile"), "ciphertext",
            _blob_row(_inspection_file_context, "ciphertext"), ("request_id",)),
    _Target("platform_documents.ciphertext", _table("portal.platforms.filings",
                                                    "PlatformDocument"), "ciphertext",
            _blob_row(_platform_document_context, "ciphertext"), ("client_id", "kind")),
)


# --- the run ------------------------------------------------------------------------------------


def _batches(engine: Engine, target: _Target, batch_size: int, *, dry_run: bool
             ) -> Iterator[tuple[Session, list[Any]]]:
    """Each batch of rows after the last id seen, in its own (write) transaction."""
    table = target.table()
    columns: list[Column[Any]] = [table.c.id, table.c[target.value_column],
                                  *(table.c[name] for name in target.extra_columns)]
    after = 0
    while True:
        with session_scope(engine, write=not dry_run) as session:
            query = (select(*columns).where(table.c.id > after).order_by(table.c.id)
                     .limit(batch_size))
            if not dry_run:
                # Nobody changes these rows between our read and our write (PostgreSQL;
                # SQLite's write lock, taken at BEGIN, already excludes every other writer).
                query = query.with_for_update()
            rows = list(session.execute(query))
            if not rows:
                return
            yield session, rows
            session.commit()
        after = rows[-1].id


def rotate_target(engine: Engine, cipher: DataCipher, target: _Target, *, dry_run: bool,
                  batch_size: int = BATCH_SIZE, progress: Progress | None = None) -> TableReport:
    report = TableReport(target.name)
    table = target.table()
    for session, rows in _batches(engine, target, batch_size, dry_run=dry_run):
        for row in rows:
            report.rows += 1
            try:
                new_value, count = target.rotate_row(cipher, row, dry_run)
            except _Unreadable as exc:
                report.failures.append(f"{target.name} id {row.id}: {exc}")
                continue
            if new_value is None:
                continue
            report.values += count
            report.rows_changed += 1
            if not dry_run:
                session.execute(update(table).where(table.c.id == row.id)
                                .values({target.value_column: new_value}))
        if progress is not None:
            verb = "to re-encrypt" if dry_run else "re-encrypted"
            progress(f"{target.name}: {report.rows} rows read, {report.values} values {verb}")
    return report


def rotate(engine: Engine, settings: Settings, *, dry_run: bool = False,
           batch_size: int = BATCH_SIZE, progress: Progress | None = None,
           cipher: DataCipher | None = None) -> RotationReport:
    """Re-encrypt every ciphertext not under the current data key (or, ``dry_run``, count
    them); values no configured key opens are reported and left as they are."""
    if batch_size < 1:
        raise ValueError("batch_size must be 1 or more")
    cipher = cipher or cipher_for(settings)
    tables = [rotate_target(engine, cipher, target, dry_run=dry_run, batch_size=batch_size,
                            progress=progress) for target in TARGETS]
    return RotationReport(dry_run=dry_run, tables=tables)


def new_data_key() -> str:
    """A fresh random AES-256 data key, base64 (for PORTAL_DATA_KEY)."""
    import secrets

    return base64.b64encode(secrets.token_bytes(32)).decode()
