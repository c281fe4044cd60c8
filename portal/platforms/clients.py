"""API clients: livestream platforms and authorities, their keys and what they declare.

A key is random, shown once, and stored as its SHA-256 (a key has 256 bits of entropy, so a
slow password hash would add nothing but latency on the verification hot path). Its first
characters are kept in clear as a prefix to tell keys apart and to find the row.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint, bindparam, func
from sqlmodel import Field, Session, SQLModel, col, select

from portal.base.db import UTCDateTime, utcnow
from portal.base.errors import FormErrors, NotFound
from portal.base.i18n import gettext as _
from portal.ledger.events import OutboxEvent

KINDS = ("platform", "authority")
KEY_PREFIX = "lrp_"
# "lrp_" and eight characters: enough to tell a client's keys apart, far too few to guess one.
PREFIX_LENGTH = 12


class ApiClient(SQLModel, table=True):
    """A livestream platform or an authority that calls the API."""

    __tablename__ = "api_clients"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    kind: str = Field(default="platform", max_length=16)
    webhook_url: str = Field(default="", max_length=500)
    # AES-GCM ciphertext of the webhook signing secret (whsec_...), shown once.
    webhook_secret: bytes | None = Field(default=None)
    # Events up to this outbox id have been turned into webhook deliveries.
    webhook_cursor: int = Field(default=0)
    # Authorities: "national" or comma-separated region codes (DESIGN §3).
    jurisdiction: str = Field(default="national", max_length=500)
    # REGULATION.md R2: the platform's filing and security assessment, as declared.
    filing_number: str = Field(default="", max_length=100)
    security_assessment: str = Field(default="")
    security_assessed_on: str = Field(default="", max_length=10)
    # Content-moderation staffing as declared.
    moderators_employed: int | None = Field(default=None)
    moderation_hours: str = Field(default="", max_length=100)
    rooms_per_moderator: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: int | None = Field(default=None, foreign_key="users.id")
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="api_clients.id", index=True)
    prefix: str = Field(max_length=PREFIX_LENGTH, unique=True)
    key_hash: str = Field(max_length=64)
    label: str = Field(default="", max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class IdempotencyRecord(SQLModel, table=True):
    """The first answer to a POST with an Idempotency-Key, replayed for the same request."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("client_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="api_clients.id")
    key: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)
    status_code: int
    body: str
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def create_client(
    session: Session, *, name: str, kind: str = "platform", webhook_url: str = "",
    jurisdiction: str = "national", created_by: int | None = None,
) -> ApiClient:
    """Add a client (no key yet); the caller commits."""
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = _("Enter the client's name")
    elif len(name) > 100:
        errors["name"] = _("Write %(max)d characters or fewer", max=100)
    elif session.exec(select(ApiClient).where(ApiClient.name == name)).first() is not None:
        errors["name"] = _("A client with this name already exists")
    if kind not in KINDS:
        errors["kind"] = _("Choose platform or authority")
    if errors:
        raise FormErrors(errors)
    client = ApiClient(name=name, kind=kind, webhook_url=webhook_url.strip(),
                       jurisdiction=jurisdiction or "national", created_by=created_by)
    session.add(client)
    session.flush()
    _cursor_at_end(session, client)
    return client


def _cursor_at_end(session: Session, client: ApiClient) -> None:
    """A new client hears of what happens from now on, not of the whole history."""
    last = session.exec(select(func.max(OutboxEvent.id))).one()
    client.webhook_cursor = int(last or 0)
    session.add(client)


def issue_key(session: Session, client: ApiClient, *, label: str = "") -> str:
    """Create a key for the client and return it in clear, the only time it is seen."""
    if not client.active:
        raise FormErrors({"_": _("This client has been revoked")})
    while True:
        key = new_key()
        prefix = key[:PREFIX_LENGTH]
        if session.exec(select(ApiKey.id).where(ApiKey.prefix == prefix)).first() is None:
            break
    session.add(ApiKey(client_id=client.id,  # type: ignore[arg-type]
                       prefix=prefix, key_hash=hash_key(key), label=label.strip()[:100]))
    session.flush()
    return key


def revoke_key(session: Session, *, client: ApiClient, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None or key.client_id != client.id:
        raise NotFound()
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
    session.flush()
    return key


def revoke_client(session: Session, client: ApiClient) -> None:
    """Revoke the client and every key it has; the caller commits."""
    now = utcnow()
    client.revoked_at = client.revoked_at or now
    session.add(client)
    for key in session.exec(select(ApiKey).where(ApiKey.client_id == client.id,
                                                 col(ApiKey.revoked_at).is_(None))):
        key.revoked_at = now
        session.add(key)
    session.flush()


def keys_of(session: Session, client: ApiClient) -> list[ApiKey]:
    return list(session.exec(select(ApiKey).where(ApiKey.client_id == client.id)
                             .order_by(col(ApiKey.id))))


def clients(session: Session, *, kind: str | None = None) -> list[ApiClient]:
    query = select(ApiClient).order_by(col(ApiClient.name))
    if kind:
        query = query.where(ApiClient.kind == kind)
    return list(session.exec(query))


# --- Authentication ---------------------------------------------------------------------------

# Every call reads the key's row: a revocation committed by any process is seen by every
# process at its next request (DESIGN §9), with no cache to expire first. The read is one row
# by its unique prefix, joined to its client by primary key.
_LOOKUP = (
    select(ApiKey, ApiClient)
    .where(col(ApiKey.prefix) == bindparam("prefix"), col(ApiClient.id) == col(ApiKey.client_id))
)


def cached_client(key: str) -> dict[str, Any] | None:
    """Always None: no process trusts a key from memory (a revoked key stops everywhere at
    once); kept for callers that ask before ``authenticate``."""
    return None


def authenticate(session: Session, key: str) -> dict[str, Any] | None:
    """The client a key belongs to, as {"id", "name", "kind", "key_id", "jurisdiction"}, or None
    for an unknown, malformed or revoked key (or a revoked client)."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    digest = hash_key(key)
    row = session.exec(_LOOKUP, params={"prefix": key[:PREFIX_LENGTH]}).first()
    if row is None:
        return None
    api_key, client = row
    if (hmac.compare_digest(api_key.key_hash, digest) and api_key.revoked_at is None
            and client.revoked_at is None):
        return {"id": client.id, "name": client.name, "kind": client.kind,
                "key_id": api_key.id, "jurisdiction": client.jurisdiction}
    return None
