"""The registration wizard: task list, one page per step, inline checks, review and submit."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from portal import accounts
from portal.base import identity, jurisdictions, regions, uploads
from portal.base.db import utcnow
from portal.base.errors import FormErrors, NotFound
from portal.base.forms import FormInput, form_input
from portal.base.i18n import gettext as _
from portal.ledger import tlog
from portal.lifecycle import amendments, transitions, wizard
from portal.lifecycle.wizard import Amending, Editable, Signing, Upload
from portal.oversight import enforcement
from portal.platforms import notify
from portal.privacy import data_export
from portal.records import certificate_page as printable
from portal.records import certificates, credentials
from portal.records.certificates import Certificate
from portal.registration import attestations, models, risk, sanctions, site_probe, steps
from portal.registration.models import Registration
from portal.web.core import (
    SESSION_ID,
    attempt,
    form_value,
    keep_writes,
    namespaced,
    page,
    redirect,
    render,
    send_after_commit,
    stored_file,
)


class FormValues:
    """Template access to a form: ``get`` the first value, ``getlist`` all of them."""

    def __init__(self, form: FormInput) -> None:
        self.form = form

    def get(self, name: str, default: str = "") -> str:
        values = self.form.get(name) or []
        return values[0] if values else default

    def getlist(self, name: str) -> list[str]:
        return list(self.form.get(name) or [])


def today() -> date:
    # Ages and dates are judged by the calendar in China, whatever the server's zone.
    return identity.china_today()


def _registration(request: Request, *, start: bool = False) -> Editable:
    """What the applicant's wizard edits: their registration, or the working copy of the
    change they are making to their approved one."""
    user = request.state.user
    registration = amendments.editing(request.state.db, user)
    if registration is None:
        if not start:
            raise _Redirect(request.app.url_path_for("apply:show_tasks"))
        registration = wizard.start_registration(request.state.db, user)
    return registration


def _elsewhere(request: Request, registration: Editable) -> Response:
    """Where someone goes who may not change the answers now: an approved registration's
    holder to the page of its changes, everyone else to their account."""
    if registration.status in amendments.AMENDABLE:
        return redirect(request.app.url_path_for("apply:show_change"))
    return redirect(request.app.url_path_for("accounts:me"))


class _Redirect(Exception):
    def __init__(self, url: str) -> None:
        self.url = url


def _signing(request: Request) -> Signing:
    client = request.client.host if request.client else ""
    return Signing(ip=client, user_agent=request.headers.get("user-agent", "")[:400])


def _step_nav(request: Request, registration: Editable) -> list[dict[str, Any]]:
    settings = request.app.state.settings
    states = {s.step: s.state for s in
              wizard.step_states(settings, registration, today=today())}
    nav = []
    for step in steps.applicable_steps(registration.answers, today()):
        if step == "review":
            continue  # the templates add it last, with its own state
        nav.append({
            "step": step,
            "title": str(steps.STEP_TITLES[step]),
            "state": states.get(step, "not_started"),
            "url": str(request.app.url_path_for("apply:show_step", step=step)),
        })
    return nav


def _choices() -> dict[str, Any]:
    return {
        "subject_kinds": steps.SUBJECT_KINDS,
        "id_types": steps.ID_TYPE_LABELS,
        "relationships": steps.RELATIONSHIPS,
        "roles": steps.ROLES,
        "platforms": steps.PLATFORMS,
        "monthly_sales": steps.MONTHLY_SALES,
        "provinces": regions.province_options(),
        "city_groups": regions.city_options(),
        "cities_of": regions.cities,
        "nationalities": regions.nationality_options(),
        "security_items": attestations.SECURITY_ITEMS,
        "categories": attestations.CONTENT_CATEGORIES,
        "audiences": attestations.AUDIENCES,
        "restricted_products": attestations.RESTRICTED_PRODUCTS,
        "professional_topics": attestations.PROFESSIONAL_TOPICS,
        "return_policies": attestations.RETURN_POLICIES,
        "complaint_channels": attestations.COMPLAINT_CHANNELS,
        "response_times": attestations.RESPONSE_TIMES,
        "prohibited": attestations.PROHIBITED_CONDUCT,
        "qualification_field": attestations.qualification_field,
    }


def _render_step(
    request: Request,
    registration: Editable,
    step: str,
    form: FormInput,
    errors: dict[str, str],
    *,
    status_code: int = 200,
    extra_channels: int = 0,
    fragments: dict[str, Markup] | None = None,
    draft: str = "",
) -> Response:
    saved = {**(registration.answers.get(step) or {}),
             **wizard.saved_documents(registration, step)}
    channel_rows = steps.channel_indexes(form) or [0]
    channel_rows = channel_rows + [max(channel_rows) + 1 + i for i in range(extra_channels)]
    context = {
        "registration": registration,
        "step": step,
        "title": str(steps.STEP_TITLES[step]),
        "values": FormValues(form),
        "errors": errors,
        "saved": saved,
        "nav": _step_nav(request, registration),
        "check_url": str(request.app.url_path_for("apply:check_step", step=step)),
        "action_url": str(request.app.url_path_for("apply:save_step", step=step)),
        "requested": (registration.answers.get(models.REQUESTED) or {}).get(step),
        "channel_rows": channel_rows[: steps.MAX_CHANNELS],
        "max_channels": steps.MAX_CHANNELS,
        "draft": draft,
        # The shop-site questions of the security step: only for the roles that may have one.
        "own_site_asked": attestations.asks_own_site(
            (registration.answers.get("roles") or {}).get("roles") or []),
        "return_to": request.query_params.get("return", "") or form_value(
            request.state.form, "return"),
        **_choices(),
    }
    if fragments is not None:
        context["fragments"] = fragments
    return render(request, f"apply/{step}.html", context, status_code=status_code)


def _guard(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """Turn the wizard's redirects and not-found answers into responses."""

    def wrapped(request: Request) -> Response:
        try:
            return handler(request)
        except _Redirect as exc:
            return redirect(exc.url)
        except NotFound:
            raise HTTPException(status_code=404) from None

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


@page(roles={"applicant"})
@_guard
def show_tasks(request: Request) -> Response:
    registration = amendments.editing(request.state.db, request.state.user)
    if registration is None:
        return render(request, "apply/start.html", {})
    if not wizard.is_editable(registration):
        return _elsewhere(request, registration)
    return render(request, "apply/tasks.html", {
        "registration": registration, "nav": _step_nav(request, registration),
    })


@page(roles={"applicant"})
@_guard
def start(request: Request) -> Response:
    _registration(request, start=True)
    return redirect(request.app.url_path_for("apply:show_step", step="identity"))


def _step_for(request: Request, registration: Editable) -> str:
    step = request.path_params["step"]
    if step not in steps.STEPS or step == "review":
        raise NotFound()
    if step != "identity" and not registration.answers.get("identity"):
        raise _Redirect(request.app.url_path_for("apply:show_step", step="identity"))
    if step not in steps.applicable_steps(registration.answers, today()):
        raise NotFound()
    return step


# The browser's token of a step's draft held against the login page (the session had ended).
HELD_COOKIE = "portal_held_draft"


@page(roles={"applicant"}, writes=True)  # may start a registration, claim a held draft
@_guard
def show_step(request: Request) -> Response:
    step_name = request.path_params["step"]
    registration = _registration(request, start=step_name == "identity")
    if not wizard.is_editable(registration):
        return _elsewhere(request, registration)
    step = _step_for(request, registration)
    settings = request.app.state.settings
    db = request.state.db
    held = request.cookies.get(HELD_COOKIE, "")
    claimed = bool(held) and wizard.claim_held_draft(
        db, settings, token=held[:100], registration=registration, step=step)
    draft = wizard.draft_of(db, settings, registration, step)
    if draft is None:
        saved = wizard.form_answers(settings, registration, step)
        return _render_step(request, registration, step, steps.to_form(step, saved), {})
    # What was typed and not saved, with what still stops it from being saved.
    errors = wizard.check_step(settings, registration, step, draft, today=today(),
                               documents_given=False)
    response = _render_step(request, registration, step, draft, errors,
                            draft="held" if claimed else "kept")
    if claimed:
        response.delete_cookie(HELD_COOKIE, path="/apply")
    return response


def _uploads(request: Request, step: str) -> tuple[list[Upload], dict[str, str]]:
    """Read and check the files posted with a step; errors name the file field."""
    received, errors = [], {}
    form = request.state.form
    for name in steps.DEFINITIONS[step].uploads:
        part = form.get(name) if form is not None else None
        if not isinstance(part, UploadFile) or not part.filename:
            continue
        data = part.file.read(uploads.MAX_UPLOAD_BYTES + 1)
        try:
            content_type = uploads.check_upload(data, part.filename)
            data = uploads.clean_upload(data, content_type)
        except uploads.UploadError as exc:
            errors[name] = str(exc)
            continue
        received.append(Upload(name, part.filename, content_type, data, cleaned=True))
    return received, errors


def _noting_session(
    endpoint: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Note which login session the browser's cookie named before the page wrapper looks at
    it (a session that has ended is forgotten there): a step posted after the session timed
    out is held for that session's account alone."""

    @functools.wraps(endpoint)
    async def noted(request: Request) -> Response:
        request.state.session_token = request.session.get(SESSION_ID)
        return await endpoint(request)

    return noted


def _timed_out_account(request: Request) -> int | None:
    """The account whose session the POST's cookie named, when that session ended only
    because it was idle too long (not logged out, not past its lifetime, not an account
    since deactivated)."""
    token = getattr(request.state, "session_token", None)
    found = accounts.session_user(request.state.db, token, idle=timedelta.max)
    return found[1].id if found is not None else None


def _hold_draft(request: Request) -> Response:
    """The session timed out while the step was open: keep what was posted for when the same
    account logs in again in this browser (files cannot be kept), then ask the person to log
    in again. A POST from no known session is not held: nobody could claim it."""
    login = str(request.app.url_path_for("accounts:login"))
    response = redirect(f"{login}?{urlencode({'next': request.url.path})}")
    step = request.path_params["step"]
    account = _timed_out_account(request)
    if step not in steps.DEFINITIONS or account is None:
        return response
    form = form_input(request.state.form.multi_items())
    token = wizard.hold_draft(request.state.db, request.app.state.settings, step=step, form=form,
                              account=account)
    response.set_cookie(HELD_COOKIE, token, max_age=int(wizard.HELD_FOR.total_seconds()),
                        path="/apply", httponly=True, samesite="lax",
                        secure=request.app.state.settings.is_production)
    return response


@_noting_session
@page()
def save_step(request: Request) -> Response:
    user = request.state.user
    if user is None:
        return _hold_draft(request)
    if user.role != "applicant":
        raise HTTPException(status_code=403)
    return _save_step(request)


@_guard
def _save_step(request: Request) -> Response:
    registration = _registration(request)
    if not wizard.is_editable(registration):
        raise HTTPException(status_code=409)
    step = _step_for(request, registration)
    form = form_input(request.state.form.multi_items())
    action = form_value(request.state.form, "action")
    settings = request.app.state.settings
    received, upload_errors = _uploads(request, step)
    verification = None
    if not upload_errors and step == "identity" and identity.is_remote(settings):
        claim = wizard.identity_claim(settings, registration, form, today=today())
        if claim is not None:
            # Nothing is written yet: end the transaction so that no write lock waits while
            # the identity provider answers.
            request.state.db.rollback()
            verification = wizard.verify_identity(
                settings, claim, claim.get("id_number"), today())
    # Files that passed their checks are kept whatever else is wrong with the page.
    wizard.keep_uploads(request.state.db, settings, registration=registration, step=step,
                        uploads=received)
    keep_writes(request)
    if step == "roles" and (action == "add_channel" or form_value(request.state.form,
                                                                  "remove_channel")):
        return _change_channels(request, registration, form, action)
    try:
        with attempt(request):
            if upload_errors:
                errors = wizard.check_step(settings, registration, step, form, today=today())
                raise FormErrors({**upload_errors, **errors})
            wizard.save_step(
                request.state.db, settings, registration=registration, step=step, form=form,
                uploads=[], signing=_signing(request), today=today(),
                verification=verification,
            )
    except FormErrors as exc:
        # What was typed is kept as the step's draft (the failed save itself left nothing).
        wizard.keep_draft(request.state.db, settings, registration=registration, step=step,
                          form=form)
        return _render_step(request, registration, step, form, exc.errors, status_code=422,
                            draft="kept")
    if step == "identity":
        saved = registration.answers["identity"]
        if problem := wizard.verification_problem(saved):
            # Saved all the same: nothing is typed or uploaded twice when the service recovers.
            unavailable = saved["verification"]["status"] == "unavailable"
            return _render_step(
                request, registration, step, steps.to_form(step, saved), {"id_number": problem},
                status_code=503 if unavailable else 422,
            )
    return redirect(_next_url(request, registration, step))


def _next_url(request: Request, registration: Editable, step: str) -> str:
    if form_value(request.state.form, "return") == "review":
        return str(request.app.url_path_for("apply:show_review"))
    order = steps.applicable_steps(registration.answers, today())
    asked = registration.answers.get(models.REQUESTED) or {}
    if asked:
        # Answering a moderator: on to the next step they asked about, then to the review.
        following = next((s for s in order if s in asked), "review")
    else:
        following = order[order.index(step) + 1]
    if following == "review":
        return str(request.app.url_path_for("apply:show_review"))
    return str(request.app.url_path_for("apply:show_step", step=following))


def _change_channels(
    request: Request, registration: Editable, form: dict[str, list[str]], action: str
) -> Response:
    """'Add another' and 'remove' for channels: the page again, with what was typed kept as the
    step's draft (the step is saved by "Save and continue")."""
    rows = steps.channel_indexes(form) or [0]
    settings = request.app.state.settings
    if action != "add_channel":
        index = form_value(request.state.form, "remove_channel")
        if index.isascii() and index.isdigit() and len(index) <= 2 and len(rows) > 1:
            for key in [k for k in form if k.startswith(f"channel-{int(index)}-")]:
                del form[key]
        wizard.keep_draft(request.state.db, settings, registration=registration, step="roles",
                          form=form)
        return _render_step(request, registration, "roles", form, {})
    extra = 1 if len(rows) < steps.MAX_CHANNELS else 0
    for i in rows:  # keep rows that are still empty, so a new one appears below them
        form.setdefault(f"channel-{i}-handle", [""])
    # The draft has the new row too, so it is there when the person comes back.
    added = {f"channel-{max(rows) + 1}-handle": [""]} if extra else {}
    wizard.keep_draft(request.state.db, settings, registration=registration, step="roles",
                      form={**form, **added})
    return _render_step(request, registration, "roles", form, {}, extra_channels=extra)


@page(roles={"applicant"})
@_guard
def check_step(request: Request) -> Response:
    """Check one field as the applicant leaves it, with the same validator as the save; the
    answer is that field's markup alone."""
    registration = _registration(request)
    step = _step_for(request, registration)
    form = form_input(request.state.form.multi_items())
    name = form_value(request.state.form, "_field")
    errors = wizard.check_step(
        request.app.state.settings, registration, step, form, today=today()
    )
    shown = {name: errors[name]} if name in errors else {}
    fragments: dict[str, Markup] = {}
    page_answer = _render_step(request, registration, step, form, shown, fragments=fragments)
    if name not in fragments:
        return page_answer  # a field of no macro of ours: the page, from which htmx selects
    # The field alone, with its message (htmx morphs it into the page).
    return HTMLResponse(str(fragments[name]))


def _review_context(request: Request, registration: Editable) -> dict[str, Any]:
    settings = request.app.state.settings
    return {
        "registration": registration,
        "answers": registration.answers,
        "missing": wizard.missing(settings, registration, today=today()),
        "nav": _step_nav(request, registration),
        "applicable": steps.applicable_steps(registration.answers, today()),
        "step_titles": steps.STEP_TITLES,
        "summarize": steps.summarize,
        "province_name": regions.province_name,
        "nationality_name": regions.nationality_name,
        "changing": isinstance(registration, Amending),
        "changed_steps": amendments.changed_steps(registration.registration.answers,
                                                  registration.answers)
        if isinstance(registration, Amending) else [],
        **_choices(),
    }


@page(roles={"applicant"})
@_guard
def show_review(request: Request) -> Response:
    registration = _registration(request)
    if not wizard.is_editable(registration):
        return _elsewhere(request, registration)
    if not registration.answers.get("identity"):
        return redirect(request.app.url_path_for("apply:show_step", step="identity"))
    context = _review_context(request, registration)
    return render(request, "apply/review.html", {**context, "errors": {}, "signature": ""})


@page(roles={"applicant"})
@_guard
def submit_registration(request: Request) -> Response:
    user = request.state.user
    working = amendments.editing(request.state.db, user)
    if isinstance(working, Amending):
        return _submit_change(request, working)
    registration = models.current_registration(request.state.db, user)
    if registration is None:
        return redirect(request.app.url_path_for("apply:show_tasks"))
    if registration.status in amendments.AMENDABLE:
        return redirect(request.app.url_path_for("apply:show_change"))
    if registration.status not in models.SUBMITTABLE:
        # A second click on "Submit": the first one won; show where it went.
        return redirect(request.app.url_path_for("apply:show_submitted"))
    signature = form_value(request.state.form, "signature")
    settings = request.app.state.settings
    site_probe = _probe_declared_site(request, settings, registration)
    try:
        transitions.submit(
            request.state.db, settings, registration=registration, user=user,
            signature=signature, signing=_signing(request), today=today(),
            site_probe=site_probe,
        )
        send_after_commit(request, [notify.submission_receipt(
            request.state.db, settings, user=user, number=registration.number or "",
            registration_id=registration.id, submitted_at=registration.submitted_at or utcnow())])
        wizard.discard_drafts(request.state.db, registration)
    except FormErrors as exc:
        request.state.db.rollback()
        registration = models.current_registration(request.state.db, user)
        if registration is not None and registration.status not in models.SUBMITTABLE:
            return redirect(request.app.url_path_for("apply:show_submitted"))
        context = _review_context(request, registration)  # type: ignore[arg-type]
        return render(request, "apply/review.html",
                      {**context, "errors": exc.errors, "signature": signature}, status_code=422)
    return redirect(request.app.url_path_for("apply:show_submitted"))


def _submit_change(request: Request, working: Amending) -> Response:
    """Sign and submit a change to an approved registration; it waits for a moderator while
    the registration stays as approved."""
    signature = form_value(request.state.form, "signature")
    settings = request.app.state.settings
    site_probe = _probe_declared_site(request, settings, working)
    db = request.state.db
    try:
        amendments.submit(db, settings, working=working, user=request.state.user,
                          signature=signature, signing=_signing(request), today=today(),
                          site_probe=site_probe)
    except FormErrors as exc:
        db.rollback()
        fresh = amendments.editing(db, request.state.user)
        if not isinstance(fresh, Amending):
            return redirect(request.app.url_path_for("apply:show_change"))
        context = _review_context(request, fresh)
        return render(request, "apply/review.html",
                      {**context, "errors": exc.errors, "signature": signature}, status_code=422)
    return redirect(request.app.url_path_for("apply:show_change"))


def _probe_declared_site(request: Request, settings: Any, registration: Editable
                         ) -> dict[str, Any] | None:
    """Check the shop site the operator declared: the operator attests, the portal checks."""
    security = registration.answers.get("security") or {}
    if not security.get("own_site") or not security.get("site_domain"):
        return None
    if wizard.missing(settings, registration, today=today()):
        return None  # the submission will be refused anyway; do not wait on the network
    domain = security["site_domain"]
    # Nothing is written yet: end the transaction so no write lock waits on the network.
    request.state.db.rollback()
    future = _PROBES.submit(site_probe.probe_site, domain, allow=settings.outbound_allow,
                            timeout=settings.probe_timeout)
    try:
        # The probe bounds its connections; this also bounds a slow name lookup.
        result = future.result(timeout=settings.probe_timeout + 1)
    except FutureTimeout:
        result = site_probe.ProbeResult(
            domain=domain, checked_at=tlog.rfc3339(utcnow()), reachable=False,
            findings=[site_probe.Finding("https_reachable", False,
                                         f"no answer within {settings.probe_timeout:g} s")])
    return result.as_dict()


_PROBES = ThreadPoolExecutor(max_workers=4, thread_name_prefix="site-probe")


@page(roles={"applicant"})
def show_submitted(request: Request) -> Response:
    registration = models.current_registration(request.state.db, request.state.user)
    if registration is None or registration.number is None:
        return redirect(request.app.url_path_for("apply:show_tasks"))
    return render(request, "apply/submitted.html", {"registration": registration})


@page(roles={"applicant"})
def show_change(request: Request) -> Response:
    """Changing an approved registration: how it works, the change under way or under review,
    and what became of the last one."""
    db = request.state.db
    registration = models.current_registration(db, request.state.user)
    if registration is None or registration.status not in amendments.AMENDABLE:
        return redirect(request.app.url_path_for("accounts:me"))
    amendment = amendments.latest(db, registration)
    comparison = []
    if amendment is not None and amendment.status != "withdrawn":
        comparison = [c for c in amendments.compare(registration.answers, amendment.answers)
                      if c.changed] if amendment.pending_for else []
    return render(request, "apply/change.html", {
        "registration": registration, "amendment": amendment, "comparison": comparison,
        "step_titles": steps.STEP_TITLES,
        "requested": (amendment.answers.get(models.REQUESTED) or {})
        if amendment is not None and amendment.status == "changes_requested" else {},
    })


@page(roles={"applicant"})
def start_change(request: Request) -> Response:
    """Open a change of the approved registration (a working copy of its answers) and go to
    the task list."""
    db = request.state.db
    registration = models.current_registration(db, request.state.user)
    if registration is None:
        return redirect(request.app.url_path_for("accounts:me"))
    try:
        amendments.start(db, registration=registration, user=request.state.user)
    except FormErrors:
        db.rollback()
        return redirect(request.app.url_path_for("apply:show_change"))
    return redirect(request.app.url_path_for("apply:show_tasks"))


@page(roles={"applicant"})
def withdraw_change(request: Request) -> Response:
    """Withdraw the pending change; the registration stays as approved."""
    db = request.state.db
    registration = models.current_registration(db, request.state.user)
    if registration is not None:
        try:
            amendments.withdraw(db, registration=registration, user=request.state.user)
        except FormErrors:
            db.rollback()
    return redirect(request.app.url_path_for("apply:show_change"))


@page(login=True)
def show_document(request: Request) -> Response:
    """Send a document to its owner or to staff, never to anyone else (404)."""
    try:
        document = models.get_document(
            request.state.db, request.path_params["document_id"], user=request.state.user
        )
    except NotFound:
        raise HTTPException(status_code=404) from None
    if request.state.user.role == "auditor":
        # An auditor reads only within the jurisdiction (DESIGN §3).
        owner = request.state.db.get(Registration, document.registration_id)
        if owner is None or not jurisdictions.covers(request.state.user.jurisdiction, owner.region):
            raise HTTPException(status_code=404)
    try:
        data = models.read_document(request.app.state.settings, document)
    except NotFound:  # its bytes were erased by retention
        raise HTTPException(status_code=404) from None
    return stored_file(data, filename=document.filename, content_type=document.content_type)


@page(roles={"applicant"})
def confirm_roster(request: Request) -> Response:
    try:
        wizard.confirm_roster_link(
            request.state.db, user=request.state.user, link_id=request.path_params["link_id"]
        )
    except NotFound:
        raise HTTPException(status_code=404) from None
    return redirect(str(request.app.url_path_for("accounts:me")) + "?roster=1")


routes = namespaced("apply", [
    Route("/apply", show_tasks, methods=["GET"], name="show_tasks"),
    Route("/apply/start", start, methods=["POST"], name="start"),
    Route("/apply/review", show_review, methods=["GET"], name="show_review"),
    Route("/apply/review", submit_registration, methods=["POST"], name="submit"),
    Route("/apply/submitted", show_submitted, methods=["GET"], name="show_submitted"),
    Route("/apply/change", show_change, methods=["GET"], name="show_change"),
    Route("/apply/change", start_change, methods=["POST"], name="start_change"),
    Route("/apply/change/withdraw", withdraw_change, methods=["POST"], name="withdraw_change"),
    Route("/apply/{step}", show_step, methods=["GET"], name="show_step"),
    Route("/apply/{step}", save_step, methods=["POST"], name="save_step"),
    Route("/apply/{step}/check", check_step, methods=["POST"], name="check_step"),
    Route("/documents/{document_id:id}", show_document, methods=["GET"], name="show_document"),
    Route("/me/roster/{link_id:id}/confirm", confirm_roster, methods=["POST"],
          name="confirm_roster"),
])


@page(roles={"applicant"})
def appeal_sanction(request: Request) -> Response:
    """File the one appeal a sanction allows."""
    try:
        enforcement.file_appeal(request.state.db, request.app.state.settings,
                                sanction_id=request.path_params["sanction_id"],
                                user=request.state.user,
                                text=form_value(request.state.form, "appeal_text"))
    except NotFound:
        raise HTTPException(status_code=404) from None
    except FormErrors as exc:
        request.state.db.rollback()
        return redirect(str(request.app.url_path_for("accounts:me")) + "?appeal_error="
                        + next(iter(exc.errors.values()))[:200])
    return redirect(str(request.app.url_path_for("accounts:me")) + "?appealed=1")


@page(roles={"applicant"})
def deregister(request: Request) -> Response:
    registration = models.current_registration(request.state.db, request.state.user)
    if registration is None:
        return redirect(request.app.url_path_for("accounts:me"))
    if form_value(request.state.form, "confirm") != "yes":
        return redirect(str(request.app.url_path_for("accounts:me")) + "?deregister=confirm")
    try:
        transitions.deregister(request.state.db, request.app.state.settings,
                               registration=registration, user=request.state.user)
        wizard.discard_drafts(request.state.db, registration)  # typed, never to be saved
    except FormErrors:
        request.state.db.rollback()
    return redirect(str(request.app.url_path_for("accounts:me")) + "?deregistered=1")


@page(roles={"applicant"})
def renew(request: Request) -> Response:
    """Start renewing an expired registration: every step is confirmed again, then reviewed."""
    registration = models.current_registration(request.state.db, request.state.user)
    if registration is None or registration.status != "expired":
        return redirect(request.app.url_path_for("accounts:me"))
    transitions.start_renewal(request.state.db, registration=registration,
                              user=request.state.user)
    return redirect(request.app.url_path_for("apply:show_tasks"))


@page(roles={"applicant"})
def confirm_data(request: Request) -> Response:
    """The operator confirms their registration data is still correct."""
    registration = models.current_registration(request.state.db, request.state.user)
    if registration is None:
        return redirect(request.app.url_path_for("accounts:me"))
    try:
        transitions.confirm_data(request.state.db, request.app.state.settings,
                                 registration=registration,
                                 user=request.state.user)
    except NotFound:
        raise HTTPException(status_code=404) from None
    return redirect(str(request.app.url_path_for("accounts:me")) + "?confirmed=1")


def _current_certificate(request: Request) -> Certificate:
    """The applicant's current certificate; 404 when there is none."""
    registration = models.current_registration(request.state.db, request.state.user)
    certificate = (certificates.current_certificate(request.state.db, registration.id)
                   if registration and registration.id else None)
    if certificate is None:
        raise HTTPException(status_code=404)
    return certificate


@page(roles={"applicant"})
def download_certificate(request: Request) -> Response:
    """The current certificate, exactly as signed (its JCS bytes), to keep or hand to a platform."""
    certificate = _current_certificate(request)
    return Response(
        certificate.document, media_type="application/json",
        headers={"Content-Disposition":
                 f'attachment; filename="{certificate.number}-certificate.json"'},
    )


@page(roles={"applicant"})
def download_credential(request: Request) -> Response:
    """The current certificate as a W3C Verifiable Credential, to hand to a platform."""
    certificate = _current_certificate(request)
    body = credentials.credential(request.app.state.settings, certificate)
    return JSONResponse(body, headers={
        "Content-Disposition": f'attachment; filename="{certificate.number}-credential.json"'})


@page(roles={"applicant"})
def certificate_page(request: Request) -> Response:
    """The current certificate as a printable A4 page, with a QR code of its verification page."""
    body = certificates.certificate_json(_current_certificate(request))
    context = printable.page_context(body, qr_label=_(
        "QR code of the verification page of %(number)s", number=body["number"]))
    return render(request, "apply/certificate.html", {
        **context, "roles": steps.ROLES, "platforms": steps.PLATFORMS,
        "id_types": steps.ID_TYPE_LABELS, "audiences": attestations.AUDIENCES,
        "categories": attestations.CONTENT_CATEGORIES,
        "restricted": attestations.RESTRICTED_PRODUCTS,
        "topics": attestations.PROFESSIONAL_TOPICS, "risk_levels": risk.LEVELS,
        "sanction_kinds": sanctions.KINDS, "sanction_functions": sanctions.FUNCTIONS,
    })


@page(roles={"applicant"}, writes=True)
def download_my_data(request: Request) -> Response:
    """All the applicant's data as JSON, theirs to keep (PIPL Art. 45); the access is logged."""
    import json

    db = request.state.db
    user = request.state.user
    data_export.log_data_export(db, user)
    data = data_export.personal_data_export(
        db, request.app.state.settings, user,
        document_url=lambda i: str(request.url_for("apply:show_document", document_id=i)))
    day = utcnow().strftime("%Y%m%d")
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2), media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="my-data-{day}.json"',
                 "Cache-Control": "no-store"},
    )


routes += namespaced("apply", [
    Route("/me/data.json", download_my_data, methods=["GET"], name="my_data"),
    Route("/me/certificate.json", download_certificate, methods=["GET"], name="certificate"),
    Route("/me/credential.json", download_credential, methods=["GET"], name="credential"),
    Route("/me/certificate", certificate_page, methods=["GET"], name="certificate_page"),
    Route("/me/renew", renew, methods=["POST"], name="renew"),
    Route("/me/confirm-data", confirm_data, methods=["POST"], name="confirm_data"),
    Route("/me/sanctions/{sanction_id:id}/appeal", appeal_sanction, methods=["POST"],
          name="appeal"),
    Route("/me/deregister", deregister, methods=["POST"], name="deregister"),
])
