"""Auditors' inspection requests to platforms: the list, the form, one request with its answers
and their files."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.accounts import Role, User
from portal.base.errors import FormErrors, NotFound
from portal.ledger.events import Actor
from portal.oversight import auditing
from portal.oversight import inspection_requests as requests
from portal.platforms.clients import ApiClient
from portal.registration.models import Registration
from portal.web.core import form_value, namespaced, page, redirect, render, stored_file
from portal.web.inspections import record_url
from portal.web.review import end_of_day

AUDITORS = {Role.auditor, Role.admin}


def _list_context(request: Request, status: str) -> dict[str, Any]:
    db = request.state.db
    return {
        "rows": requests.requests_page(db, request.state.user.jurisdiction, status=status),
        "status": status if status in requests.STATUSES else "",
        "statuses": requests.STATUSES,
        "record_url": lambda number: record_url(request, number),
    }


@page(roles=AUDITORS)
def list_requests(request: Request) -> Response:
    status = request.query_params.get("status", "")
    return render(request, "inspection_requests/list.html", _list_context(request, status))


def _form_context(request: Request, registration: Registration | None, **extra: Any
                  ) -> dict[str, Any]:
    return {
        "platforms": [(str(c.id), c.name) for c in requests.platforms(request.state.db)],
        "registration": registration,
        "errors": {}, "values": {}, **extra,
    }


@page(roles=AUDITORS)
def show_form(request: Request) -> Response:
    """The form; ``?number=`` (from a record) must name a registration in reach, ``?platform=``
    chooses the platform."""
    number = request.query_params.get("number", "").strip()
    registration = None
    values: dict[str, str] = {"platform": request.query_params.get("platform", "")}
    if number:
        try:
            registration = auditing.registration_for(request.state.db,
                                                     request.state.user.jurisdiction, number)
        except NotFound:
            raise HTTPException(status_code=404) from None
        values["number"] = registration.number or ""
    return render(request, "inspection_requests/new.html",
                  _form_context(request, registration, values=values))


@page(roles=AUDITORS)
def send_request(request: Request) -> Response:
    form = request.state.form
    user: User = request.state.user
    deadline_text = form_value(form, "deadline")
    try:
        sent = requests.send_request(
            request.state.db, jurisdiction=user.jurisdiction,
            platform=form_value(form, "platform"), request=form_value(form, "request"),
            deadline=end_of_day(deadline_text), number=form_value(form, "number"),
            actor=Actor.of(user))
    except FormErrors as exc:
        request.state.db.rollback()
        values = {name: form_value(form, name)
                  for name in ("platform", "number", "request", "deadline")}
        return render(request, "inspection_requests/new.html",
                      _form_context(request, None, errors=exc.errors, values=values),
                      status_code=422)
    return redirect(str(request.app.url_path_for("inspection_requests:show",
                                                 request_id=sent.id)))


def _request(request: Request) -> requests.InspectionRequest:
    try:
        return requests.get_request(request.state.db, request.state.user.jurisdiction,
                                    request.path_params["request_id"])
    except NotFound:
        raise HTTPException(status_code=404) from None


@page(roles=AUDITORS)
def show_request(request: Request) -> Response:
    db = request.state.db
    asked = _request(request)
    registration = (db.get(Registration, asked.registration_id)
                    if asked.registration_id else None)
    requester = db.get(User, asked.requested_by) if asked.requested_by else None
    by_client = (db.get(ApiClient, asked.requested_by_client)
                 if asked.requested_by_client else None)
    return render(request, "inspection_requests/show.html", {
        "asked": asked,
        "platform": db.get(ApiClient, asked.client_id),
        "registration": registration,
        "record_url": record_url(request, registration.number if registration else None),
        "requester": requester.email if requester else (by_client.name if by_client else ""),
        "answers": requests.answers_of(db, asked.id),  # type: ignore[arg-type]
        "statuses": requests.STATUSES,
    })


@page(roles=AUDITORS)
def show_file(request: Request) -> Response:
    """A file of an answer, to an auditor who sees its request; 404 otherwise."""
    try:
        found, data = requests.open_file(
            request.state.db, request.app.state.settings, request.state.user.jurisdiction,
            request.path_params["file_id"])
    except NotFound:
        raise HTTPException(status_code=404) from None
    return stored_file(data, filename=found.filename, content_type=found.content_type)


routes = namespaced("inspection_requests", [
    Route("/audit/inspection-requests", list_requests, methods=["GET"], name="list"),
    Route("/audit/inspection-requests/new", show_form, methods=["GET"], name="new"),
    Route("/audit/inspection-requests/new", send_request, methods=["POST"], name="send"),
    Route("/audit/inspection-requests/{request_id:id}", show_request, methods=["GET"],
          name="show"),
    Route("/audit/inspection-files/{file_id:id}", show_file,
          methods=["GET"], name="file"),
])
