"""The change pipeline (DESIGN §1): the one way anything that happens is put on the record.

``change`` is for what happens to a registration: it moves the state along DESIGN §4 (one
conditional UPDATE on status and version), refreshes the risk level, writes the history row and
the outbox event, writes the transparency-log entry when verifiers must see the change, and
issues a new certificate when what the certificate states has changed. ``record`` is for the
rest: blocklist entries, buyers, keys, inspections, cases, messages of the scheduled jobs. Both
run in the caller's transaction and never commit. The public registry row follows by itself:
``portal.records.registry`` rebuilds the row of every registration a history row names, just
before the commit.

No other code writes history, outbox or log rows (``tests/unit/test_architecture.py``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from portal.base.db import utcnow
from portal.base.settings import Settings
from portal.ledger.events import SYSTEM, Actor, HistoryEntry, record_change
from portal.ledger.tlog import rfc3339
from portal.records import certificates, status_lists
from portal.records.certificates import Certificate
from portal.registration import risk, sanctions
from portal.registration.blocklist import BlocklistEntry
from portal.registration.models import Registration, is_blocked, move

# What a certificate states about its moment of issue rather than about the registration.
_ISSUE_FIELDS = frozenset({"issued_at", "serial", "kid", "signature"})

# Person-blocklist log entries: by entry id only, and then one per registration number whose
# document or organisation the change blocks or unblocks (DESIGN §6), so that an offline
# verifier reading the log applies the one validity rule (not blacklisted) too.
BLOCKLIST_ADDED = "blocklist.person_added"
BLOCKLIST_REMOVED = "blocklist.person_removed"


def change(
    session: Session,
    settings: Settings,
    registration: Registration,
    *,
    action: str,
    actor: Actor,
    to_status: str | None = None,
    expected_version: int | None = None,
    values: dict[str, Any] | None = None,
    reason: str = "",
    data: dict[str, Any] | None = None,
    event_type: str | None = None,
    event_data: dict[str, Any] | None = None,
    client_id: int | None = None,
    logged: bool = False,
    new_certificate: bool = False,
) -> HistoryEntry:
    """Record what happened to a registration, with everything that follows from it.

    - ``to_status``: move there (``StaleState`` when someone changed the registration since
      ``expected_version``, ``NotAllowed`` when DESIGN §4 has no such transition);
    - ``logged``: a status change verifiers must see (suspension, revocation, reinstatement,
      expiry, deregistration): a log entry of the new status and a new certificate, for a
      registration that has been approved before;
    - ``new_certificate``: issue one whatever it states (an approval);
    - otherwise, when the registration has been approved before and nothing moved its status,
      a new certificate only if what it would state differs from the current one (a risk level,
      an age band).
    """
    previous = registration.status
    if to_status is not None:
        move(session, registration, to_status, expected_version=expected_version, values=values)
    if registration.id is not None:
        risk.refresh(session, settings, registration,
                     sanctions_in_force=sanctions.in_force_count(session, registration.id))
    log_entry = None
    if logged and event_type is not None and registration.valid_from is not None:
        log_entry = {"type": event_type, "at": rfc3339(utcnow()),
                     "number": registration.number, "status": registration.status}
    entry = record_change(
        session, action=action, actor=actor, registration_id=registration.id,
        number=registration.number,
        from_status=previous if to_status is not None else None,
        to_status=registration.status if to_status is not None else None,
        reason=reason, data=data, event_type=event_type, event_data=event_data,
        log_entry=log_entry, client_id=client_id,
    )
    if registration.valid_from is not None:
        if to_status is not None:
            status_lists.follow(session, settings, registration)
        if logged or new_certificate:
            _publish_certificate(session, settings, registration, actor=actor)
        elif to_status is None:
            _refresh_certificate(session, settings, registration, actor=actor)
    return entry


def record(
    session: Session,
    *,
    action: str,
    actor: Actor,
    registration: Registration | None = None,
    registration_id: int | None = None,
    reason: str = "",
    data: dict[str, Any] | None = None,
    event_type: str | None = None,
    event_data: dict[str, Any] | None = None,
    log_entry: dict[str, Any] | None = None,
    client_id: int | None = None,
) -> HistoryEntry:
    """Record something that changes no registration's state or statement: a blocklist entry,
    a buyer, a key, an inspection, a case, a reminder. ``registration`` (or only its id) is the
    registration it concerns, if any.

    A person-blocklist entry added or lifted (``log_entry`` of ``blocklist.person_added`` or
    ``blocklist.person_removed`` with its ``entry_id``) is also logged under the number of every
    registration, approved before, that it blocks or unblocks."""
    concerned = registration.id if registration is not None else registration_id
    entry = record_change(
        session, action=action, actor=actor, registration_id=concerned,
        number=registration.number if registration is not None else None,
        reason=reason, data=data, event_type=event_type, event_data=event_data,
        log_entry=log_entry, client_id=client_id,
    )
    if log_entry is not None and log_entry.get("type") in (BLOCKLIST_ADDED, BLOCKLIST_REMOVED) \
            and log_entry.get("entry_id") is not None:
        _log_blocked_numbers(session, int(log_entry["entry_id"]), added=log_entry["type"]
                             == BLOCKLIST_ADDED, actor=actor, concerned=concerned)
    return entry


def _log_blocked_numbers(session: Session, entry_id: int, *, added: bool, actor: Actor,
                         concerned: int | None) -> None:
    """Log the blocklist change under each registration number it now blocks (``added``) or no
    longer blocks. The registration the change was recorded on is left out unless it is
    approved or suspended: its blacklisting revoked it, and its history already has the row."""
    listed = session.get(BlocklistEntry, entry_id)
    if listed is None:
        return
    keys = []
    if listed.identity_index:
        keys.append(col(Registration.identity_index) == listed.identity_index)
    if listed.org_key:
        keys.append(col(Registration.org_key) == listed.org_key)
    if not keys:
        return
    found = session.exec(select(Registration).where(
        or_(*keys), col(Registration.valid_from).is_not(None)).order_by(col(Registration.id)))
    for other in list(found):
        if other.id == concerned and other.status not in ("approved", "suspended"):
            continue
        if is_blocked(session, other) != added:
            continue  # another entry still blocks it, or it was not blocked by this one
        _log_block_state(session, other, added=added, actor=actor, entry_id=entry_id)


def _log_block_state(session: Session, registration: Registration, *, added: bool,
                     actor: Actor, entry_id: int | None = None) -> None:
    kind = BLOCKLIST_ADDED if added else BLOCKLIST_REMOVED
    record_change(
        session, action="blocklist_added" if added else "blocklist_removed", actor=actor,
        registration_id=registration.id, number=registration.number,
        data={"entry": entry_id} if entry_id is not None else None,
        log_entry={"type": kind, "at": rfc3339(utcnow()), "number": registration.number,
                   "status": registration.status})


def started(session: Session, registration: Registration, *, actor: Actor) -> HistoryEntry:
    """A registration comes into being, as a draft (its first history row)."""
    return record_change(session, action="started", actor=actor,
                         registration_id=registration.id, to_status="draft")


def _publish_certificate(session: Session, settings: Settings, registration: Registration, *,
                         actor: Actor) -> Certificate:
    """Issue a certificate for the registration's current state and log it."""
    first = registration.id is None \
        or certificates.current_certificate(session, registration.id) is None
    certificate, body = certificates.issue_certificate(session, settings, registration,
                                                       status=registration.status)
    history = record_change(
        session, action="certificate_issued", actor=actor, registration_id=registration.id,
        number=registration.number, data={"serial": certificate.serial},
        event_type="certificate.issued",
        event_data={"serial": certificate.serial, "certificate_sha256": certificate.sha256},
        log_entry={"type": "certificate.issued", "at": rfc3339(utcnow()),
                   "number": registration.number, "status": body["status"],
                   "certificate_sha256": certificate.sha256, "kid": certificate.kid},
    )
    certificate.log_index = history.data["log_index"]
    session.add(certificate)
    if first and is_blocked(session, registration):
        # Approved while its document or organisation is blocklisted: the log says so too.
        _log_block_state(session, registration, added=True, actor=actor)
    return certificate


def _refresh_certificate(session: Session, settings: Settings, registration: Registration, *,
                         actor: Actor) -> Certificate | None:
    """A new certificate when what it states no longer matches the registration."""
    if registration.id is None:
        return None
    current = certificates.current_certificate(session, registration.id)
    fresh = certificates.certificate_body(session, settings, registration,
                                          status=registration.status)
    if current is not None:
        stated = {k: v for k, v in certificates.certificate_json(current).items()
                  if k not in _ISSUE_FIELDS}
        if stated == {k: v for k, v in fresh.items() if k not in _ISSUE_FIELDS}:
            return None
    return _publish_certificate(session, settings, registration, actor=actor)


def rotate_signing_key(session: Session, settings: Settings, *,
                       actor: Actor = SYSTEM) -> tuple[str, str]:
    """Generate a new signing key, retire the old one and log the rotation; no commit.

    In production the new key's file must then be named in PORTAL_SIGNING_KEY.
    """
    old_kid, _old = certificates.ensure_registered(session, settings)
    path = certificates.generate_key_file(settings)
    if settings.signing_key:
        settings.signing_key = str(path)
    kid, _private = certificates.ensure_registered(session, settings)
    record_change(session, action="key_rotated", actor=actor, data={"kid": kid, "old": old_kid},
                  event_type="key.rotated", event_data={"kid": kid, "retired": old_kid},
                  log_entry={"type": "key.rotated", "at": rfc3339(utcnow()), "kid": kid})
    return kid, str(path)


STAFF_ACTIONS = frozenset({"staff_created", "staff_disabled", "staff_enabled",
                           "staff_second_factor_reset"})


def staff_account_changed(session: Session, *, actor: Actor, action: str, user: Any) -> None:
    """Keep an administrator's change to a staff account in the history (no registration, no
    event, nothing in the public log: staff accounts are not the registry's business); the
    account by id and role only. No commit."""
    if action not in STAFF_ACTIONS:
        raise ValueError(f"unknown staff action {action!r}")
    record_change(session, action=action, actor=actor,
                  data={"user_id": user.id, "role": str(user.role)})
