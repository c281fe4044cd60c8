"""The authority API (DESIGN §7, "Authority clients"): what market regulators' systems read.

Every endpoint is limited to the client's jurisdiction (DESIGN §3): a registration outside it
is not found (404), and lists, the access log and exports simply leave it out. Everything is
masked as on the auditor's console; a clear value is revealed only with a reason, which lands
in the personal-data access log with the client.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, Field, model_validator
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from portal.api.core import Call, Reply, operation
from portal.api.platform import Strict
from portal.base import identity
from portal.base.db import utcnow
from portal.base.replicas import read_engine_for, reading
from portal.ledger.pii_access import PiiAccess
from portal.ledger.tlog import rfc3339
from portal.oversight import auditing, exports, full_record, review
from portal.platforms.clients import ApiClient
from portal.records.registry import RegistryEntry
from portal.registration import risk, steps
from portal.registration.models import STATUSES, Registration

# --- Shared field types -----------------------------------------------------------------------

Status = Literal["submitted", "changes_requested", "approved", "rejected", "suspended",
                 "revoked", "expired", "deregistered"]
assert set(get_args(Status)) == set(STATUSES) - {"draft"}, "Status must follow STATUSES"
RoleName = Literal["streamer", "room_operator", "merchant", "mcn"]
assert set(get_args(RoleName)) == set(steps.ROLES), "RoleName must follow steps.ROLES"
RiskLevel = Literal["low", "medium", "high", "key"]
assert set(get_args(RiskLevel)) == set(risk.LEVELS), "RiskLevel must follow risk.LEVELS"
RevealField = Literal["id_number", "phone", "date_of_birth", "guardian_id_number",
                      "guardian_date_of_birth", "security_contact", "staff_list", "legal_name"]
assert set(get_args(RevealField)) == set(review.CLIENT_REVEALABLE), \
    "RevealField must follow review.CLIENT_REVEALABLE"
Q_MAX = 100


def _empty_is_none(value: Any) -> Any:
    return None if value == "" else value


def _one_line(value: Any) -> Any:
    return " ".join(value.split()) if isinstance(value, str) else value


class Filters(Strict):
    q: Annotated[str, BeforeValidator(_one_line)] = Field(
        default="", max_length=Q_MAX,
        description="A registration number (exactly or by its start), or words of the names, "
                    "USCC or channel handles")
    status: Annotated[Status | None, BeforeValidator(_empty_is_none)] = None
    role: Annotated[RoleName | None, BeforeValidator(_empty_is_none)] = None
    risk_level: Annotated[RiskLevel | None, BeforeValidator(_empty_is_none)] = None

    def search(self) -> tuple[auditing.Filters, dict[str, str]]:
        """The search's filters, and the values given (for a file name and the export log)."""
        values = {name: value for name in ("q", "status", "role", "risk_level")
                  if (value := getattr(self, name))}
        return auditing.Filters(**values), values


class Paging(Strict):
    page: int = Field(default=1, ge=1, description="Page number, from 1")
    per_page: int = Field(default=50, ge=1, le=100)


class RegistrationsQuery(Paging, Filters):
    cursor: Annotated[str | None, BeforeValidator(_empty_is_none)] = Field(
        default=None, max_length=20, pattern=r"^(LR-\d{4}-\d{7})?$",
        description="The `next` of the previous answer: the page after it (then `page` is "
                    "not used). Deep pages cost what the first does.")


def _time(moment: datetime | None) -> str | None:
    return rfc3339(moment) if moment else None


def _jurisdiction(call: Call) -> str:
    return str(call.client.get("jurisdiction") or "")


# --- Search -----------------------------------------------------------------------------------


class RegistrationItem(BaseModel):
    number: str
    status: str
    roles: list[str]
    subject_kind: str = Field(description="person or organization")
    id_type: str
    display_name: str = Field(description="Masked name, e.g. 张*")
    risk_level: str
    submitted_at: str | None
    region: str = Field(description="GB/T 2260 code of the registration's region")
    valid_until: str | None


class RegistrationList(BaseModel):
    items: list[RegistrationItem]
    total: int = Field(description="How many registrations match; past 1,000 an estimate "
                                   "(`total_is_estimate`)")
    total_is_estimate: bool = Field(description="Whether `total` is the database's estimate")
    page: int
    per_page: int
    next: str | None = Field(description="The `cursor` of the next page; null on the last")


def _item(entry: RegistryEntry) -> dict[str, Any]:
    return {
        "number": entry.number,
        "status": entry.status,
        "roles": [r for r in entry.roles.split(",") if r],
        "subject_kind": entry.subject_kind,
        "id_type": entry.id_type,
        "display_name": entry.display_name,
        "risk_level": entry.risk_level,
        "submitted_at": _time(entry.submitted_at),
        "region": entry.region,
        "valid_until": _time(entry.valid_until),
    }


@operation("GET", "/audit/registrations", name="audit_registrations", kind="authority",
           summary="Search the registrations of the jurisdiction", query=RegistrationsQuery,
           response=RegistrationList, errors=(401, 403, 422, 429))
def list_registrations(call: Call) -> dict[str, Any]:
    """Registrations (drafts excluded) within the client's jurisdiction, newest number first,
    a page at a time. Names are masked."""
    query: RegistrationsQuery = call.query
    filters, _values = query.search()
    jurisdiction = _jurisdiction(call)
    with reading(call.session, call.engine) as db:  # a read replica's, when there is one
        total = auditing.count(db, jurisdiction, filters, cap=auditing.COUNT_CAP)
        many = total > auditing.COUNT_CAP
        if many:
            total = max(total, auditing.estimate(db, jurisdiction, filters))
        if query.cursor is not None:
            found = auditing.search(db, jurisdiction, filters, after=query.cursor,
                                    limit=query.per_page, many=many)
            rows, following = found.items, found.next_after
        else:
            conditions = auditing.search_conditions(jurisdiction, filters, scan=many)
            rows = list(db.exec(
                select(RegistryEntry).where(*conditions)
                .order_by(col(RegistryEntry.number).desc())
                .offset((query.page - 1) * query.per_page).limit(query.per_page + 1)))
            following = rows[query.per_page - 1].number if len(rows) > query.per_page else None
            rows = rows[:query.per_page]
    return {"items": [_item(entry) for entry in rows], "total": total,
            "total_is_estimate": many, "page": query.page, "per_page": query.per_page,
            "next": following}


# --- Look-up by identity ----------------------------------------------------------------------

LookupType = Literal["cn_resident_id", "passport", "hk_macao_permit", "taiwan_permit",
                     "foreign_permanent_residence"]
assert set(get_args(LookupType)) == set(identity.ID_TYPES), "LookupType must follow ID_TYPES"


class LookupRequest(Strict):
    id_type: LookupType | None = Field(
        default=None, description="The document's type, with id_number")
    id_number: str | None = Field(default=None, max_length=40)
    uscc: str | None = Field(default=None, max_length=40,
                             description="An organisation's unified social credit code, "
                                         "instead of id_type and id_number")
    reason: str = Field(min_length=5, max_length=500,
                        description="Why the look-up is needed; kept in the access log")

    @model_validator(mode="after")
    def _one_identity(self) -> LookupRequest:
        if (self.uscc is None) == (self.id_type is None or self.id_number is None):
            raise ValueError("give either id_type and id_number, or uscc")
        return self


class LookupAnswer(BaseModel):
    items: list[RegistrationItem] = Field(
        description="The registrations of that identity or organisation within the "
                    "jurisdiction, oldest first; none is an empty list")


@operation("POST", "/audit/lookup", name="audit_lookup", kind="authority",
           summary="Find the registrations of an ID document or a USCC, with a reason",
           body=LookupRequest, response=LookupAnswer,
           errors=(400, 401, 403, 413, 422, 429), idempotency=False)
def lookup(call: Call) -> dict[str, Any]:
    """The registrations of one identity document (its type and number) or one organisation
    (its USCC), under any account, found through the portal's keyed indexes. Every look-up is
    written to the personal-data access log with the client and the reason, found or not."""
    body: LookupRequest = call.body
    by_uscc = body.uscc is not None
    found = auditing.lookup(
        call.session, call.settings, jurisdiction=_jurisdiction(call),
        id_type=auditing.USCC if by_uscc else str(body.id_type),
        number=(body.uscc if by_uscc else body.id_number) or "", reason=body.reason,
        client_id=call.client["id"], number_field="uscc" if by_uscc else "id_number")
    numbers = [r.number for r in found]
    rows = {e.number: e for e in call.session.exec(select(RegistryEntry).where(
        col(RegistryEntry.number).in_(numbers)))}
    return {"items": [_item(rows[n]) for n in numbers if n in rows]}


# --- A registration's record ------------------------------------------------------------------


class SubmissionView(BaseModel):
    version: int
    submitted_at: str
    answers: dict[str, Any] = Field(description="The answers as submitted, masked")


class HistoryView(BaseModel):
    at: str
    action: str
    actor_role: str
    from_status: str | None
    to_status: str | None
    reason: str


class DecisionView(BaseModel):
    kind: str = Field(description="approve, request_changes or reject")
    at: str
    reason_code: str
    message: str = Field(description="What the applicant was told")
    steps: dict[str, str] = Field(description="Changes requested, by wizard step")
    internal_note: str


class SanctionView(BaseModel):
    id: int
    kind: str
    facts: str
    reason: str
    legal_basis: str
    until: str | None
    state: str = Field(description="active, ended or overturned")
    issued_role: str
    created_at: str


class AppealView(BaseModel):
    sanction_id: int
    text: str
    created_at: str
    outcome: str = Field(description="pending, upheld or overturned")
    decided_at: str | None
    decision_reason: str


class ViolationView(BaseModel):
    id: int
    category: str
    source: str
    status: str = Field(description="open or closed")
    description: str
    occurred_at: str | None
    created_at: str
    evidence: list[str]
    outcome: str | None
    closed_at: str | None


class CertificateView(BaseModel):
    serial: str
    status: str = Field(description="The status the certificate states")
    issued_at: str
    log_index: int | None
    sha256: str = Field(description="SHA-256 of the certificate's JCS bytes, as in the log")
    certificate: dict[str, Any] = Field(description="The signed certificate (DESIGN §6)")


class RecordAnswer(BaseModel):
    number: str
    status: str
    subject_kind: str
    region: str | None
    risk_level: str
    roles: list[str]
    submitted_at: str | None
    valid_from: str | None
    valid_until: str | None
    flags: list[str] = Field(description="Screening flags raised on the registration")
    answers: dict[str, Any] = Field(
        description="The current answers: names and contacts masked, ID and phone numbers "
                    "only in their masked form")
    submissions: list[SubmissionView]
    history: list[HistoryView]
    decisions: list[DecisionView]
    sanctions: list[SanctionView]
    appeals: list[AppealView]
    violations: list[ViolationView]
    certificates: list[CertificateView]


def record(session: Session, registration: Registration) -> dict[str, Any]:
    """The record as an authority reads it (masked), oldest first."""
    built = full_record.build_record(session, registration, masked=True)
    appeals = sorted(built.appeals.values(), key=lambda a: a.id or 0)
    return {
        "number": registration.number,
        "status": registration.status,
        "subject_kind": registration.subject_kind,
        "region": registration.region,
        "risk_level": registration.risk_level,
        "roles": [r for r in registration.roles.split(",") if r],
        "submitted_at": _time(registration.submitted_at),
        "valid_from": _time(registration.valid_from),
        "valid_until": _time(registration.valid_until),
        "flags": [f.code for f in built.flags],
        "answers": built.answers,
        "submissions": [{"version": v.submission.version,
                         "submitted_at": rfc3339(v.submission.submitted_at),
                         "answers": v.answers} for v in reversed(built.submissions)],
        "history": [{"at": rfc3339(h.at), "action": h.action, "actor_role": h.actor_role,
                     "from_status": h.from_status, "to_status": h.to_status,
                     "reason": h.reason} for h in built.history],
        "decisions": [{"kind": d.kind, "at": rfc3339(d.at), "reason_code": d.reason_code,
                       "message": d.message, "steps": d.steps,
                       "internal_note": d.internal_note}
                      for d in built.decisions],
        "sanctions": [{"id": s.id, "kind": s.kind, "facts": s.facts, "reason": s.reason,
                       "legal_basis": s.legal_basis, "until": _time(s.until),
                       "state": s.state, "issued_role": s.issued_role,
                       "created_at": rfc3339(s.created_at)}
                      for s in built.sanctions],
        "appeals": [{"sanction_id": a.sanction_id, "text": a.text,
                     "created_at": rfc3339(a.created_at), "outcome": a.outcome,
                     "decided_at": _time(a.decided_at), "decision_reason": a.decision_reason}
                    for a in appeals],
        "violations": [{"id": c.id, "category": c.category, "source": c.source,
                        "status": c.status, "description": c.description,
                        "occurred_at": _time(c.occurred_at),
                        "created_at": rfc3339(c.created_at), "evidence": list(c.evidence),
                        "outcome": c.outcome, "closed_at": _time(c.closed_at)}
                       for c in (entry.case for entry in built.cases)],
        "certificates": [{"serial": c.certificate.serial, "status": c.status,
                          "issued_at": rfc3339(c.certificate.issued_at),
                          "log_index": c.certificate.log_index, "sha256": c.certificate.sha256,
                          "certificate": c.document}
                         for c in reversed(built.certificates)],
    }


@operation("GET", "/audit/registrations/{number}", name="audit_registration",
           kind="authority", summary="A registration's whole record, masked",
           response=RecordAnswer, errors=(401, 403, 404, 429))
def get_record(call: Call) -> dict[str, Any]:
    """Everything about a registration within the jurisdiction: its answers now and as each
    version was submitted, its history, the moderators' decisions, sanctions and appeals,
    violation cases and every certificate issued. Personal data is masked; reveal a clear
    value with `POST /audit/registrations/{number}/reveal`. Outside the jurisdiction, and for
    drafts, the answer is 404."""
    registration = auditing.registration_for(call.session, _jurisdiction(call),
                                             call.params["number"])
    return record(call.session, registration)


# --- Reveal -----------------------------------------------------------------------------------


# A reason of at least 5 characters once the spaces around it are gone, as review.reveal
# checks it, and without control characters (the input rule; tab and line breaks aside).
_SPACE = "[\t\n\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_VISIBLE = "[^\\s\x00-\x1f\x7f]"
_TEXT = "[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
REASON_PATTERN = f"^{_SPACE}*{_VISIBLE}{_TEXT}{{3,}}{_VISIBLE}{_SPACE}*$"


class RevealRequest(Strict):
    field: RevealField
    reason: str = Field(min_length=5, max_length=500, pattern=REASON_PATTERN,
                        description="Why the clear value is needed (at least 5 characters "
                                    "besides spaces around it); kept in the access log")


class RevealAnswer(BaseModel):
    field: str
    value: str = Field(description="The clear value")
    id_type: str | None = Field(default=None,
                                description="The document's type, for an ID number only")


ID_TYPE_OF = {"id_number": ("identity", "id_type"),
              "guardian_id_number": ("guardian", "guardian_id_type")}


@operation("POST", "/audit/registrations/{number}/reveal", name="audit_reveal",
           kind="authority", summary="Reveal one clear personal value, with a reason",
           body=RevealRequest, response=RevealAnswer, errors=(400, 401, 403, 404, 413, 422, 429),
           idempotency=False)
def reveal(call: Call) -> dict[str, Any]:
    """The clear ID number, phone number, legal name or guardian's ID number of a registration
    within the jurisdiction. Every reveal is written to the personal-data access log with the
    client and the reason before the value is sent. The answer is never stored, so an
    `Idempotency-Key` is ignored: each call is a new reveal."""
    body: RevealRequest = call.body
    registration = auditing.registration_for(call.session, _jurisdiction(call),
                                             call.params["number"])
    value = review.reveal_for_client(call.session, call.settings, registration=registration,
                                     client_id=call.client["id"], field=body.field,
                                     reason=body.reason)
    answer: dict[str, Any] = {"field": body.field, "value": value}
    if body.field in ID_TYPE_OF:
        step, name = ID_TYPE_OF[body.field]
        answer["id_type"] = (registration.answers.get(step) or {}).get(name)
    return answer


# --- The access log ---------------------------------------------------------------------------


class AccessEntry(BaseModel):
    at: str
    field: str = Field(description="What was revealed or looked up (identity_match: a "
                                   "platform's identity match)")
    reason: str
    actor_role: str = Field(description="moderator, auditor, admin, platform or authority")
    client: str | None = Field(description="The API client's name, when a client asked")
    registration_number: str | None


class AccessLog(BaseModel):
    items: list[AccessEntry]
    total: int
    page: int
    per_page: int


@operation("GET", "/audit/access-log", name="audit_access_log", kind="authority",
           summary="Who saw clear personal data of the jurisdiction's registrations",
           query=Paging, response=AccessLog, errors=(401, 403, 422, 429))
def access_log(call: Call) -> dict[str, Any]:
    """Every reveal of clear personal data (staff, authority clients) and every platform
    identity match, newest first, for the registrations within the jurisdiction. A national
    authority also sees identity matches that found no registration."""
    query: Paging = call.query
    where = auditing.region_clause(_jurisdiction(call), Registration.region)
    conditions = [] if where is None else [where]
    rows = call.session.exec(
        select(PiiAccess, Registration.number, ApiClient.name)
        .outerjoin(Registration, col(Registration.id) == col(PiiAccess.registration_id))
        .outerjoin(ApiClient, col(ApiClient.id) == col(PiiAccess.client_id))
        .where(*conditions).order_by(col(PiiAccess.id).desc())
        .offset((query.page - 1) * query.per_page).limit(query.per_page))
    total = call.session.exec(
        select(func.count()).select_from(PiiAccess)
        .outerjoin(Registration, col(Registration.id) == col(PiiAccess.registration_id))
        .where(*conditions)).one()
    return {"items": [{"at": rfc3339(entry.at), "field": entry.field, "reason": entry.reason,
                       "actor_role": entry.actor_role, "client": client,
                       "registration_number": number} for entry, number, client in rows],
            "total": int(total), "page": query.page, "per_page": query.per_page}


# --- Export -----------------------------------------------------------------------------------


@operation("GET", "/audit/export.csv", name="audit_export", kind="authority",
           summary="Every registration the search finds, as CSV, streamed", query=Filters,
           errors=(401, 403, 422, 429), content_type="text/csv")
def export_csv(call: Call) -> Reply:
    """The columns of the auditor's console export (masked values only), UTF-8 with a
    byte-order mark, newest number first, streamed as it is read; the file name states the
    filters and the time. Each export is recorded with the client, the filters and the number
    of rows."""
    filters, values = call.query.search()
    jurisdiction = _jurisdiction(call)
    engine = call.session.get_bind()
    assert isinstance(engine, Engine)
    name = exports.export_filename(values, utcnow(), "csv")
    body = exports.export_rows(engine, jurisdiction, filters, "csv", client_id=call.client["id"],
                               logged={**values, "jurisdiction": jurisdiction},
                               read_engine=read_engine_for(engine))
    return Reply(stream=body, media_type="text/csv; charset=utf-8",
                 headers={"Content-Disposition": f'attachment; filename="{name}"'})
