"""A registration's full record, built once for every reader (DESIGN §1, "One record").

The moderator's page, the auditor's page and the authority API read the same record: the
registration, its applicant, its answers now and as each version was submitted, its documents,
screening flags, decisions, sanctions and appeals, cases with their notes, certificates, history,
the log of reveals of personal data, who did what, and the latest probe of the shop's site.

``build_record(session, registration, masked=True)`` gives the record as auditors and authorities
read it: names and contacts in the answers masked (ID and phone numbers are stored masked
already), no encrypted clear values, signatures and addresses masked. With ``masked=False`` the
answers are as stored, for the moderators' page (which masks what it shows). Either way the
people who acted are staff by their address and applicants masked, and the applicant's address
is masked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from portal import accounts
from portal.base import crypto
from portal.ledger import events, pii_access
from portal.oversight import cases, exports, review
from portal.records import certificates
from portal.registration import attestations, models, sanctions, screening

# The record's field "sanctions" hides the module inside FullRecord's body.
Sanction = sanctions.Sanction
Appeal = sanctions.Appeal


@dataclass(frozen=True)
class SubmittedVersion:
    """One version as the applicant signed and submitted it."""

    submission: models.Submission
    signed_name: str  # masked in a masked record
    ip: str  # masked in a masked record ("" when not recorded)
    answers: dict[str, Any]  # masked in a masked record


@dataclass(frozen=True)
class CaseRecord:
    case: cases.Case
    notes: list[cases.CaseNote]


@dataclass(frozen=True)
class CertificateRecord:
    certificate: certificates.Certificate
    document: dict[str, Any]  # the signed certificate, parsed
    status: str  # the status the certificate states
    current: bool  # the latest one issued; the others are superseded


@dataclass(frozen=True)
class FullRecord:
    registration: models.Registration
    masked: bool
    applicant: accounts.User | None
    applicant_email: str  # always masked
    answers: dict[str, Any]  # the current answers (masked in a masked record)
    submissions: list[SubmittedVersion]  # latest first
    documents: list[models.Document]  # without their bytes
    flags: list[screening.ScreeningFlag]
    decisions: list[review.Decision]
    sanctions: list[Sanction]
    appeals: dict[int, Appeal]  # by the id of the sanction appealed
    cases: list[CaseRecord]
    certificates: list[CertificateRecord]  # latest first
    history: list[events.HistoryEntry]  # oldest first
    access_log: list[pii_access.PiiAccess]
    people: dict[int, str]  # who did what: staff by address, applicants masked
    site_probe: dict[str, Any] | None  # the latest probe of the shop's site, if any


# --- Masking ----------------------------------------------------------------------------------


def mask_answers(answers: Mapping[str, Any]) -> dict[str, Any]:
    """Answers as an auditor or an authority reads them: names and contacts masked (ID and
    phone numbers are stored masked already), without the encrypted clear values."""
    return {step: {k: v for k, v in value.items() if not k.endswith("_enc")}
            if isinstance(value, Mapping) else value
            for step, value in exports.masked_answers(answers).items()}


def mask_ip(ip: str) -> str:
    """An address with its last part hidden: 203.0.113.*, 2001:db8:85a3:*."""
    if "." in ip:
        return ".".join([*ip.split(".")[:3], "*"])
    if ":" in ip:
        return ":".join([*ip.split(":")[:3], "*"])
    return ip


def people(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """Who did something: staff by their address, applicants masked."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    users = session.exec(select(accounts.User).where(col(accounts.User.id).in_(wanted)))
    return {u.id: u.email if u.is_staff else crypto.mask_email(u.email)  # type: ignore[misc]
            for u in users}


# --- The record -------------------------------------------------------------------------------


def latest_site_probe(session: Session, registration_id: int) -> dict[str, Any] | None:
    """What the portal found when it last checked the shop's site (at a submission)."""
    attestation = attestations.Attestation
    latest = session.exec(select(attestation).where(attestation.registration_id == registration_id)
                          .order_by(col(attestation.version).desc())).first()
    return latest.site_probe if latest else None


def build_record(session: Session, registration: models.Registration, *, masked: bool
                 ) -> FullRecord:
    """Everything about one registration, read in the caller's session (nothing is written)."""
    rid: int = registration.id  # type: ignore[assignment]
    submission = models.Submission
    submitted = list(session.exec(select(submission).where(submission.registration_id == rid)
                                  .order_by(col(submission.version).desc())))
    # Their bytes stay in the database: a record lists documents, a link opens one.
    document = models.Document
    documents = list(session.exec(
        select(document).options(defer(document.ciphertext))  # type: ignore[arg-type]
        .where(document.registration_id == rid).order_by(col(document.id))))
    certificate = certificates.Certificate
    issued = list(session.exec(
        select(certificate).where(certificate.registration_id == rid)
        .order_by(col(certificate.issued_at).desc(), col(certificate.serial).desc())))
    decisions = review.decisions_of(session, rid)
    sanction_rows = sanctions.sanctions_of(session, rid)
    appeals = sanctions.appeals_of(session, rid)
    case_rows = [CaseRecord(c, cases.notes_of(session, c.id))  # type: ignore[arg-type]
                 for c in cases.cases_of(session, rid)]
    history = events.history_of(session, rid)
    access = review.access_log(session, rid)
    applicant = session.get(accounts.User, registration.user_id)
    parsed = [certificates.certificate_json(c) for c in issued]
    return FullRecord(
        registration=registration,
        masked=masked,
        applicant=applicant,
        applicant_email=crypto.mask_email(applicant.email) if applicant else "",
        answers=mask_answers(registration.answers) if masked
        else exports.birth_years(registration.answers),
        submissions=[SubmittedVersion(
            submission=s,
            signed_name=crypto.mask_name(s.signed_name) if masked else s.signed_name,
            ip=mask_ip(s.ip) if masked else s.ip,
            answers=mask_answers(s.answers) if masked else exports.birth_years(s.answers),
        ) for s in submitted],
        documents=documents,
        flags=screening.flags_of(session, rid),
        decisions=decisions,
        sanctions=sanction_rows,
        appeals=appeals,
        cases=case_rows,
        certificates=[CertificateRecord(certificate=c, document=doc,
                                        status=doc.get("status", ""), current=i == 0)
                      for i, (c, doc) in enumerate(zip(issued, parsed, strict=True))],
        history=history,
        access_log=access,
        people=people(session, [
            *(d.moderator_id for d in decisions), *(s.issued_by for s in sanction_rows),
            *(a.decided_by for a in appeals.values()),
            *(c.case.opened_by for c in case_rows), *(c.case.closed_by for c in case_rows),
            *(n.author_id for c in case_rows for n in c.notes),
            *(h.actor_id for h in history), *(a.actor_id for a in access),
        ]),
        site_probe=latest_site_probe(session, rid),
    )
