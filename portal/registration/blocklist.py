"""The person blocklist: identities (by their HMAC index) and names that may not register."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, or_
from sqlmodel import Field, Session, SQLModel, col, select

from portal.base.db import UTCDateTime, utcnow


class BlocklistEntry(SQLModel, table=True):
    """A blacklisted person; lifted entries stay, with who lifted them."""

    __tablename__ = "person_blocklist"

    id: int | None = Field(default=None, primary_key=True)
    identity_index: str | None = Field(default=None, max_length=64, index=True)
    id_type: str | None = Field(default=None, max_length=32)
    # The person under any document, and an organisation by its USCC (DESIGN §5).
    person_key: str | None = Field(default=None, max_length=64, index=True)
    # The date of birth and nationality alone: names are compared closely within it.
    birth_key: str | None = Field(default=None, max_length=64, index=True)
    org_key: str | None = Field(default=None, max_length=64, index=True)
    # The legal name as blacklisted (for fuzzy screening) and its normalised key.
    legal_name: str = Field(default="", max_length=100)
    name_key: str = Field(default="", max_length=100, index=True)
    reason_code: str = Field(default="other", max_length=32)
    reason: str = Field(default="")
    registration_id: int | None = Field(default=None, foreign_key="registrations.id")
    created_by: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lift_requested_by: int | None = Field(default=None, foreign_key="users.id")
    lifted_by: int | None = Field(default=None, foreign_key="users.id")
    lifted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


def active_conditions() -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    now = utcnow()
    return (
        col(BlocklistEntry.lifted_at).is_(None),
        col(BlocklistEntry.until).is_(None) | (col(BlocklistEntry.until) > now),
    )


def blocked(session: Session, *, identity_index: str | None = None, org_key: str | None = None
            ) -> bool:
    """Whether an entry in force names this document exactly, or this organisation."""
    conditions = []
    if identity_index:
        conditions.append(col(BlocklistEntry.identity_index) == identity_index)
    if org_key:
        conditions.append(col(BlocklistEntry.org_key) == org_key)
    if not conditions:
        return False
    query = select(BlocklistEntry.id).where(or_(*conditions), *active_conditions())
    return session.exec(query).first() is not None


def active_entries(session: Session) -> list[BlocklistEntry]:
    return list(session.exec(select(BlocklistEntry).where(*active_conditions())))
