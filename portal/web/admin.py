"""The administrator's API-client pages: platforms and authorities, their keys, webhook URL and
each platform's record (REGULATION R2: ICP filing, security assessment and its document,
licences with their expiry, moderation staffing, and the history of every change).

Admins change; auditors see everything read-only (no forms, POSTs answer 403). A new key or
webhook secret is rendered directly in the answer to the POST that made it (``no-store``): it
is never stored in clear, never put in a URL or a cookie, and cannot be shown again.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.accounts import Role, User
from portal.base import regions, uploads
from portal.base.errors import FormErrors, NotFound
from portal.base.forms import form_input
from portal.base.i18n import gettext as _
from portal.platforms import clients, filings
from portal.platforms.onboarding import DETAIL_FIELDS, new_client, save_details, set_webhook
from portal.web.core import namespaced, page, redirect, render, stored_file

VIEWERS = {Role.auditor, Role.admin}
ADMINS = {Role.admin}

# --- Pages ----------------------------------------------------------------------------------


def _values(request: Request) -> dict[str, str]:
    form = request.state.form
    return {k: v for k, v in form.multi_items() if isinstance(v, str)} if form else {}


def _client(request: Request) -> clients.ApiClient:
    client = request.state.db.get(clients.ApiClient, request.path_params["client_id"])
    if client is None:
        raise HTTPException(status_code=404)
    return client


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _list_context(request: Request, **extra: Any) -> dict[str, Any]:
    db = request.state.db
    rows = clients.clients(db)
    return {
        "rows": rows,
        "keys": {c.id: clients.keys_of(db, c) for c in rows},
        "can_change": request.state.user.role == Role.admin,
        "kinds": _kinds(),
        "errors": {}, "values": {"kind": "platform"}, **extra,
    }


def _kinds() -> dict[str, str]:
    return {"platform": _("Livestream platform"), "authority": _("Authority")}


@page(roles=VIEWERS)
def show_clients(request: Request) -> Response:
    return render(request, "admin/clients.html", _list_context(request))


@page(roles=ADMINS)
def create_client(request: Request) -> Response:
    db = request.state.db
    values = _values(request)
    try:
        client, key, secret = new_client(
            db, request.app.state.settings, name=values.get("name", ""),
            kind=values.get("kind", ""), webhook_url=values.get("webhook_url", ""),
            jurisdiction=values.get("jurisdiction", ""), created_by=request.state.user.id)
    except FormErrors as exc:
        db.rollback()
        return render(request, "admin/clients.html",
                      _list_context(request, errors=exc.errors, values=values),
                      status_code=422)
    return _no_store(render(request, "admin/client.html",
                            _client_context(request, client, new_key=key, new_secret=secret,
                                            created=True)))


def record_context(request: Request, client: clients.ApiClient) -> dict[str, Any]:
    """The platform's record beyond its declared fields: licences, the security assessment
    document, and the history of changes with who made each."""
    db = request.state.db
    history = filings.history_of(db, client.id)  # type: ignore[arg-type]
    people = {c.changed_by for c in history if c.changed_by is not None}
    return {
        "licences": filings.licences_of(db, client.id),  # type: ignore[arg-type]
        "assessment": filings.current_assessment(db, client.id),  # type: ignore[arg-type]
        "history": history,
        "history_people": {u.id: u.email for u in db.exec(
            select(User).where(col(User.id).in_(sorted(people))))} if people else {},
        "record_fields": record_fields(),
    }


def record_fields() -> dict[str, str]:
    """What each field of the history is, for people."""
    return {
        "filing_number": _("Filing number"),
        "security_assessment": _("Security assessment summary"),
        "security_assessed_on": _("Date of the latest security assessment"),
        "security_assessment_document": _("Security assessment document"),
        "moderators_employed": _("Content moderators employed"),
        "moderation_hours": _("Hours covered by moderators"),
        "rooms_per_moderator": _("Live rooms per moderator"),
        "licence": _("Licence"),
    }


def _client_context(request: Request, client: clients.ApiClient, **extra: Any) -> dict[str, Any]:
    db = request.state.db
    creator = db.get(User, client.created_by) if client.created_by else None
    values = {name: "" if getattr(client, name) is None else str(getattr(client, name))
              for name in DETAIL_FIELDS}
    values["webhook_url"] = client.webhook_url
    return {
        "client": client,
        "keys": clients.keys_of(db, client),
        "creator": creator.email if creator else "",
        "can_change": request.state.user.role == Role.admin and client.active,
        "is_admin": request.state.user.role == Role.admin,
        "kinds": _kinds(),
        "regions": [regions.region_name(code) if code[:2] in regions.PROVINCES else code
                    for code in client.jurisdiction.split(",") if code != "national"],
        "new_key": None, "new_secret": None, "created": False, "done": "",
        **(record_context(request, client) if client.kind == "platform" else {}),
        "errors": {}, "values": values, **extra,
    }


@page(roles=VIEWERS)
def show_client(request: Request) -> Response:
    done = request.query_params.get("done", "")
    return render(request, "admin/client.html",
                  _client_context(request, _client(request),
                                  done=done if done in DONE else ""))


# What a redirect after a change may announce (a code in the URL, never a value).
DONE = ("key_revoked", "client_revoked", "details_saved", "webhook_saved", "webhook_removed",
        "licence_added", "licence_removed", "assessment_saved")


def _changeable(request: Request) -> clients.ApiClient:
    client = _client(request)
    if not client.active:
        raise HTTPException(status_code=409)
    return client


@page(roles=ADMINS)
def issue_key(request: Request) -> Response:
    db = request.state.db
    client = _changeable(request)
    label = _values(request).get("label", "").strip()
    if len(label) > 100:
        return render(request, "admin/client.html",
                      _client_context(request, client,
                                      errors={"label": _("Write %(max)d characters or fewer",
                                                         max=100)},
                                      values={"label": label}),
                      status_code=422)
    key = clients.issue_key(db, client, label=label)
    return _no_store(render(request, "admin/client.html",
                            _client_context(request, client, new_key=key)))


@page(roles=ADMINS)
def revoke_key(request: Request) -> Response:
    db = request.state.db
    client = _client(request)
    if _values(request).get("confirm") not in ("yes", "on"):
        field = f"confirm-key-{request.path_params['key_id']}"
        return render(request, "admin/client.html", _client_context(request, client, errors={
            field: _("Tick the box to confirm that this key stops working at once")}),
            status_code=422)
    try:
        clients.revoke_key(db, client=client, key_id=request.path_params["key_id"])
    except NotFound:
        raise HTTPException(status_code=404) from None
    return redirect(_client_url(request, client, "key_revoked"))


@page(roles=ADMINS)
def revoke_client(request: Request) -> Response:
    db = request.state.db
    client = _changeable(request)
    if _values(request).get("confirm") not in ("yes", "on"):
        return render(request, "admin/client.html",
                      _client_context(request, client, errors={
                          "confirm": _("Tick the box to confirm that every key of this "
                                       "client stops working")}),
                      status_code=422)
    clients.revoke_client(db, client)
    return redirect(_client_url(request, client, "client_revoked"))


@page(roles=ADMINS)
def change_webhook(request: Request) -> Response:
    db = request.state.db
    client = _changeable(request)
    values = _values(request)
    url = values.get("webhook_url", "")
    try:
        secret = set_webhook(db, request.app.state.settings, client, url)
    except FormErrors as exc:
        db.rollback()
        context = _client_context(request, client, errors=exc.errors)
        context["values"]["webhook_url"] = url
        return render(request, "admin/client.html", context, status_code=422)
    if secret:
        return _no_store(render(request, "admin/client.html",
                                _client_context(request, client, new_secret=secret,
                                                done="webhook_saved")))
    return redirect(_client_url(request, client,
                                "webhook_saved" if client.webhook_url else "webhook_removed"))


@page(roles=ADMINS)
def save_client_details(request: Request) -> Response:
    db = request.state.db
    client = _changeable(request)
    if client.kind != "platform":
        raise HTTPException(status_code=404)
    values = _values(request)
    try:
        save_details(db, client, form_input(request.state.form.multi_items()),
                     actor_id=request.state.user.id)
    except FormErrors as exc:
        db.rollback()
        return render(request, "admin/client.html",
                      _client_context(request, client, errors=exc.errors, values=values),
                      status_code=422)
    return redirect(_client_url(request, client, "details_saved"))


def _platform(request: Request) -> clients.ApiClient:
    client = _changeable(request)
    if client.kind != "platform":
        raise HTTPException(status_code=404)
    return client


def _refused(request: Request, client: clients.ApiClient, exc: FormErrors) -> Response:
    request.state.db.rollback()
    return render(request, "admin/client.html",
                  _client_context(request, client, errors=exc.errors,
                                  values={**_client_context(request, client)["values"],
                                          **_values(request)}),
                  status_code=422)


@page(roles=ADMINS)
def add_licence(request: Request) -> Response:
    client = _platform(request)
    values = _values(request)
    try:
        filings.add_licence(request.state.db, client, name=values.get("licence_name", ""),
                            number=values.get("licence_number", ""),
                            expires_on=values.get("licence_expires_on", ""),
                            actor_id=request.state.user.id)
    except FormErrors as exc:
        return _refused(request, client, exc)
    return redirect(_client_url(request, client, "licence_added") + "#licences-title")


@page(roles=ADMINS)
def remove_licence(request: Request) -> Response:
    client = _platform(request)
    try:
        filings.remove_licence(request.state.db, client, request.path_params["licence_id"],
                               actor_id=request.state.user.id)
    except NotFound:
        raise HTTPException(status_code=404) from None
    return redirect(_client_url(request, client, "licence_removed") + "#licences-title")


@page(roles=ADMINS)
def upload_assessment(request: Request) -> Response:
    client = _platform(request)
    part = request.state.form.get("assessment_file") if request.state.form else None
    try:
        if not isinstance(part, UploadFile) or not part.filename:
            raise FormErrors({"assessment_file": _("Choose the security assessment's file")})
        filings.upload_assessment(
            request.state.db, request.app.state.settings, client, filename=part.filename,
            data=part.file.read(uploads.MAX_UPLOAD_BYTES + 1), actor_id=request.state.user.id)
    except FormErrors as exc:
        return _refused(request, client, exc)
    return redirect(_client_url(request, client, "assessment_saved"))


@page(roles=VIEWERS)
def show_record_document(request: Request) -> Response:
    """A document of a platform's record, to admins and auditors."""
    client = _client(request)
    try:
        document, data = filings.read_document(request.state.db, request.app.state.settings,
                                               client.id,  # type: ignore[arg-type]
                                               request.path_params["document_id"])
    except NotFound:
        raise HTTPException(status_code=404) from None
    return stored_file(data, filename=document.filename, content_type=document.content_type)


def _client_url(request: Request, client: clients.ApiClient, done: str) -> str:
    path = request.app.url_path_for("admin:client", client_id=client.id)
    return f"{path}?done={done}"


routes = namespaced(
    "admin",
    [
        Route("/admin/clients", show_clients, methods=["GET"], name="clients"),
        Route("/admin/clients", create_client, methods=["POST"], name="create_client"),
        Route("/admin/clients/{client_id:id}", show_client, methods=["GET"], name="client"),
        Route("/admin/clients/{client_id:id}/keys", issue_key, methods=["POST"],
              name="issue_key"),
        Route("/admin/clients/{client_id:id}/keys/{key_id:id}/revoke", revoke_key,
              methods=["POST"], name="revoke_key"),
        Route("/admin/clients/{client_id:id}/revoke", revoke_client, methods=["POST"],
              name="revoke_client"),
        Route("/admin/clients/{client_id:id}/webhook", change_webhook, methods=["POST"],
              name="webhook"),
        Route("/admin/clients/{client_id:id}/details", save_client_details,
              methods=["POST"], name="details"),
        Route("/admin/clients/{client_id:id}/licences", add_licence, methods=["POST"],
              name="add_licence"),
        Route("/admin/clients/{client_id:id}/licences/{licence_id:id}/remove", remove_licence,
              methods=["POST"], name="remove_licence"),
        Route("/admin/clients/{client_id:id}/assessment", upload_assessment, methods=["POST"],
              name="upload_assessment"),
        Route("/admin/clients/{client_id:id}/documents/{document_id:id}", show_record_document,
              methods=["GET"], name="record_document"),
    ],
)
