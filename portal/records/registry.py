"""The public registry: what the platform API answers about a registration, made at write time.

Platforms ask about a registration before every stream, so the answer of
``GET /api/v1/registrations/{number}`` is built when a registration changes, in the same
transaction, and a read is one primary-key look-up. ``valid`` depends on the clock, so it is
added at read time from the row's status, validity and blocklist flag.

Nothing has to remember to refresh the row: a session hook notes every registration,
certificate, sanction, blocklist entry and history row written in a transaction (a history row
covers status moves made by a bulk UPDATE) and rebuilds the rows concerned just before the
commit.
"""

from __future__ import annotations

import json
import threading
import weakref
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    and_,
    bindparam,
    delete,
    event,
    insert,
    or_,
)
from sqlalchemy import select as core_select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Field, Session, SQLModel, col, select

from portal.base.db import UTCDateTime, utcnow
from portal.ledger import tlog
from portal.ledger.events import HistoryEntry
from portal.ledger.tlog import rfc3339
from portal.records import certificates
from portal.records.certificates import Certificate, sanctions_in_force, statement
from portal.registration.blocklist import BlocklistEntry
from portal.registration.models import Registration, is_blocked
from portal.registration.sanctions import Sanction

_TOUCHED = "registry_touched"
_TERMS = "registry_terms_due"


class RegistryEntry(SQLModel, table=True):
    __tablename__ = "registry"
    # The auditor's commonest filter, in the order the results are listed.
    __table_args__ = (Index("ix_registry_status_number", "status", "number"),)

    number: str = Field(primary_key=True, max_length=20)
    registration_id: int = Field(foreign_key="registrations.id", unique=True)
    status: str = Field(max_length=24)
    valid_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    blocked: bool = Field(default=False)
    # The API answer without "valid", as compact JSON.
    document: str
    # What auditors filter and search on (DESIGN §3: jurisdiction by region code).
    region: str = Field(default="", max_length=6, index=True)
    subject_kind: str = Field(default="person", max_length=16)
    id_type: str = Field(default="", max_length=32)
    roles: str = Field(default="", max_length=100)
    risk_level: str = Field(default="low", max_length=8, index=True)
    flag_count: int = Field(default=0)
    display_name: str = Field(default="", max_length=200)
    id_number_masked: str = Field(default="", max_length=40)
    # Lower-case legal name, organisation name, USCC and channel handles, for search.
    search_text: str = Field(default="")
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# Terms are compared byte by byte (a prefix is a range of the index), whatever the database's
# collation: PostgreSQL's column is declared with the "C" collation.
_TERM = String(100).with_variant(String(100, collation="C"), "postgresql")
TERM_LENGTH = 100
# A term ending with this character sorts after every term it is a prefix of.
_LAST = "\U0010ffff"


class RegistryTerm(SQLModel, table=True):
    """One word an auditor may search by, pointing at the registry row that holds it.

    Searching is a range scan of this index: a term starts with what was typed. Chinese
    names and organisation names have no spaces between their words, so every ending of them
    of two or more characters is a term too, and "星辰" finds "杭州星辰电子商务有限公司".
    """

    __tablename__ = "registry_terms"

    term: str = Field(sa_column=Column(_TERM, primary_key=True))
    number: str = Field(sa_column=Column(
        String(20), ForeignKey("registry.number", ondelete="CASCADE",
                               name="fk_registry_terms_number_registry"),
        primary_key=True, index=True))


class bytewise(FunctionElement[str]):
    """A text column compared byte by byte: as is on SQLite, ``COLLATE "C"`` on PostgreSQL
    (which has an index of registry numbers in that collation for prefix searches)."""

    type = String()
    inherit_cache = True


@compiles(bytewise)
def _bytewise(element: bytewise, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(next(iter(element.clauses)), **kw))


@compiles(bytewise, "postgresql")
def _bytewise_pg(element: bytewise, compiler: Any, **kw: Any) -> str:
    return f'({compiler.process(next(iter(element.clauses)), **kw)} COLLATE "C")'


class unindexed(FunctionElement[str]):
    """A column whose index SQLite must not pick (``+column``); as is elsewhere.

    A page of results newest number first is fastest read along the number index, filtering as
    it goes, when many rows match; SQLite would rather start from a region's or a date's index
    and sort every row of it. PostgreSQL weighs the LIMIT itself.
    """

    type = String()
    inherit_cache = True


@compiles(unindexed)
def _unindexed(element: unindexed, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(next(iter(element.clauses)), **kw))


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element: unindexed, compiler: Any, **kw: Any) -> str:
    return f"+{compiler.process(next(iter(element.clauses)), **kw)}"


def prefix_condition(column: Any, prefix: str) -> Any:
    """``column`` starts with ``prefix``, as a range an index can serve."""
    return and_(bytewise(column) >= prefix, bytewise(column) < prefix + _LAST)


def _is_cjk(char: str) -> bool:
    return "\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff"


def terms(text: str) -> set[str]:
    """The search terms of a registry row's ``search_text``."""
    out: set[str] = set()
    for word in text.lower().split():
        out.add(word[:TERM_LENGTH])
        # Handles such as "xiaomei_520" are found by their parts too.
        parts = [p for p in "".join(c if c.isalnum() else " " for c in word).split() if p]
        if len(parts) > 1:
            out.update(p[:TERM_LENGTH] for p in parts)
        for part in parts:
            if any(_is_cjk(c) for c in part):
                out.update(part[i:i + TERM_LENGTH] for i in range(1, len(part) - 1))
    return out


def term_numbers(typed: str) -> Any:
    """The numbers of the rows with a term starting with ``typed`` (lower case, one word)."""
    prefix = typed[:TERM_LENGTH]
    return select(RegistryTerm.number).where(col(RegistryTerm.term) >= prefix,
                                             col(RegistryTerm.term) < prefix + _LAST)


def write_terms(session: Session, number: str, text: str, *, new: bool = False) -> None:
    """Replace a row's terms (``new``: the row was just made, so it has none yet)."""
    if not new:
        session.execute(delete(RegistryTerm).where(col(RegistryTerm.number) == number))
    rows = [{"term": term, "number": number} for term in sorted(terms(text))]
    if rows:
        session.execute(insert(RegistryTerm), rows)


def answer(session: Session, registration: Any) -> dict[str, Any]:
    """The API answer for a registration (DESIGN §7), without ``valid``."""
    certificate = certificates.current_certificate(session, registration.id)
    stated = statement(registration, sanctions_in_force(session, registration.id))
    return {
        "number": registration.number,
        "status": registration.status,
        "roles": stated["roles"],
        "subject": stated["subject"],
        "content_rating": stated["content_rating"],
        "risk_level": registration.risk_level,
        "channels": stated["channels"],
        "valid_from": rfc3339(registration.valid_from) if registration.valid_from else None,
        "valid_until": rfc3339(registration.valid_until) if registration.valid_until else None,
        "certificate": certificates.certificate_json(certificate) if certificate else None,
        "log_index": certificate.log_index if certificate else None,
        "sanctions": stated["sanctions"],
    }


def rebuild(session: Session, registration_id: int) -> None:
    """Write the registry row of one registration (drafts have none)."""
    registration = session.get(Registration, registration_id)
    if registration is None or not registration.number or registration.status == "draft":
        return
    row = session.get(RegistryEntry, registration.number)
    new = row is None
    if row is None:
        row = RegistryEntry(number=registration.number, registration_id=registration_id,
                            status=registration.status, document="{}")
    document = answer(session, registration)
    row.status = registration.status
    row.valid_until = registration.valid_until
    row.blocked = is_blocked(session, registration)
    row.document = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    row.region = registration.region or ""
    row.subject_kind = registration.subject_kind
    row.id_type = document["subject"]["id_type"]
    row.roles = registration.roles
    row.risk_level = registration.risk_level
    row.flag_count = registration.flag_count
    row.display_name = document["subject"]["display_name"]
    row.id_number_masked = document["subject"].get("id_number_masked") or ""
    row.search_text = search_text(registration)
    row.submitted_at = registration.submitted_at
    row.updated_at = registration.updated_at
    session.add(row)
    # The terms point at the row: written once the rows are flushed, just before the commit.
    session.info.setdefault(_TERMS, {})[row.number] = (row.search_text, new)


def search_text(registration: Any) -> str:
    """The words an auditor may search a registration by, lower-case, space-separated."""
    ident = registration.answers.get("identity") or {}
    roles = registration.answers.get("roles") or {}
    words = [ident.get("legal_name", ""), roles.get("org_name", ""), roles.get("uscc", ""),
             *(c.get("handle", "") for c in roles.get("channels") or [])]
    return " ".join(w.strip().lower() for w in words if w and w.strip())


def touch(session: Session, registration_id: int | None) -> None:
    """Note that a registration changed in this transaction; its row is rebuilt at commit."""
    if registration_id is not None:
        session.info.setdefault(_TOUCHED, set()).add(registration_id)


def is_valid(status: str, valid_until: datetime | None, blocked: bool,
             now: datetime | None = None) -> bool:
    return (status == "approved" and not blocked and valid_until is not None
            and (now or utcnow()) < valid_until)


# Platforms call these before every stream: plain rows of the columns needed, no ORM objects
# (building a RegistryEntry cost about three times the whole read).
class utf8_bytes(FunctionElement[bytes]):
    """A text column read as its UTF-8 bytes (the answer is sent as read: no decoding and
    encoding again): ``CAST(... AS BLOB)`` on SQLite, ``convert_to(..., 'UTF8')`` on
    PostgreSQL."""

    type = LargeBinary()
    inherit_cache = True


@compiles(utf8_bytes)
def _utf8_bytes(element: utf8_bytes, compiler: Any, **kw: Any) -> str:
    return f"CAST({compiler.process(next(iter(element.clauses)), **kw)} AS BLOB)"


@compiles(utf8_bytes, "postgresql")
def _utf8_bytes_pg(element: utf8_bytes, compiler: Any, **kw: Any) -> str:
    return f"convert_to({compiler.process(next(iter(element.clauses)), **kw)}, 'UTF8')"


_REGISTRY = RegistryEntry.__table__  # type: ignore[attr-defined]
_LOOKUP = core_select(_REGISTRY.c.status, _REGISTRY.c.valid_until, _REGISTRY.c.blocked,
                      utf8_bytes(_REGISTRY.c.document).label("document")).where(
    _REGISTRY.c.number == bindparam("number"))
_LOOKUP_MANY = core_select(_REGISTRY.c.number, _REGISTRY.c.status, _REGISTRY.c.valid_until,
                           _REGISTRY.c.blocked).where(
    _REGISTRY.c.number.in_(bindparam("numbers", expanding=True)))


_LOOKUP_SQL: dict[str, tuple[str, bool]] = {}


def _lookup_sql(dialect: Any) -> tuple[str, bool]:
    """``_LOOKUP`` compiled once for the database: its SQL and whether parameters are
    positional."""
    found = _LOOKUP_SQL.get(dialect.name)
    if found is None:
        compiled = _LOOKUP.compile(dialect=dialect)
        found = _LOOKUP_SQL[dialect.name] = (str(compiled), bool(compiled.positional))
    return found


def _utc(value: Any) -> datetime | None:
    """A moment as the driver returns it (SQLite: the stored UTC text) as an aware datetime."""
    if value is None or isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


_READERS: weakref.WeakKeyDictionary[Any, threading.local] = weakref.WeakKeyDictionary()


def sqlite_reader(engine: Any) -> Any:
    """This thread's reading connection to ``engine``'s SQLite database, made by the engine
    (so with its settings) and taken out of its pool; closed when the engine is gone."""
    local = _READERS.get(engine)
    if local is None:
        local = _READERS.setdefault(engine, threading.local())
    connection = getattr(local, "connection", None)
    if connection is None:
        fairy = engine.raw_connection()
        fairy.detach()
        connection = local.connection = fairy.dbapi_connection
        weakref.finalize(local, connection.close)
    return connection


def lookup(engine: Any, number: str) -> bytes | None:
    """The API answer for a number as JSON bytes, or None when there is no such registration.

    Platforms ask before every stream, so this reads committed rows through a pooled
    connection of ``engine`` with the driver's own cursor: one statement, none of
    SQLAlchemy's per-execution work (a tenth of its cost). It sees committed rows only."""
    sql, positional = _lookup_sql(engine.dialect)
    if engine.dialect.name == "sqlite":
        # A connection of this thread's own, kept: outside a transaction each read sees the
        # latest commit, and taking one from the pool and giving it back cost more than the read.
        cursor = sqlite_reader(engine).execute(sql, (number,))
        row = cursor.fetchone()
        cursor.close()
    else:
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(sql, (number,) if positional else {"number": number})
            row = cursor.fetchone()
            cursor.close()
        finally:
            raw.close()
    return answer_bytes(row)


# What GET /api/v1/registrations/{number} reads (``number`` bound by name): the API joins it to
# the key's own read in one statement (portal/api/core.py, ``hot_read``).
LOOKUP = _LOOKUP


def answer_bytes(row: Any) -> bytes | None:
    """The API answer of a row of ``LOOKUP`` (status, valid_until, blocked, document) as JSON
    bytes, or None when there is no row (or the row of an outer join is empty)."""
    if row is None or row[0] is None:
        return None
    status, valid_until, blocked, document = row
    valid = is_valid(status, _utc(valid_until), bool(blocked))
    return b'{"valid":' + (b"true," if valid else b"false,") + bytes(document[1:])


def lookup_many(session: Session, numbers: list[str]) -> dict[str, Any]:
    """The rows (``number``, ``status``, ``valid_until``, ``blocked``) of the numbers found."""
    if not numbers:
        return {}
    rows = session.execute(_LOOKUP_MANY, {"numbers": numbers})
    return {row.number: row for row in rows}


def rebuild_all(session: Session) -> int:
    """Rebuild every row (after a migration that adds the table, or by hand); caller commits."""
    ids = session.exec(select(Registration.id).where(col(Registration.number).is_not(None),
                                                     Registration.status != "draft")).all()
    for registration_id in ids:
        rebuild(session, registration_id)  # type: ignore[arg-type]
    return len(ids)


# --- The session hook -------------------------------------------------------------------------


@event.listens_for(Session, "after_flush")
def _note_writes(session: Session, _context: Any) -> None:
    for obj in (*session.new, *session.dirty):
        if isinstance(obj, Registration):
            touch(session, obj.id)
        elif isinstance(obj, Certificate | HistoryEntry | Sanction):
            # A sanction applied, ended or overturned changes what the answer lists in force.
            touch(session, obj.registration_id)
        elif isinstance(obj, BlocklistEntry) and (obj.identity_index or obj.org_key):
            keys = [col(Registration.identity_index) == obj.identity_index] \
                if obj.identity_index else []
            if obj.org_key:
                keys.append(col(Registration.org_key) == obj.org_key)
            ids = session.exec(select(Registration.id).where(or_(*keys))).all()
            for registration_id in ids:
                touch(session, registration_id)


@event.listens_for(Session, "before_commit")
def _rebuild_touched(session: Session) -> None:
    session.flush()
    touched = session.info.pop(_TOUCHED, None)
    while touched:
        for registration_id in sorted(touched):
            rebuild(session, registration_id)
        session.flush()
        # Rebuilding writes only registry rows, which touch nothing: this ends at once.
        touched = session.info.pop(_TOUCHED, None)
    for number, (text, new) in sorted((session.info.pop(_TERMS, None) or {}).items()):
        write_terms(session, number, text, new=new)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_TOUCHED, None)
    session.info.pop(_TERMS, None)


# --- The public verification page ----------------------------------------------------------


def certificate_checks(session: Session, certificate: Certificate) -> dict[str, bool]:
    """Whether the certificate's signature holds and its log entry is in the current tree."""
    body = json.loads(certificate.document)
    checks = {"signature": certificates.verify_signature(body, certificates.public_keys(session)),
              "logged": False}
    index = certificate.log_index
    size = tlog.size(session)
    if index is not None and index < size:
        entry = tlog.entries(session, index, index + 1)[0]["entry"]
        proof = tlog.inclusion_proof(session, index, size)
        leaf = tlog.leaf_hash(tlog.entry_bytes(entry))
        checks["logged"] = (entry.get("certificate_sha256") == certificate.sha256
                            and tlog.verify_inclusion(leaf, index, size, proof.audit_path,
                                                      tlog.root_hash(session, size)))
    return checks


def public_record(session: Session, number: str) -> dict[str, Any] | None:
    """What the public may know of a registration (``/verify/<number>``): never a draft, never
    clear personal data; ``valid`` by the same rule as the API's, and only while its current
    certificate's signature and log entry check out."""
    registration = session.exec(select(Registration).where(Registration.number == number)).first()
    if registration is None or registration.status == "draft":
        return None
    certificate = certificates.current_certificate(session, registration.id or 0)
    body = json.loads(certificate.document) if certificate else None
    checks = certificate_checks(session, certificate) if certificate else None
    return {
        "registration": registration,
        "certificate": body,
        "checks": checks,
        # In force now; the current certificate states the same (the pipeline re-issues it).
        "sanctions": sanctions_in_force(session, registration.id),
        "valid": bool(checks and checks["signature"] and checks["logged"]
                      and is_valid(registration.status, registration.valid_until,
                                   is_blocked(session, registration))),
    }
