"""The administrator's staff and key pages: staff accounts (create with an emailed link to choose
a password, disable and enable, reset a lost second factor) and the signing keys (list; rotate
where the keys live in the data directory).

Each change asks for a ticked confirmation when it takes something away, is kept in the history
by account id and role (``changes.staff_account_changed``), and an administrator cannot disable
themselves or reset their own second factor here (their own security page does that).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import col, select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal import accounts
from portal.accounts import STAFF_ROLES, Role, User
from portal.base.errors import FormErrors
from portal.base.i18n import gettext as _
from portal.base.jurisdictions import normalise_jurisdiction
from portal.ledger.events import Actor
from portal.lifecycle import changes
from portal.platforms import notify
from portal.records import certificates
from portal.web.core import form_value, namespaced, page, redirect, render, send_after_commit

logger = logging.getLogger("portal.admin")
ADMINS = {Role.admin}
CONFIRM = ("yes", "on")


def _staff(db: Any) -> list[User]:
    return list(db.exec(select(User).where(col(User.role).in_([str(r) for r in STAFF_ROLES]))
                        .order_by(col(User.role), col(User.email))))


def _staff_context(request: Request, **extra: Any) -> dict[str, Any]:
    return {"staff": _staff(request.state.db), "errors": {}, "values": {"role": "moderator"},
            "roles": [(Role.moderator, _("Moderator")), (Role.auditor, _("Auditor")),
                      (Role.admin, _("Administrator"))],
            "done": request.query_params.get("done", ""), "row_errors": {}, **extra}


@page(roles=ADMINS)
def show_staff(request: Request) -> Response:
    return render(request, "admin/staff.html", _staff_context(request))


def _invitation(request: Request, user: User) -> notify.Message:
    settings = request.app.state.settings
    token = accounts.password_reset_token(settings.secret("secret_key"), user)
    url = request.url_for("accounts:reset_password").include_query_params(token=token)
    link = (f"{settings.base_url.rstrip('/')}{url.path}?{url.query}" if settings.base_url
            else str(url))
    body = _(
        "An administrator of the Livestream Registration Portal has given you a staff account "
        "(%(role)s).\n\n"
        "Choose your password with this link:\n%(link)s\n\n"
        "The link works for %(minutes)d minutes; if it has expired, ask for a new one with "
        "\"Forgot your password?\" on the login page. At your first login you will set up an "
        "authenticator app.",
        role=str(user.role), link=link, minutes=settings.password_reset_max_age_minutes)
    return notify.Message(to=user.email, subject=_("Your staff account"), body=body)


@page(roles=ADMINS)
def create_staff(request: Request) -> Response:
    form = request.state.form
    values = {k: form_value(form, k) for k in ("email", "role", "jurisdiction")}
    errors: dict[str, str] = {}
    role = values["role"]
    if role not in {str(r) for r in STAFF_ROLES}:
        errors["role"] = _("Choose the staff member's role")
    jurisdiction = "national"
    if role == Role.auditor:
        try:
            jurisdiction = normalise_jurisdiction(values["jurisdiction"] or "national")
        except FormErrors as exc:
            errors.update(exc.errors)
    try:
        if errors:
            raise FormErrors(errors)
        user = accounts.create_staff_account(request.state.db, email=values["email"],
                                             role=Role(role), jurisdiction=jurisdiction)
    except FormErrors as exc:
        return render(request, "admin/staff.html",
                      _staff_context(request, errors={**errors, **exc.errors}, values=values),
                      status_code=422)
    changes.staff_account_changed(request.state.db, actor=Actor.of(request.state.user),
                                  action="staff_created", user=user)
    send_after_commit(request, [_invitation(request, user)])
    logger.info("staff account %s (%s) created by %s", user.id, user.role,
                request.state.user.id)
    return redirect(str(request.url_for("admin:staff").include_query_params(done="created")))


def _member(request: Request) -> User:
    user = request.state.db.get(User, request.path_params["user_id"])
    if user is None or not user.is_staff:
        raise HTTPException(status_code=404)
    return user


def _confirmed_change(request: Request, action: str, error: str) -> Response | User:
    """The staff member of the path, once the confirmation box is ticked and the member is
    not the acting administrator; otherwise the page again with the message by the box."""
    user = _member(request)
    field = f"confirm-{user.id}"
    if user.id == request.state.user.id:
        # No form on one's own row: the message stands in the summary, linked to nothing.
        field, message = "_self", _("You cannot do this to your own account")
    elif action != "staff_enabled" and form_value(request.state.form, "confirm") not in CONFIRM:
        message = error
    else:
        return user
    return render(request, "admin/staff.html",
                  _staff_context(request, row_errors={field: message}), status_code=422)


def _apply(request: Request, action: str, error: str) -> Response:
    found = _confirmed_change(request, action, error)
    if isinstance(found, Response):
        return found
    db = request.state.db
    if action == "staff_second_factor_reset":
        accounts.reset_second_factor(db, found)
    else:
        accounts.set_active(db, found, action == "staff_enabled")
    changes.staff_account_changed(db, actor=Actor.of(request.state.user), action=action,
                                  user=found)
    logger.info("%s: staff account %s by %s", action, found.id, request.state.user.id)
    done = action.removeprefix("staff_")
    return redirect(str(request.url_for("admin:staff").include_query_params(done=done)))


@page(roles=ADMINS)
def disable_staff(request: Request) -> Response:
    return _apply(request, "staff_disabled",
                  _("Tick the box to confirm: the account is logged out everywhere and cannot "
                    "log in until enabled again"))


@page(roles=ADMINS)
def enable_staff(request: Request) -> Response:
    return _apply(request, "staff_enabled", "")


@page(roles=ADMINS)
def reset_staff_second_factor(request: Request) -> Response:
    return _apply(request, "staff_second_factor_reset",
                  _("Tick the box to confirm: the authenticator and recovery codes stop "
                    "working, and the account sets up a new one at its next login"))


# --- signing keys -------------------------------------------------------------------------------


def _keys_context(request: Request, **extra: Any) -> dict[str, Any]:
    settings = request.app.state.settings
    return {"keys": certificates.public_keys(request.state.db),
            "rotatable": not settings.signing_key, "errors": {},
            "done": request.query_params.get("done", ""), **extra}


@page(roles=ADMINS)
def show_keys(request: Request) -> Response:
    return render(request, "admin/keys.html", _keys_context(request))


@page(roles=ADMINS)
def rotate_key(request: Request) -> Response:
    settings = request.app.state.settings
    if settings.signing_key:
        # A key named by PORTAL_SIGNING_KEY is a file on every host: rotating from one
        # process would leave the others signing with the old one (docs/deploy.md, "Keys").
        return render(request, "admin/keys.html", _keys_context(request, errors={
            "confirm": _("This portal's key is set by PORTAL_SIGNING_KEY on every server: "
                         "rotate it with `portal keys rotate` as docs/deploy.md describes")}),
            status_code=409)
    if form_value(request.state.form, "confirm") not in CONFIRM:
        return render(request, "admin/keys.html", _keys_context(request, errors={
            "confirm": _("Tick the box to confirm: new certificates and checkpoints are "
                         "signed with a new key; the old one stays published")}),
            status_code=422)
    kid, _path = changes.rotate_signing_key(request.state.db, settings,
                                            actor=Actor.of(request.state.user))
    logger.info("signing key rotated to %s by %s", kid, request.state.user.id)
    return redirect(str(request.url_for("admin:keys").include_query_params(done="rotated")))


routes = namespaced("admin", [
    Route("/admin/staff", show_staff, methods=["GET"], name="staff"),
    Route("/admin/staff", create_staff, methods=["POST"], name="create_staff"),
    Route("/admin/staff/{user_id:id}/disable", disable_staff, methods=["POST"],
          name="disable_staff"),
    Route("/admin/staff/{user_id:id}/enable", enable_staff, methods=["POST"],
          name="enable_staff"),
    Route("/admin/staff/{user_id:id}/second-factor", reset_staff_second_factor,
          methods=["POST"], name="reset_staff_second_factor"),
    Route("/admin/keys", show_keys, methods=["GET"], name="keys"),
    Route("/admin/keys/rotate", rotate_key, methods=["POST"], name="rotate_key"),
])
