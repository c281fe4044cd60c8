"""The public verification page: anyone (a buyer, a platform) checks a registration number."""

from __future__ import annotations

from sqlmodel import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.base import throttle
from portal.base.errors import FormErrors
from portal.base.i18n import gettext as _
from portal.oversight import cases
from portal.records import registry
from portal.registration import attestations, sanctions, steps
from portal.registration.models import Registration
from portal.web import flash
from portal.web.core import form_value, page, redirect, render


@page()
def find_registration(request: Request) -> Response:
    number = request.query_params.get("number", "").strip().upper()
    if steps.NUMBER_PATTERN.match(number):
        return redirect(str(request.app.url_path_for("verify:show", number=number)))
    return render(request, "verify/find.html", {"number": number[:30], "invalid": bool(number)},
                  status_code=422 if number else 200)


def _unknown(request: Request, number: str) -> Response:
    """No registration has this number: say so, and what a buyer can do (404)."""
    return render(request, "verify/unknown.html", {"number": number[:30]}, status_code=404)


# States in which a seller may sell, and buyers are shown how to complain to them.
SELLING = ("approved", "suspended")


def seller_commitments(registration: Registration) -> dict[str, str] | None:
    """The seller's consumer-protection commitments in words, for the public page.

    The complaint contact is the seller's business contact for buyers' complaints: the
    commitments step asks for it precisely so that it is published here (and on the seller's
    own pages), unlike the identity's phone number, which stays sealed. The commitments are
    kept in clear in the answers; retention erases the contact with the other personal values
    once a registration has ended, when this page no longer shows it anyway."""
    if registration.status not in SELLING:
        return None
    given = registration.answers.get("commitments") or {}
    if not isinstance(given, dict) or not given.get("return_policy"):
        return None
    policy = attestations.RETURN_POLICIES.get(str(given.get("return_policy")))
    channel = str(given.get("complaint_channel") or "")
    hours = str(given.get("response_hours") or "")
    return {
        "return_policy": str(policy) if policy else "",
        "channel": channel if channel in attestations.COMPLAINT_CHANNELS else "",
        "channel_label": str(attestations.COMPLAINT_CHANNELS.get(channel, "")),
        "contact": str(given.get("complaint_contact") or ""),
        "response_hours": hours if hours in attestations.RESPONSE_TIMES else "",
    }


def _page(request: Request, *, errors: dict[str, str] | None = None,
          values: dict[str, str] | None = None, status_code: int = 200) -> Response:
    number = request.path_params["number"].upper()
    found = registry.public_record(request.state.db, number)
    if found is None:
        return _unknown(request, number)
    return render(request, "verify/show.html", {
        **found, "number": number, "roles": steps.ROLES, "audiences": attestations.AUDIENCES,
        "categories": attestations.CONTENT_CATEGORIES, "id_types": steps.ID_TYPE_LABELS,
        "platforms": steps.PLATFORMS, "case_categories": cases.CATEGORIES,
        "sanction_kinds": sanctions.KINDS, "sanction_functions": sanctions.FUNCTIONS,
        "commitments": seller_commitments(found["registration"]),
        "answer_days": cases.ANSWER_DAYS["complaint"],
        "errors": errors or {}, "values": values or {},
    }, status_code=status_code)


@page()
def show_registration(request: Request) -> Response:
    # A refused report left its errors and what was typed for this page (post/redirect/get).
    shown = flash.take(request, request.url.path)
    return _page(request, errors=shown.get("errors"), values=shown.get("values"))


def _refused(request: Request, number: str, errors: dict[str, str], values: dict[str, str],
             status_code: int) -> Response:
    """303 back to the registration's page, which shows the errors and what was typed once
    (sealed in the session: the contact typed is personal data); a form too long to keep
    there is shown at the POST's address, so nothing typed is lost."""
    page_path = str(request.app.url_path_for("verify:show", number=number))
    if flash.keep(request, page_path, {"errors": errors, "values": values}):
        return redirect(page_path + "#report")
    return _page(request, errors=errors, values=values, status_code=status_code)


@page()
def report_problem(request: Request) -> Response:
    """A buyer reports a problem: it opens a case for the moderators. No account needed.
    The buyer is sent to the report's own page, which its reference opens; a refused report
    goes back to the registration's page (post/redirect/get)."""
    form = request.state.form
    values = {k: v[:5000] for k, v in form.multi_items()
              if isinstance(v, str) and k in ("category", "description", "contact")}
    number = request.path_params["number"].upper()
    registration = request.state.db.exec(select(Registration).where(
        Registration.number == number)).first()
    if registration is None or registration.status == "draft":
        return _unknown(request, number)
    address = request.client.host if request.client else "unknown"
    if not throttle.allow(request.app.state.limiter,
                          request.app.state.settings.report_rate_limit, "report", address):
        return _refused(request, registration.number, errors={
            "description": _("You have sent several reports in a short time. Try again later.")},
            values=values, status_code=429)
    contact = form_value(form, "contact").strip()[:200]
    description = form_value(form, "description")
    if contact:
        label = _("Buyer's contact:")
        description = f"{description.strip()}\n\n{label} {contact}"
    try:
        case = cases.open_case(request.state.db, registration=registration,
                               category=form_value(form, "category"), description=description,
                               source="complaint")
    except FormErrors as exc:
        request.state.db.rollback()
        return _refused(request, registration.number, exc.errors, values, 422)
    # The buyer lands on the page that follows the report, which says it was sent (once).
    page_path = str(request.app.url_path_for("complaints:show", reference=case.reference))
    flash.keep(request, page_path, {"sent": True})
    return redirect(page_path)


routes = [
    Route("/verify", find_registration, methods=["GET"], name="verify:find"),
    Route("/verify/{number}", show_registration, methods=["GET"], name="verify:show"),
    Route("/verify/{number}/report", report_problem, methods=["POST"], name="verify:report"),
]
