"""Certificates as W3C Verifiable Credentials 2.0 (DESIGN §6, "Credentials").

A credential states what its certificate states, masked as there, under the issuer's
``did:web``, with a Data Integrity proof (``eddsa-rdfc-2022``) and ``credentialStatus`` entries in
the two Bitstring Status Lists. It is derived from the stored certificate whenever it is asked
for: the same certificate and key always give the same bytes (Ed25519 is deterministic and the
proof's ``created`` is the certificate's issue time), so nothing needs storing.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from sqlmodel import Session, col, select

from portal.base.settings import Settings
from portal.records import data_integrity, status_lists
from portal.records.certificates import (
    Certificate,
    SigningKey,
    active_private_key,
    certificate_json,
    current_certificate,
    thumbprint,
)
from portal.registration.models import Registration

CREDENTIAL_TYPE = "LivestreamRegistrationCredential"
# What the certificate states about itself or its signature rather than about the registration.
_NOT_STATED = frozenset({"type", "version", "issuer", "issued_at", "valid_until", "kid",
                         "signature"})


def _drop_nulls(value: Any) -> Any:
    # JSON-LD drops nulls; leaving them out makes the credential say exactly what is signed.
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def unsecured_credential(settings: Settings, certificate: Certificate) -> dict[str, Any]:
    """The credential of a certificate, before its proof."""
    body = certificate_json(certificate)
    subject = {k: v for k, v in body.items() if k not in _NOT_STATED}
    subject["certificate_sha256"] = certificate.sha256
    credential: dict[str, Any] = {
        "@context": [data_integrity.VC_CONTEXT, data_integrity.our_context(settings)],
        "type": ["VerifiableCredential", CREDENTIAL_TYPE],
        "issuer": data_integrity.did_web(settings),
        "validFrom": body["issued_at"],
        "credentialSubject": _drop_nulls(subject),
        "credentialStatus": status_lists.entries(settings, certificate.registration_id),
    }
    if body.get("valid_until"):
        credential["validUntil"] = body["valid_until"]
    return credential


def credential(settings: Settings, certificate: Certificate) -> dict[str, Any]:
    """The certificate as a Verifiable Credential, secured by the active signing key."""
    private = active_private_key(settings)
    kid = thumbprint(private.public_key())
    key = (settings.issuer, certificate.serial, kid)
    secured = _SECURED.get(key)
    if secured is None:
        unsecured = unsecured_credential(settings, certificate)
        secured = json.dumps(data_integrity.secure(
            settings, unsecured, private=private, kid=kid, created=unsecured["validFrom"]))
        # Canonicalization costs milliseconds: each certificate's credential is built once per
        # key and process (certificates never change).
        if len(_SECURED) >= 1024:
            _SECURED.pop(next(iter(_SECURED)))
        _SECURED[key] = secured
    return dict(json.loads(secured))


_SECURED: dict[tuple[str, str, str], str] = {}


def credential_of(session: Session, settings: Settings, number: str) -> dict[str, Any] | None:
    """The credential of a registration's current certificate; None for a draft, an unknown
    number or a registration never approved (it has no certificate)."""
    registration = session.exec(select(Registration).where(
        Registration.number == number, Registration.status != "draft")).first()
    if registration is None or registration.id is None:
        return None
    certificate = current_certificate(session, registration.id)
    return credential(settings, certificate) if certificate is not None else None


def did_document(session: Session, settings: Settings) -> dict[str, Any]:
    """The issuer's DID document: every signing key, active and retired, as a Multikey."""
    did = data_integrity.did_web(settings)
    rows = session.exec(select(SigningKey).order_by(col(SigningKey.created_at)))
    methods = []
    for row in rows:
        raw = base64.urlsafe_b64decode(row.x + "=" * (-len(row.x) % 4))
        methods.append({"id": f"{did}#{row.kid}", "type": "Multikey", "controller": did,
                        "publicKeyMultibase": data_integrity.multibase_key(raw)})
    return {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": [m["id"] for m in methods],
    }


def public_key_bytes(session: Session) -> dict[str, bytes]:
    """Every signing key's raw public bytes by kid (for checking a proof)."""
    return {row.kid: base64.urlsafe_b64decode(row.x + "=" * (-len(row.x) % 4))
            for row in session.exec(select(SigningKey))}
