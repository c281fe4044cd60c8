"""Changes after approval: the holder of an approved registration changes answers through the
wizard's steps in a working copy (an ``Amendment``), signs and submits it; it is screened as a
submission is, a moderator compares it with the approved answers and approves it (the answers
replace the approved ones and the certificate is issued again through the change pipeline,
``registration.updated`` for the platforms), asks for changes or refuses it. Until then the
registration, its certificate, the API and /verify state the approved answers. One pending
change at a time; its holder may withdraw it.

Each function runs in the caller's transaction and flushes; none commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import Session, col, select

from portal.accounts import User
from portal.base import identity
from portal.base.db import utcnow
from portal.base.errors import FormErrors, NotFound
from portal.base.i18n import gettext as _
from portal.base.settings import Settings
from portal.ledger.events import Actor, HistoryEntry
from portal.lifecycle import changes
from portal.lifecycle.wizard import (
    Amending,
    Editable,
    Signing,
    discard_drafts,
    link_roster,
    missing,
)
from portal.registration import attestations, linking, screening, steps
from portal.registration.blocklist import blocked
from portal.registration.models import (
    AMENDMENT_EDITABLE,
    AMENDMENT_PENDING,
    PENDING,
    REQUESTED,
    Amendment,
    Registration,
    Submission,
    current_registration,
)
from portal.registration.names import same_name

# Only an approved registration can be changed this way (a suspended one waits for its
# suspension to end; a draft or one under review is changed in the wizard itself).
AMENDABLE = frozenset({"approved"})
# Answers the working copy keeps for itself, never copied to the approved registration.
_WORKING_ONLY = (REQUESTED, PENDING)


class AmendmentConflict(Exception):
    """The change or its registration moved on since the moderator opened it."""


def pending(session: Session, registration: Registration) -> Amendment | None:
    """The registration's change waiting for its holder or for a moderator, if any."""
    return session.exec(select(Amendment).where(
        Amendment.pending_for == registration.id)).first()


def latest(session: Session, registration: Registration) -> Amendment | None:
    """The registration's most recent change, whatever became of it."""
    return session.exec(select(Amendment).where(
        Amendment.registration_id == registration.id).order_by(col(Amendment.id).desc())).first()


def editing(session: Session, user: User) -> Editable | None:
    """What the applicant's wizard edits: the registration, or the working copy of the change
    they are making to their approved one."""
    registration = current_registration(session, user)
    if registration is None or registration.status not in AMENDABLE:
        return registration
    amendment = pending(session, registration)
    if amendment is not None and amendment.status in AMENDMENT_EDITABLE:
        return Amending(registration, amendment)
    return registration


def start(session: Session, *, registration: Registration, user: User) -> Amending:
    """Open a change of an approved registration (or return the one open): a working copy of
    its approved answers. The caller commits."""
    if registration.user_id != user.id:
        raise NotFound()
    if registration.status not in AMENDABLE:
        raise FormErrors({"_": _("Only an approved registration can be changed this way")})
    existing = pending(session, registration)
    if existing is not None:
        if existing.status not in AMENDMENT_EDITABLE:
            raise FormErrors({"_": _("Your change is being reviewed: withdraw it to make "
                                     "another")})
        return Amending(registration, existing)
    amendment = Amendment(
        registration_id=registration.id,  # type: ignore[arg-type]
        pending_for=registration.id,
        answers={k: v for k, v in registration.answers.items() if k not in _WORKING_ONLY},
        subject_kind=registration.subject_kind, roles=registration.roles,
        region=registration.region, identity_index=registration.identity_index,
    )
    try:
        with session.begin_nested():
            session.add(amendment)
            session.flush()
    except IntegrityError:
        # Another request opened one at the same moment: that one is the change.
        raise FormErrors({"_": _("You are already changing your registration")}) from None
    changes.record(session, action="amendment_started", actor=Actor.of(user),
                   registration=registration, data={"amendment": amendment.id})
    session.flush()
    return Amending(registration, amendment)


@dataclass
class Row:
    """One answer before and after the change."""

    label: str
    before: Any
    after: Any

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass
class StepComparison:
    step: str
    rows: list[Row]

    @property
    def changed(self) -> bool:
        return any(row.changed for row in self.rows)


def _keyed(rows: list[tuple[str, Any]]) -> dict[tuple[str, int], Any]:
    """Rows by label and occurrence (a label comes once per channel)."""
    seen: dict[str, int] = {}
    out = {}
    for label, value in rows:
        seen[label] = seen.get(label, 0) + 1
        out[(str(label), seen[label])] = value
    return out


def compare(before: dict[str, Any], after: dict[str, Any]) -> list[StepComparison]:
    """Every step's answers as approved and as changed, row by row, as the check-your-answers
    page words them (what a moderator reads, not the stored fields)."""
    out = []
    for step in steps.EDITABLE_STEPS:
        old = _keyed(steps.summarize(before, step))
        new = _keyed(steps.summarize(after, step))
        keys = list(old) + [k for k in new if k not in old]
        if keys:
            out.append(StepComparison(step, [Row(k[0], old.get(k), new.get(k)) for k in keys]))
    return out


def changed_steps(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [c.step for c in compare(before, after) if c.changed]


def submit(
    session: Session,
    settings: Settings,
    *,
    working: Amending,
    user: User,
    signature: str,
    signing: Signing,
    today: date,
    site_probe: dict[str, Any] | None = None,
) -> Amendment:
    """Sign and submit a change for review, screened as a submission is; the caller commits."""
    registration, amendment = working.registration, working.amendment
    if registration.user_id != user.id:
        raise NotFound()
    if amendment.status not in AMENDMENT_EDITABLE or registration.status not in AMENDABLE:
        raise FormErrors({"_": _("This change has already been submitted")})
    errors: dict[str, str] = {}
    if missing(settings, working, today=today):
        errors["_missing"] = _("Some answers are missing or need attention: see the list below")
    legal_name = (working.answers.get("identity") or {}).get("legal_name", "")
    typed = " ".join(signature.split())
    if not typed:
        errors["signature"] = _("Type your full legal name to sign")
    elif not same_name(typed, legal_name):
        errors["signature"] = _("Type your legal name exactly as in the identity step")
    steps_changed = changed_steps(registration.answers, working.answers)
    if not errors and not steps_changed:
        errors["_"] = _("You have not changed any answer yet: change a step, then submit")
    if errors:
        raise FormErrors(errors)
    if (working.answers["identity"].get("verification") or {}).get("status") == "refused":
        raise FormErrors({"_": _("Your identity could not be verified. Check your identity "
                                 "answers")})
    # Screening as at a submission (DESIGN §5), on the changed answers and their keys.
    keys = linking.keys_of(settings, working.answers)
    working.person_key, working.birth_key = keys.person_key, keys.birth_key
    working.org_key, working.representative_key = keys.org_key, keys.representative_key
    if working.org_key and blocked(session, org_key=working.org_key):
        raise FormErrors({"_": _("This organisation cannot be registered. Contact the "
                                 "platform for more information")})
    if blocked(session, identity_index=working.identity_index):
        raise FormErrors({"_": _("This identity cannot be registered. Contact the platform "
                                 "for more information")})
    found = screening.findings(session, settings, working, today=today, site_probe=site_probe)
    now = utcnow()
    moved = session.exec(
        update(Amendment)
        .where(col(Amendment.id) == amendment.id, col(Amendment.version) == amendment.version,
               col(Amendment.status).in_(AMENDMENT_EDITABLE))
        .values(status="submitted", submitted_at=now, updated_at=now,
                version=amendment.version + 1, signed_name=typed, site_probe=site_probe,
                flags=[{"code": code, "detail": detail} for code, detail in found]))
    if moved.rowcount != 1:
        raise FormErrors({"_": _("This change has already been submitted")})
    session.refresh(amendment)
    changes.record(session, action="amendment_submitted", actor=Actor.of(user),
                   registration=registration, data={"amendment": amendment.id,
                                                    "steps": steps_changed})
    discard_drafts(session, registration)
    session.flush()
    return amendment


def withdraw(session: Session, *, registration: Registration, user: User) -> Amendment:
    """The holder withdraws their pending change; the approved answers stay. Caller commits."""
    if registration.user_id != user.id:
        raise NotFound()
    amendment = pending(session, registration)
    now = utcnow()
    # Conditional, so that a moderator's decision made meanwhile is not undone.
    moved = None if amendment is None else session.exec(
        update(Amendment)
        .where(col(Amendment.id) == amendment.id, col(Amendment.status).in_(AMENDMENT_PENDING))
        .values(status="withdrawn", pending_for=None, decided_at=now, updated_at=now,
                version=amendment.version + 1))
    if amendment is None or moved is None or moved.rowcount != 1:
        raise FormErrors({"_": _("There is no change to withdraw")})
    session.refresh(amendment)
    discard_drafts(session, registration)
    changes.record(session, action="amendment_withdrawn", actor=Actor.of(user),
                   registration=registration, data={"amendment": amendment.id})
    session.flush()
    return amendment


def _close(amendment: Amendment, status: str, *, by: User | None = None) -> None:
    amendment.status = status
    amendment.pending_for = None
    amendment.decided_at = amendment.updated_at = utcnow()
    amendment.decided_by = by.id if by is not None else None


def claim_for_decision(session: Session, amendment: Amendment, *, version: int,
                       status: str) -> None:
    """Move a submitted change on, only if nobody did since the moderator read it."""
    values: dict[str, Any] = {"status": status, "version": version + 1, "updated_at": utcnow()}
    moved = session.exec(
        update(Amendment)
        .where(col(Amendment.id) == amendment.id, col(Amendment.version) == version,
               col(Amendment.status) == "submitted")
        .values(**values))
    if moved.rowcount != 1:
        raise AmendmentConflict()
    session.refresh(amendment)


def apply(
    session: Session,
    settings: Settings,
    *,
    amendment: Amendment,
    registration: Registration,
    moderator: User,
    version: int,
    today: date,
) -> HistoryEntry:
    """Approve a submitted change: its answers replace the approved ones (a new version, as a
    submission is kept), the registration is screened again, and the change pipeline records
    it, tells the platforms (``registration.updated``) and issues a new certificate. The
    validity dates stay. The caller commits."""
    if registration.status not in AMENDABLE or amendment.registration_id != registration.id:
        raise AmendmentConflict()
    claim_for_decision(session, amendment, version=version, status="approved")
    before = registration.answers
    answers = {k: v for k, v in amendment.answers.items() if k not in _WORKING_ONLY}
    steps_changed = changed_steps(before, answers)
    registration.answers = answers
    flag_modified(registration, "answers")
    registration.subject_kind = amendment.subject_kind
    registration.roles = amendment.roles
    registration.region = amendment.region
    registration.identity_index = amendment.identity_index
    age = steps.age_of(answers, today)
    registration.age_band = "minor_16_17" if (
        registration.subject_kind == "person" and age is not None
        and age < identity.ADULT_AGE) else "adult"
    registration.updated_at = utcnow()
    registration.version += 1
    linking.set_keys(settings, registration)
    session.add(registration)
    link_roster(session, registration, (answers.get("roles") or {}).get("roster") or [])
    _keep_version(session, registration, amendment)
    _close(amendment, "approved", by=moderator)
    session.add(amendment)
    session.flush()
    screening.screen(session, settings, registration, today=today,
                     site_probe=amendment.site_probe)
    entry = changes.change(
        session, settings, registration, action="amendment_approved",
        actor=Actor.of(moderator), data={"amendment": amendment.id, "steps": steps_changed},
        event_type="registration.updated", event_data={"steps": steps_changed},
        new_certificate=True)
    session.flush()
    return entry


def _keep_version(session: Session, registration: Registration, amendment: Amendment) -> None:
    """The approved change as a new version of the registration, beside its submissions (the
    auditor reads each), with its attestation and declaration."""
    version = 1 + session.exec(
        select(func.count()).select_from(Submission)
        .where(Submission.registration_id == registration.id)).one()
    submitted_at: datetime = amendment.submitted_at or utcnow()
    session.add(Submission(registration_id=registration.id,  # type: ignore[arg-type]
                           version=version, answers=registration.answers,
                           signed_name=amendment.signed_name, submitted_at=submitted_at))
    security = registration.answers.get("security") or {}
    if security.get("signed_at"):
        data = {k: v for k, v in security.items()
                if k not in ("ip", "user_agent") and not k.endswith("_enc")}
        session.add(attestations.Attestation(
            registration_id=registration.id,  # type: ignore[arg-type]
            version=version, data=data, sha256=attestations.canonical_sha256(data),
            signed_name=security.get("signature", ""),
            signed_at=datetime.fromisoformat(security["signed_at"]),
            ip=security.get("ip", ""), user_agent=security.get("user_agent", ""),
            site_probe=amendment.site_probe))
    declaration = registration.answers.get("content")
    if declaration:
        session.add(attestations.Declaration(
            registration_id=registration.id,  # type: ignore[arg-type]
            version=version, data=declaration,
            sha256=attestations.canonical_sha256(declaration)))


def ask_for_changes(session: Session, amendment: Amendment, *, version: int,
                    asked: dict[str, str]) -> None:
    """The moderator's requests, per step, kept in the working copy as in a registration's."""
    claim_for_decision(session, amendment, version=version, status="changes_requested")
    amendment.answers = {**amendment.answers, REQUESTED: asked}
    flag_modified(amendment, "answers")
    session.add(amendment)


def refuse(session: Session, amendment: Amendment, *, version: int, moderator: User,
           message: str) -> None:
    """The change is refused: the approved answers stay as they are."""
    claim_for_decision(session, amendment, version=version, status="refused")
    _close(amendment, "refused", by=moderator)
    amendment.message = message
    session.add(amendment)


def withdraw_on_end(session: Session, registration: Registration) -> None:
    """A registration that ends (deregistered) leaves no change pending."""
    amendment = pending(session, registration)
    if amendment is not None:
        _close(amendment, "withdrawn")
        session.add(amendment)


def queue(session: Session) -> list[tuple[Amendment, Registration]]:
    """Submitted changes waiting for a moderator, oldest first."""
    rows = session.exec(
        select(Amendment, Registration)
        .where(Amendment.status == "submitted", Registration.id == Amendment.registration_id)
        .order_by(col(Amendment.submitted_at), col(Amendment.id)))
    return [(a, r) for a, r in rows]
