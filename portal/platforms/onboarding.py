"""Setting up an API client (the admin's pages and ``portal create-platform`` /
``create-authority`` share these): create it with its first key and webhook, parse an
authority's jurisdiction, and record what a platform declares (REGULATION R2: the ICP filing
number, checked for its format; the security assessment; moderation staffing), each change in
the record's history (``portal.platforms.filings``). The caller commits."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from sqlmodel import Session

from portal.base import identity, regions
from portal.base.errors import FormErrors
from portal.base.forms import Checker, whole_number
from portal.base.i18n import gettext as _
from portal.base.identity import china_today, parse_date
from portal.base.settings import Settings
from portal.platforms import clients, filings, webhooks

DETAIL_FIELDS = ("filing_number", "security_assessment", "security_assessed_on",
                 "moderators_employed", "moderation_hours", "rooms_per_moderator")


_CODE = re.compile(r"^\d{2}(\d{2}){0,2}$")


def parse_jurisdiction(raw: str, *, field: str = "jurisdiction") -> str:
    """``national``, or GB/T 2260 codes (a province ``33``, a city ``3301``, a county
    ``330106``) separated by commas; ``330000`` is read as ``33`` and ``330100`` as ``3301``.

    Returns the normalised form ("national" or "33,3301", as portal.oversight.auditing reads
    it); raises FormErrors otherwise.
    """
    text = (raw or "").strip()
    if text.lower() in ("national", "全国"):
        return "national"
    codes: set[str] = set()
    for part in re.split(r"[\s,，、]+", text):
        if not part:
            continue
        code = part
        while len(code) > 2 and code.endswith("00"):
            code = code[:-2]
        if not _CODE.match(code) or code[:2] not in regions.PROVINCES:
            raise FormErrors({field: _("%(code)s is not a province or city code",
                                       code=part[:20])})
        codes.add(code)
    if not codes:
        raise FormErrors({field: _("Enter national, or the region codes it covers")})
    return ",".join(sorted(codes))


def new_client(
    session: Session, settings: Settings, *, name: str, kind: str, webhook_url: str = "",
    jurisdiction: str = "national", created_by: int | None = None,
) -> tuple[clients.ApiClient, str, str | None]:
    """Create a client with its first key; return it, the key and the webhook secret (both
    in clear, the only time they are seen). The caller commits."""
    errors: dict[str, str] = {}
    clean_jurisdiction = "national"
    if kind == "authority":
        try:
            clean_jurisdiction = parse_jurisdiction(jurisdiction)
        except FormErrors as exc:
            errors.update(exc.errors)
        if webhook_url.strip():
            errors["webhook_url"] = _("Only platforms receive webhooks: leave this empty")
    client: clients.ApiClient | None = None
    try:
        client = clients.create_client(session, name=name, kind=kind,
                                       jurisdiction=clean_jurisdiction,
                                       created_by=created_by)
    except FormErrors as exc:
        errors = {**exc.errors, **errors}
    if errors or client is None:
        raise FormErrors(errors)
    secret = set_webhook(session, settings, client, webhook_url) if webhook_url.strip() else None
    key = clients.issue_key(session, client)
    return client, key, secret


def set_webhook(session: Session, settings: Settings, client: clients.ApiClient,
                url: str) -> str | None:
    """Store the platform's webhook URL (checked by portal.platforms.webhooks); the new signing
    secret in clear when one was made."""
    return webhooks.configure(session, settings, client, url)


def save_details(session: Session, client: clients.ApiClient,
                 form: Mapping[str, Sequence[str]], *, actor_id: int | None = None) -> None:
    """Record what a platform declares (R2 and its moderation staffing), each change kept in
    the record's history with who made it; the caller commits."""
    c = Checker(form)
    c.text("filing_number", _("Filing number"), max_length=100)
    if c.data["filing_number"] and "filing_number" not in c.errors:
        try:
            c.data["filing_number"] = identity.validate_icp(c.data["filing_number"])
        except ValueError as exc:
            c.error("filing_number", str(exc))
    c.text("security_assessment", _("Security assessment summary"), max_length=4000,
           multiline=True)
    assessed = c.raw("security_assessed_on").strip()
    c.data["security_assessed_on"] = ""
    if assessed:
        try:
            day = parse_date(assessed)
        except ValueError as exc:
            c.error("security_assessed_on", str(exc))
        else:
            if day > china_today():
                c.error("security_assessed_on",
                        _("The assessment date must be today or in the past"))
            else:
                c.data["security_assessed_on"] = day.isoformat()
    _count(c, "moderators_employed", _("Content moderators employed"), 0, 10_000_000)
    c.text("moderation_hours", _("Hours covered by moderators"), max_length=100)
    _count(c, "rooms_per_moderator", _("Live rooms per moderator"), 1, 1_000_000)
    if c.errors:
        raise FormErrors({name: c.errors[name] for name in DETAIL_FIELDS if name in c.errors})
    for name in DETAIL_FIELDS:
        filings.note_change(session, client, name, getattr(client, name), c.data[name],
                            actor_id=actor_id)
        setattr(client, name, c.data[name])
    session.add(client)
    session.flush()


def _count(c: Checker, name: str, label: str, minimum: int, maximum: int) -> None:
    """An optional whole number within bounds (blank: not declared)."""
    raw = c.raw(name).replace(",", "").replace("，", "").strip()
    c.data[name] = None
    if not raw:
        return
    value = whole_number(raw)
    if value is None:
        c.error(name, _("%(label)s must be a whole number", label=label))
    elif not minimum <= value <= maximum:
        c.error(name, _("%(label)s must be between %(min)d and %(max)d", label=label,
                        min=minimum, max=maximum))
    else:
        c.data[name] = value
