"""The applicant's side of a registration's life (DESIGN §4): sign and submit (a number, the
answers frozen as a version, the attestation and declaration, screening and the risk level),
deregister, start a renewal, confirm the data is still right. Each runs in the caller's
transaction with its history row and event.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import Session, col, select

from portal.accounts import User
from portal.base import identity
from portal.base.db import utcnow
from portal.base.errors import FormErrors, NotFound
from portal.base.i18n import gettext as _
from portal.base.settings import Settings
from portal.ledger.events import SYSTEM, Actor
from portal.lifecycle import amendments, changes
from portal.lifecycle.wizard import Signing, missing
from portal.registration import attestations, linking, screening, steps
from portal.registration.blocklist import blocked
from portal.registration.models import (
    PENDING,
    PURGED,
    REQUESTED,
    SUBMITTABLE,
    NotAllowed,
    Registration,
    StaleState,
    Submission,
    is_blocked,
)
from portal.registration.names import same_name
from portal.registration.sanctions import Sanction


def _new_number(session: Session, year: int) -> str:
    while True:
        number = f"LR-{year}-{secrets.randbelow(10**7):07d}"
        exists = session.exec(
            select(func.count()).select_from(Registration).where(Registration.number == number)
        ).one()
        if not exists:
            return number


def submit(
    session: Session,
    settings: Settings,
    *,
    registration: Registration,
    user: User,
    signature: str,
    signing: Signing,
    today: date,
    site_probe: dict[str, Any] | None = None,
) -> Registration:
    """Sign and submit: assign the number, freeze the answers, record the change; commit.

    ``site_probe`` is what the probe of a declared shop site found (run before, outside the
    transaction, since it waits on the network).
    """
    if registration.status not in SUBMITTABLE:
        raise FormErrors({"_": _("This registration has already been submitted")})
    errors: dict[str, str] = {}
    if not user.email_verified:
        errors["_email"] = _("Confirm your email address before you submit: open the link we "
                             "sent you")
    outstanding = missing(settings, registration, today=today)
    if outstanding:
        errors["_missing"] = _("Some answers are missing or need attention: see the list below")
    legal_name = (registration.answers.get("identity") or {}).get("legal_name", "")
    typed = " ".join(signature.split())
    if not typed:
        errors["signature"] = _("Type your full legal name to sign")
    elif not same_name(typed, legal_name):
        errors["signature"] = _("Type your legal name exactly as in the identity step")
    if errors:
        raise FormErrors(errors)
    identity_answers = registration.answers["identity"]
    if (identity_answers.get("verification") or {}).get("status") == "refused":
        raise FormErrors({"_": _("Your identity could not be verified. Check your identity "
                                 "answers")})

    # The keys that link this person and organisation to their other documents and
    # registrations (DESIGN §5): an exact match of the document or the USCC on the blocklist
    # refuses; a close one holds the submission at screening.
    linking.set_keys(settings, registration)
    if registration.org_key and blocked(session, org_key=registration.org_key):
        raise FormErrors({"_": _("This organisation cannot be registered. Contact the "
                                 "platform for more information")})
    if is_blocked(session, registration):
        raise FormErrors({"_": _("This identity cannot be registered. Contact the platform "
                                 "for more information")})

    now = utcnow()
    number = registration.number or _new_number(session, now.year)
    age = steps.age_of(registration.answers, today)
    band = "minor_16_17" if (registration.subject_kind == "person" and age is not None
                             and age < identity.ADULT_AGE) else "adult"
    version = 1 + session.exec(
        select(func.count()).select_from(Submission)
        .where(Submission.registration_id == registration.id)
    ).one()
    try:
        changes.change(session, settings, registration, action="submitted", actor=Actor.of(user),
                       to_status="submitted", expected_version=registration.version,
                       values={"number": number, "submitted_at": now, "age_band": band},
                       data={"version": version}, event_type="registration.submitted")
    except StaleState:
        raise FormErrors({"_": _("This registration has already been submitted")}) from None
    submitted = {k: v for k, v in registration.answers.items() if k != PENDING}
    session.add(Submission(
        registration_id=registration.id,  # type: ignore[arg-type]
        version=version, answers=submitted, signed_name=typed, submitted_at=now,
        ip=signing.ip, user_agent=signing.user_agent[:400],
    ))
    security = registration.answers["security"]
    attestation_data = {k: v for k, v in security.items()
                        if k not in ("ip", "user_agent") and not k.endswith("_enc")}
    session.add(attestations.Attestation(
        registration_id=registration.id,  # type: ignore[arg-type]
        version=version,
        data=attestation_data,
        sha256=attestations.canonical_sha256(attestation_data),
        signed_name=security.get("signature", ""),
        signed_at=datetime.fromisoformat(security["signed_at"]),
        ip=security.get("ip", ""),
        user_agent=security.get("user_agent", ""),
        site_probe=site_probe,
    ))
    declaration = registration.answers["content"]
    session.add(attestations.Declaration(
        registration_id=registration.id,  # type: ignore[arg-type]
        version=version, data=declaration,
        sha256=attestations.canonical_sha256(declaration),
    ))
    screening.screen(session, settings, registration, today=today, site_probe=site_probe)
    session.flush()
    return registration


def deregister(session: Session, settings: Settings, *, registration: Registration, user: User
               ) -> Registration:
    """The applicant ends their registration (PIPL: they may leave at any time); the caller
    commits."""
    if registration.user_id != user.id:
        raise NotFound()
    # A registration never submitted has no number: nobody outside has heard of it.
    numbered = registration.number is not None
    try:
        changes.change(session, settings, registration, action="deregistered",
                       actor=Actor.of(user), to_status="deregistered",
                       event_type="registration.deregistered" if numbered else None,
                       logged=numbered)
    except (StaleState, NotAllowed):
        raise FormErrors({"_": _("This registration cannot be deregistered now")}) from None
    amendments.withdraw_on_end(session, registration)
    session.flush()
    return registration


def start_renewal(session: Session, *, registration: Registration, user: User) -> None:
    """Ask the applicant to confirm every step again before an expired registration is renewed."""
    if registration.user_id != user.id or registration.status != "expired" or \
            registration.answers.get(PURGED):
        raise NotFound()
    today_steps = [s for s in steps.EDITABLE_STEPS if s in registration.answers]
    message = _("Confirm this step again to renew your registration")
    answers = {**registration.answers, REQUESTED: {step: message for step in today_steps}}
    registration.answers = answers
    flag_modified(registration, "answers")
    registration.version += 1
    session.add(registration)
    changes.record(session, action="renewal_started", actor=Actor.of(user),
                   registration=registration)
    session.flush()


def confirm_data(session: Session, settings: Settings, *, registration: Registration,
                 user: User) -> None:
    """The operator confirms their data is still correct (every REFRESH_DAYS); the caller
    commits."""
    if registration.user_id != user.id or registration.status not in ("approved", "suspended"):
        raise NotFound()
    registration.data_confirmed_at = utcnow()
    session.add(registration)
    changes.record(session, action="data_confirmed", actor=Actor.of(user),
                   registration=registration)
    _end_refresh_restrictions(session, settings, registration)
    session.flush()


def _end_refresh_restrictions(session: Session, settings: Settings,
                              registration: Registration) -> None:
    """Lift the system's restriction once the operator has confirmed their data; caller commits.
    The certificate, which states the sanctions in force, is re-issued by the pipeline."""
    for sanction in session.exec(select(Sanction).where(
            Sanction.registration_id == registration.id, Sanction.kind == "restrict_functions",
            col(Sanction.issued_by).is_(None), Sanction.state == "active")):
        sanction.state = "ended"
        sanction.ended_at = utcnow()
        session.add(sanction)
        session.flush()
        changes.change(session, settings, registration, action="restriction_ended",
                       actor=SYSTEM, data={"sanction": sanction.id},
                       event_type="sanction.ended",
                       event_data={"sanction_id": sanction.id, "kind": sanction.kind})
