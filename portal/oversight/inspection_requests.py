"""Inspection requests (REGULATION.md R16): an auditor or an authority asks a platform for
documents or data, about one registration or about the platform itself, with a deadline.

The platform hears of it (``inspection.requested``, to it alone), lists its open requests and
answers through the API with text and files (the wizard's upload rules; files encrypted like
registration documents). A request past its deadline without an answer is flagged overdue once
by the scheduled jobs (``inspection.overdue``); it may still be answered, late.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Column, ColumnElement, LargeBinary, and_, case, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Field, Session, SQLModel, col, select

from portal.base import crypto, uploads
from portal.base.db import UTCDateTime, utcnow
from portal.base.errors import DomainError, FormErrors, NotFound
from portal.base.forms import staff_text, whole_number
from portal.base.i18n import LazyString, lazy_gettext
from portal.base.i18n import gettext as _
from portal.ledger.events import SYSTEM, Actor
from portal.ledger.tlog import rfc3339
from portal.lifecycle import changes
from portal.oversight import auditing
from portal.platforms.clients import ApiClient
from portal.registration.models import Registration

if TYPE_CHECKING:
    from portal.base.settings import Settings

STATUSES: dict[str, LazyString] = {
    "open": lazy_gettext("Open"),
    "overdue": lazy_gettext("Overdue"),
    "answered": lazy_gettext("Answered"),
}
# Waiting for the platform's answer: "open" as the platform API filters them.
AWAITING = ("open", "overdue")
REQUEST_MAX = 4000
ANSWER_MAX = 20000
MAX_FILES = 10  # per answer


class InspectionRequest(SQLModel, table=True):
    __tablename__ = "inspection_requests"

    id: int | None = Field(default=None, primary_key=True)
    # The platform asked (an API client of kind platform).
    client_id: int = Field(foreign_key="api_clients.id", index=True)
    # The registration it is about, or None when it is about the platform itself.
    registration_id: int | None = Field(default=None, foreign_key="registrations.id",
                                        index=True)
    # The registration's region when the request was sent (jurisdiction), "" for a platform.
    region: str = Field(default="", max_length=6, index=True)
    request: str
    deadline: datetime = Field(sa_type=UTCDateTime, index=True)
    # open | overdue | answered
    status: str = Field(default="open", max_length=16, index=True)
    # Who asked: an auditor, or an authority's API client.
    requested_by: int | None = Field(default=None, foreign_key="users.id")
    requested_by_client: int | None = Field(default=None, foreign_key="api_clients.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    overdue_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class InspectionAnswer(SQLModel, table=True):
    __tablename__ = "inspection_answers"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="inspection_requests.id", index=True)
    client_id: int = Field(foreign_key="api_clients.id")
    text: str
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class InspectionFile(SQLModel, table=True):
    """A file sent with an answer, encrypted as registration documents are."""

    __tablename__ = "inspection_files"

    id: int | None = Field(default=None, primary_key=True)
    answer_id: int = Field(foreign_key="inspection_answers.id", index=True)
    request_id: int = Field(foreign_key="inspection_requests.id", index=True)
    filename: str = Field(max_length=120)
    content_type: str = Field(max_length=40)
    size: int
    sha256: str = Field(max_length=64)
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Closed(DomainError):
    """The request is answered already."""


@dataclass
class Received:
    """A file as the platform sent it, before its checks."""

    filename: str
    data: bytes


def file_context(request_id: int | None) -> bytes:
    return f"inspection_request:{request_id}".encode()


# --- Asking -----------------------------------------------------------------------------------


def platforms(session: Session) -> list[ApiClient]:
    """The platforms a request may be sent to (active ones)."""
    query = select(ApiClient).where(ApiClient.kind == "platform",
                                    col(ApiClient.revoked_at).is_(None))
    return list(session.exec(query.order_by(col(ApiClient.name))))


def find_platform(session: Session, ref: str) -> ApiClient | None:
    """An active platform by its id or its exact name."""
    ref = (ref or "").strip()
    wanted = whole_number(ref)
    found = session.get(ApiClient, wanted) if wanted is not None else None
    if found is None and ref:
        found = session.exec(select(ApiClient).where(ApiClient.name == ref)).first()
    if found is None or found.kind != "platform" or not found.active:
        return None
    return found


def send_request(
    session: Session, *, jurisdiction: str, platform: str, request: str,
    deadline: datetime | None, number: str = "", actor: Actor, by_client: int | None = None,
    now: datetime | None = None,
) -> InspectionRequest:
    """Ask a platform (by id or name) for documents or data, about the registration ``number``
    within the jurisdiction or about the platform itself, by a deadline; the caller commits.
    Raises FormErrors (every message at once), writing nothing."""
    now = now or utcnow()
    errors: dict[str, str] = {}
    client = find_platform(session, platform)
    if client is None:
        errors["platform"] = _("Choose the platform")
    try:
        request = staff_text(request, "request",
                             required=_("Say which documents or data the platform must provide"),
                             max_length=REQUEST_MAX)
    except FormErrors as exc:
        errors.update(exc.errors)
    if deadline is None:
        errors["deadline"] = _("Enter the deadline as a date, for example 2027-01-31")
    elif deadline <= now:
        errors["deadline"] = _("The deadline must be in the future")
    registration: Registration | None = None
    number = (number or "").strip().upper()
    if number:
        try:
            registration = auditing.registration_for(session, jurisdiction, number)
        except NotFound:
            errors["number"] = _("There is no registration with this number in your "
                                 "jurisdiction")
    if errors:
        raise FormErrors(errors)
    assert client is not None and deadline is not None
    asked = InspectionRequest(
        client_id=client.id,  # type: ignore[arg-type]
        registration_id=registration.id if registration else None,
        region=(registration.region or "") if registration else "",
        request=request, deadline=deadline, requested_by=actor.user_id,
        requested_by_client=by_client, created_at=now)
    session.add(asked)
    session.flush()
    changes.record(session, action="inspection_requested", actor=actor,
                   registration=registration,
                   data={"inspection_request": asked.id, "client": client.id},
                   event_type="inspection.requested",
                   event_data={"inspection_request_id": asked.id,
                               "about": "registration" if registration else "platform",
                               "deadline": rfc3339(deadline)},
                   client_id=client.id)
    return asked


# --- What auditors and authorities see --------------------------------------------------------


def visible_to(jurisdiction: str) -> ColumnElement[bool]:
    """The requests a jurisdiction sees: a registration's by the region it had when asked,
    every one about a platform (as inspections: docs/decisions.md, "Inspections")."""
    regional = auditing.region_clause(jurisdiction, InspectionRequest.region)
    of_registration: ColumnElement[bool] = col(InspectionRequest.registration_id).is_not(None)
    if regional is not None:
        of_registration = and_(of_registration, regional)
    return or_(col(InspectionRequest.registration_id).is_(None), of_registration)


def get_request(session: Session, jurisdiction: str, request_id: int) -> InspectionRequest:
    """A request the jurisdiction may see, else NotFound."""
    found = session.exec(select(InspectionRequest).where(
        InspectionRequest.id == request_id, visible_to(jurisdiction))).first()
    if found is None:
        raise NotFound()
    return found


def requests_page(session: Session, jurisdiction: str, *, status: str = "",
                  client_id: int | None = None, limit: int = 200
                  ) -> list[tuple[InspectionRequest, ApiClient, Registration | None]]:
    """Requests within the jurisdiction, overdue then open then answered, newest first."""
    query = (
        select(InspectionRequest, ApiClient, Registration)
        .join(ApiClient, col(ApiClient.id) == InspectionRequest.client_id)
        .outerjoin(Registration, col(Registration.id) == InspectionRequest.registration_id)
        .where(visible_to(jurisdiction))
    )
    if status in STATUSES:
        query = query.where(InspectionRequest.status == status)
    if client_id is not None:
        query = query.where(InspectionRequest.client_id == client_id)
    order = case((col(InspectionRequest.status) == "overdue", 0),
                 (col(InspectionRequest.status) == "open", 1), else_=2)
    query = query.order_by(order, col(InspectionRequest.id).desc()).limit(limit)
    return [(r, c, g) for r, c, g in session.exec(query)]


def answers_of(session: Session, request_id: int
               ) -> list[tuple[InspectionAnswer, list[InspectionFile]]]:
    answers = list(session.exec(select(InspectionAnswer).where(
        InspectionAnswer.request_id == request_id).order_by(col(InspectionAnswer.id))))
    files = list(session.exec(select(InspectionFile).where(
        InspectionFile.request_id == request_id).order_by(col(InspectionFile.id))))
    return [(a, [f for f in files if f.answer_id == a.id]) for a in answers]


def open_file(session: Session, settings: Settings, jurisdiction: str, file_id: int
              ) -> tuple[InspectionFile, bytes]:
    """A file of an answer to a request the jurisdiction sees, decrypted; else NotFound."""
    found = session.get(InspectionFile, file_id)
    if found is None:
        raise NotFound()
    request = get_request(session, jurisdiction, found.request_id)
    clear = crypto.cipher_for(settings).decrypt(found.ciphertext,
                                                context=file_context(request.id))
    return found, clear


def overdue_count(session: Session, jurisdiction: str) -> int:
    """Requests flagged overdue and still unanswered, within the jurisdiction."""
    return int(session.exec(select(func.count()).select_from(InspectionRequest).where(
        InspectionRequest.status == "overdue", visible_to(jurisdiction))).one())


# --- The platform's side ----------------------------------------------------------------------


def requests_for_platform(session: Session, client_id: int, *, status: str = "open"
                          ) -> list[tuple[InspectionRequest, str | None]]:
    """The platform's requests with the number each is about: ``open`` (awaiting an answer,
    overdue ones included), ``answered`` or ``all``; oldest deadline first."""
    query = (select(InspectionRequest, Registration.number)
             .outerjoin(Registration,
                        col(Registration.id) == InspectionRequest.registration_id)
             .where(InspectionRequest.client_id == client_id))
    if status == "open":
        query = query.where(col(InspectionRequest.status).in_(AWAITING))
    elif status == "answered":
        query = query.where(InspectionRequest.status == "answered")
    query = query.order_by(col(InspectionRequest.deadline), col(InspectionRequest.id))
    return [(r, n) for r, n in session.exec(query)]


def for_platform(session: Session, client_id: int, request_id: int) -> InspectionRequest:
    """The platform's own request, else NotFound (another platform's is not found)."""
    found = session.get(InspectionRequest, request_id)
    if found is None or found.client_id != client_id:
        raise NotFound()
    return found


def check_files(files: list[Received]) -> tuple[list[tuple[str, str, bytes]], dict[str, str]]:
    """The wizard's upload rules for each file: (name, type, cleaned bytes) of those that pass,
    and the message of each that does not, under ``files[<index>]``."""
    passed: list[tuple[str, str, bytes]] = []
    errors: dict[str, str] = {}
    if len(files) > MAX_FILES:
        errors["files"] = _("Send %(max)d files or fewer", max=MAX_FILES)
        return passed, errors
    for index, received in enumerate(files):
        try:
            content_type = uploads.check_upload(received.data, received.filename)
            data = uploads.clean_upload(received.data, content_type)
        except uploads.UploadError as exc:
            errors[f"files[{index}]"] = str(exc)
            continue
        passed.append((uploads.safe_filename(received.filename), content_type, data))
    return passed, errors


def answer_request(
    session: Session, settings: Settings, *, request: InspectionRequest, client_id: int,
    text: str, files: list[Received], now: datetime | None = None,
) -> InspectionAnswer:
    """The platform's answer, with its files, which closes the request; the caller commits.
    Raises Closed when it is answered already, FormErrors when the text is missing or a file
    breaks the upload rules (nothing written)."""
    if request.client_id != client_id:
        raise NotFound()
    if request.status == "answered":
        raise Closed()
    now = now or utcnow()
    errors: dict[str, str] = {}
    try:
        text = staff_text(text, "text", required=_("Write the answer"), max_length=ANSWER_MAX)
    except FormErrors as exc:
        errors.update(exc.errors)
    passed, file_errors = check_files(files)
    errors.update(file_errors)
    if errors:
        raise FormErrors(errors)
    answer = InspectionAnswer(request_id=request.id,  # type: ignore[arg-type]
                              client_id=client_id, text=text, created_at=now)
    session.add(answer)
    session.flush()
    cipher = crypto.cipher_for(settings)
    for filename, content_type, data in passed:
        session.add(InspectionFile(
            answer_id=answer.id,  # type: ignore[arg-type]
            request_id=request.id,  # type: ignore[arg-type]
            filename=filename, content_type=content_type, size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            ciphertext=cipher.encrypt(data, context=file_context(request.id))))
    late = is_late(request, now)
    request.status = "answered"
    request.answered_at = now
    session.add(request)
    registration = (session.get(Registration, request.registration_id)
                    if request.registration_id else None)
    changes.record(session, action="inspection_answered", actor=Actor(None, "platform"),
                   registration=registration,
                   data={"inspection_request": request.id, "client": client_id,
                         "files": len(passed), "late": late},
                   event_type="inspection.answered",
                   event_data={"inspection_request_id": request.id, "late": late},
                   client_id=client_id)
    session.flush()
    return answer


def is_late(request: InspectionRequest, moment: datetime) -> bool:
    """Whether an answer at ``moment`` is late: past the deadline, or flagged overdue."""
    return request.overdue_at is not None or moment > request.deadline


# --- Deadlines --------------------------------------------------------------------------------


def flag_overdue(session: Session, *, now: datetime) -> list[InspectionRequest]:
    """Flag each open request past its deadline overdue, once, and announce it to its
    platform; the caller commits."""
    due = list(session.exec(select(InspectionRequest).where(
        InspectionRequest.status == "open", col(InspectionRequest.deadline) <= now)
        .order_by(col(InspectionRequest.id))))
    for request in due:
        request.status = "overdue"
        request.overdue_at = now
        session.add(request)
        registration = (session.get(Registration, request.registration_id)
                        if request.registration_id else None)
        changes.record(session, action="inspection_overdue", actor=SYSTEM,
                       registration=registration,
                       data={"inspection_request": request.id, "client": request.client_id},
                       event_type="inspection.overdue",
                       event_data={"inspection_request_id": request.id,
                                   "deadline": rfc3339(request.deadline)},
                       client_id=request.client_id)
    session.flush()
    return due


# --- Per platform, for the compliance view ----------------------------------------------------


@dataclass
class RequestCounts:
    on_time: int = 0
    late: int = 0
    open: int = 0
    overdue: int = 0


def counts_by_platform(session: Session, jurisdiction: str) -> dict[int, RequestCounts]:
    """Per platform: requests answered on time, answered late, open, overdue (unanswered)."""
    past = or_(col(InspectionRequest.overdue_at).is_not(None),
               col(InspectionRequest.answered_at) > col(InspectionRequest.deadline))
    late = and_(col(InspectionRequest.status) == "answered", past)
    on_time = and_(col(InspectionRequest.status) == "answered", ~past)
    rows = session.execute(
        sa_select(col(InspectionRequest.client_id),
               func.sum(case((on_time, 1), else_=0)),
               func.sum(case((late, 1), else_=0)),
               func.sum(case((col(InspectionRequest.status) == "open", 1), else_=0)),
               func.sum(case((col(InspectionRequest.status) == "overdue", 1), else_=0)))
        .where(visible_to(jurisdiction)).group_by(col(InspectionRequest.client_id)))
    return {int(c): RequestCounts(int(a or 0), int(b or 0), int(o or 0), int(d or 0))
            for c, a, b, o, d in rows}
