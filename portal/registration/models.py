"""Registrations: the draft an applicant fills in step by step, and its submission."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary, update
from sqlmodel import Field, Session, SQLModel, select

from portal.accounts import User
from portal.base import crypto
from portal.base.db import UTCDateTime, utcnow
from portal.base.errors import NotFound
from portal.base.settings import Settings
from portal.registration.blocklist import blocked

STATUSES = (
    "draft", "submitted", "approved", "changes_requested", "rejected", "suspended", "revoked",
    "expired", "deregistered",
)
# States in which the applicant may change answers (an expired one to renew it).
EDITABLE = frozenset({"draft", "changes_requested", "expired"})
# States after which the applicant may start a new registration.
ENDED = frozenset({"rejected", "revoked", "deregistered"})
SUBMITTABLE = frozenset({"draft", "changes_requested", "expired"})
# DESIGN §4: the only moves a registration can make.
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"submitted", "deregistered"}),
    "submitted": frozenset({"approved", "changes_requested", "rejected", "deregistered"}),
    "changes_requested": frozenset({"submitted", "deregistered"}),
    "approved": frozenset({"suspended", "revoked", "deregistered", "expired"}),
    "suspended": frozenset({"approved", "revoked", "deregistered"}),
    "expired": frozenset({"submitted"}),
    "rejected": frozenset(),
    "revoked": frozenset(),
    "deregistered": frozenset(),
}
# Moderators' step-by-step requests, kept in the answers until the applicant saves that step.
REQUESTED = "_requested"
# Files that arrived with a step that was not saved yet: kept so nobody has to choose them again.
PENDING = "_pending"
# When retention erased the personal data (portal.privacy.retention).
PURGED = "_purged_at"


class Registration(SQLModel, table=True):
    __tablename__ = "registrations"

    id: int | None = Field(default=None, primary_key=True)
    number: str | None = Field(default=None, max_length=20, unique=True, index=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    status: str = Field(default="draft", max_length=24, index=True)
    subject_kind: str = Field(default="person", max_length=16)
    # Comma-separated roles, kept beside the answers for filtering.
    roles: str = Field(default="", max_length=100)
    # Answers per step, as saved; sensitive values only encrypted and masked.
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    identity_index: str | None = Field(default=None, max_length=64, index=True)
    # The same person under another document (DESIGN §5): a keyed hash of the folded legal
    # name, the date of birth and the nationality.
    person_key: str | None = Field(default=None, max_length=64, index=True)
    # The date of birth and nationality alone: names are compared closely within it.
    birth_key: str | None = Field(default=None, max_length=64, index=True)
    # An organisation under any representative: a keyed hash of its USCC.
    org_key: str | None = Field(default=None, max_length=64, index=True)
    # An organisation's legal representative by name (``crypto.name_hash``).
    representative_key: str | None = Field(default=None, max_length=64, index=True)
    region: str | None = Field(default=None, max_length=6, index=True)
    risk_level: str = Field(default="low", max_length=8, index=True)
    risk_overridden: bool = Field(default=False)
    version: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    valid_from: datetime | None = Field(default=None, sa_type=UTCDateTime)
    valid_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # How many screening flags the last submission raised: the queue sorts by it.
    flag_count: int = Field(default=0)
    # adult | minor_16_17: what a certificate states; the jobs move it on the 18th birthday.
    age_band: str = Field(default="adult", max_length=12)
    # When the operator last confirmed their data (REFRESH_DAYS, REGULATION.md R4).
    data_confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Submission(SQLModel, table=True):
    """Every answer as submitted, one row per submission (the auditor reads each version)."""

    __tablename__ = "submissions"

    id: int | None = Field(default=None, primary_key=True)
    registration_id: int = Field(foreign_key="registrations.id", index=True)
    version: int
    answers: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    signed_name: str = Field(max_length=200)
    submitted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=400)


class Document(SQLModel, table=True):
    """An uploaded file, encrypted; served only to its owner and staff."""

    __tablename__ = "documents"

    id: int | None = Field(default=None, primary_key=True)
    registration_id: int = Field(foreign_key="registrations.id", index=True)
    kind: str = Field(max_length=64)
    filename: str = Field(max_length=120)
    content_type: str = Field(max_length=40)
    size: int
    sha256: str = Field(max_length=64)
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RosterLink(SQLModel, table=True):
    """A streamer an MCN or live-room operator says it manages; the streamer confirms."""

    __tablename__ = "roster_links"

    id: int | None = Field(default=None, primary_key=True)
    manager_id: int = Field(foreign_key="registrations.id", index=True)
    streamer_id: int = Field(foreign_key="registrations.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Amendment(SQLModel, table=True):
    """A change an approved registrant asks for: the answers as they would be, kept apart from
    the approved ones (which the certificate, the API and /verify keep stating) until a
    moderator approves it."""

    __tablename__ = "amendments"

    id: int | None = Field(default=None, primary_key=True)
    registration_id: int = Field(foreign_key="registrations.id", index=True)
    # open (being changed) | submitted | changes_requested | approved | refused | withdrawn
    status: str = Field(default="open", max_length=24, index=True)
    # The registration's id while the change is pending, else None: one pending change at a
    # time, held by the unique index even when two requests start one together.
    pending_for: int | None = Field(default=None, unique=True)
    # The working copy: every answer as it would be, and what the steps derive from them.
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    subject_kind: str = Field(default="person", max_length=16)
    roles: str = Field(default="", max_length=100)
    region: str | None = Field(default=None, max_length=6)
    identity_index: str | None = Field(default=None, max_length=64)
    version: int = Field(default=0)
    # What screening found in the changed answers, as at a submission: [{"code", "detail"}].
    flags: list[dict[str, Any]] = Field(default_factory=list,
                                        sa_column=Column(JSON, nullable=False))
    site_probe: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    signed_name: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_by: int | None = Field(default=None, foreign_key="users.id")
    # The moderator's words to the applicant (a refusal), and their own note.
    message: str = Field(default="")
    internal_note: str = Field(default="")


# States of an amendment in which the applicant may still change its answers, and those in
# which it waits for something (the applicant or a moderator).
AMENDMENT_EDITABLE = frozenset({"open", "changes_requested"})
AMENDMENT_PENDING = frozenset({"open", "submitted", "changes_requested"})


# --- reading ---------------------------------------------------------------------------------


def current_registration(session: Session, user: User) -> Registration | None:
    """The applicant's registration that has not ended, if any."""
    query = (
        select(Registration)
        .where(Registration.user_id == user.id, Registration.status.not_in(ENDED))  # type: ignore[attr-defined]
        .order_by(Registration.id.desc())  # type: ignore[union-attr]
    )
    # An expired registration whose personal data retention erased has ended for good.
    return next((r for r in session.exec(query) if not r.answers.get(PURGED)), None)


def registrations_of(session: Session, user: User) -> list[Registration]:
    query = select(Registration).where(Registration.user_id == user.id).order_by(
        Registration.id.desc()  # type: ignore[union-attr]
    )
    return list(session.exec(query))


def get_document(session: Session, document_id: int, *, user: User) -> Document:
    """A document its owner or a staff member may read; NotFound for anyone else."""
    document = session.get(Document, document_id)
    if document is None:
        raise NotFound()
    registration = session.get(Registration, document.registration_id)
    if registration is None or (registration.user_id != user.id and not user.is_staff):
        raise NotFound()
    return document


def read_document(settings: Settings, document: Document) -> bytes:
    if not document.ciphertext:
        raise NotFound()  # erased by retention
    return crypto.cipher_for(settings).decrypt(
        document.ciphertext, context=document_context(document.registration_id, document.kind)
    )


def document_context(registration_id: int | None, kind: str) -> bytes:
    return f"document:{registration_id}:{kind}".encode()


def secret_context(registration_id: int | None, step: str, name: str) -> bytes:
    return f"registration:{registration_id}:{step}:{name}".encode()


# --- changing --------------------------------------------------------------------------------


def pending_roster_links(session: Session, user: User) -> list[tuple[RosterLink, Registration]]:
    """Links naming one of the user's registrations as a managed streamer, not yet confirmed."""
    mine = [r.id for r in registrations_of(session, user)]
    if not mine:
        return []
    query = select(RosterLink, Registration).where(
        RosterLink.streamer_id.in_(mine),  # type: ignore[attr-defined]
        RosterLink.confirmed_at.is_(None),  # type: ignore[union-attr]
        Registration.id == RosterLink.manager_id,
    )
    return [(link, manager) for link, manager in session.exec(query)]


class StaleState(Exception):
    """The registration moved on (another decision won, or a step was saved) since it was read."""


class NotAllowed(Exception):
    """DESIGN §4 has no such transition from the registration's state."""


def move(
    session: Session,
    registration: Registration,
    to_status: str,
    *,
    expected_version: int | None = None,
    values: dict[str, Any] | None = None,
) -> str:
    """Change the status along an allowed transition, only if nobody changed it meanwhile.

    One conditional UPDATE: of two simultaneous moves exactly one finds the row as it read it.
    Returns the previous status; the caller records the change and commits.
    """
    previous = registration.status
    if to_status not in TRANSITIONS[previous]:
        raise NotAllowed(f"{previous} -> {to_status}")
    version = registration.version if expected_version is None else expected_version
    table = Registration.__table__.c  # type: ignore[attr-defined]
    now = utcnow()
    moved = session.exec(
        update(Registration)
        .where(table.id == registration.id, table.status == previous, table.version == version)
        .values(status=to_status, updated_at=now, version=version + 1, **(values or {}))
    )
    if moved.rowcount != 1:
        raise StaleState()
    session.refresh(registration)
    return previous


def is_blocked(session: Session, registration: Registration) -> bool:
    """Whether the registration's document or organisation is on the blocklist."""
    return blocked(session, identity_index=registration.identity_index,
                   org_key=registration.org_key)


def purged_at(registration: Any) -> str | None:
    """When the registration's personal data was erased (ISO 8601), or None."""
    value = (getattr(registration, "answers", None) or {}).get(PURGED)
    return str(value) if value else None


# What a certificate states that comes from answers retention erases (the integrity check
# skips them).
ERASED_STATEMENT = {"subject": ("display_name", "id_number_masked")}


def statement_without_erased(stated: dict[str, Any]) -> dict[str, Any]:
    """A certificate statement without what retention erases (for the integrity check)."""
    out = dict(stated)
    for key, names in ERASED_STATEMENT.items():
        if isinstance(out.get(key), dict):
            out[key] = {k: v for k, v in out[key].items() if k not in names}
    return out
