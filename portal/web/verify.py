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


def _page(request: Request, *, errors: dict[str, str] | None = None,
          values: dict[str, str] | None = None, status_code: int = 200) -> Response:
    number = request.path_params["number"].upper()
    found = registry.public_record(request.state.db, number)
    if found is None:
        return _unknown(request, number)
    return render(request, "verify/show.html", {
        **found, "number": number, "roles": steps.ROLES, "audiences": attestations.AUDIENCES,
        "categories": attestations.CONTENT_CATEGORIES,
        "platforms": steps.PLATFORMS, "case_categories": cases.CATEGORIES,
        "sanction_kinds": sanctions.KINDS, "sanction_functions": sanctions.FUNCTIONS,
        "errors": errors or {}, "values": values or {},
        "reported": request.query_params.get("reported") == "1",
    }, status_code=status_code)


@page()
def show_registration(request: Request) -> Response:
    return _page(request)


@page()
def report_problem(request: Request) -> Response:
    """A buyer reports a problem: it opens a case for the moderators. No account needed."""
    form = request.state.form
    values = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    address = request.client.host if request.client else "unknown"
    if not throttle.allow(request.app.state.limiter,
                          request.app.state.settings.report_rate_limit, "report", address):
        return _page(request, values=values, status_code=429, errors={
            "description": _("You have sent several reports in a short time. Try again later.")})
    registration = request.state.db.exec(select(Registration).where(
        Registration.number == request.path_params["number"].upper())).first()
    if registration is None:
        return _unknown(request, request.path_params["number"].upper())
    contact = form_value(form, "contact").strip()[:200]
    description = form_value(form, "description")
    if contact:
        label = _("Buyer's contact:")
        description = f"{description.strip()}\n\n{label} {contact}"
    try:
        cases.open_case(request.state.db, registration=registration,
                        category=form_value(form, "category"), description=description,
                        source="complaint")
    except FormErrors as exc:
        request.state.db.rollback()
        return _page(request, errors=exc.errors, values=values, status_code=422)
    return redirect(str(request.app.url_path_for("verify:show", number=registration.number))
                    + "?reported=1#report")


routes = [
    Route("/verify", find_registration, methods=["GET"], name="verify:find"),
    Route("/verify/{number}", show_registration, methods=["GET"], name="verify:show"),
    Route("/verify/{number}/report", report_problem, methods=["POST"], name="verify:report"),
]
