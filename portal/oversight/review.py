"""Moderators' decisions on submitted registrations, and revealing personal data with a reason."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Column, and_, func, or_
from sqlmodel import Field, Session, SQLModel, col, select

from portal.accounts import Role, User
from portal.base import crypto, i18n
from portal.base.db import UTCDateTime, utcnow
from portal.base.errors import FormErrors, NotFound
from portal.base.forms import staff_text
from portal.base.i18n import LazyString, lazy_gettext
from portal.base.i18n import gettext as _
from portal.base.settings import Settings
from portal.ledger.events import Actor
from portal.ledger.pii_access import PiiAccess
from portal.lifecycle import amendments, changes
from portal.platforms import notify
from portal.registration import screening, steps
from portal.registration.blocklist import BlocklistEntry
from portal.registration.models import (
    REQUESTED,
    Amendment,
    NotAllowed,
    Registration,
    StaleState,
    is_blocked,
    secret_context,
)
from portal.registration.risk import LEVELS as RISK_LEVELS
from portal.registration.sanctions import sanctions_of
from portal.registration.screening import ScreeningFlag

REJECTION_REASONS: dict[str, LazyString] = {
    "false_information": lazy_gettext("False or misleading information"),
    "identity_mismatch": lazy_gettext("Identity could not be confirmed"),
    "documents_invalid": lazy_gettext("Documents missing, unreadable or not valid"),
    "qualification_missing": lazy_gettext("Required qualification missing"),
    "prohibited_content": lazy_gettext("Content or products that may not be marketed"),
    "blacklisted": lazy_gettext("Person on the blocklist"),
    "other": lazy_gettext("Other reason"),
}

# What staff may reveal, and where the clear value lives.
REVEALABLE: dict[str, tuple[str, str]] = {
    "id_number": ("identity", "id_number"),
    "phone": ("identity", "phone"),
    "date_of_birth": ("identity", "date_of_birth"),
    "guardian_id_number": ("guardian", "guardian_id_number"),
    "guardian_date_of_birth": ("guardian", "guardian_date_of_birth"),
    "security_contact": ("security", "security_contact"),
    "staff_list": ("security", "staff_list"),
}
# Kept in clear in the answers (the age is computed from them) but shown as the year only, since
# beside a masked ID number a full date of birth narrows the number to a handful (DESIGN §8).
CLEAR_REVEALABLE = frozenset({"date_of_birth", "guardian_date_of_birth"})
REVEAL_LABELS: dict[str, LazyString] = {
    "id_number": lazy_gettext("ID number"),
    "phone": lazy_gettext("Mobile phone number"),
    "date_of_birth": lazy_gettext("Date of birth"),
    "guardian_id_number": lazy_gettext("Guardian's ID number"),
    "guardian_date_of_birth": lazy_gettext("Guardian's date of birth"),
    "security_contact": lazy_gettext("Security contact, with the phone numbers"),
    "staff_list": lazy_gettext("Live-room staff, with the phone numbers"),
}
# What the PII access log records: reveals by staff and authorities, and platforms' identity
# matches (DESIGN §7).
ACCESS_LABELS: dict[str, LazyString] = {
    **REVEAL_LABELS,
    "legal_name": lazy_gettext("Legal name"),
    "identity_match": lazy_gettext("Identity match by a platform"),
    "identity_lookup": lazy_gettext("Look-up by ID number"),
    "uscc_lookup": lazy_gettext("Look-up by unified social credit code"),
}


class Decision(SQLModel, table=True):
    """A moderator's decision: who, when, what, and why (message to the applicant, own note)."""

    __tablename__ = "decisions"

    id: int | None = Field(default=None, primary_key=True)
    registration_id: int = Field(foreign_key="registrations.id", index=True)
    kind: str = Field(max_length=24)  # approve | request_changes | reject
    moderator_id: int = Field(foreign_key="users.id")
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    reason_code: str = Field(default="", max_length=32)
    message: str = Field(default="")
    internal_note: str = Field(default="")
    # Per step, what the applicant is asked to change.
    steps: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class DecisionConflict(Exception):
    """Someone else decided, or the registration changed, since the moderator opened it."""


@dataclass
class Outcome:
    registration: Registration
    decision: Decision
    mail: list[notify.Message]


# The queue's own order (the queue page's default): oldest submission first, then by id.
QUEUE_ORDER = (col(Registration.submitted_at), col(Registration.id))


def queue(
    session: Session,
    *,
    flag: str = "",
    role: str = "",
    risk: str = "",
    sort: str = "oldest",
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[Registration], int]:
    """Submitted registrations waiting for a decision, oldest first, with filters."""
    query = select(Registration).where(Registration.status == "submitted")
    if flag:
        flagged = select(ScreeningFlag.registration_id).where(ScreeningFlag.code == flag)
        query = query.where(col(Registration.id).in_(flagged))
    if role:
        # Roles are kept comma-joined; the commas stop "mcn" matching inside another word.
        query = query.where(("," + col(Registration.roles) + ",").contains(f",{role},"))
    if risk:
        query = query.where(Registration.risk_level == risk)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    if sort == "flags":
        order = [col(Registration.flag_count).desc(), col(Registration.submitted_at)]
    else:
        order = list(QUEUE_ORDER)
    rows = session.exec(query.order_by(*order).offset((page - 1) * per_page).limit(per_page))
    return list(rows), int(total)


def next_in_queue(session: Session, *, after: Registration | None = None
                  ) -> Registration | None:
    """The registration a moderator decides next, in the queue's order: the first one waiting
    after ``after`` (the one just decided, or the one on screen), else the first one waiting
    at all, so that one passed over comes round again; None when no other is waiting."""
    waiting = select(Registration).where(Registration.status == "submitted")
    if after is not None:
        waiting = waiting.where(col(Registration.id) != after.id)
        if after.submitted_at is not None:
            later = waiting.where(or_(
                col(Registration.submitted_at) > after.submitted_at,
                and_(col(Registration.submitted_at) == after.submitted_at,
                     col(Registration.id) > after.id)))
            found = session.exec(later.order_by(*QUEUE_ORDER).limit(1)).first()
            if found is not None:
                return found
    return session.exec(waiting.order_by(*QUEUE_ORDER).limit(1)).first()


def get_by_number(session: Session, number: str) -> Registration:
    registration = session.exec(select(Registration).where(Registration.number == number)).first()
    if registration is None:
        raise NotFound()
    return registration


def decisions_of(session: Session, registration_id: int) -> list[Decision]:
    query = select(Decision).where(Decision.registration_id == registration_id)
    return list(session.exec(query.order_by(Decision.id)))  # type: ignore[arg-type]


def _applicant(session: Session, registration: Registration) -> User:
    user = session.get(User, registration.user_id)
    assert user is not None
    return user


def _decide(
    session: Session,
    settings: Settings,
    *,
    registration: Registration,
    moderator: User,
    version: int,
    to_status: str,
    kind: str,
    event_type: str,
    values: dict[str, Any] | None = None,
    decision_fields: dict[str, Any],
    history: dict[str, Any],
    reason: str = "",
) -> Decision:
    try:
        changes.change(
            session, settings, registration, action=kind, actor=Actor.of(moderator),
            to_status=to_status, expected_version=version,
            values={"decided_at": utcnow(), **(values or {})}, reason=reason, data=history,
            event_type=event_type, new_certificate=to_status == "approved",
        )
    except (StaleState, NotAllowed):
        raise DecisionConflict() from None
    decision = Decision(
        registration_id=registration.id,  # type: ignore[arg-type]
        kind=kind, moderator_id=moderator.id,  # type: ignore[arg-type]
        **decision_fields,
    )
    session.add(decision)
    return decision


def approve(
    session: Session, settings: Settings, *, registration: Registration, moderator: User,
    version: int, note: str = "",
) -> Outcome:
    """Approve a submitted registration for CERT_VALID_DAYS; the caller commits.

    Not while a screening hold is uncleared (``clear_hold``)."""
    note = staff_text(note, "internal_note")
    if registration.status == "submitted" and is_blocked(session, registration):
        raise FormErrors({"_": _("This identity or organisation is on the blocklist: it cannot "
                                 "be approved")})
    if registration.status == "submitted" and screening.open_holds(session,
                                                                   registration.id or 0):
        raise FormErrors({"_": _("This submission is held: compare it with the record it may "
                                 "match and clear the hold before approving it")})
    now = utcnow()
    until = now + timedelta(days=settings.cert_valid_days)
    decision = _decide(
        session, settings, registration=registration, moderator=moderator, version=version,
        to_status="approved", kind="approve", event_type="registration.approved",
        values={"valid_from": now, "valid_until": until, "data_confirmed_at": now},
        decision_fields={"internal_note": note},
        history={"valid_until": until.isoformat()},
    )
    applicant = _applicant(session, registration)
    with notify.in_language_of(applicant):
        mail = notify.notify_user(
            session, user_id=applicant.id, email=applicant.email,  # type: ignore[arg-type]
            registration_id=registration.id,
            subject=_("Your registration %(number)s is approved", number=registration.number),
            body=_("Your registration %(number)s has been approved. It is valid until %(date)s.",
                   number=registration.number, date=i18n.format_datetime(until)),
        )
    session.flush()
    return Outcome(registration, decision, [mail])


def asked_steps(step_messages: dict[str, str]) -> dict[str, str]:
    """The editable steps a moderator asks to change, each with its checked message; a form
    error when none is asked (of a registration or of a change after approval)."""
    asked = {}
    for step, message in step_messages.items():
        if step not in steps.EDITABLE_STEPS:
            continue
        asked[step] = staff_text(message, f"message_{step}",
                                 required=_("Say what the applicant must change in this step"))
    if not asked:
        raise FormErrors({"steps": _("Choose at least one step to change, with a message")})
    return asked


def asked_lines(asked: dict[str, str]) -> str:
    """The steps asked for and their messages, a line each, as the reader's language writes a
    label and its value ("- Roles: ...", "- 身份：..."); called in the applicant's language."""
    return "\n".join(f"- {i18n.label_value(steps.STEP_TITLES[s], m)}" for s, m in asked.items())


def request_changes(
    session: Session, settings: Settings, *, registration: Registration, moderator: User,
    version: int, step_messages: dict[str, str], note: str = "",
) -> Outcome:
    """Ask the applicant to change some steps, each with a message; the caller commits."""
    asked = asked_steps(step_messages)
    note = staff_text(note, "internal_note")
    answers = {**registration.answers, REQUESTED: asked}
    decision = _decide(
        session, settings, registration=registration, moderator=moderator, version=version,
        to_status="changes_requested", kind="request_changes",
        event_type="registration.changes_requested",
        values={"answers": answers},
        decision_fields={"steps": asked, "internal_note": note},
        history={"steps": asked},
    )
    applicant = _applicant(session, registration)
    with notify.in_language_of(applicant):
        lines = asked_lines(asked)
        mail = notify.notify_user(
            session, user_id=applicant.id, email=applicant.email,  # type: ignore[arg-type]
            registration_id=registration.id,
            subject=_("Changes needed to your registration %(number)s", number=registration.number),
            body=_("A moderator asks you to change your registration %(number)s:\n%(lines)s\n\n"
                   "Make the changes, then submit again.", number=registration.number, lines=lines),
        )
    session.flush()
    return Outcome(registration, decision, [mail])


def reject(
    session: Session, settings: Settings, *, registration: Registration, moderator: User,
    version: int, reason_code: str, message: str, note: str = "",
) -> Outcome:
    """Reject a submitted registration with a reason code and a message; the caller commits."""
    errors = {}
    if reason_code not in REJECTION_REASONS:
        errors["reason_code"] = _("Choose the reason for rejecting")
    try:
        message = staff_text(message, "message",
                             required=_("Write a message that tells the applicant why"))
    except FormErrors as exc:
        errors.update(exc.errors)
    if errors:
        raise FormErrors(errors)
    note = staff_text(note, "internal_note")
    decision = _decide(
        session, settings, registration=registration, moderator=moderator, version=version,
        to_status="rejected", kind="reject", event_type="registration.rejected",
        decision_fields={"reason_code": reason_code, "message": message, "internal_note": note},
        history={"reason_code": reason_code, "message": message},
        reason=reason_code,
    )
    applicant = _applicant(session, registration)
    with notify.in_language_of(applicant):
        mail = notify.notify_user(
            session, user_id=applicant.id, email=applicant.email,  # type: ignore[arg-type]
            registration_id=registration.id,
            subject=_("Your registration %(number)s was not approved", number=registration.number),
            body=_("Your registration %(number)s was not approved: %(reason)s\n\n%(message)s\n\n"
                   "You may start a new registration.", number=registration.number,
                   reason=str(REJECTION_REASONS[reason_code]), message=message),
        )
    session.flush()
    return Outcome(registration, decision, [mail])


def reveal(
    session: Session, settings: Settings, *, registration: Registration, actor: User,
    field: str, reason: str,
) -> str:
    """Return one clear personal value after logging who asked, for what and why; the caller
    commits."""
    if actor.role not in (Role.moderator, Role.auditor, Role.admin):
        raise NotFound()
    if field not in REVEALABLE:
        raise FormErrors({"field": _("Choose what to reveal")})
    reason = _reveal_reason(reason, f"reason_{field}")
    value = _clear_value(settings, registration, field, f"reason_{field}")
    session.add(PiiAccess(actor_id=actor.id, actor_role=str(actor.role),
                          registration_id=registration.id, field=field, reason=reason))
    session.flush()
    return value


# What an authority's API client may reveal (DESIGN §7): the encrypted values, and the legal
# name, kept in clear in the answers but shown masked everywhere else.
CLIENT_REVEALABLE = (*REVEALABLE, "legal_name")


def reveal_for_client(
    session: Session, settings: Settings, *, registration: Registration, client_id: int,
    field: str, reason: str,
) -> str:
    """An authority client's reveal: as ``reveal``, logged with the client (role "authority",
    no user). Errors are keyed ``field`` and ``reason``; the caller commits."""
    if field not in CLIENT_REVEALABLE:
        raise FormErrors({"field": _("Choose what to reveal")})
    reason = _reveal_reason(reason, "reason")
    if field == "legal_name":
        value = str((registration.answers.get("identity") or {}).get("legal_name") or "")
        if not value:
            raise FormErrors({"field": _("There is no such value in this registration")})
    else:
        value = _clear_value(settings, registration, field, "field")
    session.add(PiiAccess(actor_id=None, actor_role="authority", client_id=client_id,
                          registration_id=registration.id, field=field, reason=reason))
    return value


def _reveal_reason(reason: str, key: str) -> str:
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise FormErrors({key: _("Give the reason for revealing it")})
    if len(reason) > 500:
        raise FormErrors({key: _("Write %(max)d characters or fewer", max=500)})
    return reason


def revealable_fields(registration: Registration) -> list[str]:
    """The clear values this registration holds, which staff may reveal with a reason."""
    out = []
    for field, (step, name) in REVEALABLE.items():
        saved = registration.answers.get(step) or {}
        if saved.get(f"{name}_enc") or (field in CLEAR_REVEALABLE and saved.get(name)):
            out.append(field)
    return out


def _clear_value(settings: Settings, registration: Registration, field: str, key: str) -> str:
    step, name = REVEALABLE[field]
    if field in CLEAR_REVEALABLE:
        value = (registration.answers.get(step) or {}).get(name)
        if not value:
            raise FormErrors({key: _("There is no such value in this registration")})
        return str(value)
    blob = (registration.answers.get(step) or {}).get(f"{name}_enc")
    if not blob:
        raise FormErrors({key: _("There is no such value in this registration")})
    return crypto.cipher_for(settings).decrypt_text(
        base64.b64decode(blob), context=secret_context(registration.id, step, name)
    )


def access_log(session: Session, registration_id: int) -> list[PiiAccess]:
    query = select(PiiAccess).where(PiiAccess.registration_id == registration_id)
    return list(session.exec(query.order_by(PiiAccess.id)))  # type: ignore[arg-type]


def override_risk(session: Session, settings: Settings, *, registration: Registration,
                  moderator: User, level: str, reason: str) -> None:
    """Set the level by hand, with a reason; the caller commits."""
    errors = {}
    if level not in RISK_LEVELS:
        errors["risk_level"] = _("Choose a risk level")
    reason = (reason or "").strip()
    if not reason:
        errors["risk_reason"] = _("Give the reason for the risk level")
    elif len(reason) > 1000:
        errors["risk_reason"] = _("Write %(max)d characters or fewer", max=1000)
    if errors:
        raise FormErrors(errors)
    previous = registration.risk_level
    registration.risk_level = level
    registration.risk_overridden = True
    session.add(registration)
    # The risk level is part of what the certificate states: the pipeline re-issues it.
    changes.change(session, settings, registration, action="risk_override",
                   actor=Actor.of(moderator), reason=reason, data={"from": previous, "to": level})
    session.flush()


# --- Screening holds ---------------------------------------------------------------------------


@dataclass
class HoldView:
    """A hold and the records it compares: the submission and each blocklist entry it may match
    (with the registration blacklisted, where there is one), side by side."""

    flag: ScreeningFlag
    registration: Registration
    matches: list[tuple[BlocklistEntry, Registration | None]]


def hold(session: Session, registration: Registration, flag_id: int) -> HoldView:
    """A hold of this registration (NotFound for anything else)."""
    flag = session.get(ScreeningFlag, flag_id)
    if flag is None or flag.registration_id != registration.id or \
            flag.code not in screening.HOLDS:
        raise NotFound()
    ids = [e["entry"] if isinstance(e, dict) else e for e in flag.detail.get("entries", [])]
    matches = []
    for entry_id in ids:
        entry = session.get(BlocklistEntry, entry_id)
        if entry is not None:
            blacklisted = session.get(Registration, entry.registration_id) \
                if entry.registration_id is not None else None
            matches.append((entry, blacklisted))
    return HoldView(flag, registration, matches)


def clear_hold(session: Session, *, registration: Registration, flag_id: int, moderator: User,
               reason: str) -> ScreeningFlag:
    """A moderator who compared both records clears a hold, saying why; the caller commits."""
    view = hold(session, registration, flag_id)
    if view.flag.cleared_at is not None:
        raise FormErrors({"_": _("This hold has already been cleared")})
    if registration.status != "submitted":
        raise FormErrors({"_": _("Only the hold of a submission waiting for a decision can be "
                                 "cleared")})
    reason = staff_text(reason, "clear_reason",
                        required=_("Say why the records are not the same person"))
    view.flag.cleared_by = moderator.id
    view.flag.cleared_at = utcnow()
    view.flag.clear_reason = reason
    session.add(view.flag)
    changes.record(session, action="hold_cleared", actor=Actor.of(moderator),
                   registration=registration, reason=reason,
                   data={"flag": view.flag.code, "flag_id": view.flag.id})
    session.flush()
    return view.flag


def reinstate(session: Session, settings: Settings, *, registration: Registration,
              moderator: User, version: int, reason: str) -> None:
    """End a suspension no sanction set (one made pending review when the registration's person
    or organisation was blacklisted), with a reason; the caller commits. A suspension sanction
    ends on its date or on appeal, and a registration still on the blocklist stays suspended."""
    reason = staff_text(reason, "reinstate_reason",
                        required=_("Give the reason for reinstating it"))
    if registration.status != "suspended":
        raise FormErrors({"_": _("Only a suspended registration can be reinstated")})
    if any(s.kind == "suspend" and s.state == "active"
           for s in sanctions_of(session, registration.id or 0)):
        raise FormErrors({"_": _("A suspension is in force: it ends on its date or on appeal")})
    if is_blocked(session, registration):
        raise FormErrors({"_": _("Its document or organisation is still on the blocklist: it "
                                 "cannot be reinstated")})
    try:
        changes.change(session, settings, registration, action="reinstated",
                       actor=Actor.of(moderator), to_status="approved",
                       expected_version=version, reason=reason,
                       event_type="registration.reinstated", logged=True)
    except (StaleState, NotAllowed):
        raise DecisionConflict() from None
    session.flush()


# --- Changes after approval --------------------------------------------------------------------


def get_amendment(session: Session, amendment_id: int) -> tuple[Amendment, Registration]:
    """A change and the registration it changes (NotFound for anything else)."""
    amendment = session.get(Amendment, amendment_id)
    registration = session.get(Registration, amendment.registration_id) if amendment else None
    if amendment is None or registration is None:
        raise NotFound()
    return amendment, registration


def approve_amendment(
    session: Session, settings: Settings, *, amendment: Amendment, registration: Registration,
    moderator: User, version: int, today: date, note: str = "", hold_reason: str = "",
) -> Outcome:
    """Approve a change: it replaces the approved answers, and a new certificate is issued;
    the caller commits. A change whose screening found a possible match with a blacklisted
    person or representative needs the reason the records are not the same."""
    note = staff_text(note, "internal_note")
    if is_blocked(session, registration):
        raise FormErrors({"_": _("This identity or organisation is on the blocklist: it cannot "
                                 "be approved")})
    if any(f["code"] in screening.HOLDS for f in amendment.flags):
        hold_reason = staff_text(hold_reason, "hold_reason",
                                 required=_("Say why the records are not the same person"))
    try:
        amendments.apply(session, settings, amendment=amendment, registration=registration,
                         moderator=moderator, version=version, today=today)
    except amendments.AmendmentConflict:
        raise DecisionConflict() from None
    amendment.internal_note = "\n".join(x for x in (note, hold_reason) if x)
    session.add(amendment)
    applicant = _applicant(session, registration)
    with notify.in_language_of(applicant):
        mail = notify.notify_user(
            session, user_id=applicant.id, email=applicant.email,  # type: ignore[arg-type]
            registration_id=registration.id,
            subject=_("The change to your registration %(number)s is approved",
                      number=registration.number),
            body=_("The change to your registration %(number)s has been approved. Your new "
                   "certificate states the changed answers; the approval stays valid until "
                   "%(date)s.", number=registration.number,
                   date=i18n.format_datetime(registration.valid_until)
                   if registration.valid_until else "—"),
        )
    session.flush()
    decision = _decision_of(session, registration, moderator, "amendment_approved",
                            internal_note=amendment.internal_note)
    return Outcome(registration, decision, [mail])


def _decision_of(session: Session, registration: Registration, moderator: User, kind: str,
                 **fields: Any) -> Decision:
    decision = Decision(registration_id=registration.id,  # type: ignore[arg-type]
                        kind=kind, moderator_id=moderator.id,  # type: ignore[arg-type]
                        **fields)
    session.add(decision)
    return decision


def request_amendment_changes(
    session: Session, settings: Settings, *, amendment: Amendment, registration: Registration,
    moderator: User, version: int, step_messages: dict[str, str], note: str = "",
) -> Outcome:
    """Ask the applicant to change some steps of their change, each with a message; the caller
    commits."""
    asked = asked_steps(step_messages)
    note = staff_text(note, "internal_note")
    try:
        amendments.ask_for_changes(session, amendment, version=version, asked=asked)
    except amendments.AmendmentConflict:
        raise DecisionConflict() from None
    amendment.internal_note = note
    changes.record(session, action="amendment_corrections", actor=Actor.of(moderator),
                   registration=registration,
                   data={"amendment": amendment.id, "steps": asked})
    applicant = _applicant(session, registration)
    with notify.in_language_of(applicant):
        lines = asked_lines(asked)
        mail = notify.notify_user(
            session, user_id=applicant.id, email=applicant.email,  # type: ignore[arg-type]
            registration_id=registration.id,
            subject=_("Changes needed to the change of your registration %(number)s",
                      number=registration.number),
            body=_("A moderator asks you to correct the change you made to your registration "
                   "%(number)s:\n%(lines)s\n\nCorrect it, then submit it again. Until a "
                   "moderator approves it, your registration stays as approved.",
                   number=registration.number, lines=lines),
        )
    session.flush()
    return Outcome(registration, _decision_of(session, registration, moderator,
                                              "amendment_corrections", steps=asked,
                                              internal_note=note), [mail])


def refuse_amendment(
    session: Session, settings: Settings, *, amendment: Amendment, registration: Registration,
    moderator: User, version: int, message: str, note: str = "",
) -> Outcome:
    """Refuse a change with a message; the approved answers stay. The caller commits."""
    message = staff_text(message, "message",
                         required=_("Write a message that tells the applicant why"))
    note = staff_text(note, "internal_note")
    try:
        amendments.refuse(session, amendment, version=version, moderator=moderator,
                          message=message)
    except amendments.AmendmentConflict:
        raise DecisionConflict() from None
    amendment.internal_note = note
    changes.record(session, action="amendment_refused", actor=Actor.of(moderator),
                   registration=registration, reason=message,
                   data={"amendment": amendment.id})
    applicant = _applicant(session, registration)
    with notify.in_language_of(applicant):
        mail = notify.notify_user(
            session, user_id=applicant.id, email=applicant.email,  # type: ignore[arg-type]
            registration_id=registration.id,
            subject=_("The change to your registration %(number)s was not approved",
                      number=registration.number),
            body=_("The change you made to your registration %(number)s was not approved:\n\n"
                   "%(message)s\n\nYour registration stays as approved.",
                   number=registration.number, message=message),
        )
    session.flush()
    return Outcome(registration, _decision_of(session, registration, moderator,
                                              "amendment_refused", message=message,
                                              internal_note=note), [mail])
