"""A platform's regulatory record (REGULATION R2, DESIGN §5 "Platforms"): its licences with their
expiry, its security assessment as a document, and the history of every change to the record
(who, when, old → new). The declared fields themselves live on ``ApiClient``; saving them is
``portal.platforms.onboarding.save_details``. The caller commits."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Column, Date, LargeBinary
from sqlmodel import Field, Session, SQLModel, col, select

from portal.base import crypto, uploads
from portal.base.db import UTCDateTime, utcnow
from portal.base.errors import FormErrors, NotFound
from portal.base.forms import staff_text
from portal.base.i18n import gettext as _
from portal.base.identity import parse_date
from portal.platforms.clients import ApiClient

if TYPE_CHECKING:
    from portal.base.settings import Settings

REMIND_BEFORE = timedelta(days=30)
ASSESSMENT = "security_assessment"


class PlatformLicence(SQLModel, table=True):
    __tablename__ = "platform_licences"

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="api_clients.id", index=True)
    name: str = Field(max_length=200)
    number: str = Field(default="", max_length=100)
    expires_on: date = Field(sa_column=Column(Date, nullable=False, index=True))
    # When the admins were reminded of its expiry (once).
    reminded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    added_by: int | None = Field(default=None, foreign_key="users.id")
    removed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PlatformDocument(SQLModel, table=True):
    """A document of the platform's record (its security assessment), encrypted."""

    __tablename__ = "platform_documents"

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="api_clients.id", index=True)
    kind: str = Field(max_length=32)
    filename: str = Field(max_length=120)
    content_type: str = Field(max_length=40)
    size: int
    sha256: str = Field(max_length=64)
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    uploaded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    uploaded_by: int | None = Field(default=None, foreign_key="users.id")


class RecordChange(SQLModel, table=True):
    """One change to a platform's record: which field, from what, to what, by whom, when."""

    __tablename__ = "platform_record_changes"

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="api_clients.id", index=True)
    field: str = Field(max_length=48)
    old: str = Field(default="")
    new: str = Field(default="")
    changed_by: int | None = Field(default=None, foreign_key="users.id")
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


def document_context(client_id: int | None, kind: str) -> bytes:
    return f"platform_document:{client_id}:{kind}".encode()


def note_change(session: Session, client: ApiClient, field: str, old: object, new: object,
                *, actor_id: int | None) -> RecordChange | None:
    """Keep a change of the record in its history (nothing when the value is the same)."""
    before = "" if old is None else str(old)
    after = "" if new is None else str(new)
    if before == after:
        return None
    change = RecordChange(client_id=client.id,  # type: ignore[arg-type]
                          field=field, old=before, new=after, changed_by=actor_id)
    session.add(change)
    return change


def history_of(session: Session, client_id: int) -> list[RecordChange]:
    """The record's changes, newest first."""
    query = select(RecordChange).where(RecordChange.client_id == client_id)
    return list(session.exec(query.order_by(col(RecordChange.at).desc(),
                                            col(RecordChange.id).desc())))


# --- Licences ---------------------------------------------------------------------------------


def licences_of(session: Session, client_id: int) -> list[PlatformLicence]:
    """The licences in the record (not removed), the first to expire first."""
    query = select(PlatformLicence).where(PlatformLicence.client_id == client_id,
                                          col(PlatformLicence.removed_at).is_(None))
    return list(session.exec(query.order_by(col(PlatformLicence.expires_on),
                                            col(PlatformLicence.id))))


def _licence_text(licence: PlatformLicence) -> str:
    number = f" {licence.number}" if licence.number else ""
    return f"{licence.name}{number} ({licence.expires_on.isoformat()})"


def add_licence(session: Session, client: ApiClient, *, name: str, number: str,
                expires_on: str, actor_id: int | None) -> PlatformLicence:
    """Add a licence with its expiry to the record. Raises FormErrors, writing nothing."""
    errors: dict[str, str] = {}
    try:
        name = " ".join(staff_text(name, "licence_name", required=_("Enter the licence's name"),
                                   max_length=200).split())
    except FormErrors as exc:
        errors.update(exc.errors)
    try:
        number = " ".join(staff_text(number, "licence_number", max_length=100).split())
    except FormErrors as exc:
        errors.update(exc.errors)
    expiry: date | None = None
    if not (expires_on or "").strip():
        errors["licence_expires_on"] = _("Enter the date the licence expires")
    else:
        try:
            expiry = parse_date(expires_on)
        except ValueError as exc:
            errors["licence_expires_on"] = str(exc)
    if errors or expiry is None:
        raise FormErrors(errors)
    licence = PlatformLicence(client_id=client.id,  # type: ignore[arg-type]
                              name=name, number=number, expires_on=expiry, added_by=actor_id)
    session.add(licence)
    note_change(session, client, "licence", "", _licence_text(licence), actor_id=actor_id)
    session.flush()
    return licence


def remove_licence(session: Session, client: ApiClient, licence_id: int, *,
                   actor_id: int | None) -> PlatformLicence:
    """Take a licence off the record (it stays in the history); NotFound when not there."""
    licence = session.get(PlatformLicence, licence_id)
    if licence is None or licence.client_id != client.id or licence.removed_at is not None:
        raise NotFound()
    licence.removed_at = utcnow()
    session.add(licence)
    note_change(session, client, "licence", _licence_text(licence), "", actor_id=actor_id)
    session.flush()
    return licence


def licences_to_remind(session: Session, *, today: date) -> list[tuple[PlatformLicence,
                                                                        ApiClient]]:
    """Licences expiring within REMIND_BEFORE (or expired) of which nobody was reminded yet."""
    query = (select(PlatformLicence, ApiClient)
             .where(col(ApiClient.id) == PlatformLicence.client_id,
                    col(PlatformLicence.removed_at).is_(None),
                    col(PlatformLicence.reminded_at).is_(None),
                    col(PlatformLicence.expires_on) <= today + REMIND_BEFORE)
             .order_by(col(PlatformLicence.expires_on), col(PlatformLicence.id)))
    return [(licence, client) for licence, client in session.exec(query)]


def mark_reminded(session: Session, licence: PlatformLicence, *, now: datetime) -> None:
    licence.reminded_at = now
    session.add(licence)
    session.flush()


# --- The security assessment document ---------------------------------------------------------


def upload_assessment(session: Session, settings: Settings, client: ApiClient, *,
                      filename: str, data: bytes, actor_id: int | None) -> PlatformDocument:
    """Keep the security assessment as a document (the wizard's upload rules); it replaces
    the one before, which stays in the history. Raises FormErrors with the wizard's message."""
    try:
        content_type = uploads.check_upload(data, filename)
        data = uploads.clean_upload(data, content_type)
    except uploads.UploadError as exc:
        raise FormErrors({"assessment_file": str(exc)}) from None
    before = current_assessment(session, client.id)  # type: ignore[arg-type]
    document = PlatformDocument(
        client_id=client.id,  # type: ignore[arg-type]
        kind=ASSESSMENT, filename=uploads.safe_filename(filename), content_type=content_type,
        size=len(data), sha256=hashlib.sha256(data).hexdigest(),
        ciphertext=crypto.cipher_for(settings).encrypt(
            data, context=document_context(client.id, ASSESSMENT)),
        uploaded_by=actor_id)
    session.add(document)
    session.flush()
    note_change(session, client, "security_assessment_document",
                f"{before.filename} ({before.sha256[:12]})" if before else "",
                f"{document.filename} ({document.sha256[:12]})", actor_id=actor_id)
    session.flush()
    return document


def current_assessment(session: Session, client_id: int) -> PlatformDocument | None:
    query = select(PlatformDocument).where(PlatformDocument.client_id == client_id,
                                           PlatformDocument.kind == ASSESSMENT)
    return session.exec(query.order_by(col(PlatformDocument.id).desc())).first()


def read_document(session: Session, settings: Settings, client_id: int, document_id: int
                  ) -> tuple[PlatformDocument, bytes]:
    """A document of the platform's record, decrypted; NotFound otherwise."""
    document = session.get(PlatformDocument, document_id)
    if document is None or document.client_id != client_id:
        raise NotFound()
    return document, crypto.cipher_for(settings).decrypt(
        document.ciphertext, context=document_context(client_id, document.kind))
