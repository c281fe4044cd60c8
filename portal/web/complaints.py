"""A buyer follows a report by its reference: no account, the reference is the key.

The page says what the buyer may know (the registration, what was reported, when it was
received, its deadline, its state in words) and nothing the moderators keep: not the buyer's
own contact (kept in the case's description), not the description, notes or closing note.
Unknown references are counted per network address like reports are, and looking up stops for
a while once too many were wrong: a reference cannot be found by trying."""

from __future__ import annotations

from typing import Any

from limits import parse
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.base import throttle
from portal.base.db import utcnow
from portal.base.i18n import gettext as _
from portal.oversight import cases
from portal.records import registry
from portal.registration.models import Registration
from portal.web import flash
from portal.web.core import namespaced, page, redirect, render

LOOKUP = "complaint_lookup"


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _may_look_up(request: Request) -> bool:
    """Whether this address may look a reference up now (without counting this lookup)."""
    rule = parse(request.app.state.settings.report_rate_limit)
    return bool(request.app.state.limiter.test(rule, LOOKUP, _address(request)))


def _wrong(request: Request) -> None:
    """Count a reference that was not found against this address."""
    throttle.allow(request.app.state.limiter, request.app.state.settings.report_rate_limit,
                   LOOKUP, _address(request))


def _form(request: Request, *, reference: str = "", error: str = "", status_code: int = 200,
          template: str = "complaints/find.html") -> Response:
    errors = {"reference": error} if error else {}
    response = render(request, template, {"errors": errors, "values": {"reference": reference}},
                      status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


def _throttled(request: Request, reference: str) -> Response:
    return _form(request, reference=reference, status_code=429, error=_(
        "You have looked up several unknown references in a short time. Try again later."))


@page()
def find_complaint(request: Request) -> Response:
    """The small form that takes a reference; a well-formed one goes to the report's page."""
    typed = request.query_params.get("reference", "")[:60]
    if not typed.strip():
        return _form(request)
    reference = cases.normalize_reference(typed)
    if reference is None:
        return _form(request, reference=typed, status_code=422, error=_(
            "Enter the reference you were given, like TS-7K2QD-M9X4B"))
    return redirect(str(request.app.url_path_for("complaints:show", reference=reference)))


def _context(request: Request, case: cases.Case) -> dict[str, Any]:
    db = request.state.db
    registration = db.get(Registration, case.registration_id)
    found = registry.public_record(db, registration.number) if registration else None
    now = utcnow()
    return {
        "case": case,
        "number": registration.number if registration else "",
        "certificate": found["certificate"] if found else None,
        "category": cases.CATEGORIES.get(case.category, ""),
        "state": cases.public_state(db, case),
        "overdue": cases.is_overdue(case, now),
        "sent": bool(flash.take(request, request.url.path).get("sent")),
    }


@page()
def show_complaint(request: Request) -> Response:
    typed = request.path_params["reference"][:60]
    if not _may_look_up(request):
        return _throttled(request, typed)
    case = cases.by_reference(request.state.db, typed)
    if case is None:
        _wrong(request)
        return _form(request, reference=typed, status_code=404,
                     template="complaints/unknown.html")
    if case.reference != typed:
        # Typed by hand in another form (lower case, without hyphens): the page's own address.
        return redirect(str(request.app.url_path_for("complaints:show",
                                                     reference=case.reference)))
    response = render(request, "complaints/show.html", _context(request, case))
    # The address is the key to the report: no cache keeps the page.
    response.headers["Cache-Control"] = "no-store"
    return response


routes = namespaced("complaints", [
    Route("/complaints", find_complaint, methods=["GET"], name="find"),
    Route("/complaints/{reference}", show_complaint, methods=["GET"], name="show"),
])
