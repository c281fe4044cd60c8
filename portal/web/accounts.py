"""Sign-up, login (with TOTP for staff), logout, password reset, email verification and the
applicant's start page."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from datetime import timedelta
from html import escape

import segno
from itsdangerous import BadSignature, URLSafeSerializer
from limits import parse_many
from limits.strategies import RateLimiter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal import accounts
from portal.accounts import STAFF_ROLES, Role, User
from portal.base import crypto, identity
from portal.base.errors import FormErrors
from portal.base.i18n import gettext as _
from portal.base.i18n import ngettext
from portal.ledger import events
from portal.oversight import enforcement
from portal.platforms import notify
from portal.registration import models, sanctions, steps
from portal.web.core import (
    SESSION_ID,
    form_value,
    home_for,
    log_in,
    log_out,
    must_enrol_totp,
    namespaced,
    page,
    redirect,
    render,
    safe_next,
    send_after_commit,
    send_after_response,
)

# Failed logins allowed before a wait. From a browser that has logged in to the account before
# (its signed device cookie), only that browser's own failures count: nobody else's guessing
# slows the owner down. From any other browser, per account (its normalised email, known or
# not: a wait of minutes, at most an hour, never a day) and per network address (counted across
# every account it tries). Only failures count, so nobody's success resets anyone's count.
DEVICE_LIMITS = "5/15minutes; 20/day"
ACCOUNT_LIMITS = "5/5minutes; 30/hour"
ADDRESS_LIMITS = "20/15minutes; 60/hour; 200/day"
DEVICE_COOKIE = "portal_device"
DEVICE_DAYS = 365
_DEVICE_SALT = "portal.device"
# Second-factor codes, per account (a 6-digit code has a million values).
CODE_LIMITS = "5/15minutes; 10/hour; 20/day"
# Messages the portal sends to one address about sign-up attempts and password resets, and
# reset requests from one network address.
MAIL_LIMITS = "3/hour; 10/day"
RESET_ADDRESS_LIMITS = "20/hour; 100/day"
# Between the password and the second factor.
PENDING_SECONDS = 300
# Where a link's one-time token waits, in the session, once it is out of the address.
RESET_TOKEN = "reset_token"  # noqa: S105 (a session key, not a secret)
EMAIL_TOKEN = "email_token"  # noqa: S105


def _link(request: Request, route: str, **query: str) -> str:
    """An absolute address for a message, on PORTAL_BASE_URL when it is set."""
    settings = request.app.state.settings
    url = request.url_for(route)
    if query:
        url = url.include_query_params(**query)
    if settings.base_url:
        # Behind a proxy the request's own host may not be the one people reach us at.
        return f"{settings.base_url.rstrip('/')}{url.path}" + (f"?{url.query}" if url.query else "")
    return str(url)


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _account_key(email: str) -> str:
    try:
        return accounts.normalize_email(email)
    except ValueError:
        return (email or "").strip().lower()[: accounts.EMAIL_MAX]


def wait_seconds(limiter: RateLimiter, rules: str, *keys: str) -> float:
    """How long until one more attempt is allowed under every rule (0: now)."""
    now = time.time()
    wait = 0.0
    for rule in parse_many(rules):
        if not limiter.test(rule, *keys):
            reset_at, _remaining = limiter.get_window_stats(rule, *keys)
            wait = max(wait, reset_at - now, 1.0)
    return wait


def count_failure(limiter: RateLimiter, rules: str, *keys: str) -> None:
    for rule in parse_many(rules):
        limiter.hit(rule, *keys)


def try_again_in(seconds: float) -> str:
    minutes = math.ceil(seconds / 60)
    if minutes <= 90:
        return ngettext("Too many attempts: try again in %(num)d minute",
                        "Too many attempts: try again in %(num)d minutes", minutes)
    return ngettext("Too many attempts: try again in %(num)d hour",
                    "Too many attempts: try again in %(num)d hours", math.ceil(minutes / 60))


def _may_mail(request: Request, email: str) -> bool:
    """Count one message to this address; False once it has had its share (sent silently)."""
    limiter = request.app.state.limiter
    if wait_seconds(limiter, MAIL_LIMITS, "mail-to", email):
        return False
    count_failure(limiter, MAIL_LIMITS, "mail-to", email)
    return True


def _verification_message(request: Request, user: User) -> notify.Message:
    settings = request.app.state.settings
    token = accounts.email_token(settings.secret("secret_key"), user)
    link = _link(request, "accounts:verify_email", token=token)
    body = _(
        "Welcome to the Livestream Registration Portal.\n\n"
        "Confirm your email address by opening this link:\n%(link)s\n\n"
        "The link works for %(hours)d hours. If you did not sign up, ignore this message.",
        link=link,
        hours=settings.email_token_max_age_hours,
    )
    return notify.Message(to=user.email, subject=_("Confirm your email address"), body=body)


def _send_verification(request: Request, user: User) -> None:
    send_after_commit(request, [_verification_message(request, user)])


# --- the device cookie --------------------------------------------------------------------------


def _device_serializer(request: Request) -> URLSafeSerializer:
    return URLSafeSerializer(request.app.state.settings.secret("secret_key"), salt=_DEVICE_SALT)


def _account_tag(request: Request, account: str) -> str:
    """The account a device cookie is for, without its address in clear."""
    secret = request.app.state.settings.secret("secret_key").encode()
    return hmac.new(secret, f"device:{account}".encode(), hashlib.sha256).hexdigest()[:32]


def _known_device(request: Request, account: str) -> str | None:
    """The id of this browser when it has logged in to ``account`` before, else None."""
    raw = request.cookies.get(DEVICE_COOKIE, "")
    if not raw or len(raw) > 300:
        return None
    try:
        data = _device_serializer(request).loads(raw)
    except BadSignature:
        return None
    if (not isinstance(data, dict) or not isinstance(data.get("d"), str)
            or not hmac.compare_digest(str(data.get("a", "")), _account_tag(request, account))):
        return None
    return data["d"]


def _remember_device(request: Request, response: Response, user: User) -> Response:
    """After a login, mark this browser as one the account's owner uses."""
    device = _known_device(request, user.email) or secrets.token_urlsafe(16)
    value = _device_serializer(request).dumps(
        {"a": _account_tag(request, user.email), "d": device})
    response.set_cookie(
        DEVICE_COOKIE, value, max_age=DEVICE_DAYS * 86400, httponly=True, samesite="lax",
        secure=request.app.state.settings.is_production)
    return response


def _login_limits(request: Request, email: str) -> list[tuple[str, tuple[str, str]]]:
    """The rules and keys a failed login counts against (and is checked against) here."""
    account = _account_key(email)
    if device := _known_device(request, account):
        return [(DEVICE_LIMITS, ("login-device", device))]
    return [(ACCOUNT_LIMITS, ("login-account", account)),
            (ADDRESS_LIMITS, ("login-address", _client_address(request)))]


@page()
def show_signup(request: Request) -> Response:
    if request.state.user is not None:
        return redirect(request.url_for(home_for(request.state.user)).path)
    return render(request, "accounts/signup.html", {"values": {}, "errors": {}})


def _account_exists_message(request: Request, user: User) -> notify.Message:
    """Tell an account's owner that someone tried to sign up with its address."""
    if not user.email_verified and user.password_hash:
        # Started but never confirmed: a link to choose the password (it confirms the address),
        # never the confirmation of a password someone else may have chosen.
        token = accounts.password_reset_token(
            request.app.state.settings.secret("secret_key"), user)
        body = _(
            "Someone, perhaps you, tried to create an account on the Livestream Registration "
            "Portal with this email address. An account with this address was started but its "
            "address was never confirmed.\n\n"
            "To use it, choose its password with this link (it also confirms the address):\n"
            "%(link)s\n\n"
            "If it was not you, you can ignore this message.",
            link=_link(request, "accounts:reset_password", token=token),
        )
    else:
        body = _(
            "Someone, perhaps you, tried to create an account on the Livestream Registration "
            "Portal with this email address. It already has an account, so nothing was "
            "changed.\n\n"
            "To log in: %(login)s\n"
            "If you have forgotten your password, set a new one: %(forgot)s\n\n"
            "If it was not you, you can ignore this message.",
            login=_link(request, "accounts:login"),
            forgot=_link(request, "accounts:forgot_password"),
        )
    return notify.Message(to=user.email, subject=_("You already have an account"), body=body)


@page()
def sign_up(request: Request) -> Response:
    form = request.state.form
    values = {"email": form_value(form, "email")}
    password = form_value(form, "password")
    confirm = form_value(form, "password_confirm")
    db = request.state.db
    email, errors = accounts.check_new_account(values["email"], password)
    if password and confirm != password:
        errors.setdefault("password_confirm", _("The passwords do not match"))
    existing = accounts.find_user_by_email(db, email) if not errors else None
    try:
        if errors:
            raise FormErrors(errors)
        if existing is None:
            user = accounts.create_user(db, email=email, password=password, role=Role.applicant)
    except FormErrors as exc:
        return render(
            request,
            "accounts/signup.html",
            {"values": values, "errors": exc.errors},
            status_code=422,
        )
    # The same answer, the same work and one message whether or not the address was free: a
    # new account is usable once its address is confirmed; a taken address's owner hears of
    # the attempt. The message goes out after the answer, so its time tells nothing either.
    if existing is not None:
        accounts.hash_password(password)  # what creating the account costs
        message = _account_exists_message(request, existing)
    else:
        message = _verification_message(request, user)
    if _may_mail(request, email):
        send_after_response(request, [message])
    return redirect(request.url_for("accounts:signup_sent").path)


@page()
def show_signup_sent(request: Request) -> Response:
    return render(request, "accounts/signup_sent.html")


def _login_notice(done: str) -> str:
    if done == "everywhere":
        return _("You have been logged out on every device.")
    if done == "reset":
        return _("Your password has been changed and you have been logged out everywhere. Log "
                 "in with the new password.")
    if done == "expired":
        return _("That took too long. Log in again.")
    if done == "confirmed":
        return _("Your email address is confirmed. Log in to carry on.")
    return ""


def _login_page(
    request: Request, *, values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None, next_url: str = "", status_code: int = 200,
) -> Response:
    return render(request, "accounts/login.html", {
        "values": values or {}, "errors": errors or {}, "next": next_url,
        "notice": _login_notice(request.query_params.get("done", "")),
    }, status_code=status_code)


@page()
def show_login(request: Request) -> Response:
    if request.state.user is not None:
        return redirect(request.url_for(home_for(request.state.user)).path)
    return _login_page(request, next_url=safe_next(request.query_params.get("next"), ""))


@page()
def log_in_user(request: Request) -> Response:
    form = request.state.form
    email = form_value(form, "email")
    password = form_value(form, "password")
    next_url = safe_next(form_value(form, "next"), "")
    limiter = request.app.state.limiter
    limits = _login_limits(request, email)
    if wait := max(wait_seconds(limiter, rules, *key) for rules, key in limits):
        # Known or unknown email alike: the count is kept for whatever was typed.
        return _login_page(request, values={"email": email}, next_url=next_url,
                           errors={"_throttled": try_again_in(wait)}, status_code=429)
    db = request.state.db
    user = accounts.authenticate(db, email=email, password=password)
    if user is None:
        for rules, key in limits:
            count_failure(limiter, rules, *key)
        # One message for an unknown email, a wrong password and an address not confirmed yet:
        # nobody learns who has an account.
        errors = {"email": _("The email address or password is not right, or the address has "
                             "not been confirmed yet (open the link we sent you)")}
        return _login_page(request, values={"email": email}, errors=errors, next_url=next_url,
                           status_code=422)
    if user.has_totp:
        # Half logged in: a session row that opens nothing but the second step, for a few
        # minutes; ending the account's sessions ends it too.
        accounts.end_session(db, request.session.get(SESSION_ID))
        token = accounts.start_session(
            db, user, lifetime=timedelta(seconds=PENDING_SECONDS), pending=True,
            user_agent=request.headers.get("user-agent", ""))
        request.session.clear()
        request.session.update(pending_sid=token, pending_next=next_url,
                               csrf=secrets.token_urlsafe(32))
        return redirect(request.url_for("accounts:login_code").path)
    log_in(request, user)
    if must_enrol_totp(request.app.state.settings, user):
        return _remember_device(request, redirect(request.url_for("accounts:security").path),
                                user)
    return _remember_device(request, redirect(next_url or request.url_for(home_for(user)).path),
                            user)


def _pending_user(request: Request) -> User | None:
    """The account whose password was just given, while its second step is open."""
    found = accounts.session_user(
        request.state.db, request.session.get("pending_sid"),
        idle=timedelta(seconds=PENDING_SECONDS), pending=True)
    if found is None or not found[1].has_totp:
        return None
    return found[1]


def _code_page(request: Request, errors: dict[str, str], status_code: int = 200) -> Response:
    return render(request, "accounts/login_code.html", {"errors": errors, "values": {}},
                  status_code=status_code)


def _drop_pending(request: Request) -> Response:
    for key in ("pending_sid", "pending_next"):
        request.session.pop(key, None)
    return redirect(request.url_for("accounts:login").path + "?done=expired")


@page()
def show_login_code(request: Request) -> Response:
    if request.state.user is not None:
        return redirect(request.url_for(home_for(request.state.user)).path)
    if _pending_user(request) is None:
        return _drop_pending(request)
    return _code_page(request, {})


@page()
def check_login_code(request: Request) -> Response:
    user = _pending_user(request)
    if user is None:
        return _drop_pending(request)
    form = request.state.form
    recovery = form_value(form, "recovery_code").strip()
    code = recovery or form_value(form, "code")
    field = "recovery_code" if recovery else "code"
    limiter = request.app.state.limiter
    # From a browser the owner used before, only its own wrong codes count.
    device = _known_device(request, user.email)
    key = ("login-code", f"{user.id}:{device}" if device else str(user.id))
    if wait := wait_seconds(limiter, CODE_LIMITS, *key):
        return _code_page(request, {"_throttled": try_again_in(wait)}, status_code=429)
    db = request.state.db
    cipher = crypto.cipher_for(request.app.state.settings)
    ok = (accounts.use_recovery_code(db, user, code) if recovery
          else accounts.check_totp(db, user, cipher, code))
    if not ok:
        count_failure(limiter, CODE_LIMITS, *key)
        message = (_("This recovery code is not right, or has been used already") if recovery
                   else _("The code is not right. Enter the 6 digits the app shows now"))
        return _code_page(request, {field: message}, status_code=422)
    next_url = safe_next(request.session.get("pending_next"), "")
    accounts.end_session(db, request.session.get("pending_sid"))
    log_in(request, user)
    if recovery:
        return _remember_device(request, redirect(
            request.url_for("accounts:security").path + "?recovery_used=1"), user)
    return _remember_device(request, redirect(next_url or request.url_for(home_for(user)).path),
                            user)


@page(before_totp=True)
def log_out_user(request: Request) -> Response:
    accounts.end_session(request.state.db, request.session.get("pending_sid"))
    log_out(request)
    return redirect(request.url_for("home").path + "?logged_out=1")


@page(login=True, before_totp=True)
def log_out_everywhere(request: Request) -> Response:
    accounts.end_all_sessions(request.state.db, request.state.user)
    log_out(request)
    return redirect(request.url_for("accounts:login").path + "?done=everywhere")


# --- password reset ---------------------------------------------------------------------------


@page()
def show_forgot_password(request: Request) -> Response:
    return render(request, "accounts/forgot.html", {
        "values": {}, "errors": {}, "sent": request.query_params.get("sent") == "1",
    })


@page()
def request_password_reset(request: Request) -> Response:
    settings = request.app.state.settings
    email = form_value(request.state.form, "email")
    try:
        email = accounts.normalize_email(email)
    except ValueError as exc:
        return render(request, "accounts/forgot.html", {
            "values": {"email": email}, "errors": {"email": str(exc)}, "sent": False,
        }, status_code=422)
    limiter = request.app.state.limiter
    address = ("reset-address", _client_address(request))
    if wait := wait_seconds(limiter, RESET_ADDRESS_LIMITS, *address):
        return render(request, "accounts/forgot.html", {
            "values": {"email": email}, "errors": {"_throttled": try_again_in(wait)},
            "sent": False,
        }, status_code=429)
    count_failure(limiter, RESET_ADDRESS_LIMITS, *address)
    user = accounts.user_for_password_reset(request.state.db, email)
    # The same answer and the same work whether or not the address has an account: a message
    # is written for an unknown address too, then dropped; the real one goes out after the
    # answer, so the time taken does not tell either.
    recipient = user or User(id=0, email=email, password_hash="")
    may_mail = _may_mail(request, email)
    token = accounts.password_reset_token(settings.secret("secret_key"), recipient)
    body = _(
        "Someone, perhaps you, asked to set a new password for your account on the "
        "Livestream Registration Portal.\n\n"
        "To choose a new password, open this link:\n%(link)s\n\n"
        "The link works for %(minutes)d minutes and only once. If you did not ask, ignore "
        "this message: your password stays as it is.",
        link=_link(request, "accounts:reset_password", token=token),
        minutes=settings.password_reset_max_age_minutes,
    )
    message = notify.Message(to=recipient.email, subject=_("Set a new password"), body=body)
    if user is not None and may_mail:
        send_after_response(request, [message])
    return redirect(request.url_for("accounts:forgot_password").path + "?sent=1")


def _reset_page(
    request: Request, *, errors: dict[str, str] | None = None,
    link_error: str = "", email: str = "", status_code: int = 200,
) -> Response:
    if link_error:
        request.session.pop(RESET_TOKEN, None)
    return render(request, "accounts/reset.html", {
        "errors": errors or {}, "values": {}, "link_error": link_error, "email": email,
    }, status_code=status_code)


def _token_out_of_url(request: Request, key: str, route: str) -> Response | None:
    """A link's one-time token goes into the session and the browser on to the same page
    without it, so the token never sits in an address that access logs, the browser's history
    or a Referer keep. None when the address has no token."""
    token = request.query_params.get("token")
    if token is None:
        return None
    request.session[key] = token[:1000]
    return RedirectResponse(request.url_for(route).path, status_code=303)


def _reset_max_age(request: Request) -> int:
    return int(request.app.state.settings.password_reset_max_age_minutes) * 60


@page()
def show_reset_password(request: Request) -> Response:
    if moved := _token_out_of_url(request, RESET_TOKEN, "accounts:reset_password"):
        return moved
    token = request.session.get(RESET_TOKEN, "")
    settings = request.app.state.settings
    try:
        user = accounts.check_password_reset_token(
            request.state.db, settings.secret("secret_key"), token, _reset_max_age(request))
    except ValueError as exc:
        return _reset_page(request, link_error=str(exc), status_code=400)
    return _reset_page(request, email=user.email)


@page()
def reset_password(request: Request) -> Response:
    form = request.state.form
    token = request.session.get(RESET_TOKEN, "")
    password = form_value(form, "password")
    settings = request.app.state.settings
    db = request.state.db
    try:
        user = accounts.check_password_reset_token(
            db, settings.secret("secret_key"), token, _reset_max_age(request))
        if password and form_value(form, "password_confirm") != password:
            raise FormErrors({"password_confirm": _("The passwords do not match")})
        user = accounts.reset_password(db, settings.secret("secret_key"), token, password,
                                       max_age=_reset_max_age(request))
    except ValueError as exc:
        return _reset_page(request, link_error=str(exc), status_code=400)
    except FormErrors as exc:
        return _reset_page(request, errors=exc.errors, email=user.email, status_code=422)
    log_out(request)
    body = _(
        "The password of your account on the Livestream Registration Portal has just been "
        "changed, and every session of the account has ended.\n\n"
        "If you did not do this, set a new password at once: %(forgot)s",
        forgot=_link(request, "accounts:forgot_password"),
    )
    send_after_commit(request, [notify.Message(
        to=user.email, subject=_("Your password has been changed"), body=body)])
    return redirect(request.url_for("accounts:login").path + "?done=reset")


# --- staff: TOTP and recovery codes -----------------------------------------------------------


def _qr_svg(uri: str) -> str:
    """The otpauth:// address as an inline SVG QR code, sized by attributes (no inline style)."""
    svg = segno.make_qr(uri, error="m").svg_inline(
        scale=4, border=4, dark="#000", light="#fff", svgclass="qr", lineclass=None)
    if not svg.startswith("<svg "):
        raise ValueError("unexpected SVG from segno")
    label = escape(_("QR code for your authenticator app"), quote=True)
    return f'<svg role="img" aria-label="{label}" ' + svg[len("<svg "):]


def _setup_page(
    request: Request, secret: str, errors: dict[str, str], status_code: int = 200
) -> Response:
    user = request.state.user
    return _no_store(render(request, "accounts/totp_setup.html", {
        "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "qr_svg": _qr_svg(accounts.totp_uri(secret, user.email)),
        "errors": errors, "values": {},
    }, status_code=status_code))


def _no_store(response: Response) -> Response:
    """Secrets and recovery codes stay out of every cache, the browser's history included."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _security_page(
    request: Request, errors: dict[str, str] | None = None, status_code: int = 200
) -> Response:
    user = request.state.user
    query = request.query_params
    return render(request, "accounts/security.html", {
        "codes_left": accounts.recovery_codes_left(request.state.db, user) if user.has_totp else 0,
        "must_enrol": must_enrol_totp(request.app.state.settings, user),
        "recovery_used": query.get("recovery_used") == "1",
        "removed": query.get("removed") == "1",
        "errors": errors or {}, "values": {},
    }, status_code=status_code)


def _checked_code(request: Request, field: str) -> dict[str, str] | None:
    """Errors for the code in the form (a TOTP or a recovery code), or None when it is right."""
    user = request.state.user
    limiter = request.app.state.limiter
    key = ("login-code", str(user.id))
    if wait := wait_seconds(limiter, CODE_LIMITS, *key):
        return {"_throttled": try_again_in(wait)}
    cipher = crypto.cipher_for(request.app.state.settings)
    if accounts.check_second_factor(request.state.db, user, cipher,
                                    form_value(request.state.form, field)):
        return None
    count_failure(limiter, CODE_LIMITS, *key)
    return {field: _("The code is not right. Enter the 6 digits the app shows now")}


@page(roles=STAFF_ROLES, before_totp=True)
def show_security(request: Request) -> Response:
    return _security_page(request)


@page(roles=STAFF_ROLES, before_totp=True)
def start_totp(request: Request) -> Response:
    user = request.state.user
    if user.has_totp:
        return redirect(request.url_for("accounts:security").path)
    secret = accounts.start_totp(
        request.state.db, user, crypto.cipher_for(request.app.state.settings))
    return _setup_page(request, secret, {})


@page(roles=STAFF_ROLES, before_totp=True)
def confirm_totp(request: Request) -> Response:
    user = request.state.user
    cipher = crypto.cipher_for(request.app.state.settings)
    secret = accounts.totp_secret(user, cipher)
    if user.has_totp or secret is None:
        return redirect(request.url_for("accounts:security").path)
    limiter = request.app.state.limiter
    key = ("login-code", str(user.id))
    if wait := wait_seconds(limiter, CODE_LIMITS, *key):
        return _setup_page(request, secret, {"_throttled": try_again_in(wait)}, 429)
    try:
        codes = accounts.confirm_totp(
            request.state.db, user, cipher, form_value(request.state.form, "code"))
    except FormErrors as exc:
        count_failure(limiter, CODE_LIMITS, *key)
        return _setup_page(request, secret, exc.errors, 422)
    # Every session of the account has ended (those without the second factor); this one
    # goes on as a new session.
    log_in(request, user)
    return _no_store(render(request, "accounts/recovery_codes.html",
                            {"codes": codes, "enrolled": True}))


@page(roles=STAFF_ROLES)
def new_recovery_codes(request: Request) -> Response:
    user = request.state.user
    if not user.has_totp:
        return redirect(request.url_for("accounts:security").path)
    if errors := _checked_code(request, "code"):
        return _security_page(request, errors, 429 if "_throttled" in errors else 422)
    codes = accounts.replace_recovery_codes(request.state.db, user)
    return _no_store(render(request, "accounts/recovery_codes.html",
                            {"codes": codes, "enrolled": False}))


@page(roles=STAFF_ROLES)
def remove_totp(request: Request) -> Response:
    user = request.state.user
    if not user.has_totp:
        return redirect(request.url_for("accounts:security").path)
    if errors := _checked_code(request, "remove_code"):
        return _security_page(request, errors, 429 if "_throttled" in errors else 422)
    accounts.remove_totp(request.state.db, user)
    return redirect(request.url_for("accounts:security").path + "?removed=1")


@page(writes=True)
def verify_email(request: Request) -> Response:
    if moved := _token_out_of_url(request, EMAIL_TOKEN, "accounts:verify_email"):
        return moved
    settings = request.app.state.settings
    token = request.session.pop(EMAIL_TOKEN, "")
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


@page(login=True, writes=True)  # marks messages read
def show_me(request: Request) -> Response:
    user = request.state.user
    if user.is_staff:
        return redirect(request.url_for(home_for(user)).path)
    db = request.state.db
    current = models.current_registration(db, user)
    if current is None:
        # An ended registration (rejected, revoked, deregistered) stays visible with its outcome.
        history = models.registrations_of(db, user)
        current = history[0] if history else None
    sanction_rows = sanctions.sanctions_of(db, current.id) if current and current.id else []
    settings = request.app.state.settings
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
            "roster_links": models.pending_roster_links(db, user),
            "editable": models.EDITABLE,
            "ended": models.ENDED,
            "sanctions": sanction_rows,
            # The last day each sanction may be appealed against (DESIGN §5: the appeal window).
            "appeal_closes": {s.id: enforcement.appeal_closes_on(s, settings)
                              for s in sanction_rows},
            "today": identity.china_today(),
            "appeals": sanctions.appeals_of(db, current.id) if current and current.id else {},
            "sanction_kinds": sanctions.KINDS,
            "appeal_error": request.query_params.get("appeal_error", "")[:200],
            "appealed": request.query_params.get("appealed") == "1",
            "deregistered": request.query_params.get("deregistered") == "1",
            "data_confirmed": request.query_params.get("confirmed") == "1",
            "confirm_deregister": request.query_params.get("deregister") == "confirm",
            "requested": (current.answers.get(models.REQUESTED) or {}) if current else {},
            "step_titles": steps.STEP_TITLES,
            "messages": messages,
            "unread_ids": unread_ids,
        },
    )


routes = namespaced("accounts", [
    Route("/signup", show_signup, methods=["GET"], name="signup"),
    Route("/signup", sign_up, methods=["POST"], name="sign_up"),
    Route("/signup/sent", show_signup_sent, methods=["GET"], name="signup_sent"),
    Route("/login", show_login, methods=["GET"], name="login"),
    Route("/login", log_in_user, methods=["POST"], name="log_in"),
    Route("/login/code", show_login_code, methods=["GET"], name="login_code"),
    Route("/login/code", check_login_code, methods=["POST"], name="check_login_code"),
    Route("/logout", log_out_user, methods=["POST"], name="logout"),
    Route("/logout/everywhere", log_out_everywhere, methods=["POST"], name="logout_everywhere"),
    Route("/password/forgot", show_forgot_password, methods=["GET"], name="forgot_password"),
    Route("/password/forgot", request_password_reset, methods=["POST"],
          name="request_password_reset"),
    Route("/password/reset", show_reset_password, methods=["GET"], name="reset_password"),
    Route("/password/reset", reset_password, methods=["POST"], name="set_new_password"),
    Route("/account/security", show_security, methods=["GET"], name="security"),
    Route("/account/security/totp", start_totp, methods=["POST"], name="start_totp"),
    Route("/account/security/totp/confirm", confirm_totp, methods=["POST"],
          name="confirm_totp"),
    Route("/account/security/recovery-codes", new_recovery_codes, methods=["POST"],
          name="new_recovery_codes"),
    Route("/account/security/totp/remove", remove_totp, methods=["POST"], name="remove_totp"),
    Route("/verify-email", verify_email, methods=["GET"], name="verify_email"),
    Route("/verify-email/resend", resend_verification, methods=["POST"], name="resend"),
    Route("/me", show_me, methods=["GET"], name="me"),
])
