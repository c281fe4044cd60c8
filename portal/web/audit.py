"""The auditor's console: search, a registration's whole record (read-only), its integrity,
and exports of the search.

Everything is limited to the user's jurisdiction (DESIGN §3): a registration outside it is not
found. Screens and exports show masked values; a clear value is revealed only with a reason,
through the moderators' service, which logs it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from portal.accounts import Role, User
from portal.base import identity, jurisdictions, regions
from portal.base.db import utcnow
from portal.base.errors import FormErrors, NotFound
from portal.base.i18n import LazyString, lazy_gettext
from portal.base.i18n import gettext as _
from portal.base.replicas import reading
from portal.oversight import auditing, cases, full_record, review
from portal.oversight.exports import (  # noqa: F401  (EXPORT_COLUMNS: kept importable from here)
    EXPORT_COLUMNS,
    export_filename,
    export_rows,
)
from portal.records import certificates
from portal.records.registry import RegistryEntry
from portal.registration import attestations, risk, sanctions, screening, site_probe, steps
from portal.registration.models import Registration
from portal.web import flash
from portal.web.core import form_value, namespaced, page, redirect, render

logger = logging.getLogger("portal")

VIEWERS = {Role.auditor, Role.admin}

# Drafts are in no search: they have no registry row.
STATUSES: dict[str, LazyString] = {
    "submitted": lazy_gettext("Submitted"),
    "changes_requested": lazy_gettext("Changes requested"),
    "approved": lazy_gettext("Approved"),
    "rejected": lazy_gettext("Rejected"),
    "suspended": lazy_gettext("Suspended"),
    "revoked": lazy_gettext("Revoked"),
    "expired": lazy_gettext("Expired"),
    "deregistered": lazy_gettext("Deregistered"),
}
KINDS: dict[str, LazyString] = {
    "person": lazy_gettext("Person"),
    "organization": lazy_gettext("Organisation"),
}
Q_MAX = 100


# --- Filters ----------------------------------------------------------------------------------


def region_options(jurisdiction: str) -> list[tuple[str, str]]:
    """The regions an auditor may narrow a search to: those of the jurisdiction."""
    try:
        codes = jurisdictions.parse_jurisdiction(jurisdiction)
    except FormErrors:
        return []
    options = []
    for code in tuple(regions.PROVINCES) if codes is None else codes:
        options.append((code, regions.region_name(code)))
        if len(code) == 2:  # a province's cities, to narrow it further
            options += [(city, regions.region_name(city)) for city, _name in regions.cities(code)]
    return options


def _day_start(raw: str) -> datetime:
    """The start of a typed day in China (ValueError with a message when it is no date)."""
    return datetime.combine(identity.parse_date(raw), time(0), tzinfo=identity.CHINA_TZ)


def read_filters(params: Mapping[str, str], jurisdiction: str
                 ) -> tuple[auditing.Filters, dict[str, str], dict[str, str]]:
    """The search's filters from a query string: (filters, the values to echo, errors).

    A choice that is not on offer is ignored, as if left empty; a date that is not one is an
    error shown to the person.
    """
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    filters = auditing.Filters()
    q = " ".join(params.get("q", "").split())[:Q_MAX]
    if q:
        values["q"] = filters.q = q
    for name, allowed in (("status", STATUSES), ("role", steps.ROLES),
                          ("risk_level", risk.LEVELS), ("subject_kind", KINDS),
                          ("region", dict(region_options(jurisdiction)))):
        value = params.get(name, "")
        if value and value in allowed:
            values[name] = value
            setattr(filters, name, value)
    for name in ("submitted_from", "submitted_to"):
        raw = params.get(name, "").strip()[:30]
        if not raw:
            continue
        values[name] = raw
        try:
            start = _day_start(raw)
        except ValueError as exc:
            errors[name] = str(exc)
            continue
        values[name] = start.date().isoformat()
        # "To" includes the whole day it names.
        setattr(filters, name, start if name == "submitted_from" else start + timedelta(days=1))
    if (filters.submitted_from and filters.submitted_to
            and filters.submitted_to <= filters.submitted_from):
        errors["submitted_to"] = _("The end date must be on or after the start date")
    if params.get("flagged") in ("yes", "on", "true"):
        values["flagged"] = "yes"
        filters.flagged = True
    return filters, values, errors


def _after(params: Mapping[str, str]) -> str:
    after = params.get("after", "").strip().upper()
    return after if steps.NUMBER_PATTERN.match(after) else ""


# --- Search -----------------------------------------------------------------------------------


@page(roles=VIEWERS)
def show_search(request: Request) -> Response:
    """Search the registrations of the jurisdiction, a page at a time."""
    user: User = request.state.user
    db = request.state.db
    filters, values, errors = read_filters(request.query_params, user.jurisdiction)
    after = _after(request.query_params)
    results = None
    total = 0
    if not errors:
        # Read from the replica when there is one (DESIGN §9): nothing here is the auditor's own.
        with reading(db, request.app.state.engine, request.app.state.read_engine) as reads:
            total = auditing.count(reads, user.jurisdiction, filters, cap=auditing.COUNT_CAP)
            results = auditing.search(reads, user.jurisdiction, filters, after=after,
                                      many=total > auditing.COUNT_CAP)
    query = urlencode(values)
    return render(request, "audit/search.html", {
        "values": values, "errors": errors, "results": results, "total": total,
        "count_cap": auditing.COUNT_CAP,
        "after": after, "query": query,
        "next_query": urlencode({**values, "after": results.next_after})
        if results and results.next_after else "",
        "statuses": STATUSES, "roles": steps.ROLES, "risk_levels": risk.LEVELS,
        "kinds": KINDS, "region_options": region_options(user.jurisdiction),
        "region_name": regions.region_name,
        "jurisdiction": _jurisdiction_text(user.jurisdiction),
    }, status_code=422 if errors else 200)


# --- Look-up by identity ----------------------------------------------------------------------


def _lookup_kinds() -> list[tuple[str, Any]]:
    return [*steps.ID_TYPE_LABELS.items(),
            (auditing.USCC, lazy_gettext("Unified social credit code (organisation)"))]


def _lookup_context(request: Request, *, errors: dict[str, str] | None = None,
                    values: dict[str, str] | None = None,
                    found: list[str] | None = None) -> dict[str, Any]:
    """The look-up page. What a look-up left for it (``flash``): the numbers of the
    registrations found (read again here, within the jurisdiction), or the errors; and the type
    and reason typed. Never the ID number: it goes into no address, session or log line, and a
    refused look-up asks for it again."""
    user: User = request.state.user
    rows: list[tuple[Registration, RegistryEntry]] | None = None
    if found is not None:
        rows = []
        for number in found:
            try:
                registration = auditing.registration_for(request.state.db, user.jurisdiction,
                                                         str(number))
            except NotFound:
                continue
            registry_row = request.state.db.get(RegistryEntry, registration.number)
            if registry_row is not None:
                rows.append((registration, registry_row))
    return {"kinds": _lookup_kinds(), "errors": errors or {}, "values": values or {},
            "found": rows, "statuses": STATUSES, "region_name": regions.region_name}


@page(roles=VIEWERS)
def show_lookup(request: Request) -> Response:
    """The look-up form; after a look-up (post/redirect/get), its results or errors, once."""
    shown = flash.take(request, request.url.path)
    found = shown.get("found")
    return render(request, "audit/lookup.html", _lookup_context(
        request, errors=shown.get("errors") or {}, values=shown.get("values") or {},
        found=[str(n) for n in found] if isinstance(found, list) else None))


@page(roles=VIEWERS)
def lookup(request: Request) -> Response:
    """Find the registrations of the ID document or organisation in front of the inspector, by
    its number, with a reason (logged as a personal-data access); 303 to the form's page, which
    shows what was found once, so that a refresh never looks up (and logs) again."""
    user: User = request.state.user
    form = request.state.form
    values = {name: form_value(form, name) for name in ("id_type", "id_number", "reason")}
    number = values.pop("id_number")
    try:
        found = auditing.lookup(request.state.db, request.app.state.settings,
                                jurisdiction=user.jurisdiction, id_type=values["id_type"],
                                number=number, reason=values["reason"],
                                actor_id=user.id, actor_role=str(user.role))
    except FormErrors as exc:
        request.state.db.rollback()
        return _lookup_shown(request, status_code=422, errors=exc.errors, values=values)
    # The number is not shown back: the results say what was found, the log says who asked.
    return _lookup_shown(request, status_code=200, values=values,
                         found=[r.number for r in found if r.number])


def _lookup_shown(request: Request, *, status_code: int, **shown: Any) -> Response:
    """303 to the look-up's page, which shows ``shown`` once; that page at the POST's address
    when it is too long to keep in the session."""
    page_path = str(request.app.url_path_for("audit:lookup_form"))
    if flash.keep(request, page_path, shown):
        return redirect(page_path + ("#found-title" if "found" in shown else ""))
    return render(request, "audit/lookup.html", _lookup_context(request, **shown),
                  status_code=status_code)


def _jurisdiction_text(jurisdiction: str) -> str:
    try:
        codes = jurisdictions.parse_jurisdiction(jurisdiction)
    except FormErrors:
        return _("None (the account's jurisdiction is not valid)")
    if codes is None:
        return _("National")
    return ", ".join(name for _code, name in region_options(jurisdiction))


# --- Exports ----------------------------------------------------------------------------------


def _export(request: Request, fmt: str) -> Response:
    user: User = request.state.user
    filters, values, errors = read_filters(request.query_params, user.jurisdiction)
    if errors:
        # Only a hand-made address has a bad date: show the search with its message.
        raise HTTPException(status_code=400)
    name = export_filename(values, utcnow(), fmt)
    body = export_rows(request.app.state.engine, user.jurisdiction, filters, fmt,
                       user_id=user.id, logged={**values, "jurisdiction": user.jurisdiction},
                       read_engine=request.app.state.read_engine)
    return StreamingResponse(
        body,
        media_type="text/csv; charset=utf-8" if fmt == "csv" else "application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"',
                 "Cache-Control": "private, no-store"},
    )


@page(roles=VIEWERS)
def export_csv(request: Request) -> Response:
    """Every registration the search finds, as CSV, streamed."""
    return _export(request, "csv")


@page(roles=VIEWERS)
def export_json(request: Request) -> Response:
    """Every registration the search finds, as a JSON array, streamed."""
    return _export(request, "json")


# --- A registration's record ------------------------------------------------------------------


def _registration(request: Request) -> Registration:
    try:
        return auditing.registration_for(request.state.db, request.state.user.jurisdiction,
                                         request.path_params["number"])
    except NotFound:
        raise HTTPException(status_code=404) from None


# Who acted, by the role recorded with each step of the history and each reveal.
ROLE_NAMES: dict[str, LazyString] = {
    "applicant": lazy_gettext("applicant"),
    "moderator": lazy_gettext("moderator"),
    "auditor": lazy_gettext("auditor"),
    "admin": lazy_gettext("administrator"),
    "system": lazy_gettext("system"),
    "platform": lazy_gettext("platform"),
    "authority": lazy_gettext("authority"),
}


# Staff read the steps' titles as their own, not the applicant's ("Your identity").
STAFF_STEP_TITLES: dict[str, LazyString] = {**steps.STEP_TITLES,
                                            "identity": lazy_gettext("Identity")}


def answer_sections(answers: Mapping[str, Any], wanted: Iterable[str]
                    ) -> list[tuple[str, Any, list[tuple[str, Any]]]]:
    """The answers of each wanted step that has some, as (step, title, rows of label and value)."""
    return [(s, STAFF_STEP_TITLES[s], steps.summarize(answers, s)) for s in wanted
            if answers.get(s)]


def current_steps(answers: Mapping[str, Any]) -> list[str]:
    """The steps the registration needs today (the guardian's only for a minor)."""
    return [s for s in steps.applicable_steps(answers, identity.china_today()) if s != "review"]


def revealable(registration: Registration) -> dict[str, LazyString]:
    """The clear values this registration holds, which staff may reveal with a reason."""
    held = review.revealable_fields(registration)
    return {field: label for field, label in review.REVEAL_LABELS.items() if field in held}


# The words for the codes a screening flag's detail holds (what it found), so that staff read
# "Only named staff operate the live room", not "named_staff".
SECURITY_ITEMS: dict[str, LazyString] = {
    **attestations.SECURITY_ITEMS,
    "https_only": lazy_gettext("The shop site is served over HTTPS only"),
}
PROBE_CHECKS: dict[str, LazyString] = {
    site_probe.DOMAIN_VALID: lazy_gettext("The domain name is valid"),
    site_probe.OUTBOUND_ALLOWED: lazy_gettext("The site is on the public internet"),
    site_probe.HTTPS_REACHABLE: lazy_gettext("The site answers over HTTPS"),
    site_probe.CERTIFICATE_VALID: lazy_gettext("Its certificate is valid for the domain"),
    site_probe.HTTP_REDIRECTS_TO_HTTPS: lazy_gettext("Plain HTTP redirects to HTTPS"),
    site_probe.HSTS: lazy_gettext("It asks browsers to use HTTPS only (HSTS)"),
    site_probe.SECURITY_HEADERS: lazy_gettext("It sends the security headers"),
}


def record_context(record: full_record.FullRecord, *, audit_view: bool) -> dict[str, Any]:
    """What templates/partials/_record.html reads, on the auditor's page and the moderator's.

    ``audit_view`` adds the auditor's parts: each version as submitted, why each step of the
    history happened, and the certificates' files.
    """
    registration = record.registration
    return {
        "record": record,
        "registration": registration,
        "audit_view": audit_view,
        "can_decide": False,
        "people": record.people,
        "sections": answer_sections(record.answers,
                                   current_steps(record.registration.answers)),
        "submitted_versions": [(v, answer_sections(v.answers, steps.EDITABLE_STEPS))
                               for v in record.submissions] if audit_view else [],
        "region_name": regions.region_name(registration.region),
        "kinds": KINDS,
        "roles": steps.ROLES,
        "risk_levels": risk.LEVELS,
        "statuses": {"draft": lazy_gettext("Draft"), **STATUSES},
        "flag_names": screening.FLAGS,
        "hold_codes": screening.HOLDS,
        "security_items": SECURITY_ITEMS,
        "topic_names": attestations.PROFESSIONAL_TOPICS,
        "product_names": attestations.RESTRICTED_PRODUCTS,
        "probe_checks": PROBE_CHECKS,
        "reasons": review.REJECTION_REASONS,
        "step_titles": STAFF_STEP_TITLES,
        "sanction_kinds": sanctions.KINDS,
        "functions": sanctions.FUNCTIONS,
        "case_categories": cases.CATEGORIES,
        "case_sources": cases.SOURCES,
        "role_names": ROLE_NAMES,
        "access_labels": review.ACCESS_LABELS,
        "reveal_labels": review.REVEAL_LABELS,
        "revealable": revealable(registration),
    }


def _record_context(request: Request, registration: Registration, **extra: Any
                    ) -> dict[str, Any]:
    record = full_record.build_record(request.state.db, registration, masked=True)
    return {
        **record_context(record, audit_view=True),
        "integrity": None,
        "errors": {},
        "values": {},
        "revealed": {},
        **extra,
    }


@page(roles=VIEWERS)
def show_record(request: Request) -> Response:
    """A registration's whole record, read-only; with ``?check=integrity``, its integrity."""
    registration = _registration(request)
    # What a reveal left for this page to show once (post/redirect/get, ``flash``).
    shown = flash.take(request, request.url.path)
    extra: dict[str, Any] = {k: v for k, v in shown.items() if k in ("errors", "values",
                                                                     "revealed")}
    if request.query_params.get("check") == "integrity":
        extra["integrity"] = auditing.integrity(request.state.db, registration)
    return render(request, "audit/record.html", _record_context(request, registration, **extra))


@page(roles=VIEWERS)
def reveal_value(request: Request) -> Response:
    """Show one clear value once, after logging the auditor's reason."""
    registration = _registration(request)
    field = form_value(request.state.form, "field")
    reason = form_value(request.state.form, f"reason_{field}")
    try:
        value = review.reveal(request.state.db, request.app.state.settings,
                              registration=registration, actor=request.state.user, field=field,
                              reason=reason)
    except FormErrors as exc:
        request.state.db.rollback()
        return _shown_again(request, registration, status_code=422, errors=exc.errors,
                            values={f"reason_{field}": reason[:500]})
    # The reveal is logged (committed with the redirect); the record shows the value once.
    response = _shown_again(request, registration, status_code=200, revealed={field: value})
    response.headers["Cache-Control"] = "no-store"
    return response


def _shown_again(request: Request, registration: Registration, *, status_code: int,
                 anchor: str = "#reveal-title", **shown: Any) -> Response:
    """303 to the record, which shows ``shown`` once; the record at the POST's address when
    it is too long to keep in the session."""
    page_path = str(request.app.url_path_for("audit:record", number=registration.number))
    if flash.keep(request, page_path, shown):
        return redirect(page_path + anchor)
    return render(request, "audit/record.html",
                  _record_context(request, registration, **shown), status_code=status_code)


@page(roles=VIEWERS)
def download_certificate(request: Request) -> Response:
    """One certificate of the registration, exactly as signed (its JCS bytes)."""
    registration = _registration(request)
    certificate = request.state.db.get(certificates.Certificate, request.path_params["serial"])
    if certificate is None or certificate.registration_id != registration.id:
        raise HTTPException(status_code=404)
    return Response(certificate.document, media_type="application/json", headers={
        "Content-Disposition":
            f'attachment; filename="{certificate.number}-{certificate.serial}.json"'})


routes = namespaced("audit", [
    Route("/audit", show_search, methods=["GET"], name="search"),
    Route("/audit/lookup", show_lookup, methods=["GET"], name="lookup_form"),
    Route("/audit/lookup", lookup, methods=["POST"], name="lookup"),
    Route("/audit/export.csv", export_csv, methods=["GET"], name="export_csv"),
    Route("/audit/export.json", export_json, methods=["GET"], name="export_json"),
    Route("/audit/registrations/{number}", show_record, methods=["GET"], name="record"),
    Route("/audit/registrations/{number}/reveal", reveal_value, methods=["POST"],
          name="reveal"),
    Route("/audit/registrations/{number}/certificates/{serial}", download_certificate,
          methods=["GET"], name="certificate"),
])
