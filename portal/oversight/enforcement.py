"""Enforcement (REGULATION.md R9, R10): applying a sanction to an approved registration, the
one appeal each sanction allows and its decision by another moderator, the person blocklist's
entries and their lifts by two people, and the ends of sanctions (a correction complied with, a
blacklisting that reached its date), each announced to every platform.

The ladder: warning, order correction (with a deadline), restrict functions, suspend (until a
date), close (revokes), blacklist (revokes and blocks the identity and the name). Each states
facts, reason, legal basis, duration and the appeal channel."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from portal.accounts import Role, User
from portal.base import crypto, i18n, identity, jurisdictions
from portal.base.db import utcnow
from portal.base.errors import FormErrors, NotFound
from portal.base.forms import staff_text
from portal.base.i18n import gettext as _
from portal.base.settings import Settings
from portal.ledger.events import SYSTEM, Actor
from portal.ledger.tlog import rfc3339
from portal.lifecycle import changes
from portal.oversight import cases
from portal.platforms import notify
from portal.registration import linking, screening
from portal.registration.blocklist import BlocklistEntry
from portal.registration.models import NotAllowed, Registration, StaleState
from portal.registration.sanctions import FUNCTIONS, KINDS, Appeal, Sanction

# What each sanction does to the registration's state.
MOVES = {"suspend": "suspended", "close": "revoked", "blacklist": "revoked"}


STATUS_EVENTS = {"suspended": "registration.suspended", "revoked": "registration.revoked",
                 "approved": "registration.reinstated"}


SANCTIONABLE = frozenset({"approved", "suspended"})


def appeal_channel(settings: Settings) -> str:
    """How to appeal, as each sanction states it (in the language of the moment it is issued)."""
    return _("Appeal on your status page within %(days)d days; a different moderator decides "
             "the appeal.", days=settings.appeal_days)


def appeal_closes_on(sanction: Sanction, settings: Settings) -> date:
    """The last day (in China) on which the sanction may be appealed against."""
    return identity.china_date(sanction.created_at) + timedelta(days=settings.appeal_days)


def ever_approved(registration: Registration) -> bool:
    """Whether the registration has been approved at some time, whatever its state now."""
    return registration.valid_from is not None


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
    functions: list[str] | None = None,
    version: int | None = None,
    settings: Settings,
) -> tuple[Sanction, list[notify.Message]]:
    """Sanction an approved (or suspended) registration; the caller commits.

    A blacklisting lasts until ``until`` (a day after today) or for good, and may also fall on a
    registration that was approved before and is no longer (a revoked streamer still live): it
    then blocks the person without moving the registration again. A restriction names the
    ``functions`` (codes of ``FUNCTIONS``) it restricts."""
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
    if kind == "blacklist" and until is not None \
            and identity.china_date(until) <= identity.china_date(utcnow()):
        errors["until"] = _("The date must be in the future")
    chosen = list(dict.fromkeys(functions or []))
    if kind == "restrict_functions" and (not chosen or any(f not in FUNCTIONS for f in chosen)):
        errors["functions"] = _("Choose the functions to restrict")
    moves = registration.status in SANCTIONABLE
    if not moves and not (kind == "blacklist" and ever_approved(registration)):
        errors["_"] = _("Only an approved or suspended registration can be sanctioned")
    if kind == "suspend" and registration.status == "suspended":
        errors["kind"] = _("This registration is already suspended")
    if errors:
        raise FormErrors(errors)
    actor_ref = Actor.of(actor)
    sanction = Sanction(
        registration_id=registration.id,  # type: ignore[arg-type]
        kind=kind, facts=facts.strip(), reason=reason.strip(), legal_basis=legal_basis.strip(),
        until=until if kind in ("suspend", "order_correction", "blacklist") else None,
        functions=chosen if kind == "restrict_functions" else [],
        appeal_channel=appeal_channel(settings), issued_by=actor.id if actor else None,
        issued_role=str(actor.role) if actor else "system",
    )
    session.add(sanction)
    session.flush()
    # The violation history raises the risk level (unless a moderator has set it by hand), and
    # the certificate the pipeline issues states it.
    if kind in MOVES and moves:
        try:
            changes.change(session, settings, registration, action=f"sanction_{kind}",
                           actor=actor_ref, to_status=MOVES[kind], expected_version=version,
                           reason=sanction.reason, data={"sanction": sanction.id},
                           event_type=STATUS_EVENTS[MOVES[kind]], logged=True)
        except (StaleState, NotAllowed):
            raise FormErrors({"_": _("This registration changed while you were looking at it. "
                                     "Check it again.")}) from None
    event_data: dict[str, object] = {
        "sanction_id": sanction.id, "kind": kind,
        "until": sanction.until.isoformat() if sanction.until else None}
    if kind == "restrict_functions":
        event_data["restricted_functions"] = list(sanction.functions)
    changes.change(
        session, settings, registration, action="sanction_applied", actor=actor_ref,
        reason=sanction.reason, data={"sanction": sanction.id, "kind": kind},
        event_type="sanction.applied", event_data=event_data,
    )
    if kind == "blacklist":
        if actor is None:
            raise ValueError("only a person may blacklist")
        entry = add_to_blocklist(session, settings, registration=registration, actor=actor,
                                 reason_code="sanction", reason=sanction.reason)
        entry.until = sanction.until
        session.add(entry)
        session.flush()
    with notify.in_language_of(session.get(User, registration.user_id)):
        label = str(KINDS[kind])
        mail = _tell(
            session, registration,
            _("%(sanction)s: your registration %(number)s", sanction=label,
              number=registration.number),
            _("Sanction: %(sanction)s\nFacts: %(facts)s\nReason: %(reason)s\nLegal basis: "
              "%(basis)s\n%(until)s\n%(appeal)s", sanction=label, facts=sanction.facts,
              reason=sanction.reason, basis=sanction.legal_basis,
              until=_("Until: %(date)s", date=i18n.format_day(sanction.until))
              if sanction.until else "",
              appeal=sanction.appeal_channel)
            + ("\n" + _("Restricted functions: %(functions)s",
                         functions=", ".join(str(FUNCTIONS[f]) for f in sanction.functions))
               if sanction.functions else ""),
        )
    return sanction, [mail]


def add_to_blocklist(
    session: Session, settings: Settings, *, registration: Registration | None, actor: User,
    reason_code: str, reason: str, identity_index: str | None = None, legal_name: str = "",
    id_type: str | None = None, keys: linking.Keys | None = None,
) -> BlocklistEntry:
    """Add a person (from a registration, or by hand) to the blocklist; caller commits.

    A registration's entry blocks its document, its person under other documents (by the
    person and birth keys) and, for an organisation, its USCC under any representative. Then
    the registrations it reaches are brought to the moderators (``_bring_linked``)."""
    if registration is not None:
        identity = registration.answers.get("identity") or {}
        identity_index = registration.identity_index
        legal_name = identity.get("legal_name", "")
        id_type = identity.get("id_type")
        keys = linking.Keys(person_key=registration.person_key,
                            birth_key=registration.birth_key, org_key=registration.org_key)
    keys = keys or linking.Keys()
    entry = BlocklistEntry(
        identity_index=identity_index, id_type=id_type, legal_name=legal_name,
        name_key=crypto.name_key(legal_name), reason_code=reason_code, reason=reason,
        person_key=keys.person_key, birth_key=keys.birth_key, org_key=keys.org_key,
        registration_id=registration.id if registration else None,
        created_by=actor.id,
    )
    session.add(entry)
    session.flush()
    changes.record(session, action="blocklist_added", actor=Actor.of(actor),
                   registration=registration, data={"entry": entry.id},
                   event_type="blocklist.person_added", event_data={"entry_id": entry.id},
                   log_entry=_blocklist_entry("blocklist.person_added", entry))
    _bring_linked(session, settings, entry, actor)
    return entry


def _bring_linked(session: Session, settings: Settings, entry: BlocklistEntry, actor: User
                  ) -> None:
    """What a new blocklist entry does to the other registrations it reaches (DESIGN §5).

    The registrations of the same document or organisation are no longer valid (the one
    validity rule): an approved one is suspended pending review, through the pipeline, so
    platforms hear of it by its number and its certificate says so, and a case opens for the
    moderators. A registration that may be the same person under another document, or an
    organisation the person represents, gets a case (approved or suspended) or a hold
    (waiting for a decision): a name and a birthday are a reason to look, not a proof."""
    exact = {r.id: r for r in linking.of_entry(session, entry) if r.id != entry.registration_id}
    close = {r.id: (r, why) for r, why in linking.close_to_entry(session, settings, entry)
             if r.id != entry.registration_id and r.id not in exact}
    actor_ref = Actor.of(actor)
    for registration in [*exact.values(), *(r for r, _why in close.values())]:
        if registration.status == "submitted" and registration.id in close:
            if close[registration.id][1] == "person":
                screening.add_hold(session, registration, "blocklist_person", {"entries": [{
                    "entry": entry.id,
                    "same_name": bool(entry.person_key
                                      and entry.person_key == registration.person_key)}]})
            else:
                screening.add_hold(session, registration, "blocklist_representative",
                                   {"entries": [entry.id]})
            continue
        if registration.status not in SANCTIONABLE:
            continue
        if registration.id in exact and registration.status == "approved":
            changes.change(session, settings, registration, action="suspended_linked",
                           actor=actor_ref, to_status="suspended",
                           reason=_("Its responsible person or organisation was blacklisted "
                                    "(blocklist entry %(entry)s): suspended pending a "
                                    "moderator's review", entry=entry.id),
                           data={"entry": entry.id}, event_type="registration.suspended",
                           logged=True)
        cases.open_case(session, registration=registration, category="other",
                        description=_("Blocklist entry %(entry)s may name this registration's "
                                      "person (under another document), its organisation or "
                                      "its legal representative. Compare the records and "
                                      "decide.", entry=entry.id),
                        source="linked_blacklisting", actor=actor)


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


def file_appeal(session: Session, settings: Settings, *, sanction_id: int, user: User,
                text: str, now: datetime | None = None) -> Appeal:
    """The sanctioned person appeals, once per sanction and within the appeal window; the caller
    commits."""
    sanction = session.get(Sanction, sanction_id)
    registration = session.get(Registration, sanction.registration_id) if sanction else None
    if sanction is None or registration is None or registration.user_id != user.id:
        raise NotFound()
    closes = appeal_closes_on(sanction, settings)
    if identity.china_date(now or utcnow()) > closes:
        raise FormErrors({"appeal_text": _("The appeal window closed on %(date)s",
                                           date=closes.isoformat())})
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
        changes.record(session, action="sanction_overturned", actor=actor,
                       registration=registration, reason=reason,
                       data={"sanction": sanction.id, "kind": sanction.kind},
                       event_type="sanction.overturned",
                       event_data={"sanction_id": sanction.id, "kind": sanction.kind})
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
    with notify.in_language_of(session.get(User, registration.user_id)):
        verdict = _("upheld") if outcome == "upheld" else _("overturned")
        mail = _tell(session, registration,
                     _("Your appeal has been decided: %(outcome)s", outcome=verdict),
                     _("Your appeal against the %(sanction)s was %(outcome)s.\n%(reason)s",
                       sanction=str(KINDS[sanction.kind]).lower(), outcome=verdict, reason=reason))
    session.flush()
    return appeal, [mail]


def end_sanction(
    session: Session, settings: Settings, *, sanction: Sanction, registration: Registration,
    actor: Actor = SYSTEM, reason: str = "", now: datetime | None = None,
    follows: bool = False,
) -> None:
    """A sanction in force ends: its state, its history row and the ``sanction.ended`` event
    every platform receives; the caller commits.

    ``follows``: a status change follows that refreshes the risk level and the certificate
    (a suspension's end reinstates), so only the record is written here."""
    sanction.state = "ended"
    sanction.ended_at = now or utcnow()
    session.add(sanction)
    session.flush()
    data = {"sanction": sanction.id, "kind": sanction.kind}
    event_data = {"sanction_id": sanction.id, "kind": sanction.kind}
    if follows:
        changes.record(session, action="sanction_ended", actor=actor, registration=registration,
                       reason=reason, data=data, event_type="sanction.ended",
                       event_data=event_data)
    else:
        # What is in force is part of the certificate: the pipeline re-issues it if it changed.
        changes.change(session, settings, registration, action="sanction_ended", actor=actor,
                       reason=reason, data=data, event_type="sanction.ended",
                       event_data=event_data)


def end_correction(
    session: Session, settings: Settings, *, sanction_id: int, registration: Registration,
    moderator: User, note: str,
) -> Sanction:
    """A moderator ends an order to correct as complied with; the caller commits."""
    sanction = session.get(Sanction, sanction_id)
    if sanction is None or sanction.registration_id != registration.id \
            or sanction.kind != "order_correction":
        raise NotFound()
    if sanction.state != "active":
        raise FormErrors({"_": _("This order is no longer in force")})
    note = staff_text(note, "complied_note", required=_("Say how the order was complied with"))
    end_sanction(session, settings, sanction=sanction, registration=registration,
                 actor=Actor.of(moderator), reason=note)
    return sanction


def end_blacklisting(
    session: Session, settings: Settings, *, sanction: Sanction, registration: Registration,
    now: datetime,
) -> list[BlocklistEntry]:
    """A blacklisting reached its end date: its blocklist entries are lifted by the system,
    logged and announced like a lift by hand, and the sanction ends; the caller commits."""
    lifted = []
    for entry in session.exec(select(BlocklistEntry).where(
            BlocklistEntry.registration_id == registration.id,
            col(BlocklistEntry.lifted_at).is_(None),
            col(BlocklistEntry.until).is_not(None), col(BlocklistEntry.until) <= now)):
        entry.lifted_by = None
        entry.lifted_at = now
        session.add(entry)
        changes.record(session, action="blocklist_removed", actor=SYSTEM,
                       registration=registration, reason="blacklisting ended",
                       data={"entry": entry.id}, event_type="blocklist.person_removed",
                       event_data={"entry_id": entry.id},
                       log_entry=_blocklist_entry("blocklist.person_removed", entry))
        lifted.append(entry)
    end_sanction(session, settings, sanction=sanction, registration=registration,
                 reason="blacklisting ended", now=now)
    return lifted


def blocklist_page(session: Session, *, q: str = "", include_lifted: bool = False
                   ) -> list[BlocklistEntry]:
    query = select(BlocklistEntry)
    if not include_lifted:
        query = query.where(col(BlocklistEntry.lifted_at).is_(None))
    if q:
        query = query.where(col(BlocklistEntry.legal_name).contains(q.strip()[:100]))
    return list(session.exec(query.order_by(col(BlocklistEntry.id).desc()).limit(200)))
