"""Buyers' blocklist: each platform's own list of buyers it has barred (REGULATION.md R14).

Entries belong to the platform that added them: only it can see, check or remove them. A buyer
is known by the platform's own reference; an identity number, when given, is kept only as its
HMAC index.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement
from sqlmodel import Field, Session, SQLModel, col, select

from portal.base.db import UTCDateTime, utcnow
from portal.base.errors import FormErrors, NotFound
from portal.base.i18n import gettext as _
from portal.ledger.events import Actor
from portal.ledger.tlog import rfc3339
from portal.lifecycle import changes

# Changes a platform makes through the API: no staff member, the client id is in the data.
PLATFORM = Actor(None, "platform")


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


def _active() -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    now = utcnow()
    return (
        col(BuyerBlock.removed_at).is_(None),
        col(BuyerBlock.until).is_(None) | (col(BuyerBlock.until) > now),
    )


def add_buyer(
    session: Session, *, client_id: int, buyer_ref: str, reason: str,
    until: datetime | None = None, id_type: str | None = None, identity_index: str | None = None,
) -> BuyerBlock:
    """Bar a buyer on one platform; the caller commits.

    ``identity_index`` is the HMAC index of the buyer's ID number (never the number itself).
    """
    buyer_ref = (buyer_ref or "").strip()
    reason = (reason or "").strip()
    errors = {}
    if not buyer_ref:
        errors["buyer_ref"] = _("Give the platform's reference for the buyer")
    elif len(buyer_ref) > 200:
        errors["buyer_ref"] = _("Write %(max)d characters or fewer", max=200)
    if not reason:
        errors["reason"] = _("State the reason")
    if until is not None and until <= utcnow():
        errors["until"] = _("The end of the block must be in the future")
    if (id_type is None) != (identity_index is None):
        raise ValueError("id_type and identity_index go together")
    if errors:
        raise FormErrors(errors)
    entry = BuyerBlock(client_id=client_id, buyer_ref=buyer_ref, reason=reason, until=until,
                       id_type=id_type, identity_index=identity_index)
    session.add(entry)
    session.flush()
    changes.record(session, action="buyer_blocklist_added", actor=PLATFORM,
                   data={"entry": entry.id, "client_id": client_id},
                   event_type="blocklist.buyer_added", client_id=client_id,
                   event_data={"entry_id": entry.id, "buyer_ref": buyer_ref,
                               "until": rfc3339(until) if until else None})
    return entry


def remove_buyer(session: Session, *, client_id: int, entry_id: int) -> BuyerBlock:
    """Lift one of this platform's own entries; the caller commits.

    Another platform's entry, and one already removed, are not found.
    """
    entry = session.get(BuyerBlock, entry_id)
    if entry is None or entry.client_id != client_id or entry.removed_at is not None:
        raise NotFound()
    entry.removed_at = utcnow()
    session.add(entry)
    changes.record(session, action="buyer_blocklist_removed", actor=PLATFORM,
                   data={"entry": entry.id, "client_id": client_id},
                   event_type="blocklist.buyer_removed", client_id=client_id,
                   event_data={"entry_id": entry.id, "buyer_ref": entry.buyer_ref})
    return entry


def blocked_buyers(session: Session, client_id: int, buyer_refs: list[str]
                   ) -> dict[str, BuyerBlock]:
    """This platform's active entries for these references: the one that lasts longest each."""
    refs = sorted({ref.strip() for ref in buyer_refs})
    found: dict[str, BuyerBlock] = {}
    if not refs:
        return found
    query = select(BuyerBlock).where(BuyerBlock.client_id == client_id,
                                     col(BuyerBlock.buyer_ref).in_(refs), *_active())
    for entry in session.exec(query.order_by(col(BuyerBlock.id))):
        current = found.get(entry.buyer_ref)
        if current is None or _lasts_longer(entry, current):
            found[entry.buyer_ref] = entry
    return found


def _lasts_longer(entry: BuyerBlock, than: BuyerBlock) -> bool:
    if than.until is None:
        return False
    return entry.until is None or entry.until > than.until
