"""The platform API (DESIGN §7): what livestream platforms call from their own backends."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)
from pydantic_core import PydanticCustomError
from sqlmodel import col, select

from portal.api.core import ApiError, Call, Reply, field_error, operation
from portal.base import crypto, identity
from portal.base.db import utcnow
from portal.base.errors import FormErrors
from portal.base.forms import ID_MAX, whole_number
from portal.ledger import pii_access
from portal.ledger.events import OutboxEvent, event_json, visible_to_platform
from portal.ledger.tlog import rfc3339
from portal.oversight import buyers, cases
from portal.records import registry
from portal.registration import blocklist
from portal.registration.models import Registration

NUMBER_PATTERN = r"^[A-Za-z0-9-]{1,20}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- Schemas ----------------------------------------------------------------------------------


class Subject(BaseModel):
    kind: str = Field(description="person or organization")
    display_name: str = Field(description="Masked name, e.g. 张*")
    id_type: str
    id_number_masked: str
    age_band: str | None = Field(description="adult or minor_16_17")
    organization_name: str | None = None
    uscc: str | None = None


class Channel(BaseModel):
    platform: str
    handle: str


class ContentRating(BaseModel):
    audience: str
    categories: list[str]
    restricted_products: list[str]
    professional_topics: list[str]


class SanctionInForce(BaseModel):
    kind: str = Field(description="warning, order_correction, restrict_functions, suspend, close "
                                  "or blacklist")
    since: str = Field(description="When it was applied (RFC 3339, UTC)")
    until: str | None = Field(default=None, description="The end of a suspension, restriction "
                              "or blacklisting that has one; absent otherwise")
    deadline: str | None = Field(default=None, description="A correction order's deadline; "
                                 "absent for the other kinds")
    restricted_functions: list[str] | None = Field(
        default=None, description="What a restriction of functions restricts: traffic, "
        "live_selling, live_streaming, new_products; absent for the other kinds")


class RegistrationAnswer(BaseModel):
    number: str
    status: str = Field(description="submitted, changes_requested, approved, rejected, "
                                    "suspended, revoked, deregistered or expired")
    valid: bool = Field(description="Approved, within its validity and not blacklisted")
    roles: list[str]
    subject: Subject
    content_rating: ContentRating
    risk_level: str
    channels: list[Channel]
    valid_from: str | None
    valid_until: str | None
    certificate: dict[str, Any] | None = Field(
        description="The signed certificate (DESIGN §6), or null before approval")
    log_index: int | None = Field(
        description="Index of the log entry holding the current certificate's hash")
    sanctions: list[SanctionInForce] = Field(
        description="The sanctions in force (neither ended nor overturned), warnings and "
        "correction orders included, oldest first; the current certificate states the same")


class VerifyRequest(Strict):
    numbers: list[str] = Field(min_length=1, max_length=1000,
                               description="Registration numbers; answers keep this order")


class VerifyResult(BaseModel):
    number: str
    found: bool
    status: str | None
    valid: bool


class VerifyAnswer(BaseModel):
    results: list[VerifyResult]


# --- Endpoints --------------------------------------------------------------------------------


def _registration_reply(row: Any) -> Reply:
    body = registry.answer_bytes(row)
    if body is None:
        raise ApiError(404, "No registration has this number")
    return Reply(raw=body)


@operation("GET", "/registrations/{number}", name="get_registration", kind="platform",
           summary="A registration by its number", response=RegistrationAnswer,
           errors=(401, 403, 404, 429), hot=True,
           hot_read=(registry.LOOKUP, _registration_reply))
def get_registration(call: Call) -> Reply:
    """Everything a platform checks before a stream: status, validity, the signed certificate
    and where its hash is in the transparency log. Drafts are not found."""
    body = registry.lookup(call.engine, call.params["number"])
    if body is None:
        raise ApiError(404, "No registration has this number")
    return Reply(raw=body)


@operation("POST", "/registrations/verify", name="verify_registrations", kind="platform",
           summary="Check up to 1000 numbers at once", body=VerifyRequest,
           response=VerifyAnswer, errors=(400, 401, 403, 413, 422, 429), read_only=True)
def verify_registrations(call: Call) -> dict[str, Any]:
    """The nightly batch check: one result per number, in the order asked."""
    numbers = call.body.numbers
    rows = registry.lookup_many(call.session, sorted(set(numbers)))
    now = registry.utcnow()
    results = []
    for number in numbers:
        row = rows.get(number)
        if row is None:
            results.append({"number": number, "found": False, "status": None, "valid": False})
        else:
            results.append({"number": number, "found": True, "status": row.status,
                            "valid": registry.is_valid(row.status, row.valid_until,
                                                       row.blocked, now)})
    return {"results": results}


# --- Shared field types -----------------------------------------------------------------------

IdType = Literal["cn_resident_id", "passport", "hk_macao_permit", "taiwan_permit",
                 "foreign_permanent_residence"]
assert set(get_args(IdType)) == set(identity.ID_TYPES), "IdType must follow identity.ID_TYPES"

IdNumber = Annotated[str, Field(min_length=1, max_length=40, pattern=r"\S",
                                description="Compared through its keyed hash (HMAC identity "
                                            "index); never stored in clear nor sent back")]

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})",
                      re.ASCII)
# How far ahead of our clock a moment "now" may be stamped by a platform's clock.
CLOCK_SKEW = timedelta(minutes=5)


def _rfc3339_string(value: Any) -> Any:
    if not isinstance(value, str) or not _RFC3339.fullmatch(value.upper()):
        raise PydanticCustomError("rfc3339", "must be an RFC 3339 timestamp with its offset, "
                                             "e.g. 2026-05-01T08:00:00Z")
    return value.upper()


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_string)]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if (parts.scheme.lower() not in ("http", "https") or not parts.hostname
            or any(ch.isspace() or not ch.isprintable() for ch in value)):
        raise PydanticCustomError("http_url", "must be an http or https URL")
    return value


EvidenceUrl = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_http_url)]


# --- Identity match ---------------------------------------------------------------------------


class MatchRequest(Strict):
    id_type: IdType
    id_number: IdNumber
    legal_name: str = Field(min_length=1, max_length=100, pattern=r"\S",
                            description="Compared case- and width-insensitively")


class MatchAnswer(BaseModel):
    match: bool = Field(description="True only when both the identity and the name match")
    number: str | None = Field(description="The matching registration's number, or null")
    status: str | None = Field(description="Its status, or null")


# Which registration of a person answers a match when they have several (a new registration
# after a revocation, say): the one in force first, then the newest.
_STATUS_RANK = {"approved": 8, "suspended": 7, "submitted": 6, "changes_requested": 5,
                "expired": 4, "revoked": 3, "rejected": 2, "deregistered": 1}


def _rank(registration: Registration) -> tuple[int, int]:
    return _STATUS_RANK.get(registration.status, 0), registration.id or 0


@operation("POST", "/registrations/match", name="match_identity", kind="platform",
           summary="Does a person (ID and legal name) hold a registration?", body=MatchRequest,
           response=MatchAnswer, errors=(400, 401, 403, 413, 422, 429))
def match_identity(call: Call) -> dict[str, Any]:
    """Whether the person with this ID document and legal name holds a registration (drafts
    excluded). Both must match; when either differs the answer is only `match: false`, so the
    call reveals nothing about the other. Every call, matching or not, is written to the
    personal-data access log that auditors read, naming the platform."""
    body = call.body
    index = crypto.identity_index(call.settings, body.id_type, body.id_number)
    candidates = list(call.session.exec(select(Registration).where(
        Registration.identity_index == index, Registration.status != "draft",
        col(Registration.number).is_not(None))))
    wanted = crypto.name_key(body.legal_name)
    matching = [r for r in candidates
                if crypto.name_key((r.answers.get("identity") or {}).get("legal_name", ""))
                == wanted]
    found = max(matching, key=_rank) if matching else None
    looked_up = found or (max(candidates, key=_rank) if candidates else None)
    outcome = ("match" if found else "name differs" if candidates else "no registration")
    call.session.add(pii_access.PiiAccess(
        actor_id=None, actor_role="platform", client_id=call.client["id"],
        registration_id=looked_up.id if looked_up else None, field="identity_match",
        reason=f"Identity match by platform {call.client['name']}: {outcome}"))
    if found is None:
        return {"match": False, "number": None, "status": None}
    return {"match": True, "number": found.number, "status": found.status}


# --- Blocklists -------------------------------------------------------------------------------


class PersonCheck(Strict):
    kind: Literal["person"]
    id_type: IdType
    id_number: IdNumber


class BuyerCheck(Strict):
    kind: Literal["buyer"]
    buyer_ref: str = Field(min_length=1, max_length=200,
                           description="The platform's own reference for the buyer")


class BlocklistCheckRequest(Strict):
    entries: list[Annotated[PersonCheck | BuyerCheck, Field(discriminator="kind")]] = Field(
        min_length=1, max_length=1000,
        description="People (against the portal's person blocklist) and buyers (against this "
                    "platform's own buyer blocklist); answers keep this order")


class BlocklistResult(BaseModel):
    blocked: bool
    entry_id: int | None = Field(description="The blocking entry, or null")
    reason_code: str | None = Field(description="Why a person is blocked (null for buyers)")
    until: str | None = Field(description="When the block ends (RFC 3339), null for ever")


class BlocklistCheckAnswer(BaseModel):
    results: list[BlocklistResult]


def _unblocked() -> dict[str, Any]:
    return {"blocked": False, "entry_id": None, "reason_code": None, "until": None}


def _blocked_people(call: Call, indexes: list[str]) -> dict[str, blocklist.BlocklistEntry]:
    """The active person-blocklist entry for each index (the longest-lasting one)."""
    found: dict[str, blocklist.BlocklistEntry] = {}
    if not indexes:
        return found
    query = select(blocklist.BlocklistEntry).where(
        col(blocklist.BlocklistEntry.identity_index).in_(sorted(set(indexes))),
        *blocklist.active_conditions())
    for entry in call.session.exec(query.order_by(col(blocklist.BlocklistEntry.id))):
        key = entry.identity_index or ""
        current = found.get(key)
        if current is None or (current.until is not None
                               and (entry.until is None or entry.until > current.until)):
            found[key] = entry
    return found


@operation("POST", "/blocklist/check", name="check_blocklist", kind="platform",
           summary="Check up to 1000 people and buyers against the blocklists",
           body=BlocklistCheckRequest, response=BlocklistCheckAnswer,
           errors=(400, 401, 403, 413, 422, 429), read_only=True)
def check_blocklist(call: Call) -> dict[str, Any]:
    """People are checked against the portal's person blocklist (active entries, by the keyed
    hash of their ID); buyers against this platform's own buyer blocklist only. One result per
    entry, in the order asked."""
    entries = call.body.entries
    indexes = [crypto.identity_index(call.settings, e.id_type, e.id_number)
               if isinstance(e, PersonCheck) else "" for e in entries]
    people = _blocked_people(call, [i for i in indexes if i])
    barred = buyers.blocked_buyers(call.session, call.client["id"],
                                   [e.buyer_ref for e in entries if isinstance(e, BuyerCheck)])
    results = []
    for entry, index in zip(entries, indexes, strict=True):
        if isinstance(entry, PersonCheck):
            person = people.get(index)
            results.append(_unblocked() if person is None else {
                "blocked": True, "entry_id": person.id, "reason_code": person.reason_code,
                "until": rfc3339(person.until) if person.until else None})
        else:
            buyer = barred.get(entry.buyer_ref.strip())
            results.append(_unblocked() if buyer is None else {
                "blocked": True, "entry_id": buyer.id, "reason_code": None,
                "until": rfc3339(buyer.until) if buyer.until else None})
    return {"results": results}


class BuyerBlockRequest(Strict):
    # The rule that id_type and id_number come together, in the published schema too.
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"properties": {"id_type": {"type": "null"}, "id_number": {"type": "null"}}},
        {"required": ["id_type", "id_number"],
         "properties": {"id_type": {"type": "string"}, "id_number": {"type": "string"}}},
    ]})

    buyer_ref: str = Field(min_length=1, max_length=200,
                           description="The platform's own reference for the buyer")
    reason: str = Field(min_length=1, max_length=2000)
    until: Timestamp | None = Field(default=None,
                                    description="When the block ends (future); null for ever")
    id_type: IdType | None = Field(default=None, description="With id_number, or neither")
    id_number: IdNumber | None = Field(default=None, description="Kept only as its keyed hash")


class Created(BaseModel):
    id: int


@operation("POST", "/blocklist/buyers", name="add_buyer", kind="platform",
           summary="Bar a buyer on this platform", body=BuyerBlockRequest, response=Created,
           status=201, errors=(400, 401, 403, 413, 422, 429))
def add_buyer(call: Call) -> dict[str, Any]:
    """Add a buyer to this platform's own blocklist; no other platform sees the entry. An ID
    number, when given, is kept only as its keyed hash (never in clear)."""
    body = call.body
    if (body.id_type is None) != (body.id_number is None):
        missing = "id_number" if body.id_number is None else "id_type"
        raise field_error(missing, "id_type and id_number are given together")
    index = None
    if body.id_type is not None and body.id_number is not None:
        try:
            number = identity.validate_id_number(body.id_type, body.id_number)
        except ValueError as exc:
            raise field_error("id_number", str(exc)) from None
        index = crypto.identity_index(call.settings, body.id_type, number)
    entry = buyers.add_buyer(call.session, client_id=call.client["id"],
                             buyer_ref=body.buyer_ref, reason=body.reason, until=body.until,
                             id_type=body.id_type if index else None, identity_index=index)
    return {"id": entry.id}


@operation("DELETE", "/blocklist/buyers/{id}", name="remove_buyer", kind="platform",
           summary="Lift one of this platform's buyer blocks", status=204,
           errors=(401, 403, 404, 429))
def remove_buyer(call: Call) -> Reply:
    """Lift an entry this platform added. Another platform's entry, and one already lifted,
    are not found."""
    entry_id = whole_number(call.params["id"])
    if entry_id is None:
        raise ApiError(404, "No buyer block of this platform has this id")
    buyers.remove_buyer(call.session, client_id=call.client["id"], entry_id=entry_id)
    return Reply(status=204)


# --- Violation reports ------------------------------------------------------------------------


class ViolationRequest(Strict):
    number: str = Field(pattern=NUMBER_PATTERN,
                        description="The registration reported: any registration ever "
                                    "approved, whatever its state now")
    category: str = Field(json_schema_extra={"enum": list(cases.CATEGORIES)})
    description: str = Field(min_length=1, max_length=5000)
    occurred_at: Timestamp = Field(description="When it happened (RFC 3339, not in the "
                                               "future; 5 minutes of clock skew allowed)")
    evidence: list[EvidenceUrl] = Field(max_length=10,
                                        description="Links (http or https) to the evidence")

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        if value not in cases.CATEGORIES:
            raise PydanticCustomError("category", "must be one of {allowed}",
                                      {"allowed": ", ".join(cases.CATEGORIES)})
        return value

    @field_validator("occurred_at")
    @classmethod
    def _not_in_future(cls, value: datetime) -> datetime:
        if value > utcnow() + CLOCK_SKEW:
            raise PydanticCustomError("future", "must not be in the future")
        return value


class ViolationAnswer(BaseModel):
    id: int = Field(description="The case opened for the moderators")
    status: str = Field(description="open")


@operation("POST", "/violations", name="report_violation", kind="platform",
           summary="Report a violation by a registered operator", body=ViolationRequest,
           response=ViolationAnswer, status=201, errors=(400, 401, 403, 413, 422, 429))
def report_violation(call: Call) -> dict[str, Any]:
    """Open a case in the moderators' queue about a registration that was ever approved, whatever
    its state now (a revoked streamer may still be live); one never approved is refused on
    `number`. The case's events (`case.opened`, `case.closed`) go to the reporting platform
    alone."""
    body = call.body
    registration = call.session.exec(select(Registration).where(
        Registration.number == body.number, Registration.status != "draft")).first()
    if registration is None:
        raise field_error("number", "No registration has this number")
    try:
        case = cases.open_case(call.session, registration=registration, category=body.category,
                               description=body.description, source="violation_report",
                               client_id=call.client["id"], occurred_at=body.occurred_at,
                               evidence=list(body.evidence))
    except FormErrors as exc:
        # The registration's state is what "_" is about: report it on the number.
        raise FormErrors({("number" if k == "_" else k): str(v)
                          for k, v in exc.errors.items()}) from None
    return {"id": case.id, "status": case.status}


# --- Events -----------------------------------------------------------------------------------


class EventsQuery(Strict):
    after: int = Field(default=0, ge=0, description="Events with a greater id (the last `next`)")
    limit: int = Field(default=100, ge=1, le=1000)


class Event(BaseModel):
    id: int
    type: str
    number: str | None
    created_at: str
    data: dict[str, Any]


class EventsAnswer(BaseModel):
    events: list[Event]
    next: int = Field(description="Ask again with after=next (the last id returned, or `after` "
                                  "when there is none)")


@operation("GET", "/events", name="list_events", kind="platform",
           summary="The events this platform receives, oldest first", query=EventsQuery,
           response=EventsAnswer, errors=(401, 403, 422, 429))
def list_events(call: Call) -> dict[str, Any]:
    """Registration, certificate, sanction and person-blocklist events (every platform), and
    this platform's own buyer-blocklist and case events, in id order. Poll with after=next."""
    query = call.query
    if query.after >= ID_MAX:  # no event has a greater id (and the column could not hold one)
        return {"events": [], "next": query.after}
    rows = list(call.session.exec(
        select(OutboxEvent).where(col(OutboxEvent.id) > query.after,
                                  visible_to_platform(call.client["id"]))
        .order_by(col(OutboxEvent.id)).limit(query.limit)))
    return {"events": [event_json(e) for e in rows],
            "next": rows[-1].id if rows else query.after}
