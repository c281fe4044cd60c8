"""Verifiable records: Ed25519 signing keys and the certificates they sign (DESIGN §6).

The private key comes from ``PORTAL_SIGNING_KEY`` (a PEM file) or, in development, from a key
generated into the data dir; every key's public half is kept in ``signing_keys`` so that old
certificates keep verifying after a rotation. A key's id is its RFC 7638 JWK thumbprint.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from portal.base.crypto import mask_name
from portal.base.db import UTCDateTime, utcnow
from portal.base.settings import Settings, SettingsError
from portal.ledger.tlog import b64, rfc3339
from portal.registration.attestations import Attestation, Declaration
from portal.registration.sanctions import Sanction

CERTIFICATE_TYPE = "LivestreamRegistrationCertificate"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(public: Ed25519PublicKey) -> dict[str, str]:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"crv": "Ed25519", "kty": "OKP", "x": b64url(raw)}


def thumbprint(public: Ed25519PublicKey) -> str:
    """RFC 7638: SHA-256 of the JWK's required members in lexical order, base64url."""
    return b64url(hashlib.sha256(rfc8785.dumps(public_jwk(public))).digest())


class SigningKey(SQLModel, table=True):
    """A signing key's public half and state; retired keys keep verifying old signatures."""

    __tablename__ = "signing_keys"

    kid: str = Field(primary_key=True, max_length=64)
    x: str = Field(max_length=64)
    status: str = Field(default="active", max_length=16)  # active | retired
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


def _key_dir(settings: Settings) -> Path:
    return settings.data_dir / "signing-keys"


def _load_pem(path: Path) -> Ed25519PrivateKey:
    stat = path.stat()
    return _parse_pem(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _parse_pem(path: str, _mtime_ns: int, _size: int) -> Ed25519PrivateKey:
    # Parsed once per file version (a replaced file has another mtime or size): signing every
    # certificate no longer re-reads and re-parses the PEM.
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SettingsError(f"{path} is not an Ed25519 private key")
    return key


def generate_key_file(settings: Settings) -> Path:
    """Write a new Ed25519 private key into the data dir (0600) and return its path."""
    directory = _key_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    # The file name sorts by creation, so the newest generated key is the last one.
    path = directory / f"{utcnow():%Y%m%dT%H%M%S%f}-{secrets.token_hex(4)}.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return path


def active_private_key(settings: Settings) -> Ed25519PrivateKey:
    """The key that signs now: PORTAL_SIGNING_KEY, else the newest one in the data dir."""
    if settings.signing_key:
        return _load_pem(Path(settings.signing_key).expanduser())
    if settings.is_production:
        raise SettingsError("PORTAL_SIGNING_KEY must be set in production")
    directory = _key_dir(settings)
    existing = sorted(directory.glob("*.pem")) if directory.exists() else []
    path = existing[-1] if existing else generate_key_file(settings)
    return _load_pem(path)


def ensure_registered(session: Session, settings: Settings) -> tuple[str, Ed25519PrivateKey]:
    """Make sure the active key is in ``signing_keys``, retiring any other active key."""
    private = active_private_key(settings)
    kid = thumbprint(private.public_key())
    row = session.get(SigningKey, kid)
    if row is None or row.status != "active":
        try:
            with session.begin_nested():
                for other in session.exec(select(SigningKey).where(SigningKey.status == "active")):
                    if other.kid != kid:
                        other.status = "retired"
                        other.retired_at = utcnow()
                        session.add(other)
                if row is None:
                    row = SigningKey(kid=kid, x=public_jwk(private.public_key())["x"])
                row.status = "active"
                row.retired_at = None
                session.add(row)
                session.flush()
        except IntegrityError:
            # Another process registered this new key at the same moment (several servers
            # signing with it for the first time): its committed row is the one to keep.
            pass
    return kid, private


def public_keys(session: Session) -> list[dict[str, Any]]:
    """The document served at /.well-known/portal-keys.json."""
    rows = session.exec(select(SigningKey).order_by(col(SigningKey.created_at)))
    return [
        {"kid": r.kid, "kty": "OKP", "crv": "Ed25519", "x": r.x, "status": r.status,
         "created_at": rfc3339(r.created_at)}
        for r in rows
    ]


def sign(private: Ed25519PrivateKey, document: dict[str, Any]) -> str:
    """Base64 Ed25519 signature over the JCS bytes of ``document``."""
    return b64(private.sign(rfc8785.dumps(document)))


def verify_signature(document: dict[str, Any], keys: list[dict[str, Any]]) -> bool:
    """Check a signed object's ``signature`` with the key its ``kid`` names."""
    unsigned = {k: v for k, v in document.items() if k != "signature"}
    for key in keys:
        if key.get("kid") == document.get("kid"):
            raw = base64.urlsafe_b64decode(key["x"] + "=" * (-len(key["x"]) % 4))
            try:
                Ed25519PublicKey.from_public_bytes(raw).verify(
                    base64.b64decode(document.get("signature", ""), validate=True),
                    rfc8785.dumps(unsigned),
                )
            except Exception:  # any decoding or signature failure means "not valid"
                return False
            return True
    return False


# --- certificates -----------------------------------------------------------------------------


class Certificate(SQLModel, table=True):
    """A certificate as issued: its exact JCS bytes, never changed; newer ones supersede it."""

    __tablename__ = "certificates"

    serial: str = Field(primary_key=True, max_length=40)
    registration_id: int = Field(foreign_key="registrations.id", index=True)
    number: str = Field(max_length=20, index=True)
    document: str  # JCS of the signed certificate
    sha256: str = Field(max_length=64)
    kid: str = Field(max_length=64)
    issued_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    log_index: int | None = Field(default=None)


def sanction_statement(sanction: Sanction) -> dict[str, Any]:
    """One sanction as certificates and the API state it (DESIGN §7): its kind, since when, and
    its end (``until``), a correction order's ``deadline`` or what a restriction restricts."""
    stated: dict[str, Any] = {"kind": sanction.kind, "since": rfc3339(sanction.created_at)}
    if sanction.until is not None:
        stated["deadline" if sanction.kind == "order_correction" else "until"] = \
            rfc3339(sanction.until)
    if sanction.kind == "restrict_functions":
        stated["restricted_functions"] = list(sanction.functions or [])
    return stated


def sanctions_in_force(session: Session, registration_id: int | None) -> list[dict[str, Any]]:
    """The sanctions in force against a registration (neither ended nor overturned), warnings
    and correction orders included, oldest first, as ``sanction_statement`` states them."""
    if registration_id is None:
        return []
    query = select(Sanction).where(Sanction.registration_id == registration_id,
                                   Sanction.state == "active")
    return [sanction_statement(s)
            for s in session.exec(query.order_by(col(Sanction.created_at), col(Sanction.id)))]


def statement(registration: Any, sanctions: list[dict[str, Any]] | None = None
              ) -> dict[str, Any]:
    """What a registration states about its subject, in the certificate's shape (DESIGN §6).

    ``sanctions`` (``sanctions_in_force``) are stated when given; without them the statement is
    what the registration's answers say, which is what the integrity check compares (a
    certificate issued before certificates stated sanctions has none)."""
    answers = registration.answers
    ident = answers.get("identity") or {}
    roles = answers.get("roles") or {}
    content = answers.get("content") or {}
    organization = registration.subject_kind == "organization"
    subject: dict[str, Any] = {
        "kind": registration.subject_kind,
        "display_name": mask_name(
            (roles.get("org_name") if organization else None) or ident.get("legal_name", "")),
        "id_type": ident.get("id_type", ""),
        "id_number_masked": ident.get("id_number_masked", ""),
        "age_band": registration.age_band,
    }
    if organization:
        subject["organization_name"] = roles.get("org_name", "")
        subject["uscc"] = roles.get("uscc", "")
    stated: dict[str, Any] = {
        "subject": subject,
        "roles": [r for r in registration.roles.split(",") if r],
        "channels": [{"platform": c.get("platform", ""), "handle": c.get("handle", "")}
                     for c in roles.get("channels") or []],
        "virtual_avatar": {"name": roles.get("avatar_name", "")} if roles.get("uses_avatar")
        else None,
        "content_rating": {
            "audience": content.get("audience", ""),
            "categories": content.get("categories") or [],
            "restricted_products": content.get("restricted_products") or [],
            "professional_topics": content.get("professional_topics") or [],
        },
    }
    if sanctions is not None:
        stated["sanctions"] = sanctions
    return stated


def certificate_body(session: Session, settings: Settings, registration: Any, *, status: str
                     ) -> dict[str, Any]:
    """Everything a certificate states, before serial, kid and signature."""
    stated = statement(registration, sanctions_in_force(session, registration.id))
    return {
        "type": CERTIFICATE_TYPE,
        "version": 1,
        "issuer": settings.issuer,
        "number": registration.number,
        "status": status,
        "issued_at": rfc3339(utcnow()),
        "valid_until": rfc3339(registration.valid_until) if registration.valid_until else None,
        **stated,
        "risk_level": registration.risk_level,
        "attestation_sha256": _latest_hash(session, Attestation, registration),
        "declaration_sha256": _latest_hash(session, Declaration, registration),
    }


def _latest_hash(session: Session, model: Any, registration: Any) -> str:
    row = session.exec(select(model).where(model.registration_id == registration.id)
                       .order_by(col(model.version).desc())).first()
    return row.sha256 if row else ""


def issue_certificate(session: Session, settings: Settings, registration: Any, *, status: str
                      ) -> tuple[Certificate, dict[str, Any]]:
    """Sign and store a new certificate for the registration's current state; caller commits."""
    kid, private = ensure_registered(session, settings)
    body = certificate_body(session, settings, registration, status=status)
    body["serial"] = secrets.token_hex(16)
    body["kid"] = kid
    body["signature"] = sign(private, body)
    canonical = rfc8785.dumps(body)
    certificate = Certificate(
        serial=body["serial"], registration_id=registration.id, number=registration.number,
        document=canonical.decode(), sha256=hashlib.sha256(canonical).hexdigest(), kid=kid,
    )
    session.add(certificate)
    session.flush()
    return certificate, body


def current_certificate(session: Session, registration_id: int) -> Certificate | None:
    query = select(Certificate).where(Certificate.registration_id == registration_id)
    return session.exec(query.order_by(col(Certificate.issued_at).desc())).first()


def certificate_json(certificate: Certificate) -> dict[str, Any]:
    return dict(json.loads(certificate.document))
