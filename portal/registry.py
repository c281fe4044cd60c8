"""The public registry: what the platform API answers about a registration, made at write time.

Platforms ask about a registration before every stream, so the answer of
``GET /api/v1/registrations/{number}`` is built when a registration changes, in the same
transaction, and a read is one primary-key look-up. ``valid`` depends on the clock, so it is
added at read time from the row's status, validity and blocklist flag.

Nothing has to remember to refresh the row: a session hook notes every registration,
certificate and blocklist entry written in a transaction (and every change that
``portal.events.record_change`` records, which covers status moves made by a bulk UPDATE) and
rebuilds the rows concerned just before the commit.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlmodel import Field, Session, SQLModel, col, select

from portal.db import UTCDateTime, utcnow
from portal.tlog import rfc3339

_TOUCHED = "registry_touched"


class RegistryEntry(SQLModel, table=True):
    __tablename__ = "registry"

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
    # Lower-case legal name, organisation name, USCC and channel handles, for search.
    search_text: str = Field(default="")
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


def statement(registration: Any) -> dict[str, Any]:
    """What a registration states about its subject, in the certificate's shape (DESIGN §6)."""
    from portal import privacy

    answers = registration.answers
    ident = answers.get("identity") or {}
    roles = answers.get("roles") or {}
    content = answers.get("content") or {}
    organization = registration.subject_kind == "organization"
    subject: dict[str, Any] = {
        "kind": registration.subject_kind,
        "display_name": privacy.mask_name(
            (roles.get("org_name") if organization else None) or ident.get("legal_name", "")),
        "id_type": ident.get("id_type", ""),
        "id_number_masked": ident.get("id_number_masked", ""),
        "age_band": registration.age_band,
    }
    if organization:
        subject["organization_name"] = roles.get("org_name", "")
        subject["uscc"] = roles.get("uscc", "")
    return {
        "subject": subject,
        "roles": [r for r in registration.roles.split(",") if r],
        "channels": [{"platform": c.get("platform", ""), "handle": c.get("handle", "")}
                     for c in roles.get("channels") or []],
        "virtual_avatar": {"name": roles.get("avatar_name", "")} if roles.get("uses_avatar")
        else None,
        "content_rating": {
            "audience": content.get("audience", ""),
            "categories": content.get("categories") or [],
            "restricted_products": content.get("restricted_products") or [],
            "professional_topics": content.get("professional_topics") or [],
        },
    }


def answer(session: Session, registration: Any) -> dict[str, Any]:
    """The API answer for a registration (DESIGN §7), without ``valid``."""
    from portal import records

    certificate = records.current_certificate(session, registration.id)
    stated = statement(registration)
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
        "certificate": records.certificate_json(certificate) if certificate else None,
        "log_index": certificate.log_index if certificate else None,
    }


def rebuild(session: Session, registration_id: int) -> None:
    """Write the registry row of one registration (drafts have none)."""
    from portal.registrations import Registration, is_blocked

    registration = session.get(Registration, registration_id)
    if registration is None or not registration.number or registration.status == "draft":
        return
    row = session.get(RegistryEntry, registration.number)
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
    row.search_text = search_text(registration)
    row.submitted_at = registration.submitted_at
    row.updated_at = registration.updated_at
    session.add(row)


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


def lookup(session: Session, number: str) -> bytes | None:
    """The API answer for a number as JSON bytes, or None when there is no such registration."""
    row = session.get(RegistryEntry, number)
    if row is None:
        return None
    valid = is_valid(row.status, row.valid_until, row.blocked)
    return b'{"valid":' + (b"true," if valid else b"false,") + row.document[1:].encode()


def lookup_many(session: Session, numbers: list[str]) -> dict[str, RegistryEntry]:
    rows = session.exec(select(RegistryEntry).where(col(RegistryEntry.number).in_(numbers)))
    return {row.number: row for row in rows}


def rebuild_all(session: Session) -> int:
    """Rebuild every row (after a migration that adds the table, or by hand); caller commits."""
    from portal.registrations import Registration

    ids = session.exec(select(Registration.id).where(col(Registration.number).is_not(None),
                                                     Registration.status != "draft")).all()
    for registration_id in ids:
        rebuild(session, registration_id)  # type: ignore[arg-type]
    return len(ids)


# --- The session hook -------------------------------------------------------------------------


@event.listens_for(Session, "after_flush")
def _note_writes(session: Session, _context: Any) -> None:
    from portal.blocklist import BlocklistEntry
    from portal.records import Certificate
    from portal.registrations import Registration

    for obj in (*session.new, *session.dirty):
        if isinstance(obj, Registration):
            touch(session, obj.id)
        elif isinstance(obj, Certificate):
            touch(session, obj.registration_id)
        elif isinstance(obj, BlocklistEntry) and obj.identity_index:
            ids = session.exec(select(Registration.id).where(
                Registration.identity_index == obj.identity_index)).all()
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


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_TOUCHED, None)
