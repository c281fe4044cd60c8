"""Sign-up, login, logout, email verification and the applicant's start page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal import accounts, events, notify, registrations, sanctions, steps
from portal.accounts import Role, User
from portal.errors import FormErrors
from portal.i18n import gettext as _
from portal.web.core import (
    form_value,
    home_for,
    log_in,
    log_out,
    namespaced,
    page,
    redirect,
    render,
    safe_next,
)


def _send_verification(request: Request, user: User) -> None:
    settings = request.app.state.settings
    token = accounts.email_token(settings.secret("secret_key"), user)
    url = request.url_for("accounts:verify_email").include_query_params(token=token)
    if settings.base_url:
        # Behind a proxy the request's own host may not be the one people reach us at.
        link = f"{settings.base_url.rstrip('/')}{url.path}?{url.query}"
    else:
        link = str(url)
    body = _(
        "Welcome to the Livestream Registration Portal.\n\n"
        "Confirm your email address by opening this link:\n%(link)s\n\n"
        "The link works for %(hours)d hours. If you did not sign up, ignore this message.",
        link=link,
        hours=settings.email_token_max_age_hours,
    )
    notify.send(
        settings,
        notify.Message(to=user.email, subject=_("Confirm your email address"), body=body),
        session=request.state.db,
    )


@page()
def show_signup(request: Request) -> Response:
    if request.state.user is not None:
        return redirect(request.url_for(home_for(request.state.user)).path)
    return render(request, "accounts/signup.html", {"values": {}, "errors": {}})


@page()
def sign_up(request: Request) -> Response:
    form = request.state.form
    values = {"email": form_value(form, "email")}
    password = form_value(form, "password")
    confirm = form_value(form, "password_confirm")
    try:
        if password and confirm != password:
            raise FormErrors({"password_confirm": _("The passwords do not match")})
        user = accounts.create_user(
            request.state.db, email=values["email"], password=password, role=Role.applicant
        )
    except FormErrors as exc:
        return render(
            request,
            "accounts/signup.html",
            {"values": values, "errors": exc.errors},
            status_code=422,
        )
    log_in(request, user)
    _send_verification(request, user)
    return redirect(request.url_for("accounts:me").path + "?welcome=1")


@page()
def show_login(request: Request) -> Response:
    if request.state.user is not None:
        return redirect(request.url_for(home_for(request.state.user)).path)
    next_url = safe_next(request.query_params.get("next"), "")
    return render(request, "accounts/login.html", {"values": {}, "errors": {}, "next": next_url})


@page()
def log_in_user(request: Request) -> Response:
    form = request.state.form
    email = form_value(form, "email")
    password = form_value(form, "password")
    next_url = safe_next(form_value(form, "next"), "")
    user = accounts.authenticate(request.state.db, email=email, password=password)
    if user is None:
        # One message for an unknown email and a wrong password: nobody learns who has an account.
        errors = {"email": _("The email address or password is not right")}
        return render(
            request,
            "accounts/login.html",
            {"values": {"email": email}, "errors": errors, "next": next_url},
            status_code=422,
        )
    log_in(request, user)
    return redirect(next_url or request.url_for(home_for(user)).path)


@page()
def log_out_user(request: Request) -> Response:
    log_out(request)
    return redirect(request.url_for("home").path + "?logged_out=1")


@page()
def verify_email(request: Request) -> Response:
    settings = request.app.state.settings
    token = request.query_params.get("token", "")
    try:
        user = accounts.verify_email_token(
            request.state.db,
            settings.secret("secret_key"),
            token,
            max_age=settings.email_token_max_age_hours * 3600,
        )
    except ValueError as exc:
        return render(request, "accounts/verify_email.html", {"error": str(exc)}, status_code=400)
    return render(request, "accounts/verify_email.html", {"verified_email": user.email})


@page(login=True)
def resend_verification(request: Request) -> Response:
    user = request.state.user
    if not user.email_verified:
        _send_verification(request, user)
    return redirect(request.url_for("accounts:me").path + "?sent=1")


@page(login=True)
def show_me(request: Request) -> Response:
    user = request.state.user
    if user.is_staff:
        return redirect(request.url_for(home_for(user)).path)
    db = request.state.db
    current = registrations.current_registration(db, user)
    if current is None:
        # An ended registration (rejected, revoked, deregistered) stays visible with its outcome.
        history = registrations.registrations_of(db, user)
        current = history[0] if history else None
    messages = notify.notifications_of(db, user.id)
    unread_ids = {m.id for m in messages if m.read_at is None}
    if unread_ids:
        notify.mark_read(db, user.id)
        request.state.unread = 0
    return render(
        request,
        "accounts/me.html",
        {
            "welcome": request.query_params.get("welcome") == "1",
            "sent": request.query_params.get("sent") == "1",
            "roster_confirmed": request.query_params.get("roster") == "1",
            "registration": current,
            # An authority's inspection is not the applicant's to follow (its sanction is).
            "timeline": [e for e in events.history_of(db, current.id)
                         if not e.action.startswith("inspection_")]
            if current and current.id else [],
            "roster_links": registrations.pending_roster_links(db, user),
            "editable": registrations.EDITABLE,
            "ended": registrations.ENDED,
            "sanctions": sanctions.sanctions_of(db, current.id) if current and current.id else [],
            "appeals": sanctions.appeals_of(db, current.id) if current and current.id else {},
            "sanction_kinds": sanctions.KINDS,
            "appeal_error": request.query_params.get("appeal_error", "")[:200],
            "appealed": request.query_params.get("appealed") == "1",
            "deregistered": request.query_params.get("deregistered") == "1",
            "data_confirmed": request.query_params.get("confirmed") == "1",
            "confirm_deregister": request.query_params.get("deregister") == "confirm",
            "requested": (current.answers.get(registrations.REQUESTED) or {}) if current else {},
            "step_titles": steps.STEP_TITLES,
            "messages": messages,
            "unread_ids": unread_ids,
        },
    )


routes = namespaced("accounts", [
    Route("/signup", show_signup, methods=["GET"], name="signup"),
    Route("/signup", sign_up, methods=["POST"], name="sign_up"),
    Route("/login", show_login, methods=["GET"], name="login"),
    Route("/login", log_in_user, methods=["POST"], name="log_in"),
    Route("/logout", log_out_user, methods=["POST"], name="logout"),
    Route("/verify-email", verify_email, methods=["GET"], name="verify_email"),
    Route("/verify-email/resend", resend_verification, methods=["POST"], name="resend"),
    Route("/me", show_me, methods=["GET"], name="me"),
])
