"""The sanctions a registration has received and the appeals against them (REGULATION.md R9,
R10): the tables and what is read from them (which are in force, which appeals wait). Applying,
appealing and lifting are in ``portal.oversight.enforcement``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, select

from portal.base.db import UTCDateTime, utcnow
from portal.base.i18n import LazyString, lazy_gettext
from portal.registration import linking
from portal.registration.models import Registration

KINDS: dict[str, LazyString] = {
    "warning": lazy_gettext("Warning"),
    "order_correction": lazy_gettext("Order to correct"),
    "restrict_functions": lazy_gettext("Restriction of functions"),
    "suspend": lazy_gettext("Suspension"),
    "close": lazy_gettext("Closure"),
    "blacklist": lazy_gettext("Blacklisting"),
}

# What a restriction of functions may restrict (REGULATION.md R9: "restrict functions (or
# traffic)").
FUNCTIONS: dict[str, LazyString] = {
    "traffic": lazy_gettext("Recommendation and traffic"),
    "live_selling": lazy_gettext("Selling goods in live streams"),
    "live_streaming": lazy_gettext("Starting live streams"),
    "new_products": lazy_gettext("Listing new products"),
}


class Sanction(SQLModel, table=True):
    __tablename__ = "sanctions"

    id: int | None = Field(default=None, primary_key=True)
    registration_id: int = Field(foreign_key="registrations.id", index=True)
    kind: str = Field(max_length=24)
    facts: str
    reason: str
    legal_basis: str
    # A suspension's end, or an order's deadline; None for open-ended sanctions.
    until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    appeal_channel: str = Field(default="")
    # None when the system applied it (an operator who did not re-confirm their data).
    issued_by: int | None = Field(default=None, foreign_key="users.id")
    issued_role: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # What a restriction of functions restricts (FUNCTIONS).
    functions: list[str] = Field(default_factory=list, sa_column=Column(
        JSON, nullable=False, server_default="[]"))
    # The case opened when a correction order's deadline passed uncorrected.
    overdue_case_id: int | None = Field(default=None)
    # active | ended | overturned
    state: str = Field(default="active", max_length=16)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Appeal(SQLModel, table=True):
    __tablename__ = "appeals"
    __table_args__ = (UniqueConstraint("sanction_id"),)

    id: int | None = Field(default=None, primary_key=True)
    sanction_id: int = Field(foreign_key="sanctions.id", index=True)
    registration_id: int = Field(foreign_key="registrations.id", index=True)
    text: str
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # pending | upheld | overturned
    outcome: str = Field(default="pending", max_length=16)
    decided_by: int | None = Field(default=None, foreign_key="users.id")
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decision_reason: str = Field(default="")


def sanctions_of(session: Session, registration_id: int) -> list[Sanction]:
    query = select(Sanction).where(Sanction.registration_id == registration_id)
    return list(session.exec(query.order_by(col(Sanction.id))))


def in_force_count(session: Session, registration_id: int) -> int:
    """The sanctions that count in the risk level: not overturned, not warnings, those of the
    same document, person or organisation under another registration included (deregistering
    and applying again washes nothing)."""
    registration = session.get(Registration, registration_id)
    ids = linking.linked_ids(session, registration) if registration else [registration_id]
    query = select(Sanction.id).where(col(Sanction.registration_id).in_(ids),
                                      col(Sanction.state) != "overturned",
                                      col(Sanction.kind) != "warning")
    return len(session.exec(query).all())


def appeals_of(session: Session, registration_id: int) -> dict[int, Appeal]:
    query = select(Appeal).where(Appeal.registration_id == registration_id)
    return {a.sanction_id: a for a in session.exec(query)}


def pending_appeals(session: Session) -> list[tuple[Appeal, Sanction, Registration]]:
    query = select(Appeal, Sanction, Registration).where(
        Appeal.outcome == "pending", Sanction.id == Appeal.sanction_id,
        Registration.id == Appeal.registration_id,
    ).order_by(col(Appeal.created_at))
    return [(a, s, r) for a, s, r in session.exec(query)]


REFRESH_RESTRICTION = "refresh_overdue"


