"""Inspections by authorities (REGULATION.md R9, R16): of a registration or of a platform.

An auditor opens an inspection, adds findings with evidence, and closes it with a conclusion;
closing may order a sanction, which goes through the same sanction service as a moderator's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from portal.db import UTCDateTime, utcnow


class Inspection(SQLModel, table=True):
    __tablename__ = "inspections"

    id: int | None = Field(default=None, primary_key=True)
    # registration | platform
    target_kind: str = Field(max_length=16)
    registration_id: int | None = Field(default=None, foreign_key="registrations.id", index=True)
    client_id: int | None = Field(default=None, foreign_key="api_clients.id", index=True)
    # The region of the registration inspected (jurisdiction), "" for a platform.
    region: str = Field(default="", max_length=6, index=True)
    subject: str = Field(max_length=200)
    opened_by: int = Field(foreign_key="users.id")
    opened_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # open | closed
    status: str = Field(default="open", max_length=16, index=True)
    conclusion: str = Field(default="")
    closed_by: int | None = Field(default=None, foreign_key="users.id")
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sanction_id: int | None = Field(default=None, foreign_key="sanctions.id")


class Finding(SQLModel, table=True):
    __tablename__ = "inspection_findings"

    id: int | None = Field(default=None, primary_key=True)
    inspection_id: int = Field(foreign_key="inspections.id", index=True)
    author_id: int = Field(foreign_key="users.id")
    text: str
    # Links to evidence (URLs) or documents of the registration, as given.
    evidence: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ExportRecord(SQLModel, table=True):
    """Every export an auditor or authority client made: who, what filter, how many rows."""

    __tablename__ = "audit_exports"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    client_id: int | None = Field(default=None, foreign_key="api_clients.id", index=True)
    format: str = Field(max_length=8)
    filters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    rows: int = Field(default=0)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
