"""Buyers' blocklist: each platform's own list of buyers it has barred (REGULATION.md R14).

Entries belong to the platform that added them: only it can see, check or remove them. A buyer
is known by the platform's own reference; an identity number, when given, is kept only as its
HMAC index.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from portal.db import UTCDateTime, utcnow


class BuyerBlock(SQLModel, table=True):
    __tablename__ = "buyer_blocklist"

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="api_clients.id", index=True)
    buyer_ref: str = Field(max_length=200, index=True)
    reason: str = Field(default="")
    until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    id_type: str | None = Field(default=None, max_length=32)
    identity_index: str | None = Field(default=None, max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    removed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
