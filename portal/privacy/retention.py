"""Retention (DESIGN §8, REGULATION.md R11 and R17): `portal retention purge`.

Records are kept ``PORTAL_RETENTION_YEARS`` (3) after a registration ends: deregistered,
revoked, expired or rejected. A registration ends when it moves into one of those states
(``updated_at``: nothing changes an ended registration afterwards, and an expired one that is
being renewed is changed, which starts its three years again). After that the personal data is
erased, in place, so that the record of what happened stays:

- the answers and every submitted version lose the personal values (names, dates of birth, ID
  and phone ciphertexts and their masks, contacts, staff lists, the typed signature, the network
  address and browser of the signing, the identity provider's reference) and keep the rest (the
  kind of subject, roles, channels as stated publicly, the organisation, answers to the security
  and content questions, the document ids);
- documents lose their bytes (and their file name); kind, type, size and SHA-256 stay;
- the signed security attestation loses the same personal values; its stored SHA-256 stays, and
  the integrity check reports it "erased by retention" rather than altered
  (``portal.oversight.auditing``);
  the content declaration holds nothing personal and stays whole, so it still verifies;
- the registration's HMAC identity index is cleared, so the purged record no longer finds the
  person; a blacklisting lives in its own blocklist entry, which is kept;
- its changes after approval (``amendments``) lose the same personal values in their working
  copies, their typed signature and their identity index; one still pending (a registration
  that expired with a change open never gets to use it: retention ends its renewal) is closed
  as withdrawn. What the moderator asked or answered stays, as their decisions do. Drafts of
  the wizard's steps (encrypted, whatever was typed) of the registration or its change go;
- ``answers["_purged_at"]`` marks it, and a ``retention_purged`` history row records it.

Uploads that were replaced (a new file for the same field) and are in no submitted version,
not in the answers and not among the files kept pending, were never part of a record anyone
decided on: the same command erases their bytes and file name at once, on every registration,
ended or not (``superseded``); kind, type, size and SHA-256 stay, as above. The uploads of a
change after approval are stored under its registration: those its working copy refers to
while it is pending (being changed, or waiting for a moderator) are in use, and those of a
refused change are what a moderator decided on; both stay until the registration's own
retention. A change that was approved became a submitted version; one withdrawn was never
decided on, so its files go as any replaced upload does.

Certificates (which show masked values only) and transparency-log entries (which hold no
personal data) are never touched: the log keeps its size and root.

Batches of registrations are each one short write transaction, so the servers keep running.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func
from sqlalchemy.engine import Engine
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import Session, col, select

from portal.base import identity
from portal.base.db import session_scope, utcnow
from portal.base.settings import Settings
from portal.ledger.events import SYSTEM
from portal.lifecycle import changes
from portal.lifecycle.wizard import StepDraft
from portal.registration.attestations import Attestation
from portal.registration.models import (
    AMENDMENT_PENDING,
    PENDING,
    PURGED,
    Amendment,
    Document,
    Registration,
    Submission,
    purged_at,
)

ENDED_STATES = ("deregistered", "revoked", "expired", "rejected")
BATCH_SIZE = 50

# Per step, the answers that are personal data (ciphertexts and masks included).
ERASED_ANSWERS: dict[str, tuple[str, ...]] = {
    "identity": ("legal_name", "date_of_birth", "residence_city", "id_number_enc",
                 "id_number_masked", "phone_enc", "phone_masked"),
    "guardian": ("guardian_name", "guardian_date_of_birth", "guardian_id_number_enc",
                 "guardian_id_number_masked", "consent_name"),
    "roles": ("legal_representative",),
    "security": ("signature", "staff_list", "staff_list_enc", "security_contact",
                 "security_contact_enc", "incident_details", "ip", "user_agent"),
    "commitments": ("complaint_contact",),
}
# The identity provider's answer keeps its status, provider and time.
ERASED_VERIFICATION = ("reference", "reason")

Progress = Callable[[str], None]


def cutoff(now: datetime, years: int) -> datetime:
    """The moment ``years`` calendar years before ``now`` (29 February: the 28th)."""
    return identity.years_before(now, years)


def erase_answers(answers: dict[str, Any]) -> dict[str, Any]:
    """The answers without their personal values (a new dict; the input is left as it was)."""
    out = dict(answers)
    for step, names in ERASED_ANSWERS.items():
        data = out.get(step)
        if not isinstance(data, dict):
            continue
        data = {k: v for k, v in data.items() if k not in names}
        verification = data.get("verification")
        if isinstance(verification, dict):
            data["verification"] = {k: v for k, v in verification.items()
                                    if k not in ERASED_VERIFICATION}
        out[step] = data
    return out


def _erased_filename(document: Document) -> str:
    ext = {"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf"}
    return f"{document.kind}{ext.get(document.content_type, '')}"[:120]


@dataclass
class PurgeReport:
    dry_run: bool
    registrations: list[str] = field(default_factory=list)
    documents: int = 0
    submissions: int = 0
    attestations: int = 0
    amendments: int = 0
    superseded: int = 0

    def __str__(self) -> str:
        verb = "would be purged" if self.dry_run else "purged"
        return (f"{len(self.registrations)} registrations {verb} ({self.documents} documents, "
                f"{self.submissions} submitted versions, {self.attestations} attestations, "
                f"{self.amendments} changes after approval); "
                f"{self.superseded} superseded uploads {'would be ' if self.dry_run else ''}"
                "erased")


def is_due(registration: Registration, *, now: datetime, years: int) -> bool:
    return (registration.status in ENDED_STATES and purged_at(registration) is None
            and registration.updated_at < cutoff(now, years))


def purge_registration(session: Session, registration: Registration, *, now: datetime,
                       report: PurgeReport, dry_run: bool = False) -> None:
    """Erase one registration's personal data and record it; the caller commits."""
    rid = registration.id
    documents = list(session.exec(select(Document).where(Document.registration_id == rid)))
    submissions = list(session.exec(select(Submission).where(Submission.registration_id == rid)))
    attestations = list(session.exec(select(Attestation)
                                     .where(Attestation.registration_id == rid)))
    changes_made = list(session.exec(select(Amendment).where(Amendment.registration_id == rid)))
    report.registrations.append(registration.number or f"#{rid}")
    report.documents += sum(1 for d in documents if d.ciphertext)
    report.submissions += len(submissions)
    report.attestations += len(attestations)
    report.amendments += len(changes_made)
    if dry_run:
        return
    answers = erase_answers(registration.answers)
    answers.pop(PENDING, None)
    answers[PURGED] = now.isoformat()
    registration.answers = answers
    flag_modified(registration, "answers")
    registration.identity_index = None
    registration.version += 1
    session.add(registration)
    for submission in submissions:
        submission.answers = erase_answers(submission.answers)
        flag_modified(submission, "answers")
        submission.signed_name = ""
        submission.ip = ""
        submission.user_agent = ""
        session.add(submission)
    for attestation in attestations:
        # The stored sha256 stays: it is what the certificates and the log refer to.
        attestation.data = {k: v for k, v in attestation.data.items()
                            if k not in ERASED_ANSWERS["security"]}
        flag_modified(attestation, "data")
        attestation.signed_name = ""
        attestation.ip = ""
        attestation.user_agent = ""
        session.add(attestation)
    for amendment in changes_made:
        _purge_amendment(amendment, now=now)
        session.add(amendment)
    # A draft may be held against the registration or its change: both have its id.
    session.exec(delete(StepDraft).where(col(StepDraft.registration_id) == rid))
    for document in documents:
        if document.ciphertext:
            document.ciphertext = b""
            document.filename = _erased_filename(document)
            session.add(document)
    entry = changes.record(
        session, action="retention_purged", actor=SYSTEM, registration=registration,
        data={"documents": len(documents), "submissions": len(submissions),
              "amendments": len(changes_made)},
    )
    entry.at = now
    session.add(entry)


def _purge_amendment(amendment: Amendment, *, now: datetime) -> None:
    """Erase a change's personal values as its registration's are; close it if pending."""
    answers = erase_answers(amendment.answers)
    answers.pop(PENDING, None)
    answers[PURGED] = now.isoformat()
    amendment.answers = answers
    flag_modified(amendment, "answers")
    amendment.identity_index = None
    amendment.signed_name = ""
    if amendment.status in AMENDMENT_PENDING or amendment.pending_for is not None:
        amendment.status = "withdrawn"
        amendment.pending_for = None
        amendment.decided_at = now
    amendment.updated_at = now
    amendment.version += 1


def _referenced(answers: Any, found: set[int]) -> None:
    """Collect every whole number in an answers dict (its steps, pending files): the ids of
    the documents it refers to are among them. A count that happens to equal a document's id
    keeps that document; no referenced document is ever taken for superseded."""
    if isinstance(answers, bool):
        return
    if isinstance(answers, int):
        found.add(answers)
    elif isinstance(answers, str) and answers.isascii() and answers.isdigit():
        found.add(int(answers[:18]))
    elif isinstance(answers, dict):
        for value in answers.values():
            _referenced(value, found)
    elif isinstance(answers, list):
        for item in answers:
            _referenced(item, found)


def purge_superseded(session: Session, registration: Registration, *, report: PurgeReport,
                     dry_run: bool = False) -> None:
    """Erase the uploads of one registration that nothing refers to any more: replaced by a
    newer file and in no submitted version. The caller commits."""
    kept: set[int] = set()
    _referenced(registration.answers, kept)
    for answers in session.exec(select(Submission.answers)
                                .where(Submission.registration_id == registration.id)):
        _referenced(answers, kept)
    # The working copy of a change still in use, and of one a moderator refused.
    for answers in session.exec(select(Amendment.answers).where(
            Amendment.registration_id == registration.id,
            col(Amendment.status).in_([*AMENDMENT_PENDING, "refused"]))):
        _referenced(answers, kept)
    for document in session.exec(select(Document).where(
            Document.registration_id == registration.id,
            func.length(Document.ciphertext) > 0)):
        if document.id in kept:
            continue
        report.superseded += 1
        if not dry_run:
            document.ciphertext = b""
            document.filename = _erased_filename(document)
            session.add(document)


def _purge_superseded_everywhere(engine: Engine, report: PurgeReport, *, dry_run: bool,
                                 batch_size: int) -> None:
    after = 0
    while True:
        with session_scope(engine, write=not dry_run) as session:
            ids = list(session.exec(
                select(Document.registration_id).distinct()
                .where(func.length(Document.ciphertext) > 0,
                       col(Document.registration_id) > after)
                .order_by(col(Document.registration_id)).limit(batch_size)))
            if not ids:
                break
            for rid in ids:
                query = select(Registration).where(Registration.id == rid)
                if not dry_run:
                    query = query.with_for_update()
                purge_superseded(session, session.exec(query).one(), report=report,
                                 dry_run=dry_run)
            if not dry_run:
                session.commit()
            after = ids[-1]


def purge(engine: Engine, settings: Settings, *, now: datetime | None = None,
          dry_run: bool = False, batch_size: int = BATCH_SIZE,
          progress: Progress | None = None) -> PurgeReport:
    """Erase the personal data of every registration that ended more than
    ``settings.retention_years`` ago, and every superseded upload (or, ``dry_run``, count them
    and change nothing)."""
    if batch_size < 1:
        raise ValueError("batch_size must be 1 or more")
    now = now or utcnow()
    years = settings.retention_years
    before = cutoff(now, years)
    report = PurgeReport(dry_run=dry_run)
    after = 0
    while True:
        with session_scope(engine, write=not dry_run) as session:
            ids = list(session.exec(
                select(Registration.id)
                .where(col(Registration.status).in_(ENDED_STATES),
                       col(Registration.updated_at) < before,
                       col(Registration.id) > after)
                .order_by(col(Registration.id)).limit(batch_size)))
            if not ids:
                break
            for rid in ids:
                query = select(Registration).where(Registration.id == rid)
                if not dry_run:
                    query = query.with_for_update()
                registration = session.exec(query).one()
                # Read again inside the write transaction: a renewal may have started since.
                if is_due(registration, now=now, years=years):
                    purge_registration(session, registration, now=now, report=report,
                                       dry_run=dry_run)
            if not dry_run:
                session.commit()
            after = ids[-1] or 0
        if progress is not None:
            progress(f"{len(report.registrations)} registrations "
                     f"{'to purge' if dry_run else 'purged'} so far")
    _purge_superseded_everywhere(engine, report, dry_run=dry_run, batch_size=batch_size)
    return report
