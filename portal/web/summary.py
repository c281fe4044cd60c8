"""Saved answers as label and value rows, for the review page (and later the moderator's)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portal.base import regions
from portal.base.i18n import format_date, format_number
from portal.base.i18n import gettext as _
from portal.registration import attestations, steps


def _yes_no(value: Any) -> str:
    if value is None:
        return ""
    return _("Yes") if value else _("No")


def _names(codes: list[str] | None, labels: Mapping[str, Any]) -> str:
    return ", ".join(str(labels.get(code, code)) for code in codes or []) or _("None")


def _label(labels: Mapping[str, Any], code: str | None) -> str:
    return str(labels.get(code or "", code or ""))


def summarize(answers: Mapping[str, Mapping[str, Any]], step: str) -> list[tuple[str, Any]]:
    """Rows of (label, value) for one step; documents appear as their document id (int)."""
    a = answers.get(step) or {}
    if not a:
        return []
    if step == "identity":
        return [
            (_("Registering as"), _label(steps.SUBJECT_KINDS, a.get("subject_kind"))),
            (_("Full legal name"), a.get("legal_name", "")),
            (_("Type of ID document"), _label(steps.ID_TYPE_LABELS, a.get("id_type"))),
            (_("ID number"), a.get("id_number_masked", "")),
            (_("Date of birth"), format_date(a.get("date_of_birth", ""))),
            (_("Nationality"), regions.nationality_name(a.get("nationality", ""))),
            (_("Lives in"), f"{regions.province_name(a.get('residence_province', ''))} "
                            f"{a.get('residence_city', '')}"),
            (_("Mobile phone number"), a.get("phone_masked", "")),
            (_("Front of your ID document"), a.get("id_front")),
            (_("Back of your ID document"), a.get("id_back")),
            (_("Consent to processing"), _yes_no(a.get("consent"))),
        ]
    if step == "guardian":
        return [
            (_("Guardian's full legal name"), a.get("guardian_name", "")),
            (_("Type of the guardian's ID document"),
             _label(steps.ID_TYPE_LABELS, a.get("guardian_id_type"))),
            (_("Guardian's ID number"), a.get("guardian_id_number_masked", "")),
            (_("Guardian's date of birth"), format_date(a.get("guardian_date_of_birth", ""))),
            (_("Relationship to you"), _label(steps.RELATIONSHIPS, a.get("relationship"))),
            (_("Guardian's consent"), a.get("consent_name", "")),
            (_("Consent letter signed by the guardian"), a.get("consent_letter")),
        ]
    if step == "roles":
        rows: list[tuple[str, Any]] = [(_("Roles"), _names(a.get("roles"), steps.ROLES))]
        if a.get("org_name"):
            rows += [
                (_("Organisation name"), a.get("org_name", "")),
                (_("Unified social credit code"), a.get("uscc", "")),
                (_("Legal representative"), a.get("legal_representative", "")),
                (_("Province of the registered address"),
                 regions.province_name(a.get("org_province", ""))),
                (_("Business licence"), a.get("business_licence")),
            ]
        for i, channel in enumerate(a.get("channels") or [], start=1):
            text = f"{_label(steps.PLATFORMS, channel.get('platform'))}: {channel.get('handle')}"
            if channel.get("followers") is not None:
                text += " · " + _("%(n)s followers", n=format_number(channel["followers"]))
            rows.append((_("Channel %(n)d", n=i), text))
        rows.append((_("Monthly sales through your livestreams"),
                     _label(steps.MONTHLY_SALES, a.get("monthly_sales"))))
        avatar = a.get("avatar_name") if a.get("uses_avatar") else _("No virtual avatar")
        rows.append((_("Virtual avatar"), avatar))
        if a.get("roster"):
            rows.append((_("Streamers you manage"), ", ".join(a["roster"])))
        return rows
    if step == "security":
        rows = [(str(label), _yes_no(a.get(item)))
                for item, label in attestations.SECURITY_ITEMS.items()]
        if a.get("staff_list"):
            rows.append((_("Named staff"), a["staff_list"]))
        rows.append((_("Security contact"), a.get("security_contact", "")))
        rows.append((_("Your own shop site"), a.get("site_domain") or _("No")))
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
    if step == "content":
        rows = [
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
    if step == "commitments":
        confirmed = sum(
            1 for code in attestations.PROHIBITED_CONDUCT if a.get(f"prohibited_{code}")
        )
        channel = _label(attestations.COMPLAINT_CHANNELS, a.get("complaint_channel"))
        return [
            (_("Your return policy"),
             _label(attestations.RETURN_POLICIES, a.get("return_policy"))),
            (_("Complaints"), f"{channel}: {a.get('complaint_contact', '')}"),
            (_("Answer within"), _("%(hours)s hours", hours=a.get("response_hours", ""))),
            (_("Paid promotion labelled"), _yes_no(a.get("paid_promotion_disclosure"))),
            (_("Prohibited conduct"), _("%(n)d of %(total)d confirmed", n=confirmed,
                                        total=len(attestations.PROHIBITED_CONDUCT))),
        ]
    return []
