"""The log of every reveal of clear personal data (and of each person's download of their own):
who, what, why, when. Auditors read it; nothing else writes it."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from portal.base.db import UTCDateTime, utcnow


class PiiAccess(SQLModel, table=True):
    """One reveal of clear personal data: who, what, why, when (auditors read this log)."""

    __tablename__ = "pii_access_log"

    id: int | None = Field(default=None, primary_key=True)
    actor_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    actor_role: str = Field(max_length=16)
    registration_id: int | None = Field(default=None, foreign_key="registrations.id", index=True)
    field: str = Field(max_length=40)
    reason: str
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # An API client's access (a platform's identity match, an authority's reveal).
    client_id: int | None = Field(default=None, foreign_key="api_clients.id", index=True)
