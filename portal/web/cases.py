"""The moderators' case queue: open, investigate, close by dismissal or by a sanction."""

from __future__ import annotations

from typing import Any

from sqlmodel import select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.accounts import Role, User
from portal.base.db import utcnow
from portal.base.errors import FormErrors, NotFound
from portal.oversight import cases, enforcement, review
from portal.platforms import notify
from portal.platforms.clients import ApiClient
from portal.registration import sanctions
from portal.registration.models import Registration
from portal.web.core import form_value, namespaced, page, redirect, render, send_after_commit
from portal.web.review import chosen_functions, detail_context, end_of_day

MODERATORS = {Role.moderator, Role.admin}


def _form_values(request: Request) -> dict[str, Any]:
    form = request.state.form
    values: dict[str, Any] = {k: v for k, v in form.multi_items() if isinstance(v, str)} \
        if form else {}
    values["functions"] = chosen_functions(form)
    return values


@page(roles=MODERATORS)
def show_cases(request: Request) -> Response:
    """Open cases oldest first (or earliest deadline first, or only the overdue ones), closed
    cases last closed first."""
    query = request.query_params
    status = "closed" if query.get("status") == "closed" else "open"
    order = "deadline" if query.get("order") == "deadline" and status == "open" else "opened"
    overdue_only = status == "open" and query.get("overdue") == "1"
    now = utcnow()
    return render(request, "cases/list.html", {
        "rows": cases.cases_page(request.state.db, status=status, order=order,
                                 overdue_at=now if overdue_only else None),
        "status": status, "order": order, "overdue_only": overdue_only, "now": now,
        "is_overdue": cases.is_overdue, "answer_days": cases.ANSWER_DAYS,
        "categories": cases.CATEGORIES, "sources": cases.SOURCES,
    })


def _case_context(request: Request, case: cases.Case, **extra: Any) -> dict[str, Any]:
    db = request.state.db
    return {
        "case": case,
        "registration": db.get(Registration, case.registration_id),
        "notes": cases.notes_of(db, case.id),  # type: ignore[arg-type]
        "platform": db.get(ApiClient, case.client_id) if case.client_id else None,
        "authors": {u.id: u.email
                    for u in db.exec(select(User).where(User.role != Role.applicant))},
        "categories": cases.CATEGORIES, "sources": cases.SOURCES,
        "overdue": cases.is_overdue(case, utcnow()), "answer_days": cases.ANSWER_DAYS,
        "sanction_kinds": sanctions.KINDS, "functions": sanctions.FUNCTIONS,
        "errors": {}, "values": {}, **extra,
    }


def _case(request: Request) -> cases.Case:
    try:
        return cases.get_case(request.state.db, request.path_params["case_id"])
    except NotFound:
        raise HTTPException(status_code=404) from None


@page(roles=MODERATORS)
def show_case(request: Request) -> Response:
    return render(request, "cases/detail.html", _case_context(request, _case(request)))


@page(roles=MODERATORS)
def open_case(request: Request) -> Response:
    """Open a case from a registration's detail page."""
    try:
        registration = review.get_by_number(request.state.db, request.path_params["number"])
    except NotFound:
        raise HTTPException(status_code=404) from None
    form = request.state.form
    try:
        case = cases.open_case(request.state.db, registration=registration,
                               category=form_value(form, "category"),
                               description=form_value(form, "description"),
                               actor=request.state.user)
    except FormErrors as exc:
        request.state.db.rollback()
        return render(request, "review/detail.html",
                      detail_context(request, registration, errors=exc.errors,
                                     values=_form_values(request)), status_code=422)
    return redirect(str(request.app.url_path_for("cases:show", case_id=case.id)))


@page(roles=MODERATORS)
def add_note(request: Request) -> Response:
    case = _case(request)
    try:
        cases.add_note(request.state.db, case=case, author=request.state.user,
                       text=form_value(request.state.form, "note"))
    except FormErrors as exc:
        request.state.db.rollback()
        return render(request, "cases/detail.html",
                      _case_context(request, _case(request), errors=exc.errors,
                                    values=_form_values(request)), status_code=422)
    return redirect(str(request.app.url_path_for("cases:show", case_id=case.id)) + "#notes")


@page(roles=MODERATORS)
def close_case(request: Request) -> Response:
    """Dismiss the case, or apply a sanction and close the case with it."""
    case = _case(request)
    form = request.state.form
    db = request.state.db
    outcome = form_value(form, "outcome")
    mail: list[notify.Message] = []
    try:
        sanction_id = None
        note = cases.check_closing(case, outcome, form_value(form, "closing_note"))
        if outcome == "sanctioned":
            registration = db.get(Registration, case.registration_id)
            # The sanction and the case's closing land in one transaction (close_case commits).
            sanction, mail = enforcement.apply_sanction(
                db, registration=registration, actor=request.state.user,
                kind=form_value(form, "kind"), facts=form_value(form, "facts"),
                reason=form_value(form, "reason"), legal_basis=form_value(form, "legal_basis"),
                until=end_of_day(form_value(form, "until")), functions=chosen_functions(form),
                settings=request.app.state.settings,
            )
            sanction_id = sanction.id
        cases.close_case(db, case=case, moderator=request.state.user, outcome=outcome,
                         note=note, sanction_id=sanction_id)
    except FormErrors as exc:
        db.rollback()
        return render(request, "cases/detail.html",
                      _case_context(request, _case(request), errors=exc.errors,
                                    values=_form_values(request)), status_code=422)
    send_after_commit(request, mail)
    return redirect(str(request.app.url_path_for("cases:show", case_id=case.id)))


routes = namespaced("cases", [
    Route("/cases", show_cases, methods=["GET"], name="list"),
    Route("/cases/{case_id:id}", show_case, methods=["GET"], name="show"),
    Route("/cases/{case_id:id}/notes", add_note, methods=["POST"], name="add_note"),
    Route("/cases/{case_id:id}/close", close_case, methods=["POST"], name="close"),
    Route("/review/{number}/cases", open_case, methods=["POST"], name="open"),
])
