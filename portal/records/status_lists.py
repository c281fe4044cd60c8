"""W3C Bitstring Status List credentials: which credentials are revoked or suspended.

Each registration has one fixed position in both lists, its id. Both lists are signed and stored
whenever a registration's status flips one of its bits (``follow``, called by the change
pipeline), and served from storage: reading a list never signs. A list is always rebuilt from
the registrations' statuses under a row lock, so two changes committed at once both end up in it.
"""

from __future__ import annotations

import base64
import gzip
import json
from datetime import datetime
from typing import Any

from sqlmodel import Field, Session, SQLModel, col, select

from portal.base.db import UTCDateTime, utcnow
from portal.base.settings import Settings
from portal.ledger.tlog import rfc3339
from portal.records import data_integrity
from portal.records.certificates import ensure_registered
from portal.registration.models import Registration

# The spec's minimum (131,072 entries: group privacy); a list grows by as much past it.
LENGTH = 131_072
PURPOSES = ("revocation", "suspension")
# Revocation is final: only statuses that no transition leaves set its bit.
_STATUSES = {"revocation": ("revoked", "deregistered"), "suspension": ("suspended",)}
STATUS_PATH = "/credentials/status/"


class StatusList(SQLModel, table=True):
    """The signed Bitstring Status List credential of one purpose, as served."""

    __tablename__ = "status_lists"

    purpose: str = Field(primary_key=True, max_length=16)
    document: str  # the signed credential, JSON
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


def list_url(settings: Settings, purpose: str) -> str:
    return settings.issuer.rstrip("/") + STATUS_PATH + purpose


def entries(settings: Settings, index: int) -> list[dict[str, str]]:
    """The ``credentialStatus`` of a credential at ``index``: one entry per purpose."""
    return [
        {"id": f"{list_url(settings, purpose)}#{index}", "type": "BitstringStatusListEntry",
         "statusPurpose": purpose, "statusListIndex": str(index),
         "statusListCredential": list_url(settings, purpose)}
        for purpose in PURPOSES
    ]


def encode(bits: bytearray) -> str:
    """``encodedList``: multibase base64url (``u``, no padding) of the GZIP of the bitstring."""
    compressed = gzip.compress(bytes(bits), mtime=0)
    return "u" + base64.urlsafe_b64encode(compressed).rstrip(b"=").decode()


def decode(encoded: str) -> bytes:
    raw = encoded[1:] if encoded.startswith("u") else encoded
    return gzip.decompress(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))


def is_set(document: dict[str, Any], index: int) -> bool:
    """The bit at ``index`` of a status list credential (index 0 is the left-most bit)."""
    bits = decode(document["credentialSubject"]["encodedList"])
    return index // 8 < len(bits) and bool(bits[index // 8] & (0x80 >> (index % 8)))


def wanted(status: str, purpose: str) -> bool:
    return status in _STATUSES[purpose]


def stored(session: Session, purpose: str) -> dict[str, Any] | None:
    """The signed list of ``purpose`` as last stored, or None before the first change."""
    row = session.get(StatusList, purpose)
    # The migration makes each list's row empty; it is filled when first signed.
    return dict(json.loads(row.document)) if row is not None and row.document else None


def follow(session: Session, settings: Settings, registration: Registration) -> None:
    """Re-sign each list in which the registration's bit no longer matches its status."""
    if registration.id is None:
        return
    for purpose in PURPOSES:
        current = stored(session, purpose)
        if current is None or is_set(current, registration.id) != wanted(registration.status,
                                                                          purpose):
            publish(session, settings, purpose)


def publish(session: Session, settings: Settings, purpose: str) -> dict[str, Any]:
    """Rebuild, sign and store the list of ``purpose`` from the registrations' statuses."""
    row = session.exec(select(StatusList).where(StatusList.purpose == purpose)
                       .with_for_update()).first()
    ids = list(session.exec(select(Registration.id).where(
        col(Registration.status).in_(_STATUSES[purpose]),
        col(Registration.valid_from).is_not(None))))
    top = max((i for i in ids if i is not None), default=0)
    bits = bytearray(max(LENGTH, -(-(top + 1) // LENGTH) * LENGTH) // 8)
    for index in ids:
        if index is not None:
            bits[index // 8] |= 0x80 >> (index % 8)
    url = list_url(settings, purpose)
    now = rfc3339(utcnow())
    document = {
        "@context": [data_integrity.VC_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": data_integrity.did_web(settings),
        "validFrom": now,
        "credentialSubject": {"id": f"{url}#list", "type": "BitstringStatusList",
                              "statusPurpose": purpose, "encodedList": encode(bits)},
    }
    kid, private = ensure_registered(session, settings)
    signed = data_integrity.secure(settings, document, private=private, kid=kid, created=now)
    if row is None:
        row = StatusList(purpose=purpose, document="")
    row.document = json.dumps(signed, ensure_ascii=False, separators=(",", ":"))
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return signed
