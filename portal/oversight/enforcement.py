"""Enforcement (REGULATION.md R9, R10): applying a sanction to an approved registration, the
one appeal each sanction allows and its decision by another moderator, the person blocklist's
entries and their lifts by two people, and the scheduled ends of suspensions and restrictions.

The ladder: warning, order correction (with a deadline), restrict functions, suspend (until a
date), close (revokes), blacklist (revokes and blocks the identity and the name). Each states
facts, reason, legal basis, duration and the appeal channel."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from portal.accounts import Role, User
from portal.base import crypto, identity, jurisdictions
from portal.base.db import utcnow
from portal.base.errors import FormErrors, NotFound
from portal.base.forms import staff_text
from portal.base.i18n import gettext as _
from portal.base.i18n import lazy_gettext
from portal.base.settings import Settings
from portal.ledger.events import Actor
from portal.ledger.tlog import rfc3339
from portal.lifecycle import changes
from portal.platforms import notify
from portal.registration.blocklist import BlocklistEntry
from portal.registration.models import NotAllowed, Registration, StaleState
from portal.registration.sanctions import KINDS, Appeal, Sanction

# What each sanction does to the registration's state.
MOVES = {"suspend": "suspended", "close": "revoked", "blacklist": "revoked"}


STATUS_EVENTS = {"suspended": "registration.suspended", "revoked": "registration.revoked",
                 "approved": "registration.reinstated"}


SANCTIONABLE = frozenset({"approved", "suspended"})


APPEAL_CHANNEL = lazy_gettext(
    "Appeal on your status page within 15 days; a different moderator decides the appeal."
)


def _tell(session: Session, registration: Registration, subject: str, body: str
          ) -> notify.Message:
    applicant = session.get(User, registration.user_id)
    assert applicant is not None
    return notify.notify_user(session, user_id=registration.user_id, email=applicant.email,
                              registration_id=registration.id, subject=subject, body=body)


def apply_sanction(
    session: Session,
    *,
    registration: Registration,
    actor: User | None,
    kind: str,
    facts: str,
    reason: str,
    legal_basis: str,
    until: datetime | None = None,
    version: int | None = None,
    settings: Settings,
) -> tuple[Sanction, list[notify.Message]]:
    """Sanction an approved (or suspended) registration; the caller commits."""
    errors: dict[str, str] = {}
    if kind not in KINDS:
        errors["kind"] = _("Choose the sanction")
    for field, value, message in (
        ("facts", facts, _("State the facts")),
        ("reason", reason, _("State the reason")),
        ("legal_basis", legal_basis, _("State the legal basis")),
    ):
        try:
            staff_text(value, field, required=message)
        except FormErrors as exc:
            errors.update(exc.errors)
    if kind in ("suspend", "order_correction"):
        if until is None:
            errors["until"] = _("Enter the date it lasts until") if kind == "suspend" else _(
                "Enter the deadline for the correction")
        elif until <= utcnow():
            errors["until"] = _("The date must be in the future")
    if registration.status not in SANCTIONABLE:
        errors["_"] = _("Only an approved or suspended registration can be sanctioned")
    if kind == "suspend" and registration.status == "suspended":
        errors["kind"] = _("This registration is already suspended")
    if errors:
        raise FormErrors(errors)
    actor_ref = Actor.of(actor)
    sanction = Sanction(
        registration_id=registration.id,  # type: ignore[arg-type]
        kind=kind, facts=facts.strip(), reason=reason.strip(), legal_basis=legal_basis.strip(),
        until=until if kind in ("suspend", "order_correction") else None,
        appeal_channel=str(APPEAL_CHANNEL), issued_by=actor.id if actor else None,
        issued_role=str(actor.role) if actor else "system",
    )
    session.add(sanction)
    session.flush()
    # The violation history raises the risk level (unless a moderator has set it by hand), and
    # the certificate the pipeline issues states it.
    if kind in MOVES:
        try:
            changes.change(session, settings, registration, action=f"sanction_{kind}",
                           actor=actor_ref, to_status=MOVES[kind], expected_version=version,
                           reason=sanction.reason, data={"sanction": sanction.id},
                           event_type=STATUS_EVENTS[MOVES[kind]], logged=True)
        except (StaleState, NotAllowed):
            raise FormErrors({"_": _("This registration changed while you were looking at it. "
                                     "Check it again.")}) from None
    changes.change(
        session, settings, registration, action="sanction_applied", actor=actor_ref,
        reason=sanction.reason, data={"sanction": sanction.id, "kind": kind},
        event_type="sanction.applied",
        event_data={"sanction_id": sanction.id, "kind": kind,
                    "until": sanction.until.isoformat() if sanction.until else None},
    )
    if kind == "blacklist":
        if actor is None:
            raise ValueError("only a person may blacklist")
        add_to_blocklist(session, registration=registration, actor=actor, reason_code="sanction",
                         reason=sanction.reason)
    label = str(KINDS[kind])
    mail = _tell(
        session, registration,
        _("%(sanction)s: your registration %(number)s", sanction=label,
          number=registration.number),
        _("Sanction: %(sanction)s\nFacts: %(facts)s\nReason: %(reason)s\nLegal basis: %(basis)s"
          "\n%(until)s\n%(appeal)s", sanction=label, facts=sanction.facts, reason=sanction.reason,
          basis=sanction.legal_basis,
          until=_("Until: %(date)s", date=identity.china_date(sanction.until).isoformat())
          if sanction.until else "",
          appeal=sanction.appeal_channel),
    )
    return sanction, [mail]


def add_to_blocklist(
    session: Session, *, registration: Registration | None, actor: User, reason_code: str,
    reason: str, identity_index: str | None = None, legal_name: str = "",
    id_type: str | None = None,
) -> BlocklistEntry:
    """Add a person (from a registration, or by hand) to the blocklist; caller commits."""
    if registration is not None:
        identity = registration.answers.get("identity") or {}
        identity_index = registration.identity_index
        legal_name = identity.get("legal_name", "")
        id_type = identity.get("id_type")
    entry = BlocklistEntry(
        identity_index=identity_index, id_type=id_type, legal_name=legal_name,
        name_key=crypto.name_key(legal_name), reason_code=reason_code, reason=reason,
        registration_id=registration.id if registration else None,
        created_by=actor.id,
    )
    session.add(entry)
    session.flush()
    changes.record(session, action="blocklist_added", actor=Actor.of(actor),
                   registration=registration, data={"entry": entry.id},
                   event_type="blocklist.person_added", event_data={"entry_id": entry.id},
                   log_entry=_blocklist_entry("blocklist.person_added", entry))
    return entry


def _blocklist_entry(event_type: str, entry: BlocklistEntry) -> dict[str, object]:
    """Blocklist changes are logged by entry id only: no name, no identity."""
    return {"type": event_type, "at": rfc3339(utcnow()), "entry_id": entry.id}


def _entry_to_lift(session: Session, entry_id: int, actor: User) -> BlocklistEntry:
    """An entry still in force that the actor may act on (NotFound otherwise): an auditor only
    within the jurisdiction, by the region of the registration that was blacklisted; an entry
    added by hand has no region, so only national auditors see it."""
    entry = session.get(BlocklistEntry, entry_id)
    if entry is None or entry.lifted_at is not None:
        raise NotFound()
    registration = session.get(Registration, entry.registration_id) \
        if entry.registration_id is not None else None
    if not jurisdictions.within(actor, registration.region if registration else None):
        raise NotFound()
    return entry


def request_lift(session: Session, *, entry_id: int, actor: User) -> BlocklistEntry:
    """First of the two staff members needed to lift a blocklist entry; the caller commits."""
    entry = _entry_to_lift(session, entry_id, actor)
    entry.lift_requested_by = actor.id
    session.add(entry)
    session.flush()
    return entry


def confirm_lift(session: Session, *, entry_id: int, actor: User) -> BlocklistEntry:
    """Second staff member confirms the lift (four eyes), a moderator's among them; the caller
    commits."""
    entry = _entry_to_lift(session, entry_id, actor)
    if entry.lift_requested_by is None:
        raise FormErrors({"_": _("Nobody has asked to lift this entry yet")})
    if entry.lift_requested_by == actor.id:
        raise FormErrors({"_": _("A second staff member must confirm the lift: you asked for "
                                 "it yourself")})
    asker = session.get(User, entry.lift_requested_by)
    if Role.auditor == actor.role and (asker is None or asker.role == Role.auditor):
        # The blocklist is the moderators' (DESIGN §3): auditors may ask, not lift on their own.
        raise FormErrors({"_": _("A moderator must take part in lifting an entry: ask a "
                                 "moderator to confirm it")})
    entry.lifted_by = actor.id
    entry.lifted_at = utcnow()
    session.add(entry)
    changes.record(session, action="blocklist_removed", actor=Actor.of(actor),
                   registration_id=entry.registration_id, data={"entry": entry.id},
                   event_type="blocklist.person_removed", event_data={"entry_id": entry.id},
                   log_entry=_blocklist_entry("blocklist.person_removed", entry))
    session.flush()
    return entry


def file_appeal(session: Session, *, sanction_id: int, user: User, text: str
                ) -> Appeal:
    """The sanctioned person appeals, once per sanction; the caller commits."""
    sanction = session.get(Sanction, sanction_id)
    registration = session.get(Registration, sanction.registration_id) if sanction else None
    if sanction is None or registration is None or registration.user_id != user.id:
        raise NotFound()
    text = staff_text(text, "appeal_text",
                      required=_("Explain why the sanction should be lifted"))
    existing = session.exec(select(Appeal).where(Appeal.sanction_id == sanction.id)).first()
    if existing is not None:
        raise FormErrors({"appeal_text": _("You have already appealed against this sanction")})
    appeal = Appeal(sanction_id=sanction.id, registration_id=registration.id,  # type: ignore[arg-type]
                    text=text)
    session.add(appeal)
    changes.record(session, action="appeal_filed", actor=Actor.of(user),
                   registration_id=registration.id, data={"sanction": sanction.id})
    session.flush()
    return appeal


def decide_appeal(
    session: Session, settings: Settings, *, appeal_id: int, moderator: User, outcome: str,
    reason: str,
) -> tuple[Appeal, list[notify.Message]]:
    """A moderator other than the one who sanctioned upholds or overturns; the caller commits."""
    appeal = session.get(Appeal, appeal_id)
    if appeal is None:
        raise NotFound()
    sanction = session.get(Sanction, appeal.sanction_id)
    registration = session.get(Registration, appeal.registration_id)
    assert sanction is not None and registration is not None
    if appeal.outcome != "pending":
        raise FormErrors({"_": _("This appeal has already been decided")})
    if sanction.issued_by == moderator.id:
        raise FormErrors({"_": _("A different moderator must decide an appeal against your own "
                                 "sanction")})
    if outcome not in ("upheld", "overturned"):
        raise FormErrors({"outcome": _("Choose whether to uphold or overturn the sanction")})
    reason = staff_text(reason, "decision_reason",
                        required=_("Give the reason for the decision"))
    appeal.outcome = outcome
    appeal.decided_by = moderator.id
    appeal.decided_at = utcnow()
    appeal.decision_reason = reason
    session.add(appeal)
    actor = Actor.of(moderator)
    if outcome == "overturned":
        sanction.state = "overturned"
        sanction.ended_at = utcnow()
        session.add(sanction)
        session.flush()
        if sanction.kind == "suspend" and registration.status == "suspended":
            changes.change(session, settings, registration, action="reinstated", actor=actor,
                           to_status="approved", reason=reason,
                           event_type="registration.reinstated", logged=True)
        if sanction.kind == "blacklist":
            for entry in session.exec(select(BlocklistEntry).where(
                    BlocklistEntry.registration_id == registration.id,
                    col(BlocklistEntry.lifted_at).is_(None))):
                # The appeal's decider is the second pair of eyes on the original blacklisting.
                entry.lifted_by = moderator.id
                entry.lifted_at = utcnow()
                session.add(entry)
                changes.record(session, action="blocklist_removed", actor=actor,
                               registration=registration, data={"entry": entry.id},
                               event_type="blocklist.person_removed",
                               event_data={"entry_id": entry.id},
                               log_entry=_blocklist_entry("blocklist.person_removed", entry))
    # An overturned sanction lowers the risk level: the pipeline re-issues the certificate.
    changes.change(session, settings, registration, action="appeal_decided", actor=actor,
                   reason=reason, data={"sanction": sanction.id, "outcome": outcome},
                   event_type="appeal.decided",
                   event_data={"sanction_id": sanction.id, "outcome": outcome})
    verdict = _("upheld") if outcome == "upheld" else _("overturned")
    mail = _tell(session, registration,
                 _("Your appeal has been decided: %(outcome)s", outcome=verdict),
                 _("Your appeal against the %(sanction)s was %(outcome)s.\n%(reason)s",
                   sanction=str(KINDS[sanction.kind]).lower(), outcome=verdict, reason=reason))
    session.flush()
    return appeal, [mail]


def blocklist_page(session: Session, *, q: str = "", include_lifted: bool = False
                   ) -> list[BlocklistEntry]:
    query = select(BlocklistEntry)
    if not include_lifted:
        query = query.where(col(BlocklistEntry.lifted_at).is_(None))
    if q:
        query = query.where(col(BlocklistEntry.legal_name).contains(q.strip()[:100]))
    return list(session.exec(query.order_by(col(BlocklistEntry.id).desc()).limit(200)))
