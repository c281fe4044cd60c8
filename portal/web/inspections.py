"""Auditors' inspections: list, open one on a registration or a platform, findings, closing."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import NoMatchFound, Route

from portal.accounts import Role, User
from portal.base.errors import FormErrors, NotFound
from portal.oversight import auditing, inspections
from portal.platforms.clients import ApiClient
from portal.registration import sanctions
from portal.registration.models import Registration
from portal.web.core import form_value, namespaced, page, redirect, render, send_after_commit
from portal.web.review import end_of_day

AUDITORS = {Role.auditor, Role.admin}


def _form_values(request: Request) -> dict[str, str]:
    form = request.state.form
    return {k: v for k, v in form.multi_items() if isinstance(v, str)} if form else {}


def record_url(request: Request, number: str | None) -> str | None:
    """The auditor's record page of a registration, when that page is mounted."""
    if not number:
        return None
    try:
        return str(request.app.url_path_for("audit:record", number=number))
    except NoMatchFound:
        return None


def _list_context(request: Request, **extra: Any) -> dict[str, Any]:
    db = request.state.db
    return {
        "rows": inspections.inspections_page(db, request.state.user.jurisdiction),
        "targets": inspections.TARGETS,
        "platforms": [(str(c.id), c.name) for c in inspections.platforms(db)],
        "registration": None,
        "record_url": lambda number: record_url(request, number),
        "errors": {}, "values": {}, **extra,
    }


@page(roles=AUDITORS)
def list_inspections(request: Request) -> Response:
    return render(request, "audit/inspections.html", _list_context(request))


@page(roles=AUDITORS)
def show_inspection_form(request: Request) -> Response:
    """The form; ``?number=`` (a link from a record) must name a registration in reach."""
    number = request.query_params.get("number", "").strip()
    registration = None
    values: dict[str, str] = {}
    if number:
        try:
            registration = auditing.registration_for(request.state.db,
                                                     request.state.user.jurisdiction, number)
        except NotFound:
            raise HTTPException(status_code=404) from None
        values = {"target_kind": "registration", "number": registration.number or ""}
    return render(request, "audit/inspections.html",
                  _list_context(request, registration=registration, values=values))


@page(roles=AUDITORS)
def open_inspection(request: Request) -> Response:
    form = request.state.form
    try:
        inspection = inspections.open_inspection(
            request.state.db, actor=request.state.user,
            target_kind=form_value(form, "target_kind"), subject=form_value(form, "subject"),
            number=form_value(form, "number"), client_id=form_value(form, "client_id"))
    except FormErrors as exc:
        request.state.db.rollback()
        return render(request, "audit/inspections.html",
                      _list_context(request, errors=exc.errors, values=_form_values(request)),
                      status_code=422)
    return redirect(str(request.app.url_path_for("inspections:show",
                                                 inspection_id=inspection.id)))


def _inspection(request: Request) -> inspections.Inspection:
    try:
        return inspections.get_inspection(request.state.db, request.state.user.jurisdiction,
                                          request.path_params["inspection_id"])
    except NotFound:
        raise HTTPException(status_code=404) from None


def _context(request: Request, inspection: inspections.Inspection, **extra: Any
             ) -> dict[str, Any]:
    db = request.state.db
    registration = (db.get(Registration, inspection.registration_id)
                    if inspection.registration_id else None)
    findings = inspections.findings_of(db, inspection.id)  # type: ignore[arg-type]
    people = {inspection.opened_by, inspection.closed_by, *(f.author_id for f in findings)}
    return {
        "inspection": inspection,
        "registration": registration,
        "record_url": record_url(request, registration.number if registration else None),
        "client": db.get(ApiClient, inspection.client_id) if inspection.client_id else None,
        "findings": findings,
        "people": {u.id: u.email for u in db.exec(
            select(User).where(col(User.id).in_([p for p in people if p is not None])))},
        "sanction": db.get(sanctions.Sanction, inspection.sanction_id)
        if inspection.sanction_id else None,
        "sanction_kinds": sanctions.KINDS,
        "errors": {}, "values": {}, **extra,
    }


@page(roles=AUDITORS)
def show_inspection(request: Request) -> Response:
    return render(request, "audit/inspection.html", _context(request, _inspection(request)))


@page(roles=AUDITORS)
def add_finding(request: Request) -> Response:
    inspection = _inspection(request)
    form = request.state.form
    try:
        inspections.add_finding(request.state.db, inspection=inspection,
                                author=request.state.user, text=form_value(form, "text"),
                                evidence=form_value(form, "evidence"))
    except FormErrors as exc:
        request.state.db.rollback()
        return render(request, "audit/inspection.html",
                      _context(request, _inspection(request), errors=exc.errors,
                               values=_form_values(request)), status_code=422)
    return redirect(str(request.app.url_path_for("inspections:show",
                                                 inspection_id=inspection.id)) + "#findings")


@page(roles=AUDITORS)
def close_inspection(request: Request) -> Response:
    """Close with a conclusion; with "order a sanction" ticked, sanction in the same step."""
    inspection = _inspection(request)
    form = request.state.form
    db = request.state.db
    order = form_value(form, "order_sanction") in ("yes", "on")
    sanction = {
        "kind": form_value(form, "kind"), "facts": form_value(form, "facts"),
        "reason": form_value(form, "reason"), "legal_basis": form_value(form, "legal_basis"),
        "until": end_of_day(form_value(form, "until")),
    } if order else None
    try:
        _closed, mail = inspections.close_inspection(
            db, inspection=inspection, actor=request.state.user,
            conclusion=form_value(form, "conclusion"), sanction=sanction,
            settings=request.app.state.settings)
    except FormErrors as exc:
        db.rollback()
        return render(request, "audit/inspection.html",
                      _context(request, _inspection(request), errors=exc.errors,
                               values=_form_values(request)), status_code=422)
    send_after_commit(request, mail)
    return redirect(str(request.app.url_path_for("inspections:show",
                                                 inspection_id=inspection.id)))


routes = namespaced("inspections", [
    Route("/audit/inspections", list_inspections, methods=["GET"], name="list"),
    Route("/audit/inspections/new", show_inspection_form, methods=["GET"], name="new"),
    Route("/audit/inspections/new", open_inspection, methods=["POST"], name="open"),
    Route("/audit/inspections/{inspection_id:id}", show_inspection, methods=["GET"],
          name="show"),
    Route("/audit/inspections/{inspection_id:id}/findings", add_finding, methods=["POST"],
          name="add_finding"),
    Route("/audit/inspections/{inspection_id:id}/close", close_inspection, methods=["POST"],
          name="close"),
])
