"""The platform API (DESIGN §7): what livestream platforms call from their own backends."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from portal import registry
from portal.api.core import ApiError, Call, Reply, operation

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


@operation("GET", "/registrations/{number}", name="get_registration", kind="platform",
           summary="A registration by its number", response=RegistrationAnswer,
           errors=(401, 403, 404, 429))
def get_registration(call: Call) -> Reply:
    """Everything a platform checks before a stream: status, validity, the signed certificate
    and where its hash is in the transparency log. Drafts are not found."""
    body = registry.lookup(call.session, call.params["number"])
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
