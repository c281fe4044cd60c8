"""Download my data (PIPL Art. 45): everything the portal holds about a person, in clear, as
one JSON document, and the record that they took it."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from portal.base.crypto import DataCipher, DecryptionError, cipher_for
from portal.base.db import utcnow
from portal.base.settings import Settings
from portal.ledger.events import history_of
from portal.ledger.pii_access import PiiAccess
from portal.ledger.tlog import rfc3339
from portal.oversight.review import Decision
from portal.platforms.notify import Notification
from portal.records import certificates
from portal.registration.attestations import Attestation, Declaration
from portal.registration.models import (
    PURGED,
    Document,
    RosterLink,
    Submission,
    registrations_of,
    secret_context,
)
from portal.registration.sanctions import Appeal, Sanction

EXPORT_FIELD = "data_export"
EXPORT_REASON = "download my data"


def log_data_export(session: Session, user: Any) -> None:
    """Record that a person downloaded their own data, once per registration; the caller commits."""
    ids = [r.id for r in registrations_of(session, user)] or [None]
    for registration_id in ids:
        session.add(PiiAccess(actor_id=user.id, actor_role=str(user.role),
                              registration_id=registration_id, field=EXPORT_FIELD,
                              reason=EXPORT_REASON))
    session.flush()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _clear_answers(cipher: DataCipher, answers: dict[str, Any], registration_id: int | None
                   ) -> dict[str, Any]:
    """Answers with each ``<field>_enc`` replaced by the clear ``<field>`` (the owner's own)."""
    out: dict[str, Any] = {}
    for step, data in answers.items():
        if not isinstance(data, dict):
            out[step] = data
            continue
        clear: dict[str, Any] = {}
        for key, value in data.items():
            if not key.endswith("_enc"):
                clear[key] = value
                continue
            name = key[: -len("_enc")]
            try:
                clear[name] = cipher.decrypt_text(
                    base64.b64decode(value), context=secret_context(registration_id, step, name))
            except (DecryptionError, binascii.Error, ValueError, TypeError):
                clear[name] = None  # under a key no longer configured
        out[step] = clear
    return out


def personal_data_export(session: Session, settings: Settings, user: Any, *,
                         document_url: Callable[[int], str]) -> dict[str, Any]:
    """Everything the portal holds about an applicant, as they may take it away."""
    cipher = cipher_for(settings)

    def rows(model: Any, registration_id: int | None, order: Any) -> list[Any]:
        query = select(model).where(model.registration_id == registration_id)
        return list(session.exec(query.order_by(order)))

    def registration_data(registration: Any) -> dict[str, Any]:
        rid = registration.id
        appeals = {a.sanction_id: a for a in rows(Appeal, rid, Appeal.id)}
        numbers = {}
        links = list(session.exec(select(RosterLink).where(
            (RosterLink.manager_id == rid) | (RosterLink.streamer_id == rid))))
        for other_id in {link.manager_id for link in links} | {link.streamer_id for link in links}:
            other = session.get(type(registration), other_id)
            numbers[other_id] = other.number if other is not None else None
        return {
            "number": registration.number,
            "status": registration.status,
            "subject_kind": registration.subject_kind,
            "roles": [r for r in registration.roles.split(",") if r],
            "region": registration.region,
            "risk_level": registration.risk_level,
            "age_band": registration.age_band,
            "created_at": _iso(registration.created_at),
            "updated_at": _iso(registration.updated_at),
            "submitted_at": _iso(registration.submitted_at),
            "decided_at": _iso(registration.decided_at),
            "valid_from": _iso(registration.valid_from),
            "valid_until": _iso(registration.valid_until),
            "data_confirmed_at": _iso(registration.data_confirmed_at),
            "personal_data_erased_at": registration.answers.get(PURGED),
            "answers": _clear_answers(cipher, registration.answers, rid),
            "submissions": [{
                "version": s.version, "submitted_at": _iso(s.submitted_at),
                "signed_name": s.signed_name, "ip": s.ip, "user_agent": s.user_agent,
                "answers": _clear_answers(cipher, s.answers, rid),
            } for s in rows(Submission, rid, Submission.version)],
            "attestations": [{
                "version": a.version, "sha256": a.sha256, "signed_name": a.signed_name,
                "signed_at": _iso(a.signed_at), "data": a.data,
            } for a in rows(Attestation, rid, Attestation.version)],
            "declarations": [{"version": d.version, "sha256": d.sha256, "data": d.data}
                             for d in rows(Declaration, rid, Declaration.version)],
            "documents": [{
                "id": d.id, "kind": d.kind, "filename": d.filename,
                "content_type": d.content_type, "size": d.size, "sha256": d.sha256,
                "uploaded_at": _iso(d.created_at), "erased": not d.ciphertext,
                "url": document_url(d.id) if d.ciphertext else None,
            } for d in rows(Document, rid, Document.id)],
            # What moderators told the applicant; their internal notes are their own.
            "decisions": [{
                "kind": d.kind, "at": _iso(d.at), "reason_code": d.reason_code,
                "message": d.message, "steps": d.steps,
            } for d in rows(Decision, rid, Decision.id)],
            "sanctions": [{
                "kind": s.kind, "facts": s.facts, "reason": s.reason,
                "legal_basis": s.legal_basis, "until": _iso(s.until),
                "appeal_channel": s.appeal_channel, "created_at": _iso(s.created_at),
                "state": s.state, "ended_at": _iso(s.ended_at),
                "appeal": None if (a := appeals.get(s.id)) is None else {
                    "text": a.text, "created_at": _iso(a.created_at), "outcome": a.outcome,
                    "decided_at": _iso(a.decided_at), "decision_reason": a.decision_reason,
                },
            } for s in rows(Sanction, rid, Sanction.id)],
            # As on the applicant's timeline: an authority's inspection is not theirs to follow.
            "history": [{
                "at": _iso(e.at), "action": e.action, "by": e.actor_role,
                "from_status": e.from_status, "to_status": e.to_status, "reason": e.reason,
                "data": e.data,
            } for e in history_of(session, rid) if not e.action.startswith("inspection_")],
            "certificates": [{
                "serial": c.serial, "issued_at": _iso(c.issued_at), "log_index": c.log_index,
                "certificate": certificates.certificate_json(c),
            } for c in session.exec(select(certificates.Certificate)
                                    .where(certificates.Certificate.registration_id == rid)
                                    .order_by(col(certificates.Certificate.issued_at)))],
            "roster": {
                "manages": [{"number": numbers.get(link.streamer_id),
                             "confirmed_at": _iso(link.confirmed_at)}
                            for link in links if link.manager_id == rid],
                "managed_by": [{"number": numbers.get(link.manager_id),
                                "confirmed_at": _iso(link.confirmed_at)}
                               for link in links if link.streamer_id == rid],
            },
        }

    notifications = session.exec(select(Notification).where(Notification.user_id == user.id)
                                 .order_by(col(Notification.id)))
    return {
        "exported_at": rfc3339(utcnow()),
        "account": {
            "email": user.email,
            "role": str(user.role),
            "created_at": _iso(user.created_at),
            "email_verified": user.email_verified_at is not None,
            "email_verified_at": _iso(user.email_verified_at),
        },
        "registrations": [registration_data(r) for r in
                          reversed(registrations_of(session, user))],
        "notifications": [{
            "subject": n.subject, "body": n.body, "created_at": _iso(n.created_at),
            "read_at": _iso(n.read_at),
        } for n in notifications],
    }
