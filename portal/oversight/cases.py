"""Cases: complaints, violation reports and moderators' own findings about a registration.

A case is opened on a registration that was ever approved, whatever its state now (a revoked
streamer may still be live: DESIGN §5), investigated with notes, and closed by dismissal or by a
sanction. Buyers' complaints (the public verification page), platforms' violation reports (the
API) and correction orders past their deadline (the scheduled jobs) open cases through
``open_case`` too.

A buyer's complaint gets a reference (``TS-XXXXX-XXXXX``) that is the key to its public page
(/complaints/<reference>): no account, so the reference must be hard to guess. Every case has a
deadline from its source, counted in days in China (docs/decisions.md, "Case deadlines").
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, Session, SQLModel, col, select

from portal.accounts import User
from portal.base import identity
from portal.base.db import UTCDateTime, utcnow
from portal.base.errors import FormErrors, NotFound
from portal.base.forms import staff_text
from portal.base.i18n import LazyString, lazy_gettext
from portal.base.i18n import gettext as _
from portal.ledger.events import Actor
from portal.lifecycle import changes
from portal.registration.models import Registration

CATEGORIES: dict[str, LazyString] = {
    "counterfeit": lazy_gettext("Counterfeit or substandard goods"),
    "false_advertising": lazy_gettext("False or misleading claims"),
    "fake_data": lazy_gettext("Faked sales, followers or views"),
    "prohibited_products": lazy_gettext("Prohibited or unlicensed products"),
    "minors": lazy_gettext("Harm to minors"),
    "consumer_rights": lazy_gettext("Refused returns or ignored complaints"),
    "harassment": lazy_gettext("Harassment or abuse"),
    "other": lazy_gettext("Other"),
}
SOURCES: dict[str, LazyString] = {
    "moderator": lazy_gettext("Moderator's finding"),
    "linked_blacklisting": lazy_gettext("A linked person or organisation was blacklisted"),
    "complaint": lazy_gettext("Buyer's complaint"),
    "violation_report": lazy_gettext("Platform's violation report"),
    "correction_overdue": lazy_gettext("Order to correct past its deadline"),
}
# Days a case has to be answered, counted from the day it was received in China; its deadline
# is the end of the last day there (docs/decisions.md, "Case deadlines"). A buyer waits for a
# complaint's answer; a linked blacklisting or a missed correction may mean harm going on now;
# a moderator's own finding has no one waiting outside.
ANSWER_DAYS: dict[str, int] = {
    "complaint": 7,
    "violation_report": 7,
    "correction_overdue": 3,
    "linked_blacklisting": 3,
    "moderator": 14,
}

# A complaint's reference: "TS" (投诉, complaint) and ten characters of Crockford's base32,
# 50 random bits from ``secrets``, in two groups of five to read aloud. The alphabet leaves
# out I, L, O and U, so nothing is mistaken for 1 or 0; typed ones are read as 1 and 0.
REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
REFERENCE_PREFIX = "TS"
REFERENCE_LENGTH = 10
_TYPED_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})
_REFERENCE_RE = re.compile(rf"[{REFERENCE_ALPHABET}]{{{REFERENCE_LENGTH}}}")


class Case(SQLModel, table=True):
    __tablename__ = "cases"

    id: int | None = Field(default=None, primary_key=True)
    registration_id: int = Field(foreign_key="registrations.id", index=True)
    source: str = Field(max_length=24)
    category: str = Field(max_length=32)
    description: str
    opened_by: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # open | closed
    status: str = Field(default="open", max_length=16, index=True)
    # dismissed | sanctioned
    outcome: str | None = Field(default=None, max_length=16)
    sanction_id: int | None = Field(default=None, foreign_key="sanctions.id")
    closed_by: int | None = Field(default=None, foreign_key="users.id")
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closing_note: str = Field(default="")
    # A platform's violation report: the platform, when it happened, links to its evidence.
    client_id: int | None = Field(default=None, foreign_key="api_clients.id", index=True)
    occurred_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    evidence: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False,
                                                                       server_default="[]"))
    # A buyer's complaint: the key to its public page (``new_reference``); None otherwise.
    reference: str | None = Field(default=None, max_length=16, unique=True, index=True)
    # The end of the day (in China) by which the case is to be answered (``deadline_for``).
    deadline: datetime = Field(sa_type=UTCDateTime, index=True)


class CaseNote(SQLModel, table=True):
    __tablename__ = "case_notes"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    author_id: int = Field(foreign_key="users.id")
    text: str
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


def deadline_for(source: str, received: datetime) -> datetime:
    """The moment a case from ``source`` received at ``received`` is due: the end of the day in
    China ``ANSWER_DAYS`` days after the day it was received there (a complaint received at
    23:30 in Beijing on 1 December is due at the end of 8 December, one at 00:10 on the 2nd at
    the end of the 9th, though both were received on 1 December in UTC)."""
    day = identity.china_date(received) + timedelta(days=ANSWER_DAYS[source])
    return datetime.combine(day, time(23, 59, 59), tzinfo=identity.CHINA_TZ)


def is_overdue(case: Case, now: datetime) -> bool:
    """Whether an open case is past its deadline (a closed one never is)."""
    return case.status == "open" and now > case.deadline


def make_reference() -> str:
    """A fresh complaint reference, like TS-7K2QD-M9X4B."""
    chars = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))
    return f"{REFERENCE_PREFIX}-{chars[:5]}-{chars[5:]}"


def normalize_reference(typed: str) -> str | None:
    """A reference as typed (any case, spaces or hyphens, full-width characters from a Chinese
    input method, I/L for 1 and O for 0) in its stored form; None when it cannot be one."""
    text = unicodedata.normalize("NFKC", typed or "").upper()
    text = re.sub(r"[\s\-_.]", "", text)
    if text.startswith(REFERENCE_PREFIX):
        text = text[len(REFERENCE_PREFIX):]
    text = text.translate(_TYPED_AS)
    if not _REFERENCE_RE.fullmatch(text):
        return None
    return f"{REFERENCE_PREFIX}-{text[:5]}-{text[5:]}"


def new_reference(session: Session) -> str:
    """A reference no case holds yet (50 random bits make a clash all but impossible; the
    unique index refuses one anyway)."""
    while True:
        reference = make_reference()
        taken = session.exec(select(Case.id).where(Case.reference == reference)).first()
        if taken is None:
            return reference


def open_case(
    session: Session, *, registration: Registration, category: str, description: str,
    source: str = "moderator", actor: User | None = None, client_id: int | None = None,
    occurred_at: datetime | None = None, evidence: list[str] | None = None,
) -> Case:
    """Open a case on a registration that was ever approved; the caller commits.

    A platform's violation report carries its ``client_id`` (its case events go to it alone),
    when the violation happened and links to its evidence. A buyer's complaint gets its
    reference; every case its deadline.
    """
    errors = {}
    if category not in CATEGORIES:
        errors["category"] = _("Choose what the case is about")
    try:
        description = staff_text(description, "description",
                                 required=_("Describe what happened"),
                                 max_length=5000 if source == "violation_report" else 4000)
    except FormErrors as exc:
        errors.update(exc.errors)
    if registration.valid_from is None:
        # Only an approval puts a registration before platforms and buyers (DESIGN §5).
        errors["_"] = _("Cases are opened only on registrations that have been approved")
    if source not in SOURCES:
        raise ValueError(f"unknown case source {source!r}")
    if errors:
        raise FormErrors(errors)
    received = utcnow()
    case = Case(registration_id=registration.id,  # type: ignore[arg-type]
                source=source, category=category, description=description,
                opened_by=actor.id if actor else None, client_id=client_id,
                occurred_at=occurred_at, evidence=list(evidence or []),
                created_at=received, deadline=deadline_for(source, received),
                reference=new_reference(session) if source == "complaint" else None)
    session.add(case)
    session.flush()
    changes.record(session, action="case_opened", actor=Actor.of(actor),
                   registration=registration, data={"case": case.id, "category": category},
                   event_type="case.opened",
                   event_data={"case_id": case.id, "category": category, "source": source},
                   client_id=client_id)
    return case


def get_case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound()
    return case


def add_note(session: Session, *, case: Case, author: User, text: str) -> CaseNote:
    """Add an investigation note to an open case; the caller commits."""
    if case.status != "open":
        raise FormErrors({"note": _("This case is closed")})
    note = CaseNote(case_id=case.id, author_id=author.id,  # type: ignore[arg-type]
                    text=staff_text(text, "note", required=_("Write the note")))
    session.add(note)
    session.flush()
    return note


def check_closing(case: Case, outcome: str, note: str) -> str:
    """Check a closing before anything is written; returns the cleaned note."""
    if case.status != "open":
        raise FormErrors({"_": _("This case is already closed")})
    errors = {}
    if outcome not in ("dismissed", "sanctioned"):
        errors["outcome"] = _("Choose how the case ends")
    try:
        note = staff_text(note, "closing_note", required=_("Say why the case is closed"))
    except FormErrors as exc:
        errors.update(exc.errors)
    if errors:
        raise FormErrors(errors)
    return note


def close_case(
    session: Session, *, case: Case, moderator: User, outcome: str, note: str,
    sanction_id: int | None = None,
) -> Case:
    """Close a case by dismissal or by the sanction it led to; the caller commits."""
    case.closing_note = check_closing(case, outcome, note)
    case.status = "closed"
    case.outcome = outcome
    case.sanction_id = sanction_id
    case.closed_by = moderator.id
    case.closed_at = utcnow()
    session.add(case)
    registration = session.get(Registration, case.registration_id)
    changes.record(session, action="case_closed", actor=Actor.of(moderator),
                   registration=registration, registration_id=case.registration_id,
                   data={"case": case.id, "outcome": outcome}, event_type="case.closed",
                   event_data={"case_id": case.id, "outcome": outcome},
                   client_id=case.client_id)
    session.flush()
    return case


def cases_page(session: Session, *, status: str = "open", order: str = "opened",
               overdue_at: datetime | None = None, limit: int = 200
               ) -> list[tuple[Case, Registration]]:
    """A page of cases: open ones oldest first, closed ones last closed first; ``order``
    "deadline" puts the earliest deadline first; ``overdue_at`` keeps the open cases past
    their deadline at that moment."""
    query = select(Case, Registration).where(Registration.id == Case.registration_id)
    if status in ("open", "closed"):
        query = query.where(Case.status == status)
    if overdue_at is not None:
        query = query.where(Case.status == "open", col(Case.deadline) < overdue_at)
    orders: list[Any]
    if order == "deadline":
        orders = [col(Case.deadline), col(Case.id)]
    elif status == "open":
        orders = [col(Case.created_at), col(Case.id)]
    else:
        orders = [col(Case.closed_at).desc(), col(Case.id).desc()]
    return [(c, r) for c, r in session.exec(query.order_by(*orders).limit(limit))]


def by_reference(session: Session, typed: str) -> Case | None:
    """The buyer's complaint with this reference (as typed), or None."""
    reference = normalize_reference(typed)
    if reference is None:
        return None
    return session.exec(select(Case).where(Case.reference == reference,
                                           Case.source == "complaint")).first()


def public_state(session: Session, case: Case) -> str:
    """A complaint's state as its buyer may know it: "received", "looked_at" (a moderator has
    written a note on it), "dismissed" or "action_taken". Never the notes themselves, nor what
    the closing says: those are the moderators' own."""
    if case.status == "closed":
        return "action_taken" if case.outcome == "sanctioned" else "dismissed"
    noted = session.exec(select(CaseNote.id).where(CaseNote.case_id == case.id)).first()
    return "received" if noted is None else "looked_at"


def notes_of(session: Session, case_id: int) -> list[CaseNote]:
    query = select(CaseNote).where(CaseNote.case_id == case_id).order_by(col(CaseNote.id))
    return list(session.exec(query))


def cases_of(session: Session, registration_id: int) -> list[Case]:
    query = select(Case).where(Case.registration_id == registration_id).order_by(col(Case.id))
    return list(session.exec(query))
