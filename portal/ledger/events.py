"""The one place that records a change: its history row and its outgoing event, in one transaction.

Every state change of a registration (and later of blocklists and keys) calls ``record_change``
inside the caller's transaction; the caller commits. The transparency log and webhook fan-out
plug in here rather than at every call site.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ColumnElement, and_, or_
from sqlmodel import Field, Session, SQLModel, col, select

from portal.base.db import UTCDateTime, utcnow
from portal.ledger import tlog
from portal.ledger.tlog import EVENT_TYPES


class HistoryEntry(SQLModel, table=True):
    """What happened to a registration: who, when, why, from which state to which."""

    __tablename__ = "history"

    id: int | None = Field(default=None, primary_key=True)
    registration_id: int | None = Field(default=None, foreign_key="registrations.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor_id: int | None = Field(default=None, foreign_key="users.id")
    actor_role: str = Field(default="system", max_length=16)
    action: str = Field(max_length=48)
    from_status: str | None = Field(default=None, max_length=24)
    to_status: str | None = Field(default=None, max_length=24)
    reason: str = Field(default="")
    # Shown to the applicant on their timeline; never holds clear PII.
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class OutboxEvent(SQLModel, table=True):
    """An event for platforms, written with the change it describes (webhooks read from here)."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    type: str = Field(max_length=48, index=True)
    registration_id: int | None = Field(default=None, foreign_key="registrations.id", index=True)
    number: str | None = Field(default=None, max_length=20)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The one API client an event belongs to (its buyer-blocklist entries and cases); None for
    # what every platform hears of.
    client_id: int | None = Field(default=None, foreign_key="api_clients.id", index=True)


# What every platform hears of (DESIGN §7): the registration, certificate, sanction and
# person-blocklist events. Events that belong to one client (its buyer-blocklist entries, its
# violation reports' cases) carry its id and go to it alone.
SHARED_EVENT_PREFIXES = ("registration.", "certificate.", "sanction.", "blocklist.person_")


def visible_to_platform(client_id: int) -> ColumnElement[bool]:
    """The outbox rows a platform receives, in its events feed and by webhook."""
    shared = or_(*(col(OutboxEvent.type).startswith(p) for p in SHARED_EVENT_PREFIXES))
    return or_(and_(col(OutboxEvent.client_id).is_(None), shared),
               col(OutboxEvent.client_id) == client_id)


def event_json(event: OutboxEvent) -> dict[str, Any]:
    """An event as the API and webhooks carry it: {"id","type","number","created_at","data"}."""
    return {"id": event.id, "type": event.type, "number": event.number,
            "created_at": tlog.rfc3339(event.created_at), "data": event.data}


class Actor:
    """Who made a change: a user, or the system (scheduled work)."""

    def __init__(self, user_id: int | None, role: str) -> None:
        self.user_id = user_id
        self.role = role

    @classmethod
    def of(cls, user: Any) -> Actor:
        return cls(user.id, str(user.role)) if user is not None else cls(None, "system")


SYSTEM = Actor(None, "system")


def record_change(
    session: Session,
    *,
    action: str,
    actor: Actor,
    registration_id: int | None = None,
    number: str | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    reason: str = "",
    data: dict[str, Any] | None = None,
    event_type: str | None = None,
    event_data: dict[str, Any] | None = None,
    log_entry: dict[str, Any] | None = None,
    client_id: int | None = None,
) -> HistoryEntry:
    """Write the history row, the outbox event platforms hear of, and the transparency-log
    entry a verifier must see, all in the caller's transaction (it does not commit).

    ``log_entry`` is appended to the log (DESIGN §6); its index lands in the history data.
    """
    entry = HistoryEntry(
        registration_id=registration_id,
        actor_id=actor.user_id,
        actor_role=actor.role,
        action=action,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        data=data or {},
    )
    if log_entry is not None:
        entry.data = {**entry.data, "log_index": tlog.append(session, log_entry)}
    session.add(entry)
    if event_type is not None:
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event_type!r}")
        payload = {"status": to_status, **(event_data or {})} if to_status else event_data or {}
        # Events are read in id order (the events feed, webhooks): taking the log's lock
        # until commit makes ids follow commit order on PostgreSQL too.
        tlog.lock(session)
        session.add(
            OutboxEvent(
                type=event_type, registration_id=registration_id, number=number, data=payload,
                client_id=client_id,
            )
        )
    session.flush()
    return entry


def history_of(session: Session, registration_id: int) -> list[HistoryEntry]:
    query = (
        select(HistoryEntry)
        .where(HistoryEntry.registration_id == registration_id)
        .order_by(HistoryEntry.at, HistoryEntry.id)  # type: ignore[arg-type]
    )
    return list(session.exec(query))
