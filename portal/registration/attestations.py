"""The security attestation, the content-rating declaration and the consumer-protection commitments.

What the applicant signs is frozen at submission as an ``Attestation`` and a ``Declaration``
(one row per submitted version, never updated), hashed over its RFC 8785 canonical JSON so a
certificate can name exactly which answers were approved.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import rfc8785
from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.accounts import normalize_email
from portal.base import identity
from portal.base.db import UTCDateTime, utcnow
from portal.base.forms import Checker, FormInput, StepContext
from portal.base.i18n import LazyString, lazy_gettext
from portal.base.i18n import gettext as _
from portal.registration.names import same_name

CONTENT_CATEGORIES: dict[str, LazyString] = {
    "apparel": lazy_gettext("Clothing, shoes and accessories"),
    "beauty": lazy_gettext("Beauty and personal care"),
    "food": lazy_gettext("Food and drink"),
    "home": lazy_gettext("Home and kitchen"),
    "electronics": lazy_gettext("Electronics"),
    "mother_baby": lazy_gettext("Mother and baby"),
    "agriculture": lazy_gettext("Farm produce"),
    "books_education": lazy_gettext("Books and education"),
    "travel_services": lazy_gettext("Travel and local services"),
    "entertainment": lazy_gettext("Entertainment and talk shows"),
}

RESTRICTED_PRODUCTS: dict[str, LazyString] = {
    "alcohol": lazy_gettext("Alcohol"),
    "medicines": lazy_gettext("Medicines"),
    "medical_devices": lazy_gettext("Medical devices"),
    "health_foods": lazy_gettext("Health foods"),
    "cosmetics": lazy_gettext("Special-use cosmetics"),
    "infant_formula": lazy_gettext("Infant formula"),
    "financial_products": lazy_gettext("Financial products"),
}

PROFESSIONAL_TOPICS: dict[str, LazyString] = {
    "medicine": lazy_gettext("Medicine and health"),
    "finance": lazy_gettext("Finance"),
    "law": lazy_gettext("Law"),
    "education": lazy_gettext("Education"),
}

AUDIENCES: dict[str, LazyString] = {
    "all_ages": lazy_gettext("Everyone, including minors"),
    "adults_only": lazy_gettext("Adults only (18 and over)"),
}

# Products that may only be marketed to adults.
ADULTS_ONLY_PRODUCTS = ("alcohol", "financial_products")

# 2021 Measures, Art. 18: what a livestream marketer must not do.
PROHIBITED_CONDUCT: dict[str, LazyString] = {
    "illegal_content": lazy_gettext(
        "I will not publish content that breaks the rules on the online information ecosystem"
    ),
    "false_information": lazy_gettext(
        "I will not publish false or misleading information that deceives or misleads users"
    ),
    "counterfeit_goods": lazy_gettext(
        "I will not market counterfeit or substandard goods, goods that infringe intellectual "
        "property, or goods that are unsafe"
    ),
    "fake_data": lazy_gettext(
        "I will not fabricate or tamper with transaction, follower, view or like figures"
    ),
    "promote_violators": lazy_gettext(
        "I will not promote or draw traffic to anyone I know, or should know, breaks the law or "
        "acts with high risk"
    ),
    "harassment": lazy_gettext(
        "I will not harass, defame, abuse or intimidate others or infringe their rights"
    ),
    "fraud_gambling": lazy_gettext(
        "I will not take part in pyramid selling, fraud, gambling, or selling prohibited or "
        "controlled goods"
    ),
    "other_violations": lazy_gettext("I will not break any other law or regulation"),
}

RETURN_POLICIES: dict[str, LazyString] = {
    "seven_day": lazy_gettext("Returns within 7 days without a reason"),
    "legal_exceptions": lazy_gettext(
        "Returns within 7 days without a reason, except the goods the law exempts"
    ),
}

COMPLAINT_CHANNELS: dict[str, LazyString] = {
    "phone": lazy_gettext("Phone"),
    "email": lazy_gettext("Email"),
}

RESPONSE_TIMES = ("24", "48", "72")

SECURITY_ITEMS: dict[str, LazyString] = {
    "two_factor": lazy_gettext(
        "Two-factor authentication is turned on for every streaming account listed"
    ),
    "named_staff": lazy_gettext("Only named staff operate the live room"),
    "buyer_data_on_platform": lazy_gettext(
        "Buyers' personal information stays inside the platform"
    ),
    "approved_checkout": lazy_gettext(
        "Purchase links and QR codes shown in streams lead only to platform-approved checkout pages"
    ),
    "devices_protected": lazy_gettext("Streaming devices are kept updated and protected"),
    "incident_procedure": lazy_gettext("There is a security contact and an incident procedure"),
}


# The roles that may run a shop site of their own (DESIGN §4 step 4): only they are asked.
SITE_ROLES = ("room_operator", "merchant")


def asks_own_site(roles: list[str]) -> bool:
    """Whether the security step asks about an own shop site, given the roles chosen."""
    return any(role in SITE_ROLES for role in roles)


def qualification_field(code: str) -> str:
    """The upload field holding the qualification for a restricted product or topic."""
    return f"qualification_{code}"


def validate_security(form: FormInput, ctx: StepContext) -> Checker:
    """Check the security attestation (DESIGN §4 step 4)."""
    c = Checker(form)
    required = _("Answer yes or no")
    for item in SECURITY_ITEMS:
        c.yes_no(item, required=required)
    if c.data.get("named_staff"):
        staff = c.text("staff_list", _("Named staff"), max_length=2000, multiline=True)
        if not staff:
            c.error("staff_list", _("List the staff who operate the live room"))
    else:
        # Asked only after "yes": a list typed before the answer became "no" is not kept.
        c.data["staff_list"] = ""
    c.text("incident_details", _("Incident procedure"), max_length=2000, multiline=True)
    c.text(
        "security_contact",
        _("Security contact"),
        required=_("Enter a security contact: a name with a phone number or email address"),
        max_length=200,
    )
    roles = ctx.answer("roles", "roles", []) or []
    own_site: bool | None = None
    if asks_own_site(roles):
        own_site = c.yes_no(
            "own_site",
            required=_("Answer whether you run your own shop site"),
        )
    elif c.raw("own_site") == "yes":
        # A site saved before the roles changed: the step is saved again, without it.
        c.error("own_site", _("Only live-room operators and merchants declare their own shop site"))
    else:
        c.data["own_site"] = None  # not asked of these roles
    if own_site:
        domain = c.text(
            "site_domain", _("Domain"), required=_("Enter the domain of your shop site"),
            max_length=253,
        ).lower()
        if domain and not _looks_like_domain(domain):
            c.error("site_domain", _("Enter a domain name, like shop.example.cn"))
        c.apply(
            "icp_number",
            identity.validate_icp,
            required=_("Enter the ICP filing number of your shop site"),
        )
        c.yes_no("https_only", required=_("Answer whether the site is served over HTTPS only"))
        c.apply(
            "assessment_date",
            identity.parse_date,
            required=_("Enter the date of the latest security assessment"),
        )
        assessed = c.data.get("assessment_date")
        if assessed and assessed > ctx.today.isoformat():
            c.error("assessment_date", _("The assessment date must be today or in the past"))
        if "assessment_report" not in ctx.documents:
            c.error("assessment_report", _("Upload the report of the latest security assessment"))
    else:
        for name in ("site_domain", "icp_number", "https_only", "assessment_date"):
            c.data[name] = None
    legal_name = ctx.answer("identity", "legal_name", "")
    signature = c.text(
        "signature", _("Signature"), required=_("Type your full legal name to sign"),
        max_length=200,
    )
    if signature and legal_name and not same_name(signature, legal_name):
        c.error("signature", _("Type your legal name exactly as in the identity step"))
    return c


def _looks_like_domain(value: str) -> bool:
    labels = value.rstrip(".").split(".")
    return len(labels) >= 2 and all(
        0 < len(label) <= 63
        and label.replace("-", "").isalnum()
        and not label.startswith("-")
        and not label.endswith("-")
        for label in labels
    )


def validate_content(form: FormInput, ctx: StepContext) -> Checker:
    """Check the content-rating declaration and its rules (DESIGN §4 step 5)."""
    c = Checker(form)
    c.many(
        "categories", CONTENT_CATEGORIES,
        required=_("Choose at least one content category"),
    )
    audience = c.choice(
        "audience", AUDIENCES, required=_("Choose who your streams are for"),
    )
    minors = c.yes_no("minors_on_stream", required=_("Answer whether minors appear on stream"))
    # Asked only after "yes": a tick left from before the answer became "no" is not kept.
    commitment = bool(minors) and c.checked("minors_commitment")
    c.data["minors_commitment"] = commitment
    products = c.many("restricted_products", RESTRICTED_PRODUCTS)
    topics = c.many("professional_topics", PROFESSIONAL_TOPICS)
    forcing = [p for p in products if p in ADULTS_ONLY_PRODUCTS]
    if forcing and audience == "all_ages":
        c.error(
            "audience",
            _(
                "Streams that market alcohol or financial products must be for adults only: "
                "choose \u201cAdults only\u201d"
            ),
        )
    if minors and not commitment:
        c.error(
            "minors_commitment",
            _("Minors appear on stream: confirm the minors-protection commitment"),
        )
    for code in [*products, *topics]:
        field = qualification_field(code)
        if field not in ctx.documents:
            label = RESTRICTED_PRODUCTS.get(code) or PROFESSIONAL_TOPICS[code]
            c.error(
                field,
                _("Upload your qualification for %(item)s: each restricted product and "
                  "professional topic needs one", item=str(label)),
            )
    return c


def validate_commitments(form: FormInput, ctx: StepContext) -> Checker:
    """Check the consumer-protection commitments (DESIGN §4 step 6)."""
    c = Checker(form)
    c.choice("return_policy", RETURN_POLICIES, required=_("Choose your return policy"))
    channel = c.choice(
        "complaint_channel", COMPLAINT_CHANNELS, required=_("Choose how buyers can complain"),
    )
    contact = c.text(
        "complaint_contact", _("Complaint contact"),
        required=_("Enter the phone number or email address for complaints"), max_length=200,
    )
    if contact and channel == "phone":
        try:
            c.data["complaint_contact"] = identity.validate_phone(contact)
        except ValueError as exc:
            c.error("complaint_contact", str(exc))
    elif contact and channel == "email":
        try:
            c.data["complaint_contact"] = normalize_email(contact)
        except ValueError as exc:
            c.error("complaint_contact", str(exc))
    c.choice(
        "response_hours", RESPONSE_TIMES, required=_("Choose how quickly you answer complaints"),
    )
    c.checked(
        "paid_promotion_disclosure",
        required=_("Confirm that you will label paid promotion"),
    )
    for code in PROHIBITED_CONDUCT:
        c.checked(f"prohibited_{code}", required=_("Confirm each commitment"))
    return c


# --- frozen versions --------------------------------------------------------------------------


def canonical_sha256(document: Any) -> str:
    """Lower-case hex SHA-256 of the RFC 8785 canonical JSON of ``document``."""
    return hashlib.sha256(rfc8785.dumps(document)).hexdigest()


class Attestation(SQLModel, table=True):
    """The security attestation as signed and submitted; one row per submitted version."""

    __tablename__ = "attestations"
    __table_args__ = (UniqueConstraint("registration_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    registration_id: int = Field(foreign_key="registrations.id", index=True)
    version: int
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    sha256: str = Field(max_length=64)
    signed_name: str = Field(max_length=200)
    signed_at: datetime = Field(sa_type=UTCDateTime)
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=400)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # What the portal's probe of a declared shop site found at submission: beside the signed
    # answers, not part of them (nor of their hash).
    site_probe: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class Declaration(SQLModel, table=True):
    """The content-rating declaration as submitted; one row per submitted version."""

    __tablename__ = "declarations"
    __table_args__ = (UniqueConstraint("registration_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    registration_id: int = Field(foreign_key="registrations.id", index=True)
    version: int
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    sha256: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
