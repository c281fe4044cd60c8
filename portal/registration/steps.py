"""The wizard's steps: one ``Step`` definition each (``DEFINITIONS``, at the end), which apply,
the validators of identity, guardian and roles, and the rows each shows.

A step's validator reads a form (``FormInput``) and returns a ``Checker`` with clean data and
messages. Saved answers are turned back into a form (``to_form``) and validated again by the same
function, which is how the task list knows a step is done or needs attention: one validator per
rule, for the inline check, the save, the task list, the review and the submission.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from portal.base import identity, regions
from portal.base.forms import Checker, FormInput, StepContext
from portal.base.i18n import (
    LANGUAGES,
    LazyString,
    format_date,
    format_number,
    join_words,
    label_value,
    lazy_gettext,
    reset_language,
    set_language,
)
from portal.base.i18n import gettext as _
from portal.registration import attestations
from portal.registration.names import normal_name

STEPS = ("identity", "guardian", "roles", "security", "content", "commitments", "review")
EDITABLE_STEPS = STEPS[:-1]


SUBJECT_KINDS: dict[str, LazyString] = {
    "person": lazy_gettext("As a person (a streamer or a live-room operator)"),
    "organization": lazy_gettext("As an organisation (a merchant, an MCN or an operating company)"),
}

ID_TYPE_LABELS: dict[str, LazyString] = {
    "cn_resident_id": lazy_gettext("Resident identity card"),
    "passport": lazy_gettext("Passport"),
    "hk_macao_permit": lazy_gettext("Mainland travel permit for Hong Kong and Macao residents"),
    "taiwan_permit": lazy_gettext("Mainland travel permit for Taiwan residents"),
    "foreign_permanent_residence": lazy_gettext("Foreign permanent resident ID card"),
}

RELATIONSHIPS: dict[str, LazyString] = {
    "father": lazy_gettext("Father"),
    "mother": lazy_gettext("Mother"),
    "other_guardian": lazy_gettext("Other legal guardian"),
}

ROLES: dict[str, LazyString] = {
    "streamer": lazy_gettext("Streamer (livestream marketer)"),
    "room_operator": lazy_gettext("Live-room operator"),
    "merchant": lazy_gettext("Merchant"),
    "mcn": lazy_gettext("MCN agency (marketer service agency)"),
}
PERSON_ONLY_ROLES = ("streamer",)
ORGANIZATION_ONLY_ROLES = ("merchant", "mcn")
ROSTER_ROLES = ("mcn", "room_operator")

PLATFORMS: dict[str, LazyString] = {
    "douyin": lazy_gettext("Douyin"),
    "kuaishou": lazy_gettext("Kuaishou"),
    "taobao": lazy_gettext("Taobao Live"),
    "wechat_channels": lazy_gettext("WeChat Channels"),
    "jd": lazy_gettext("JD Live"),
    "pinduoduo": lazy_gettext("Pinduoduo"),
    "xiaohongshu": lazy_gettext("Xiaohongshu"),
    "bilibili": lazy_gettext("Bilibili"),
    "other": lazy_gettext("Other"),
}

MONTHLY_SALES: dict[str, LazyString] = {
    "under_10k": lazy_gettext("Under ¥10,000"),
    "10k_100k": lazy_gettext("¥10,000 to ¥100,000"),
    "100k_1m": lazy_gettext("¥100,000 to ¥1 million"),
    "1m_10m": lazy_gettext("¥1 million to ¥10 million"),
    "over_10m": lazy_gettext("Over ¥10 million"),
}

MAX_CHANNELS = 20
NUMBER_PATTERN = re.compile(r"^LR-\d{4}-\d{7}$")
_HANDLE = re.compile(r"^[^\s<>\"'`]{1,64}$")



def age_of(answers: Mapping[str, Mapping[str, Any]], today: date) -> int | None:
    raw = (answers.get("identity") or {}).get("date_of_birth")
    if not raw:
        return None
    return identity.age_on(date.fromisoformat(raw), today)


def applicable_steps(answers: Mapping[str, Mapping[str, Any]], today: date) -> list[str]:
    """The steps this registration needs: the guardian's only for a person aged 16 or 17."""
    steps = list(STEPS)
    kind = (answers.get("identity") or {}).get("subject_kind")
    age = age_of(answers, today)
    if kind != "person" or age is None or age >= identity.ADULT_AGE:
        steps.remove("guardian")
    return steps


def _sensitive(c: Checker, ctx: StepContext, name: str) -> str:
    """A sensitive field: what was typed, or the saved value when left blank on an edit."""
    raw = c.raw(name).strip()
    return raw or ctx.secrets.get(name, "")


def check_place(c: Checker, province_field: str, city_field: str, *, province_required: str,
                city_required: str) -> None:
    """A province, then one of its cities (GB/T 2260 codes); a province that has no cities in
    the list (Taiwan, Hong Kong, Macao) is enough."""
    province = c.choice(province_field, regions.PROVINCES, required=province_required)
    city = c.raw(city_field).strip()
    c.data[city_field] = ""
    if not province or not regions.has_cities(province):
        return
    if not regions.is_city(city):
        c.error(city_field, city_required)
    elif not regions.city_in_province(city, province):
        c.error(city_field, _("%(city)s is not in %(province)s: choose a city of %(province)s",
                              city=regions.city_name(city),
                              province=regions.province_name(province)))
    else:
        c.data[city_field] = city


def place_label(province: str | None, city: str | None) -> str:
    """Where a person lives or an organisation is registered: "Province · City" (answers saved
    before cities were asked may hold the city as text: shown as typed, unless it only names
    the province again, as "Beijing" in Beijing does)."""
    if city and not regions.is_city(city):
        name = regions.province_name(province or "")
        if _place_key(city) in {_place_key(name), *_province_keys(province or "")}:
            return name
        return f"{name} · {city}".strip(" ·")
    return regions.place_name(province or "", city)


def _place_key(text: str) -> str:
    key = text.strip().lower()
    for suffix in ("市", "省", " city", " shi"):
        key = key.removesuffix(suffix)
    return key.strip()


def _province_keys(province: str) -> set[str]:
    """The province's name in every language of the portal, compared as _place_key does."""
    keys = set()
    for lang in LANGUAGES:
        token = set_language(lang)
        try:
            keys.add(_place_key(regions.province_name(province)))
        finally:
            reset_language(token)
    return keys


@dataclass(frozen=True)
class WebAddress:
    """An address the applicant gave (a live room): staff open it apart from the portal."""

    url: str

    def __str__(self) -> str:
        return self.url


def validate_identity(form: FormInput, ctx: StepContext) -> Checker:
    """Check the identity step: who registers, their document, age, contact and consent."""
    c = Checker(form)
    kind = c.choice(
        "subject_kind", SUBJECT_KINDS,
        required=_("Choose whether you register as a person or as an organisation"),
    )
    legal_name = c.text("legal_name", _("Full legal name"),
                        required=_("Enter your full legal name"), max_length=100, plain=True)
    if legal_name and "legal_name" in c.data:
        c.data["legal_name"] = normal_name(legal_name)
    id_type = c.choice("id_type", identity.ID_TYPES, required=_("Choose the type of ID document"))
    number = _sensitive(c, ctx, "id_number")
    if not number:
        c.error("id_number", _("Enter the ID number"))
    elif id_type:
        try:
            number = identity.validate_id_number(id_type, number, today=ctx.today)
            c.data["id_number"] = number
        except ValueError as exc:
            c.error("id_number", str(exc))
    birth: date | None = None
    if not c.raw("date_of_birth").strip() and id_type == "cn_resident_id":
        # A resident ID number holds the date of birth: read it from there (a wrong number
        # already has its message).
        if "id_number" in c.data:
            try:
                birth = identity.birth_date_from_resident_id(c.data["id_number"])
                c.data["date_of_birth"] = birth.isoformat()
            except ValueError as exc:
                c.error("id_number", str(exc))
    else:
        birth = c.apply("date_of_birth", identity.parse_date,
                        required=_("Enter your date of birth"))
    if birth is not None:
        if birth > ctx.today:
            c.error("date_of_birth", _("The date of birth must be in the past"))
        elif "id_number" in c.data:
            try:
                identity.check_birth_date(id_type, c.data["id_number"], birth)
            except ValueError as exc:
                c.error("date_of_birth", str(exc))
        if "date_of_birth" not in c.errors:
            who = identity.Who.responsible_person if kind == "organization" else (
                identity.Who.streamer)
            try:
                identity.check_age(birth, today=ctx.today, who=who)
            except ValueError as exc:
                c.error("date_of_birth", str(exc))
    c.choice("nationality", regions.nationality_codes(),
             required=_("Choose your nationality"))
    check_place(c, "residence_province", "residence_city",
                province_required=_("Choose the province where you live"),
                city_required=_("Choose the city where you live"))
    phone = _sensitive(c, ctx, "phone")
    if not phone:
        c.error("phone", _("Enter a mobile phone number"))
    else:
        try:
            c.data["phone"] = identity.validate_phone(phone)
        except ValueError as exc:
            c.error("phone", str(exc))
    if "id_front" not in ctx.documents:
        c.error("id_front", _("Upload a photo or scan of the front of your ID document"))
    if "id_back" not in ctx.documents:
        c.error("id_back", _("Upload a photo or scan of the back of your ID document"))
    c.checked("consent", required=_("To register you must consent to the processing of your "
                                    "personal information"))
    return c


def validate_guardian(form: FormInput, ctx: StepContext) -> Checker:
    """Check the guardian's identity, age, relationship and consent (16- and 17-year-olds)."""
    c = Checker(form)
    name = c.text("guardian_name", _("Guardian's full legal name"),
                  required=_("Enter the guardian's full legal name"), max_length=100,
                  plain=True)
    id_type = c.choice("guardian_id_type", identity.ID_TYPES,
                       required=_("Choose the type of the guardian's ID document"))
    number = _sensitive(c, ctx, "guardian_id_number")
    if not number:
        c.error("guardian_id_number", _("Enter the guardian's ID number"))
    elif id_type:
        try:
            c.data["guardian_id_number"] = identity.validate_id_number(
                id_type, number, today=ctx.today
            )
        except ValueError as exc:
            c.error("guardian_id_number", str(exc))
    birth = c.apply("guardian_date_of_birth", identity.parse_date,
                    required=_("Enter the guardian's date of birth"))
    if birth is not None:
        if "guardian_id_number" in c.data:
            try:
                identity.check_birth_date(id_type, c.data["guardian_id_number"], birth)
            except ValueError as exc:
                c.error("guardian_date_of_birth", str(exc))
        if "guardian_date_of_birth" not in c.errors:
            try:
                identity.check_age(birth, today=ctx.today, who=identity.Who.guardian)
            except ValueError as exc:
                c.error("guardian_date_of_birth", str(exc))
    c.choice("relationship", RELATIONSHIPS, required=_("Choose the guardian's relationship to you"))
    typed = c.text("consent_name", _("Guardian's signature"),
                   required=_("The guardian must type their full name to consent"),
                   max_length=100)
    if typed and name and typed != name:
        c.error("consent_name", _("The name typed must be exactly the guardian's full legal name"))
    if "consent_letter" not in ctx.documents:
        c.error("consent_letter", _("Upload the consent letter signed by the guardian"))
    return c


def channel_indexes(form: FormInput) -> list[int]:
    """The channel rows present in a form, in order."""
    found = set()
    for key in form:
        match = re.fullmatch(r"channel-(\d{1,2})-\w+", key)
        if match and int(match.group(1)) < MAX_CHANNELS:
            found.add(int(match.group(1)))
    return sorted(found)


def validate_roles(form: FormInput, ctx: StepContext) -> Checker:
    """Check roles, organisation details, channels, virtual avatar and roster."""
    c = Checker(form)
    kind = ctx.answer("identity", "subject_kind")
    roles = c.many("roles", ROLES, required=_("Choose at least one role"))
    for role in roles:
        if kind == "organization" and role in PERSON_ONLY_ROLES:
            c.error("roles",
                    _("A streamer must be a person: an organisation cannot take this role"))
        if kind == "person" and role in ORGANIZATION_ONLY_ROLES:
            c.error("roles", _("Merchants and MCN agencies register as an organisation: change "
                               "this in the identity step"))
    if kind == "organization":
        c.text("org_name", _("Organisation name"), required=_("Enter the organisation's name"),
               max_length=200, plain=True)
        c.apply("uscc", identity.validate_uscc,
                required=_("Enter the unified social credit code"))
        c.text("legal_representative", _("Legal representative"),
               required=_("Enter the name of the legal representative"), max_length=100,
               plain=True)
        check_place(c, "org_province", "org_city",
                    province_required=_("Choose the province of the registered address"),
                    city_required=_("Choose the city of the registered address"))
        if "business_licence" not in ctx.documents:
            c.error("business_licence", _("Upload the business licence"))
    channels = []
    for i in channel_indexes(form):
        prefix = f"channel-{i}-"
        row = {k: c.raw(prefix + k).strip() for k in ("platform", "handle", "room_url", "bio",
                                                      "followers")}
        if not any(row.values()) or (row["platform"] and not any(
                row[k] for k in ("handle", "room_url", "bio", "followers"))):
            continue  # an empty row, or one with only the platform chosen, is left out
        sub = Checker({k: [v] for k, v in row.items()})
        sub.choice("platform", PLATFORMS, required=_("Choose the platform"))
        handle = sub.text("handle", _("Account name"), required=_("Enter the account name"),
                          max_length=64, plain=True)
        if handle and not _HANDLE.match(handle):
            sub.error("handle", _("An account name cannot contain spaces, quotes or angle "
                                  "brackets"))
        url = sub.text("room_url", _("Live room address"), max_length=500)
        if url and not re.fullmatch(r"https://[^\s<>\"']+\.[^\s<>\"']+", url):
            sub.error("room_url", _("Enter the live room address starting with https://"))
        sub.text("bio", _("Bio"), max_length=500, multiline=True)
        sub.integer("followers", _("Followers"))
        for name, message in sub.errors.items():
            c.error(prefix + name, message)
        channels.append(sub.data)
    c.data["channels"] = channels
    if not channels:
        c.error("channel-0-handle", _("Add at least one channel: the platform and your account "
                                      "name"))
    c.choice("monthly_sales", MONTHLY_SALES, required=_("Choose your monthly sales"))
    avatar = c.yes_no("uses_avatar", required=_("Answer whether a virtual avatar or AI "
                                                "presenter is used"))
    if avatar:
        c.text("avatar_name", _("Avatar name"), required=_("Enter the avatar's name"),
               max_length=64, plain=True)
        c.checked("avatar_consent", required=_("Confirm that the person whose likeness is used "
                                               "consented"))
    else:
        c.data["avatar_name"] = ""
        c.data["avatar_consent"] = False
    # Asked only of MCN agencies and live-room operators (the field shows once one of them is
    # ticked): numbers typed before those roles were unticked are not kept.
    roster_text = ""
    if any(role in ROSTER_ROLES for role in roles):
        roster_text = c.text("roster", _("Streamers you manage"), max_length=20000,
                             multiline=True)
    numbers: list[str] = []
    for line in roster_text.replace(",", "\n").split("\n"):
        number = line.strip().upper()
        if not number:
            continue
        if not NUMBER_PATTERN.match(number):
            c.error("roster", _("%(number)s is not a registration number: they look like "
                                "LR-2026-0012345", number=number[:30]))
        elif number not in numbers:
            numbers.append(number)
    c.data["roster"] = numbers
    return c




def to_form(step: str, data: Mapping[str, Any]) -> dict[str, list[str]]:
    """Turn saved answers back into the form that would produce them."""
    form: dict[str, list[str]] = {}
    for key, value in data.items():
        if key == "channels":
            for i, row in enumerate(value or []):
                for name, item in row.items():
                    form[f"channel-{i}-{name}"] = ["" if item is None else str(item)]
        elif key == "roster":
            form[key] = ["\n".join(value or [])]
        elif isinstance(value, bool):
            form[key] = ["yes" if value else "no"]
        elif isinstance(value, list):
            form[key] = [str(v) for v in value]
        elif value is None:
            form[key] = [""]
        else:
            form[key] = [str(value)]
    for name in DEFINITIONS[step].sensitive if step in DEFINITIONS else ():
        form.pop(name, None)
    return form


# --- What a step shows on the check-your-answers page and the moderator's ---------------------
# Rows of (label, value); documents appear as their document id (int).


def _yes_no(value: Any) -> str:
    if value is None:
        return ""
    return _("Yes") if value else _("No")


def _names(codes: list[str] | None, labels: Mapping[str, Any]) -> str:
    return join_words(labels.get(code, code) for code in codes or []) or _("None")


def _label(labels: Mapping[str, Any], code: str | None) -> str:
    return str(labels.get(code or "", code or ""))


def _birth_row(date_label: str, year_label: str, value: str) -> tuple[str, Any]:
    """A date of birth, or only its year where staff read it beside a masked ID number."""
    if len(str(value)) == 4:
        return year_label, value
    return date_label, format_date(value)


def _identity_rows(a: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return [
        (_("Registering as"), _label(SUBJECT_KINDS, a.get("subject_kind"))),
        (_("Full legal name"), a.get("legal_name", "")),
        (_("Type of ID document"), _label(ID_TYPE_LABELS, a.get("id_type"))),
        (_("ID number"), a.get("id_number_masked", "")),
        _birth_row(_("Date of birth"), _("Year of birth"), a.get("date_of_birth", "")),
        (_("Nationality"), regions.nationality_name(a.get("nationality", ""))),
        (_("Lives in"), place_label(a.get("residence_province"), a.get("residence_city"))),
        (_("Mobile phone number"), a.get("phone_masked", "")),
        (_("Front of your ID document"), a.get("id_front")),
        (_("Back of your ID document"), a.get("id_back")),
        (_("Consent to processing"), _yes_no(a.get("consent"))),
    ]


def _guardian_rows(a: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return [
        (_("Guardian's full legal name"), a.get("guardian_name", "")),
        (_("Type of the guardian's ID document"),
         _label(ID_TYPE_LABELS, a.get("guardian_id_type"))),
        (_("Guardian's ID number"), a.get("guardian_id_number_masked", "")),
        _birth_row(_("Guardian's date of birth"), _("Guardian's year of birth"),
                   a.get("guardian_date_of_birth", "")),
        (_("Relationship to you"), _label(RELATIONSHIPS, a.get("relationship"))),
        (_("Guardian's consent"), a.get("consent_name", "")),
        (_("Consent letter signed by the guardian"), a.get("consent_letter")),
    ]


def _roles_rows(a: Mapping[str, Any]) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [(_("Roles"), _names(a.get("roles"), ROLES))]
    if a.get("org_name"):
        rows += [
            (_("Organisation name"), a.get("org_name", "")),
            (_("Unified social credit code"), a.get("uscc", "")),
            (_("Legal representative"), a.get("legal_representative", "")),
            (_("Registered address"), place_label(a.get("org_province"), a.get("org_city"))),
            (_("Business licence"), a.get("business_licence")),
        ]
    for i, channel in enumerate(a.get("channels") or [], start=1):
        text = label_value(_label(PLATFORMS, channel.get("platform")), channel.get("handle"))
        if channel.get("followers") is not None:
            text += " · " + _("%(n)s followers", n=format_number(channel["followers"]))
        rows.append((_("Channel %(n)d", n=i), text))
        if channel.get("room_url"):
            rows.append((_("Live room of channel %(n)d", n=i), WebAddress(channel["room_url"])))
        if channel.get("bio"):
            rows.append((_("Bio of channel %(n)d", n=i), channel["bio"]))
    rows.append((_("Monthly sales through your livestreams"),
                 _label(MONTHLY_SALES, a.get("monthly_sales"))))
    avatar = a.get("avatar_name") if a.get("uses_avatar") else _("No virtual avatar")
    rows.append((_("Virtual avatar"), avatar))
    if a.get("roster"):
        rows.append((_("Streamers you manage"), join_words(a["roster"])))
    return rows


def _security_rows(a: Mapping[str, Any]) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [(str(label), _yes_no(a.get(item)))
                                   for item, label in attestations.SECURITY_ITEMS.items()]
    if a.get("staff_list"):
        rows.append((_("Named staff"), a["staff_list"]))
    if a.get("incident_details"):
        rows.append((_("Incident procedure"), a["incident_details"]))
    rows.append((_("Security contact"), a.get("security_contact", "")))
    rows.append((_("Own shop site"), a.get("site_domain") or _("No")))
    if a.get("own_site"):
        rows += [
            (_("ICP filing number"), a.get("icp_number", "")),
            (_("HTTPS only"), _yes_no(a.get("https_only"))),
            (_("Date of the latest security assessment"),
             format_date(a.get("assessment_date", ""))),
            (_("Report of the latest security assessment"), a.get("assessment_report")),
        ]
    rows.append((_("Signed by"), a.get("signature", "")))
    return rows


def _content_rows(a: Mapping[str, Any]) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [
        (_("Content categories"), _names(a.get("categories"), attestations.CONTENT_CATEGORIES)),
        (_("Audience"), _label(attestations.AUDIENCES, a.get("audience"))),
        (_("Minors appear on stream"), _yes_no(a.get("minors_on_stream"))),
        (_("Restricted products"),
         _names(a.get("restricted_products"), attestations.RESTRICTED_PRODUCTS)),
        (_("Professional topics"),
         _names(a.get("professional_topics"), attestations.PROFESSIONAL_TOPICS)),
    ]
    chosen = [*(a.get("restricted_products") or []), *(a.get("professional_topics") or [])]
    for code in chosen:
        label = (attestations.RESTRICTED_PRODUCTS.get(code)
                 or attestations.PROFESSIONAL_TOPICS[code])
        rows.append((_("Qualification for %(item)s", item=str(label)),
                     a.get(attestations.qualification_field(code))))
    return rows


def _commitments_rows(a: Mapping[str, Any]) -> list[tuple[str, Any]]:
    confirmed = sum(
        1 for code in attestations.PROHIBITED_CONDUCT if a.get(f"prohibited_{code}")
    )
    channel = _label(attestations.COMPLAINT_CHANNELS, a.get("complaint_channel"))
    return [
        (_("Return policy"),
         _label(attestations.RETURN_POLICIES, a.get("return_policy"))),
        (_("Complaints"), label_value(channel, a.get("complaint_contact", ""))),
        (_("Answer within"), _("%(hours)s hours", hours=a.get("response_hours", ""))),
        (_("Paid promotion labelled"), _yes_no(a.get("paid_promotion_disclosure"))),
        (_("Prohibited conduct"), _("%(n)d of %(total)d confirmed", n=confirmed,
                                    total=len(attestations.PROHIBITED_CONDUCT))),
    ]


# --- One definition per step ------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """Everything about one wizard step: its title, the validator its form goes through (the
    inline check, the save, the task list, the review and the submission use the same one),
    the files it takes, the fields kept only encrypted (with a masked copy for screens), and
    the rows it shows on the check-your-answers page and the moderator's."""

    name: str
    title: LazyString
    validate: Callable[[FormInput, StepContext], Checker]
    rows: Callable[[Mapping[str, Any]], list[tuple[str, Any]]]
    uploads: tuple[str, ...] = ()
    sensitive: tuple[str, ...] = ()
    # Free text that may hold phone numbers: kept encrypted, shown with the numbers masked.
    contacts: tuple[str, ...] = ()


DEFINITIONS: dict[str, Step] = {step.name: step for step in (
    Step("identity", lazy_gettext("Your identity"), validate_identity, _identity_rows,
         uploads=("id_front", "id_back"), sensitive=("id_number", "phone")),
    Step("guardian", lazy_gettext("Guardian's consent"), validate_guardian, _guardian_rows,
         uploads=("consent_letter",), sensitive=("guardian_id_number",)),
    Step("roles", lazy_gettext("Roles and channels"), validate_roles, _roles_rows,
         uploads=("business_licence",)),
    Step("security", lazy_gettext("Security attestation"), attestations.validate_security,
         _security_rows, uploads=("assessment_report",),
         contacts=("security_contact", "staff_list")),
    Step("content", lazy_gettext("Content rating"), attestations.validate_content,
         _content_rows, uploads=tuple(
             attestations.qualification_field(code)
             for code in [*attestations.RESTRICTED_PRODUCTS, *attestations.PROFESSIONAL_TOPICS])),
    Step("commitments", lazy_gettext("Consumer protection"), attestations.validate_commitments,
         _commitments_rows),
)}
assert tuple(DEFINITIONS) == EDITABLE_STEPS

# The titles of the task list, the last being the check-your-answers page.
STEP_TITLES: dict[str, LazyString] = {
    **{name: step.title for name, step in DEFINITIONS.items()},
    "review": lazy_gettext("Check your answers and submit"),
}


def summarize(answers: Mapping[str, Mapping[str, Any]], step: str) -> list[tuple[str, Any]]:
    """The rows of one step's saved answers (none for a step not answered)."""
    saved = answers.get(step) or {}
    return DEFINITIONS[step].rows(saved) if saved and step in DEFINITIONS else []
