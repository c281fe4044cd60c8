"""The administrator's API-client pages: platforms and authorities, their keys, webhook URL and
what a platform declares (REGULATION R2: filing, security assessment, moderation staffing).

Admins change; auditors see everything read-only (no forms, POSTs answer 403). A new key or
webhook secret is rendered directly in the answer to the POST that made it (``no-store``): it
is never stored in clear, never put in a URL or a cookie, and cannot be shown again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlmodel import Session
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal import platforms, regions, webhooks
from portal.accounts import Role, User
from portal.errors import FormErrors, NotFound
from portal.forms import Checker, form_input, whole_number
from portal.i18n import gettext as _
from portal.identity import china_today, parse_date
from portal.settings import Settings
from portal.web.core import namespaced, page, redirect, render

VIEWERS = {Role.auditor, Role.admin}
ADMINS = {Role.admin}

DETAIL_FIELDS = ("filing_number", "security_assessment", "security_assessed_on",
                 "moderators_employed", "moderation_hours", "rooms_per_moderator")


# --- Services (shared with the CLI) ----------------------------------------------------------

_CODE = re.compile(r"^\d{2}(\d{2}){0,2}$")


def parse_jurisdiction(raw: str, *, field: str = "jurisdiction") -> str:
    """``national``, or GB/T 2260 codes (a province ``33``, a city ``3301``, a county
    ``330106``) separated by commas; ``330000`` is read as ``33`` and ``330100`` as ``3301``.

    Returns the normalised form ("national" or "33,3301", as portal.audit reads it); raises
    FormErrors otherwise.
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
) -> tuple[platforms.ApiClient, str, str | None]:
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
    client: platforms.ApiClient | None = None
    try:
        client = platforms.create_client(session, name=name, kind=kind,
                                         jurisdiction=clean_jurisdiction,
                                         created_by=created_by)
    except FormErrors as exc:
        errors = {**exc.errors, **errors}
    if errors or client is None:
        raise FormErrors(errors)
    secret = set_webhook(session, settings, client, webhook_url) if webhook_url.strip() else None
    key = platforms.issue_key(session, client)
    return client, key, secret


def set_webhook(session: Session, settings: Settings, client: platforms.ApiClient,
                url: str) -> str | None:
    """Store the platform's webhook URL (checked by portal.webhooks); the new signing secret
    in clear when one was made."""
    return webhooks.configure(session, settings, client, url)


def save_details(session: Session, client: platforms.ApiClient,
                 form: Mapping[str, Sequence[str]]) -> None:
    """Record what a platform declares (R2 and its moderation staffing); the caller commits."""
    c = Checker(form)
    c.text("filing_number", _("Filing number"), max_length=100)
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
        setattr(client, name, c.data[name])
    session.add(client)


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


# --- Pages ----------------------------------------------------------------------------------


def _values(request: Request) -> dict[str, str]:
    form = request.state.form
    return {k: v for k, v in form.multi_items() if isinstance(v, str)} if form else {}


def _client(request: Request) -> platforms.ApiClient:
    client = request.state.db.get(platforms.ApiClient, request.path_params["client_id"])
    if client is None:
        raise HTTPException(status_code=404)
    return client


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _list_context(request: Request, **extra: Any) -> dict[str, Any]:
    db = request.state.db
    rows = platforms.clients(db)
    return {
        "rows": rows,
        "keys": {c.id: platforms.keys_of(db, c) for c in rows},
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


def _client_context(request: Request, client: platforms.ApiClient, **extra: Any) -> dict[str, Any]:
    db = request.state.db
    creator = db.get(User, client.created_by) if client.created_by else None
    values = {name: "" if getattr(client, name) is None else str(getattr(client, name))
              for name in DETAIL_FIELDS}
    values["webhook_url"] = client.webhook_url
    return {
        "client": client,
        "keys": platforms.keys_of(db, client),
        "creator": creator.email if creator else "",
        "can_change": request.state.user.role == Role.admin and client.active,
        "is_admin": request.state.user.role == Role.admin,
        "kinds": _kinds(),
        "regions": [regions.province_name(code) if code in regions.PROVINCES else code
                    for code in client.jurisdiction.split(",") if code != "national"],
        "new_key": None, "new_secret": None, "created": False, "done": "",
        "errors": {}, "values": values, **extra,
    }


@page(roles=VIEWERS)
def show_client(request: Request) -> Response:
    done = request.query_params.get("done", "")
    return render(request, "admin/client.html",
                  _client_context(request, _client(request),
                                  done=done if done in DONE else ""))


# What a redirect after a change may announce (a code in the URL, never a value).
DONE = ("key_revoked", "client_revoked", "details_saved", "webhook_saved", "webhook_removed")


def _changeable(request: Request) -> platforms.ApiClient:
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
    key = platforms.issue_key(db, client, label=label)
    return _no_store(render(request, "admin/client.html",
                            _client_context(request, client, new_key=key)))


@page(roles=ADMINS)
def revoke_key(request: Request) -> Response:
    db = request.state.db
    client = _client(request)
    try:
        platforms.revoke_key(db, client=client, key_id=request.path_params["key_id"])
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
    platforms.revoke_client(db, client)
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
        save_details(db, client, form_input(request.state.form.multi_items()))
    except FormErrors as exc:
        db.rollback()
        return render(request, "admin/client.html",
                      _client_context(request, client, errors=exc.errors, values=values),
                      status_code=422)
    return redirect(_client_url(request, client, "details_saved"))


def _client_url(request: Request, client: platforms.ApiClient, done: str) -> str:
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
    ],
)
