"""Registrations in any state, made through the services instead of the HTTP wizard.

``make_registration`` does what an applicant and a moderator do at their browsers, service call
by service call, with the answers and uploads ``tests.unit.http_wizard`` posts: the account (no
password hashing: nobody types a password here), the draft, each step (files kept first, then
the step saved, as ``portal.web.apply.save_step`` does), the signed submission, then the
moderator's decisions through ``portal.oversight.review``, ``portal.oversight.enforcement`` and
``transitions.deregister``. What the HTTP path records about the browser (the signing IP and
user agent) is what Starlette's ``TestClient`` sends, and the emails a decision announces are
delivered after its commit, as the request wrapper does.

``log_in`` gives a ``TestClient`` the session cookie the app makes when someone logs in, so a
client is logged in without a password form (and without an argon2 hash).
"""

from __future__ import annotations

import json
import secrets
from base64 import b64encode
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import Any

import itsdangerous
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.middleware.sessions import SessionMiddleware
from starlette.testclient import TestClient

from portal import accounts
from portal.accounts import Role, User
from portal.base import identity, uploads
from portal.base.db import utcnow
from portal.base.settings import Settings
from portal.lifecycle import transitions, wizard
from portal.lifecycle.wizard import Signing, Upload
from portal.oversight import enforcement, review
from portal.platforms import notify
from portal.registration import steps
from portal.registration.models import Registration
from tests.unit import http_wizard

APPLICANT_EMAIL = "applicant@example.com"
MODERATOR_EMAIL = "mod@example.com"
# What Starlette's TestClient sends as the client's address and user agent: the HTTP wizard
# records these with the signed security step and the submission.
TESTCLIENT_IP = "testclient"
TESTCLIENT_USER_AGENT = "testclient"

# The states make_registration can leave a registration in, and the path to each.
STATUSES = (
    "draft", "submitted", "approved", "changes_requested", "rejected", "suspended", "revoked",
    "deregistered", "expired",
)
# Decided by a moderator after the submission (the rest need no moderator).
MODERATED = frozenset({"approved", "changes_requested", "rejected", "suspended", "revoked",
                       "deregistered", "expired"})

CHANGE_MESSAGES = {"identity": "The photo of the ID card is blurred: upload a sharper one"}
REJECTION = ("documents_invalid", "The ID card does not match the name given")
SANCTION_TEXT = {"facts": "Sold counterfeit bags on 3 November", "reason": "Counterfeit goods",
                 "legal_basis": "2021 Measures, Art. 18(3)"}

Form = Mapping[str, str | Sequence[str]]
Files = Mapping[str, tuple[str, bytes, str]]


def _steps(overrides: Mapping[str, Any]) -> list[tuple[str, Form, Files]]:
    """Each step's form and files, as ``Wizard.complete_adult`` posts them, with overrides."""
    known = {*steps.EDITABLE_STEPS, *(f"{s}_files" for s in steps.EDITABLE_STEPS)}
    unknown = set(overrides) - known
    if unknown:
        raise TypeError(f"make_registration() got unexpected overrides: {sorted(unknown)}")

    def form(step: str, default: Form) -> Form:
        return {**default, **(overrides.get(step) or {})}

    def files(step: str, default: Files) -> Files:
        return overrides.get(f"{step}_files", default)

    return [
        ("identity", form("identity", http_wizard.identity_form()),
         files("identity", http_wizard.identity_files())),
        ("guardian", form("guardian", http_wizard.guardian_form()),
         files("guardian", {"consent_letter": ("letter.pdf", http_wizard.PDF, "application/pdf")})),
        ("roles", form("roles", http_wizard.roles_form()), files("roles", {})),
        ("security", form("security", http_wizard.security_form()), files("security", {})),
        ("content", form("content", http_wizard.content_form()), files("content", {})),
        ("commitments", form("commitments", http_wizard.commitments_form()),
         files("commitments", {})),
    ]


def form_input(form: Form) -> dict[str, list[str]]:
    """A form as ``portal.base.forms.form_input`` hands it over: each field, its list of values."""
    return {k: [v] if isinstance(v, str) else [str(x) for x in v] for k, v in form.items()}


def uploads_for(step: str, files: Files) -> list[Upload]:
    """The step's files checked and cleaned as ``portal.web.apply._uploads`` does."""
    out = []
    for name in steps.DEFINITIONS[step].uploads:
        if name not in files:
            continue
        filename, data, _content_type = files[name]
        content_type = uploads.check_upload(data, filename)
        out.append(Upload(name, filename, content_type, uploads.clean_upload(data, content_type),
                          cleaned=True))
    return out


def testclient_signing() -> Signing:
    return Signing(ip=TESTCLIENT_IP, user_agent=TESTCLIENT_USER_AGENT)


def make_account(session: Session, *, email: str, role: str = "applicant",
                 verified: bool = True) -> User:
    """An account without a password (no hashing), its email confirmed; the existing one if any.

    Nobody can log in to it with a password: use ``log_in`` to give a client its session.
    """
    session.commit()  # leave any old read snapshot (a write from it fails in WAL mode)
    user = accounts.find_user_by_email(session, accounts.normalize_email(email))
    if user is None:
        user = accounts.create_user(session, email=email, password=None, role=Role(role))
        session.commit()
    if verified and user.email_verified_at is None:
        user.email_verified_at = utcnow()
        session.add(user)
    session.commit()
    return user


def make_moderator(session: Session, *, email: str = MODERATOR_EMAIL) -> User:
    return make_account(session, email=email, role="moderator")


def _end_of_day_in_china(day: date) -> datetime:
    return datetime.combine(day, dtime(23, 59, 59), tzinfo=identity.CHINA_TZ)


def _deliver(session: Session, settings: Settings, mail: list[notify.Message]) -> None:
    """Commit the change, then send its emails: what the request wrapper does after a handler."""
    session.commit()
    notify.deliver(settings, mail, session=session)
    session.commit()


def make_registration(
    session: Session,
    settings: Settings,
    *,
    status: str = "approved",
    email: str = APPLICANT_EMAIL,
    user: User | None = None,
    moderator: User | None = None,
    today: date | None = None,
    step_messages: Mapping[str, str] | None = None,
    reason_code: str = REJECTION[0],
    message: str = REJECTION[1],
    until: datetime | None = None,
    **overrides: Any,
) -> Registration:
    """A registration of the applicant ``email`` (or ``user``) in ``status``; committed.

    Overrides: ``identity={...}``, ``roles={...}`` (any step name) change that step's answers
    from the wizard's defaults; ``identity_files={...}`` (``<step>_files``) replace its files.
    The guardian step is saved only when the identity makes it applicable (a 16 or 17 year old).
    ``moderator`` decides (``mod@example.com``, made without a password, when not given);
    ``step_messages`` are the changes requested, ``reason_code``/``message`` the rejection's,
    ``until`` the end of a suspension (end of the day 30 days from now by default).
    """
    if status not in STATUSES:
        raise ValueError(f"make_registration cannot make a {status!r} registration; "
                         f"choose one of {', '.join(STATUSES)}")
    today = today or identity.china_today()
    answers = _steps(overrides)
    applicant = user or make_account(session, email=email)
    session.commit()

    registration = wizard.start_registration(session, applicant)
    session.commit()
    for step, form, files in answers:
        if step not in steps.applicable_steps(registration.answers, today):
            continue
        uploads = uploads_for(step, files)
        # As the save_step handler: checked files are kept first, then the step is saved.
        wizard.keep_uploads(session, settings, registration=registration, step=step,
                            uploads=uploads)
        session.commit()
        wizard.save_step(session, settings, registration=registration, step=step,
                         form=form_input(form), uploads=[], signing=testclient_signing(),
                         today=today)
        session.commit()
    if status == "draft":
        session.commit()
        return registration

    signature = str(registration.answers["identity"]["legal_name"])
    transitions.submit(session, settings, registration=registration, user=applicant,
                       signature=signature, signing=testclient_signing(), today=today)
    session.commit()
    if status in MODERATED:
        moderator = moderator or make_moderator(session)
        _decide(session, settings, registration, applicant, moderator, status, today=today,
                step_messages=step_messages or CHANGE_MESSAGES, reason_code=reason_code,
                message=message, until=until)
    session.refresh(registration)
    assert registration.status == status, (registration.status, status)
    # Committed whether or not the services commit themselves, and no read snapshot left open
    # (a later write from an old snapshot fails in SQLite's WAL mode).
    session.commit()
    return registration


def _decide(
    session: Session, settings: Settings, registration: Registration, applicant: User,
    moderator: User, status: str, *, today: date, step_messages: Mapping[str, str],
    reason_code: str, message: str, until: datetime | None,
) -> None:
    common: dict[str, Any] = {"registration": registration, "moderator": moderator}
    if status == "changes_requested":
        outcome = review.request_changes(session, settings, version=registration.version,
                                         step_messages=dict(step_messages), **common)
        session.commit()
        _deliver(session, settings, outcome.mail)
        return
    if status == "rejected":
        outcome = review.reject(session, settings, version=registration.version,
                                reason_code=reason_code, message=message, **common)
        session.commit()
        _deliver(session, settings, outcome.mail)
        return
    # Every other state starts from an approval ("expired": one valid for no days).
    approving = (settings.model_copy(update={"cert_valid_days": 0}) if status == "expired"
                 else settings)
    outcome = review.approve(session, approving, version=registration.version, **common)
    session.commit()
    _deliver(session, settings, outcome.mail)
    if status in ("suspended", "revoked"):
        kind = "suspend" if status == "suspended" else "close"
        if kind == "suspend" and until is None:
            until = _end_of_day_in_china(today + timedelta(days=30))
        _sanction, mail = enforcement.apply_sanction(
            session, registration=registration, actor=moderator, kind=kind,
            until=until if kind == "suspend" else None, version=registration.version,
            settings=settings, **SANCTION_TEXT,
        )
        session.commit()
        _deliver(session, settings, mail)
    elif status == "deregistered":
        transitions.deregister(session, settings, registration=registration, user=applicant)
        session.commit()
    elif status == "expired":
        from portal.ops import jobs

        jobs.expire_due(session, settings, now=utcnow())
        session.commit()


# --- logging a client in without the password form --------------------------------------------


def _session_middleware(app: Starlette) -> dict[str, Any]:
    for middleware in app.user_middleware:
        if middleware.cls is SessionMiddleware:
            return dict(middleware.kwargs)
    raise LookupError("the app has no SessionMiddleware")


def log_in(client: TestClient, app: Starlette, user: User) -> None:
    """Give ``client`` the signed session cookie ``portal.web.core.log_in`` would make for
    ``user``: logged in (with a CSRF token) as after the login form, with no password checked."""
    options = _session_middleware(app)
    with Session(app.state.engine) as db:
        sid = accounts.start_session(db, user, lifetime=timedelta(hours=12))
        db.commit()
    data = {"sid": sid, "csrf": secrets.token_urlsafe(32)}
    signer = itsdangerous.TimestampSigner(str(options["secret_key"]))
    value = signer.sign(b64encode(json.dumps(data).encode("utf-8"))).decode("utf-8")
    name = options.get("session_cookie", "session")
    host = client.base_url.host
    # Where the cookie jar keeps the cookies the app sets (a dotless host gets ".local"), so the
    # app's next Set-Cookie (a new login, a logout) replaces this one instead of joining it.
    domain = host if "." in host else f"{host}.local"
    client.cookies.delete(name)
    client.cookies.set(name, value, domain=domain, path=options.get("path", "/"))
