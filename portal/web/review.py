"""The moderator's pages: the queue, a registration's detail, decisions and reveals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from typing import Any

from sqlmodel import select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.accounts import Role
from portal.base import crypto, identity, jurisdictions, regions
from portal.base.errors import FormErrors, NotFound
from portal.base.forms import whole_number
from portal.base.i18n import gettext as _
from portal.lifecycle import amendments
from portal.oversight import enforcement, full_record, review
from portal.registration import linking, sanctions, screening, steps
from portal.registration.models import Amendment, Registration
from portal.web import audit as audit_pages
from portal.web import flash
from portal.web.core import form_value, namespaced, page, redirect, render, send_after_commit

MODERATORS = {Role.moderator, Role.admin}
# Auditors order sanctions too (REGULATION.md R9), through the same service.
SANCTIONERS = {Role.moderator, Role.auditor, Role.admin}
ROLE_FILTERS = steps.ROLES


def _registration(request: Request) -> Registration:
    try:
        registration = review.get_by_number(request.state.db, request.path_params["number"])
    except NotFound:
        raise HTTPException(status_code=404) from None
    user = request.state.user
    if not jurisdictions.within(user, registration.region):
        # An auditor reads and acts only within the jurisdiction (DESIGN §3).
        raise HTTPException(status_code=404)
    return registration


@page(roles=MODERATORS)
def show_queue(request: Request) -> Response:
    params = request.query_params
    wanted = params.get("number", "").strip().upper()
    if wanted:
        if steps.NUMBER_PATTERN.match(wanted):
            found = request.state.db.exec(
                select(Registration.id).where(Registration.number == wanted)).first()
            if found is not None:
                return redirect(str(request.app.url_path_for("review:show", number=wanted)))
        not_found = _("No registration has the number %(number)s", number=wanted[:30])
    else:
        not_found = ""
    flag = params.get("flag", "") if params.get("flag", "") in screening.FLAGS else ""
    role = params.get("role", "") if params.get("role", "") in ROLE_FILTERS else ""
    risk = params.get("risk", "") if params.get("risk", "") in ("low", "medium", "high", "key") \
        else ""
    sort = "flags" if params.get("sort") == "flags" else "oldest"
    page_number = whole_number(params.get("page", "1"), digits=9) or 1
    appeals = sanctions.pending_appeals(request.state.db)
    rows, total = review.queue(request.state.db, flag=flag, role=role, risk=risk, sort=sort,
                               page=page_number)
    flags = {r.id: screening.flags_of(request.state.db, r.id or 0) for r in rows}
    # The last decision, when it emptied the queue (``decided_next``).
    decided = flash.take(request, request.url.path).get("decided")
    return render(request, "review/queue.html", {
        "decided": decided,
        "rows": rows, "total": total, "flags": flags, "flag_names": screening.FLAGS,
        "roles": ROLE_FILTERS, "filters": {"flag": flag, "role": role, "risk": risk,
                                           "sort": sort},
        "page": page_number, "per_page": 50, "appeals": appeals,
        "not_found": not_found, "wanted": wanted[:30],
        "sanction_kinds": sanctions.KINDS,
    })


def detail_context(request: Request, registration: Registration, **extra: Any) -> dict[str, Any]:
    # Moderators read the answers as stored; the page masks what it shows.
    record = full_record.build_record(request.state.db, registration, masked=False)
    can_decide = request.state.user.role in MODERATORS
    following = review.next_in_queue(request.state.db, after=registration) if can_decide \
        else None
    return {
        **audit_pages.record_context(record, audit_view=False),
        "can_decide": can_decide,
        # Each document beside the answers it proves (review/_answers_documents.html).
        "documents_beside": {d.id: d for d in record.documents},
        "next_number": following.number if following is not None else "",
        "editable_steps": [(s, audit_pages.STAFF_STEP_TITLES[s])
                           for s in audit_pages.current_steps(registration.answers)],
        "errors": {},
        "values": {},
        "revealed": {},
        "open_form": "",
        **extra,
    }


def typed_values(form: Any) -> dict[str, Any]:
    """What a refused form held, to show it again: its text fields, and the steps ticked."""
    values: dict[str, Any] = {k: v for k, v in (form.multi_items() if form is not None else [])
                              if isinstance(v, str)}
    values["steps"] = form.getlist("steps") if form is not None else []
    return values


def step_messages(form: Any) -> dict[str, str]:
    """The steps ticked in a request for changes, each with its message."""
    chosen = form.getlist("steps") if form is not None else []
    return {s: form_value(form, f"message_{s}") for s in chosen}


def detail_again(request: Request, registration: Registration, errors: dict[str, str]
                 ) -> Response:
    """The registration's page once more after a refused form: nothing written, the errors
    beside their fields, what was typed kept (422)."""
    request.state.db.rollback()
    values = typed_values(request.state.form)
    return shown_again(request, registration, status_code=422, errors=errors, values=values)


# What a POST may leave for a review page to show once (``flash``): a refused form's errors,
# what was typed and which form it was, a conflict, a revealed value, the decision just made.
SHOWN_ONCE = ("errors", "values", "open_form", "conflict", "revealed", "decided")


def _shown(request: Request) -> dict[str, Any]:
    """What a POST left for this page, to show once."""
    return {k: v for k, v in flash.take(request, request.url.path).items() if k in SHOWN_ONCE}


def show_once(request: Request, page_path: str, shown: dict[str, Any],
              answer_here: Callable[[], Response], anchor: str = "") -> Response:
    """After a POST that has something to show (a refused form, a conflict, a revealed value,
    a decision made): 303 to the page, which shows it once, so that refresh and Back never send
    the form again. A form too long to keep in the session is answered at the POST's address
    (``answer_here``), never lost."""
    if flash.keep(request, page_path, shown):
        return redirect(page_path + anchor)
    return answer_here()


def shown_again(request: Request, registration: Registration, *, status_code: int,
                anchor: str = "", **shown: Any) -> Response:
    """The registration's page after a POST, showing ``shown`` once (``show_once``)."""
    def answer_here() -> Response:
        fresh = review.get_by_number(request.state.db,
                                     registration.number)  # type: ignore[arg-type]
        return render(request, "review/detail.html", detail_context(request, fresh, **shown),
                      status_code=status_code)
    page_path = str(request.app.url_path_for("review:show", number=registration.number))
    return show_once(request, page_path, shown, answer_here, anchor)


def decided_next(request: Request, page_path: str, *, action: str, number: str,
                 change: bool = False) -> Response:
    """After a decision, on to the next one waiting (``page_path``, or its queue when none is
    left), which says once what was just decided."""
    decided = {"action": action, "number": number, "change": change,
               "empty": page_path in (str(request.app.url_path_for("review:queue")),
                                      str(request.app.url_path_for("review:changes")))}
    flash.keep(request, page_path, {"decided": decided})  # a few words: always kept
    return redirect(page_path)


@page(roles=SANCTIONERS)
def show_registration(request: Request) -> Response:
    registration = _registration(request)
    return render(request, "review/detail.html",
                  detail_context(request, registration, **_shown(request)))


def _version(request: Request) -> int:
    version = whole_number(form_value(request.state.form, "version"), digits=9)
    return -1 if version is None else version


def _decision(request: Request, action: str) -> Response:
    registration = _registration(request)
    form = request.state.form
    settings = request.app.state.settings
    db = request.state.db
    moderator = request.state.user
    common = {"registration": registration, "moderator": moderator, "version": _version(request),
              "note": form_value(form, "internal_note")}
    try:
        if action == "approve":
            outcome = review.approve(db, settings, **common)
        elif action == "request_changes":
            outcome = review.request_changes(db, settings, step_messages=step_messages(form),
                                             **common)
        else:
            outcome = review.reject(db, settings, reason_code=form_value(form, "reason_code"),
                                    message=form_value(form, "message"), **common)
    except review.DecisionConflict:
        db.rollback()
        registration = review.get_by_number(db, registration.number)  # type: ignore[arg-type]
        conflict = _("This registration changed while you were looking at it (another decision "
                     "may have been made). Check it again below.")
        return shown_again(request, registration, status_code=409, conflict=conflict)
    except FormErrors as exc:
        db.rollback()
        return shown_again(request, registration, status_code=422, errors=exc.errors,
                           values=typed_values(form), open_form=action)
    send_after_commit(request, outcome.mail)
    # On to the next registration waiting, in the queue's order; the queue when none is left.
    following = review.next_in_queue(db, after=registration)
    page_path = str(request.app.url_path_for("review:show", number=following.number)
                    if following is not None else request.app.url_path_for("review:queue"))
    return decided_next(request, page_path, action=action, number=registration.number or "")


@page(roles=MODERATORS)
def approve_registration(request: Request) -> Response:
    return _decision(request, "approve")


@page(roles=MODERATORS)
def request_changes(request: Request) -> Response:
    return _decision(request, "request_changes")


@page(roles=MODERATORS)
def reject_registration(request: Request) -> Response:
    return _decision(request, "reject")


@page(roles={Role.moderator, Role.auditor, Role.admin})
def reveal_value(request: Request) -> Response:
    """Show one clear value once, after logging the stated reason."""
    registration = _registration(request)
    field = form_value(request.state.form, "field")
    reason = form_value(request.state.form, f"reason_{field}")
    try:
        value = review.reveal(request.state.db, request.app.state.settings,
                              registration=registration, actor=request.state.user, field=field,
                              reason=reason)
    except FormErrors as exc:
        request.state.db.rollback()
        return shown_again(request, registration, status_code=422, errors=exc.errors,
                           values={f"reason_{field}": reason[:500]}, anchor="#reveal-title")
    # The reveal is logged (committed with the redirect); the page shows the value once.
    response = shown_again(request, registration, status_code=200, revealed={field: value},
                           anchor="#reveal-title")
    response.headers["Cache-Control"] = "no-store"
    return response


def _hold_context(request: Request, registration: Registration, flag_id: int,
                  **extra: Any) -> dict[str, Any]:
    try:
        view = review.hold(request.state.db, registration, flag_id)
    except NotFound:
        raise HTTPException(status_code=404) from None
    return {"view": view, "registration": registration, "flag_names": screening.FLAGS,
            "id_types": steps.ID_TYPE_LABELS, "statuses": audit_pages.STATUSES,
            "nationality_name": regions.nationality_name,
            "place_name": regions.place_name, "errors": {}, "values": {}, **extra}


@page(roles=MODERATORS)
def show_hold(request: Request) -> Response:
    """Both records side by side: the submission held and the blacklisted one it may match."""
    registration = _registration(request)
    return render(request, "review/hold.html",
                  _hold_context(request, registration, request.path_params["flag_id"],
                                **_shown(request)))


@page(roles=MODERATORS)
def clear_hold(request: Request) -> Response:
    registration = _registration(request)
    flag_id = request.path_params["flag_id"]
    reason = form_value(request.state.form, "clear_reason")
    try:
        review.clear_hold(request.state.db, registration=registration, flag_id=flag_id,
                          moderator=request.state.user, reason=reason)
    except FormErrors as exc:
        request.state.db.rollback()
        shown = {"errors": exc.errors, "values": {"clear_reason": reason}}
        page_path = str(request.app.url_path_for("review:hold", number=registration.number,
                                                 flag_id=flag_id))
        return show_once(request, page_path, shown,
                         lambda: render(request, "review/hold.html",
                                        _hold_context(request, registration, flag_id, **shown),
                                        status_code=422))
    return redirect(str(request.app.url_path_for("review:show", number=registration.number))
                    + "?done=hold")


# --- Changes after approval ----------------------------------------------------------------


def _amendment(request: Request) -> tuple[Amendment, Registration]:
    try:
        amendment, registration = review.get_amendment(request.state.db,
                                                       request.path_params["amendment_id"])
    except NotFound:
        raise HTTPException(status_code=404) from None
    if not jurisdictions.within(request.state.user, registration.region):
        raise HTTPException(status_code=404)
    return amendment, registration


@page(roles=MODERATORS)
def show_changes(request: Request) -> Response:
    """Changes to approved registrations waiting for a moderator, oldest first."""
    rows = [(a, r) for a, r in amendments.queue(request.state.db)
            if jurisdictions.within(request.state.user, r.region)]
    return render(request, "review/changes.html", {
        "decided": _shown(request).get("decided"),
        "rows": rows, "flag_names": screening.FLAGS,
        "changed": {a.id: amendments.changed_steps(r.answers, a.answers) for a, r in rows},
        "step_titles": steps.STEP_TITLES,
    })


def _change_context(request: Request, amendment: Amendment, registration: Registration,
                    **extra: Any) -> dict[str, Any]:
    return {
        "amendment": amendment, "registration": registration,
        "comparison": [c for c in amendments.compare(registration.answers, amendment.answers)
                       if c.changed],
        "step_titles": steps.STEP_TITLES, "flag_names": screening.FLAGS,
        "holds": [f for f in amendment.flags if f["code"] in screening.HOLDS],
        "editable_steps": [(s, steps.STEP_TITLES[s])
                           for s in audit_pages.current_steps(amendment.answers)],
        "errors": {}, "values": {}, "open_form": "", **extra,
    }


@page(roles=MODERATORS)
def show_change(request: Request) -> Response:
    """A change beside the approved answers it would replace, and the decision on it."""
    amendment, registration = _amendment(request)
    return render(request, "review/change.html",
                  _change_context(request, amendment, registration, **_shown(request)))


def _change_decision(request: Request, action: str) -> Response:
    amendment, registration = _amendment(request)
    form = request.state.form
    db = request.state.db
    settings = request.app.state.settings
    common = {"amendment": amendment, "registration": registration,
              "moderator": request.state.user, "version": _version(request),
              "note": form_value(form, "internal_note")}
    try:
        if action == "approve":
            outcome = review.approve_amendment(
                db, settings, today=identity.china_today(),
                hold_reason=form_value(form, "hold_reason"), **common)
        elif action == "request_changes":
            outcome = review.request_amendment_changes(
                db, settings, step_messages=step_messages(form), **common)
        else:
            outcome = review.refuse_amendment(db, settings, message=form_value(form, "message"),
                                              **common)
    except (review.DecisionConflict, FormErrors) as exc:
        db.rollback()
        if isinstance(exc, FormErrors):
            shown: dict[str, Any] = {"errors": exc.errors, "values": typed_values(form),
                                     "open_form": action}
            status_code = 422
        else:
            shown = {"conflict": _("This change was decided or withdrawn while you were looking "
                                   "at it. Check it again below.")}
            status_code = 409

        def answer_here() -> Response:
            found, of = _amendment(request)
            return render(request, "review/change.html",
                          _change_context(request, found, of, **shown), status_code=status_code)
        return show_once(request, str(request.app.url_path_for(
            "review:show_change", amendment_id=request.path_params["amendment_id"])), shown,
            answer_here)
    send_after_commit(request, outcome.mail)
    # On to the next change waiting, in its list's order; the list when none is left.
    following = _next_change(request, amendment)
    page_path = str(request.app.url_path_for("review:show_change", amendment_id=following.id)
                    if following is not None else request.app.url_path_for("review:changes"))
    return decided_next(request, page_path, action=action, number=registration.number or "",
                        change=True)


def _next_change(request: Request, decided: Amendment) -> Amendment | None:
    """The change to decide after ``decided``: the first waiting after it in the list's order
    (oldest first), else the first waiting at all."""
    waiting = [a for a, r in amendments.queue(request.state.db)
               if a.id != decided.id and jurisdictions.within(request.state.user, r.region)]
    if decided.submitted_at is not None:
        later = [a for a in waiting if a.submitted_at is not None
                 and (a.submitted_at, a.id or 0) > (decided.submitted_at, decided.id or 0)]
        if later:
            return later[0]
    return waiting[0] if waiting else None


@page(roles=MODERATORS)
def approve_change(request: Request) -> Response:
    return _change_decision(request, "approve")


@page(roles=MODERATORS)
def request_change_corrections(request: Request) -> Response:
    return _change_decision(request, "request_changes")


@page(roles=MODERATORS)
def refuse_change(request: Request) -> Response:
    return _change_decision(request, "refuse")


routes = namespaced("review", [
    Route("/review", show_queue, methods=["GET"], name="queue"),
    # Before "/review/{number}", which would take "changes" for a number.
    Route("/review/changes", show_changes, methods=["GET"], name="changes"),
    Route("/review/changes/{amendment_id:id}", show_change, methods=["GET"],
          name="show_change"),
    Route("/review/changes/{amendment_id:id}/approve", approve_change, methods=["POST"],
          name="approve_change"),
    Route("/review/changes/{amendment_id:id}/request-changes", request_change_corrections,
          methods=["POST"], name="request_change_corrections"),
    Route("/review/changes/{amendment_id:id}/refuse", refuse_change, methods=["POST"],
          name="refuse_change"),
    Route("/review/{number}/holds/{flag_id:id}", show_hold, methods=["GET"], name="hold"),
    Route("/review/{number}/holds/{flag_id:id}/clear", clear_hold, methods=["POST"],
          name="clear_hold"),
    Route("/review/{number}", show_registration, methods=["GET"], name="show"),
    Route("/review/{number}/approve", approve_registration, methods=["POST"], name="approve"),
    Route("/review/{number}/request-changes", request_changes, methods=["POST"],
          name="request_changes"),
    Route("/review/{number}/reject", reject_registration, methods=["POST"], name="reject"),
    Route("/review/{number}/reveal", reveal_value, methods=["POST"], name="reveal"),
])


def end_of_day(raw: str) -> datetime | None:
    """A date typed on a form, as the end of that day in China."""
    if not raw.strip():
        return None
    try:
        day = identity.parse_date(raw)
    except ValueError:
        return None
    return datetime.combine(day, time(23, 59, 59), tzinfo=identity.CHINA_TZ)


def chosen_functions(form: Any) -> list[str]:
    """The functions ticked on a sanction form (a restriction's)."""
    return [v for v in form.getlist("functions") if isinstance(v, str)] if form else []


@page(roles=SANCTIONERS)
def sanction_registration(request: Request) -> Response:
    registration = _registration(request)
    form = request.state.form
    try:
        _sanction, mail = enforcement.apply_sanction(
            request.state.db, registration=registration, actor=request.state.user,
            kind=form_value(form, "kind"), facts=form_value(form, "facts"),
            reason=form_value(form, "reason"), legal_basis=form_value(form, "legal_basis"),
            until=end_of_day(form_value(form, "until")), functions=chosen_functions(form),
            version=_version(request), settings=request.app.state.settings,
        )
    except FormErrors as exc:
        request.state.db.rollback()
        registration = _registration(request)
        values: dict[str, Any] = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        values["functions"] = chosen_functions(form)
        return shown_again(request, registration, status_code=422, errors=exc.errors,
                           values=values, open_form="sanction")
    send_after_commit(request, mail)
    return redirect(str(request.app.url_path_for("review:show", number=registration.number))
                    + "?done=sanction")


@page(roles=MODERATORS)
def decide_appeal(request: Request) -> Response:
    form = request.state.form
    appeal_id = request.path_params["appeal_id"]
    db = request.state.db
    try:
        appeal, mail = enforcement.decide_appeal(
            db, request.app.state.settings, appeal_id=appeal_id, moderator=request.state.user,
            outcome=form_value(form, "outcome"), reason=form_value(form, "decision_reason"),
        )
    except NotFound:
        raise HTTPException(status_code=404) from None
    except FormErrors as exc:
        db.rollback()
        found = db.get(sanctions.Appeal, appeal_id)
        if found is None:
            raise HTTPException(status_code=404) from None
        registration = db.get(Registration, found.registration_id)
        values = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        return shown_again(request, registration, status_code=422, errors=exc.errors,
                           values=values)
    send_after_commit(request, mail)
    registration = db.get(Registration, appeal.registration_id)
    return redirect(str(request.app.url_path_for("review:show", number=registration.number))
                    + "?done=appeal")


@page(roles=MODERATORS)
def end_correction(request: Request) -> Response:
    """End an order to correct as complied with."""
    registration = _registration(request)
    form = request.state.form
    try:
        enforcement.end_correction(request.state.db, request.app.state.settings,
                                   sanction_id=request.path_params["sanction_id"],
                                   registration=registration, moderator=request.state.user,
                                   note=form_value(form, "complied_note"))
    except NotFound:
        raise HTTPException(status_code=404) from None
    except FormErrors as exc:
        return detail_again(request, registration, exc.errors)
    return redirect(str(request.app.url_path_for("review:show", number=registration.number))
                    + "?done=complied")


@page(roles=MODERATORS)
def reinstate(request: Request) -> Response:
    registration = _registration(request)
    form = request.state.form
    try:
        review.reinstate(request.state.db, request.app.state.settings,
                         registration=registration, moderator=request.state.user,
                         version=_version(request), reason=form_value(form, "reinstate_reason"))
    except (FormErrors, review.DecisionConflict) as exc:
        return detail_again(request, registration, exc.errors if isinstance(exc, FormErrors)
                            else {"_": _("This registration changed while you were looking at "
                                         "it. Check it again.")})
    return redirect(str(request.app.url_path_for("review:show", number=registration.number))
                    + "?done=reinstated")


@page(roles=MODERATORS)
def override_risk(request: Request) -> Response:
    registration = _registration(request)
    form = request.state.form
    try:
        review.override_risk(request.state.db, request.app.state.settings,
                             registration=registration, moderator=request.state.user,
                             level=form_value(form, "risk_level"),
                             reason=form_value(form, "risk_reason"))
    except FormErrors as exc:
        return detail_again(request, registration, exc.errors)
    return redirect(str(request.app.url_path_for("review:show", number=registration.number))
                    + "?done=risk")


routes += namespaced("review", [
    Route("/review/{number}/risk", override_risk, methods=["POST"], name="risk"),
    Route("/review/{number}/reinstate", reinstate, methods=["POST"], name="reinstate"),
    Route("/review/{number}/sanction", sanction_registration, methods=["POST"], name="sanction"),
    Route("/review/{number}/sanctions/{sanction_id:id}/complied", end_correction,
          methods=["POST"], name="end_correction"),
    Route("/review/appeals/{appeal_id:id}/decide", decide_appeal, methods=["POST"],
          name="decide_appeal"),
])


@page(roles=MODERATORS)
def show_blocklist(request: Request) -> Response:
    q = request.query_params.get("q", "")
    entries = enforcement.blocklist_page(request.state.db, q=q)
    shown = _shown(request)
    return render(request, "review/blocklist.html", {
        "entries": entries, "q": q, "errors": shown.get("errors", {}),
        "values": shown.get("values", {}),
        "id_types": steps.ID_TYPE_LABELS, "done": request.query_params.get("done", ""),
    })


@page(roles=MODERATORS)
def add_blocklist_entry(request: Request) -> Response:
    """Blacklist a person by hand: their name and, if known, their ID document."""
    form = request.state.form
    values = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    errors: dict[str, str] = {}
    name = form_value(form, "legal_name").strip()
    reason = form_value(form, "reason").strip()
    id_type = form_value(form, "id_type")
    number = form_value(form, "id_number").strip()
    index = None
    if not name:
        errors["legal_name"] = _("Enter the person's full legal name")
    elif len(name) > 100:
        errors["legal_name"] = _("Write %(max)d characters or fewer", max=100)
    if not reason:
        errors["reason"] = _("State the reason")
    if number:
        try:
            number = identity.validate_id_number(id_type, number)
            index = crypto.identity_index(request.app.state.settings, id_type, number)
        except ValueError as exc:
            errors["id_number"] = str(exc)
    if errors:
        return _blocklist_again(request, errors, values)
    settings = request.app.state.settings
    enforcement.add_to_blocklist(request.state.db, settings, registration=None,
                                 actor=request.state.user, reason_code="manual",
                                 reason=reason[:2000], identity_index=index, legal_name=name,
                                 id_type=id_type if index else None,
                                 keys=linking.entry_keys(settings, id_type=id_type,
                                                         id_number=number if index else "",
                                                         legal_name=name))
    return redirect(str(request.app.url_path_for("review:blocklist")) + "?done=added")


def _blocklist_again(request: Request, errors: dict[str, str], values: dict[str, str]
                     ) -> Response:
    """The blocklist after a refused form: 303 to it, showing the errors and what was typed
    once (an ID number typed too: it is kept sealed, ``flash``). An auditor, who may lift an
    entry but has no blocklist page to land on, is answered here."""
    def answer_here() -> Response:
        entries = enforcement.blocklist_page(request.state.db)
        return render(request, "review/blocklist.html", {
            "entries": entries, "q": "", "errors": errors, "values": values,
            "id_types": steps.ID_TYPE_LABELS, "done": "",
        }, status_code=422)
    if request.state.user.role not in MODERATORS:
        return answer_here()
    return show_once(request, str(request.app.url_path_for("review:blocklist")),
                     {"errors": errors, "values": values}, answer_here)


@page(roles=SANCTIONERS)
def lift_blocklist_entry(request: Request) -> Response:
    """Ask for, or confirm, lifting an entry: two different staff members are needed."""
    entry_id = request.path_params["entry_id"]
    step = request.path_params["step"]
    try:
        if step == "request":
            enforcement.request_lift(request.state.db, entry_id=entry_id, actor=request.state.user)
        elif step == "confirm":
            enforcement.confirm_lift(request.state.db, entry_id=entry_id, actor=request.state.user)
        else:
            raise NotFound()
    except NotFound:
        raise HTTPException(status_code=404) from None
    except FormErrors as exc:
        request.state.db.rollback()
        return _blocklist_again(request, exc.errors, {})
    return redirect(str(request.app.url_path_for("review:blocklist")) + f"?done={step}")


routes += namespaced("review", [
    Route("/blocklist", show_blocklist, methods=["GET"], name="blocklist"),
    Route("/blocklist", add_blocklist_entry, methods=["POST"], name="add_blocklist_entry"),
    Route("/blocklist/{entry_id:id}/lift/{step}", lift_blocklist_entry, methods=["POST"],
          name="lift_blocklist_entry"),
])
