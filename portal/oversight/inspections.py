"""Inspections by authorities (REGULATION.md R9, R16): of a registration or of a platform.

An auditor opens an inspection, adds findings with evidence, and closes it with a conclusion;
closing may order a sanction, which goes through the same sanction service as a moderator's.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import JSON, Column, ColumnElement, and_, case, or_
from sqlmodel import Field, Session, SQLModel, col, select

from portal.accounts import User
from portal.base import jurisdictions
from portal.base.db import UTCDateTime, utcnow
from portal.base.errors import FormErrors, NotFound
from portal.base.forms import staff_text, whole_number
from portal.base.i18n import LazyString, lazy_gettext
from portal.base.i18n import gettext as _
from portal.ledger.events import Actor
from portal.lifecycle import changes
from portal.oversight import auditing, enforcement
from portal.platforms.clients import ApiClient
from portal.registration import sanctions
from portal.registration.models import Registration

if TYPE_CHECKING:
    from portal.base.settings import Settings
    from portal.platforms import notify


class Inspection(SQLModel, table=True):
    __tablename__ = "inspections"

    id: int | None = Field(default=None, primary_key=True)
    # registration | platform
    target_kind: str = Field(max_length=16)
    registration_id: int | None = Field(default=None, foreign_key="registrations.id", index=True)
    client_id: int | None = Field(default=None, foreign_key="api_clients.id", index=True)
    # The region of the registration inspected (jurisdiction), "" for a platform.
    region: str = Field(default="", max_length=6, index=True)
    subject: str = Field(max_length=200)
    opened_by: int = Field(foreign_key="users.id")
    opened_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # open | closed
    status: str = Field(default="open", max_length=16, index=True)
    conclusion: str = Field(default="")
    closed_by: int | None = Field(default=None, foreign_key="users.id")
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sanction_id: int | None = Field(default=None, foreign_key="sanctions.id")


class Finding(SQLModel, table=True):
    __tablename__ = "inspection_findings"

    id: int | None = Field(default=None, primary_key=True)
    inspection_id: int = Field(foreign_key="inspections.id", index=True)
    author_id: int = Field(foreign_key="users.id")
    text: str
    # Links to evidence (URLs) or documents of the registration, as given.
    evidence: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ExportRecord(SQLModel, table=True):
    """Every export an auditor or authority client made: who, what filter, how many rows."""

    __tablename__ = "audit_exports"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    client_id: int | None = Field(default=None, foreign_key="api_clients.id", index=True)
    format: str = Field(max_length=8)
    filters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    rows: int = Field(default=0)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- Services ---------------------------------------------------------------------------------

TARGETS: dict[str, LazyString] = {
    "registration": lazy_gettext("A registration"),
    "platform": lazy_gettext("A platform"),
}
SUBJECT_MAX = 200
EVIDENCE_MAX = 20  # links per finding
URL_MAX = 2000


def visible_to(jurisdiction: str) -> ColumnElement[bool]:
    """The inspections an auditor of the jurisdiction sees: a registration's by the region it
    had when the inspection was opened, every platform's (docs/decisions.md, "Inspections")."""
    regional = auditing.region_clause(jurisdiction, Inspection.region)
    of_registration = col(Inspection.target_kind) == "registration"
    if regional is not None:
        of_registration = and_(of_registration, regional)
    return or_(col(Inspection.target_kind) == "platform", of_registration)


def inspections_page(session: Session, jurisdiction: str, *, limit: int = 200
                     ) -> list[tuple[Inspection, Registration | None, ApiClient | None]]:
    """Inspections within the jurisdiction, open ones first, newest first within each."""
    query = (
        select(Inspection, Registration, ApiClient)
        .outerjoin(Registration, col(Registration.id) == Inspection.registration_id)
        .outerjoin(ApiClient, col(ApiClient.id) == Inspection.client_id)
        .where(visible_to(jurisdiction))
        .order_by(case((col(Inspection.status) == "open", 0), else_=1),
                  col(Inspection.opened_at).desc(), col(Inspection.id).desc())
        .limit(limit)
    )
    return [(i, r, c) for i, r, c in session.exec(query)]


def get_inspection(session: Session, jurisdiction: str, inspection_id: int) -> Inspection:
    """An inspection the jurisdiction may see, else NotFound."""
    inspection = session.exec(select(Inspection).where(
        Inspection.id == inspection_id, visible_to(jurisdiction))).first()
    if inspection is None:
        raise NotFound()
    return inspection


def findings_of(session: Session, inspection_id: int) -> list[Finding]:
    query = select(Finding).where(Finding.inspection_id == inspection_id)
    return list(session.exec(query.order_by(col(Finding.id))))


def platforms(session: Session) -> list[ApiClient]:
    """The platforms an inspection may be opened on (active or not: past conduct counts)."""
    query = select(ApiClient).where(ApiClient.kind == "platform")
    return list(session.exec(query.order_by(col(ApiClient.name))))


def _record(session: Session, inspection: Inspection, *, action: str, actor: User,
            reason: str = "", data: dict[str, Any] | None = None) -> None:
    registration = (session.get(Registration, inspection.registration_id)
                    if inspection.registration_id else None)
    changes.record(session, action=action, actor=Actor.of(actor), registration=registration,
                   registration_id=inspection.registration_id, reason=reason,
                   data={"inspection": inspection.id, **(data or {})})


def open_inspection(
    session: Session, *, actor: User, target_kind: str, subject: str, number: str = "",
    client_id: str = "",
) -> Inspection:
    """Open an inspection of a registration within the auditor's jurisdiction, or of a
    platform; the caller commits. Raises FormErrors, writing nothing."""
    errors: dict[str, str] = {}
    try:
        subject = staff_text(subject, "subject", required=_("Say what the inspection is about"),
                             max_length=SUBJECT_MAX)
        subject = " ".join(subject.split())
    except FormErrors as exc:
        errors.update(exc.errors)
    registration: Registration | None = None
    client: ApiClient | None = None
    if target_kind == "registration":
        number = number.strip().upper()
        if not number:
            errors["number"] = _("Enter the registration number")
        else:
            try:
                registration = auditing.registration_for(session, actor.jurisdiction, number)
            except NotFound:
                errors["number"] = _("There is no registration with this number in your "
                                     "jurisdiction")
    elif target_kind == "platform":
        wanted = whole_number(client_id)
        found = session.get(ApiClient, wanted) if wanted is not None else None
        if found is None or found.kind != "platform":
            errors["client_id"] = _("Choose the platform")
        client = found
    else:
        errors["target_kind"] = _("Choose what to inspect")
    if errors:
        raise FormErrors(errors)
    inspection = Inspection(
        target_kind=target_kind, subject=subject, opened_by=actor.id,  # type: ignore[arg-type]
        registration_id=registration.id if registration else None,
        client_id=client.id if client else None,
        region=(registration.region or "") if registration else "",
    )
    session.add(inspection)
    session.flush()
    _record(session, inspection, action="inspection_opened", actor=actor,
            data={"client": client.id} if client else None)
    session.flush()
    return inspection


def parse_evidence(raw: str) -> list[str]:
    """Evidence links, one per line, http(s) only; FormErrors naming the first bad line."""
    links: list[str] = []
    for number, line in enumerate((raw or "").splitlines(), start=1):
        link = line.strip()
        if not link:
            continue
        parts = urlsplit(link)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname \
                or any(c.isspace() for c in link) or len(link) > URL_MAX:
            raise FormErrors({"evidence": _(
                "Line %(line)d is not a web address: each line must start with http:// or "
                "https://", line=number)})
        links.append(link)
    if len(links) > EVIDENCE_MAX:
        raise FormErrors({"evidence": _("Give %(max)d links or fewer", max=EVIDENCE_MAX)})
    return links


def add_finding(session: Session, *, inspection: Inspection, author: User, text: str,
                evidence: str = "") -> Finding:
    """Add a finding, with links to its evidence, to an open inspection; the caller commits."""
    if inspection.status != "open":
        raise FormErrors({"_": _("This inspection is closed")})
    errors: dict[str, str] = {}
    try:
        text = staff_text(text, "text", required=_("Write the finding"))
    except FormErrors as exc:
        errors.update(exc.errors)
    links: list[str] = []
    try:
        links = parse_evidence(evidence)
    except FormErrors as exc:
        errors.update(exc.errors)
    if errors:
        raise FormErrors(errors)
    finding = Finding(inspection_id=inspection.id, author_id=author.id,  # type: ignore[arg-type]
                      text=text, evidence=links)
    session.add(finding)
    session.flush()
    _record(session, inspection, action="inspection_finding", actor=author,
            data={"finding": finding.id})
    session.flush()
    return finding


def close_inspection(
    session: Session, *, inspection: Inspection, actor: User, conclusion: str,
    settings: Settings, sanction: dict[str, Any] | None = None,
) -> tuple[Inspection, list[notify.Message]]:
    """Close with a conclusion, ordering a sanction on the registration when asked, in one
    transaction; the caller commits. Raises FormErrors (every message at once): the caller
    rolls back what the sanction service may have written.

    ``sanction`` holds the sanction service's fields (kind, facts, reason, legal_basis, until);
    the auditor is its author, as a moderator is of theirs.
    """
    if inspection.status != "open":
        raise FormErrors({"_": _("This inspection is already closed")})
    errors: dict[str, str] = {}
    try:
        conclusion = staff_text(conclusion, "conclusion",
                                required=_("Write the conclusion of the inspection"))
    except FormErrors as exc:
        errors.update(exc.errors)
    ordered: sanctions.Sanction | None = None
    mail: list[notify.Message] = []
    if sanction is not None:
        registration = (session.get(Registration, inspection.registration_id)
                        if inspection.registration_id else None)
        if registration is None:
            errors["_"] = _("Sanctions are ordered on registrations: close a platform's "
                            "inspection with a conclusion")
        elif not jurisdictions.covers(actor.jurisdiction, registration.region):
            errors["_"] = _("This registration is not within your jurisdiction")
        else:
            # Checked even when the conclusion is missing, so every message shows at once;
            # whatever it wrote is rolled back by the caller, as the errors below say.
            try:
                ordered, mail = enforcement.apply_sanction(
                    session, registration=registration, actor=actor,
                    settings=settings, kind=sanction.get("kind", ""),
                    facts=sanction.get("facts", ""), reason=sanction.get("reason", ""),
                    legal_basis=sanction.get("legal_basis", ""), until=sanction.get("until"))
            except FormErrors as exc:
                errors.update({k: v for k, v in exc.errors.items() if k not in errors})
    if errors:
        raise FormErrors(errors)
    inspection.status = "closed"
    inspection.conclusion = conclusion
    inspection.closed_by = actor.id
    inspection.closed_at = utcnow()
    inspection.sanction_id = ordered.id if ordered else None
    session.add(inspection)
    _record(session, inspection, action="inspection_closed", actor=actor,
            data={"sanction": ordered.id} if ordered else None)
    session.flush()
    return inspection, mail
