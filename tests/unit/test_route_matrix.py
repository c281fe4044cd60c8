"""Who may do what: every route of the app, tried as every kind of actor (the route matrix).

The routes are read from ``app.router.routes`` (into mounts), so a route added without an entry
in ``MATRIX`` fails ``test_every_route_is_in_the_matrix``. Each entry says what each actor gets
from one request to that route with real path values (the approved registration's number, its
document, a case, an inspection, API clients, a delivery...) and, for a POST, the actor's own
CSRF token and an otherwise empty form (``{}`` for the JSON API): an actor who is allowed gets
an answer about the empty form (422, a 303 back to the page, a 409 for a stale version...), one
who is not gets 303 to the login page, 403, 404 or 401. docs/security.md points here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlmodel import Session, select
from starlette.routing import BaseRoute, Mount
from starlette.testclient import TestClient

from portal.accounts import User
from portal.base.db import utcnow
from portal.ledger.events import Actor, OutboxEvent
from portal.oversight import cases, enforcement, inspection_requests, inspections
from portal.platforms import filings
from portal.platforms.clients import ApiClient, ApiKey
from portal.platforms.webhooks import WebhookDelivery
from portal.records import certificates
from portal.registration import screening
from portal.registration.models import Amendment, Document, Registration, RosterLink
from tests.unit.conftest import Auth, Platform, csrf_from, make_user
from tests.unit.http_wizard import PNG, Wizard, fresh

(VISITOR, APPLICANT, OTHER, MODERATOR, AUDITOR, OUTSIDER, ADMIN, PLATFORM, AUTHORITY,
 FAR_AUTHORITY) = ACTORS = (
    "visitor", "applicant", "other applicant", "moderator", "auditor", "auditor of 44", "admin",
    "platform key", "authority key", "authority key of 44",
)
PEOPLE = (VISITOR, APPLICANT, OTHER, MODERATOR, AUDITOR, OUTSIDER, ADMIN)  # browser sessions
LOGIN = "login"  # 303 to /login?next=<the path asked for>

Expected = dict[str, int | str]


# --- defaults per area ------------------------------------------------------------------------
# A web page ignores an API key: the two key holders are visitors there (filled in below).


def public(status: int | str = 200) -> Expected:
    return dict.fromkeys(PEOPLE, status)


def signed_in(ok: int | str, *, staff: int | str | None = None) -> Expected:
    """Any account (login=True); ``staff`` when staff get something else than applicants."""
    staff = ok if staff is None else staff
    return {VISITOR: LOGIN, APPLICANT: ok, OTHER: ok, MODERATOR: staff, AUDITOR: staff,
            ADMIN: staff}


def applicants(mine: int | str, other: int | str | None = None) -> Expected:
    """roles={"applicant"}: ``mine`` for the approved applicant, ``other`` for the one with a
    draft of their own."""
    return {VISITOR: LOGIN, APPLICANT: mine, OTHER: mine if other is None else other,
            MODERATOR: 403, AUDITOR: 403, ADMIN: 403}


def staff_only(ok: int | str, *roles: str) -> Expected:
    return {VISITOR: LOGIN, APPLICANT: 403, OTHER: 403,
            **{role: ok if role in roles else 403 for role in (MODERATOR, AUDITOR, ADMIN)}}


def staff(ok: int | str) -> Expected:  # any staff role
    return staff_only(ok, MODERATOR, AUDITOR, ADMIN)


def moderators(ok: int | str) -> Expected:  # moderator and admin (portal/web/review.py)
    return staff_only(ok, MODERATOR, ADMIN)


def sanctioners(ok: int | str) -> Expected:  # + auditors, who order sanctions (R9)
    return staff_only(ok, MODERATOR, AUDITOR, ADMIN)


def auditors(ok: int | str) -> Expected:  # auditor and admin (the console, inspections)
    return staff_only(ok, AUDITOR, ADMIN)


def admins(ok: int | str) -> Expected:
    return staff_only(ok, ADMIN)


def api(kind: str, ok: int) -> Expected:
    """A keyed API endpoint: no key (a browser's session cookie is no key) is 401, the other
    kind of key 403."""
    return {**dict.fromkeys(PEOPLE, 401), PLATFORM: ok if kind == "platform" else 403,
            AUTHORITY: ok if kind == "authority" else 403}


# --- the matrix -------------------------------------------------------------------------------

MATRIX: dict[str, Expected] = {
    # public pages and records
    "home": public(),
    "privacy": public(),
    "switch_language": public(303),
    "dev_mailbox": public(),  # development only; 404 in production (test_app.py)
    "verify:find": public(),
    "verify:show": public(),
    "verify:report": public(303),  # anyone may report; refused: back to the page (PRG)
    "complaints:find": public(),
    "complaints:show": public(),  # a buyer's report, by its reference: no account
    "healthz": public(),
    "portal_keys": public(),
    # credentials: the issuer's DID document, our JSON-LD context, the status lists
    "did_document": {**public(), PLATFORM: 200, AUTHORITY: 200},
    "credential_context": {**public(), PLATFORM: 200, AUTHORITY: 200},
    "status_list": {**public(), PLATFORM: 200, AUTHORITY: 200},
    "static": public(),
    "log_checkpoint": {**public(), PLATFORM: 200, AUTHORITY: 200},
    "log_entries": {**public(), PLATFORM: 200, AUTHORITY: 200},
    "log_inclusion": {**public(), PLATFORM: 200, AUTHORITY: 200},
    "log_consistency": {**public(), PLATFORM: 200, AUTHORITY: 200},
    # the C2SP tiled log: public, no key; a tile far beyond the tree is 404 to everyone
    "tlog_checkpoint": {**public(), PLATFORM: 200, AUTHORITY: 200},
    "tlog_vkey": {**public(), PLATFORM: 200, AUTHORITY: 200},
    "tlog_tile": {**public(404), PLATFORM: 404, AUTHORITY: 404},
    "tlog_note": {**public(404), PLATFORM: 404, AUTHORITY: 404},
    "api:openapi": {**public(), PLATFORM: 200, AUTHORITY: 200},
    "api:reference": {**public(), PLATFORM: 200, AUTHORITY: 200},
    # accounts
    "accounts:signup": {**public(303), VISITOR: 200},  # signed in: sent to their start page
    "accounts:sign_up": public(422),
    "accounts:signup_sent": public(),
    "accounts:login": {**public(303), VISITOR: 200},
    "accounts:log_in": public(422),
    "accounts:login_code": public(303),  # no password step pending: back to the login page
    "accounts:check_login_code": public(303),
    "accounts:logout": public(303),
    "accounts:logout_everywhere": signed_in(303),
    "accounts:forgot_password": public(),
    "accounts:request_password_reset": public(422),
    "accounts:reset_password": public(400),  # no token
    "accounts:set_new_password": public(400),
    "accounts:verify_email": public(400),  # no token
    "accounts:resend": signed_in(303),
    "preferences:choose_language": signed_in(303),
    "accounts:me": signed_in(200, staff=303),  # staff are sent to their own start page
    # staff sign-in security (TOTP); none of them has TOTP yet
    "accounts:security": staff(200),
    "accounts:start_totp": staff(200),  # the set-up page with a new secret
    "accounts:confirm_totp": staff(422),  # no code
    "accounts:new_recovery_codes": staff(303),  # no TOTP yet: back to the security page
    "accounts:remove_totp": staff(303),
    # the applicant's wizard and records: the approved one's is not editable any more
    "apply:show_tasks": applicants(303, 200),
    "apply:start": applicants(303),
    "apply:show_review": applicants(303),
    "apply:submit": applicants(303, 422),
    "apply:show_submitted": applicants(200, 303),
    "apply:show_step": applicants(303, 200),
    "apply:save_step": applicants(409, 422),
    "apply:check_step": applicants(200),
    "apply:show_document": signed_in(200, staff=200) | {OTHER: 404},
    "apply:confirm_roster": applicants(303, 404),
    "apply:my_data": applicants(200),  # each their own (PIPL Art. 45)
    "apply:certificate": applicants(200, 404),
    "apply:credential": applicants(200, 404),
    "apply:certificate_page": applicants(200, 404),
    "apply:renew": applicants(303),
    "apply:confirm_data": applicants(303, 404),
    "apply:appeal": applicants(303, 404),  # already appealed: back to /me with the message
    "apply:deregister": applicants(303),  # not ticked: back to /me to confirm
    "apply:show_change": applicants(200, 303),  # only an approved registration is changed
    "apply:start_change": applicants(303),
    "apply:withdraw_change": applicants(303),
    # moderators (moderator, admin); auditors read a registration and sanction through it
    "review:queue": moderators(200),
    "review:show": sanctioners(200),
    "review:changes": moderators(200),
    "review:show_change": moderators(200),
    "review:approve_change": moderators(303),  # its person is on the blocklist in this world
    "review:request_change_corrections": moderators(303),  # no step chosen
    "review:refuse_change": moderators(303),  # no message
    # Refused staff forms redirect to their page, which shows the errors once (flash).
    "review:approve": moderators(303),  # no version: the page was stale (shown as a conflict)
    "review:request_changes": moderators(303),  # no step chosen
    "review:reject": moderators(303),  # no reason
    "review:reveal": sanctioners(303),
    "review:risk": moderators(303),
    "review:hold": moderators(200),
    "review:clear_hold": moderators(303),  # no reason
    "review:reinstate": moderators(303),  # not suspended
    "review:sanction": sanctioners(303),
    "review:decide_appeal": moderators(303),
    "review:end_correction": moderators(404),  # the sanction of the world is no order to correct
    "review:blocklist": moderators(200),
    "review:add_blocklist_entry": moderators(303),  # no name, no reason
    "review:lift_blocklist_entry": sanctioners(303),  # step "request": the first pair of eyes
    "cases:list": moderators(200),
    "cases:show": moderators(200),
    "cases:add_note": moderators(422),
    "cases:close": moderators(422),
    "cases:open": moderators(422),
    # auditors (auditor, admin)
    "audit:search": auditors(200),
    "audit:lookup_form": auditors(200),
    "audit:lookup": auditors(303),  # no reason: the form shows the errors once
    "audit:export_csv": auditors(200),
    "audit:export_json": auditors(200),
    "audit:record": auditors(200),
    "audit:reveal": auditors(303),  # no reason: shown on the record
    "audit:certificate": auditors(200),
    "audit_log:show": auditors(200),
    "audit_log:check_consistency": auditors(303),  # nothing pasted: errors shown once
    "dashboard:show": auditors(200),
    "inspections:list": auditors(200),
    "inspections:new": auditors(200),
    "inspections:open": auditors(422),
    "inspections:show": auditors(200),
    "inspections:add_finding": auditors(422),
    "inspections:close": auditors(422),
    "inspection_requests:list": auditors(200),
    "inspection_requests:new": auditors(200),
    "inspection_requests:send": auditors(422),
    "inspection_requests:show": auditors(200),
    "inspection_requests:file": auditors(200),
    # administration: auditors read the API clients (R2), only admins change them
    "staff:admin_home": admins(200),
    "admin:staff": admins(200),
    "admin:create_staff": admins(422),  # no address
    "admin:disable_staff": admins(422),  # not confirmed
    "admin:enable_staff": admins(303),
    "admin:reset_staff_second_factor": admins(422),  # not confirmed
    "admin:keys": admins(200),
    "admin:rotate_key": admins(422),  # not confirmed
    "admin:clients": auditors(200),
    "admin:create_client": admins(422),
    "admin:client": auditors(200),
    "admin:issue_key": admins(200),  # the new key, shown once
    "admin:revoke_key": admins(422),  # not confirmed
    "admin:revoke_client": admins(422),  # not confirmed
    "admin:webhook": admins(303),  # empty: the webhook is removed
    "admin:details": admins(303),  # every detail is optional
    "admin:add_licence": admins(422),
    "admin:remove_licence": admins(303),
    "admin:upload_assessment": admins(422),  # no file
    "admin:record_document": auditors(200),
    "compliance:platforms": auditors(200),
    "webhooks:deliveries": admins(200),
    "webhooks:retry": admins(303),
    # the platform API
    "api:get_registration": api("platform", 200),
    "api:get_credential": api("platform", 200),
    "api:verify_registrations": api("platform", 422),
    "api:match_identity": api("platform", 422),
    "api:check_blocklist": api("platform", 422),
    "api:add_buyer": api("platform", 422),
    "api:remove_buyer": api("platform", 204),
    "api:report_violation": api("platform", 422),
    "api:list_events": api("platform", 200),
    "api:list_inspection_requests": api("platform", 200),
    "api:answer_inspection_request": api("platform", 409),  # answered already in this world
    # the authority API
    "api:audit_registrations": api("authority", 200),
    "api:audit_registration": api("authority", 200),
    "api:audit_reveal": api("authority", 200),  # with a field and a reason (API_BODIES)
    "api:audit_lookup": api("authority", 200),  # an ID number and a reason (API_BODIES)
    "api:audit_access_log": api("authority", 200),
    "api:audit_export": api("authority", 200),
    "api:audit_send_inspection_request": api("authority", 422),
    "api:audit_inspection_request": api("authority", 200),
    "api:audit_inspection_file": api("authority", 200),
}
# The objects the routes act on belong to Beijing (11); the auditor and the authority key of
# Guangdong (44) see none of them: every route that takes such an object's id answers them 404,
# as if it did not exist, and every other route answers them as it answers the national ones.
OUTSIDE_JURISDICTION = {
    "apply:show_document", "review:show", "review:reveal", "review:sanction",
    "review:lift_blocklist_entry", "audit:record", "audit:reveal", "audit:certificate",
    "inspections:show", "inspections:add_finding", "inspections:close",
    "api:audit_registration", "api:audit_reveal",
    "inspection_requests:show", "inspection_requests:file", "api:audit_inspection_request",
    "api:audit_inspection_file",
}
for _name, _expected in MATRIX.items():
    _expected.setdefault(PLATFORM, _expected[VISITOR])
    _expected.setdefault(AUTHORITY, _expected[VISITOR])
    _expected.setdefault(OUTSIDER, _expected[AUDITOR])
    _expected.setdefault(FAR_AUTHORITY, _expected[AUTHORITY])
    if _name in OUTSIDE_JURISDICTION:
        assert 404 not in (_expected[AUDITOR], _expected[AUTHORITY]), _name
        key = OUTSIDER if _name.partition(":")[0] != "api" else FAR_AUTHORITY
        _expected[key] = 404

# Path values that differ from the defaults for one route.
PATH_OVERRIDES: dict[str, dict[str, str]] = {
    "review:lift_blocklist_entry": {"step": "request"},
    # {id} is the buyer block's elsewhere; here the inspection request's.
    "api:answer_inspection_request": {"id": "{request_id}"},
    "api:audit_inspection_request": {"id": "{request_id}"},
    "api:audit_inspection_file": {"id": "{file_id}"},
    "admin:record_document": {"document_id": "{platform_document_id}"},
    "tlog_tile": {"rest": "0/x999/999"},
    "tlog_note": {"tree_size": "999999"},
    "status_list": {"purpose": "revocation"},
}
# Form fields some POSTs need beyond the token: the login throttle counts failures per email
# typed, so each actor types its own (eight empty ones would be throttled from the sixth on).
FORMS: dict[str, dict[str, str]] = {
    "accounts:log_in": {"email": "nobody-{actor}@example.com"},
}
# JSON bodies some API calls send instead of {}: a reveal with its reason, so that inside the
# jurisdiction it answers the value and outside it 404 (an empty body is 422 to everyone).
API_BODIES: dict[str, dict[str, str]] = {
    "api:audit_reveal": {"field": "phone", "reason": "Inspection of the live room"},
    "api:audit_lookup": {"id_type": "passport", "id_number": "E12345678",
                         "reason": "Inspection of the live room"},
}
# Query strings some routes need to answer 200.
QUERIES: dict[str, str] = {
    "log_entries": "?start=0&end=1",
    "log_inclusion": "?index=0&tree_size=2",
    "log_consistency": "?first=1&second=2",
}
# They end the actor's session (one, or every one of the account) on the server: run last, each
# on a copy of the actor's client, in this order (logging out answers anyone alike, so it comes
# after every session has ended).
LAST = ("accounts:logout_everywhere", "accounts:logout")


# --- the routes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppRoute:
    name: str
    method: str
    path: str  # a template: /review/{number}/approve


def app_routes(routes: list[BaseRoute], prefix: str = "", namespace: str = ""
               ) -> Iterator[AppRoute]:
    """Every endpoint of a route list, into mounts (a mounted app with no routes, such as the
    static files, is one GET endpoint)."""
    for route in routes:
        name = getattr(route, "name", "") or ""
        full_name = f"{namespace}:{name}" if namespace and name else name
        path = prefix + getattr(route, "path", "")
        if isinstance(route, Mount):
            children = route.routes
            if children:
                yield from app_routes(children, path, full_name)
            else:
                yield AppRoute(full_name, "GET", path.rstrip("/") + "/{path:path}")
            continue
        methods = sorted(set(getattr(route, "methods", None) or {"GET"}) - {"HEAD"})
        for method in methods:
            yield AppRoute(full_name, method, path)


def test_every_route_is_in_the_matrix(app) -> None:  # type: ignore[no-untyped-def]
    found = list(app_routes(app.router.routes))
    names = [r.name for r in found]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    assert not duplicated, f"routes sharing a name (give each its own): {duplicated}"
    missing = sorted(set(names) - set(MATRIX))
    assert not missing, f"routes with no expected entry in MATRIX: {missing}"
    stale = sorted(set(MATRIX) - set(names))
    assert not stale, f"MATRIX entries for routes that no longer exist: {stale}"
    for name, expected in MATRIX.items():
        assert set(expected) == set(ACTORS), name


# --- the world the routes are tried in --------------------------------------------------------


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    """No background loops (the test changes deliveries itself); room for eight reports."""
    settings.jobs_interval_seconds = 0
    settings.webhook_interval_seconds = 0
    settings.report_rate_limit = "100/hour"
    return settings


def _log_in(app, session: Session, email: str, role: str,  # type: ignore[no-untyped-def]
            jurisdiction: str = "national") -> TestClient:
    user = make_user(session, email=email, role=role)
    if jurisdiction != "national":
        user.jurisdiction = jurisdiction
        session.add(user)
        session.commit()
    client = TestClient(app, follow_redirects=False)
    client.__enter__()
    assert Auth(client).log_in(email).status_code == 303
    return client


@dataclass
class World:
    clients: dict[str, TestClient]
    values: dict[str, str]


@pytest.fixture
def world(app, session, settings, approved, client) -> Iterator[World]:  # type: ignore[no-untyped-def]
    number, moderator = approved
    registration = fresh(session, Registration, number=number)[0]
    applicant_user = session.get(User, registration.user_id)
    moderator_user = fresh(session, User, email="mod@example.com")[0]

    other = TestClient(app, follow_redirects=False)
    other.__enter__()
    assert Auth(other).sign_up("other@example.com").status_code == 303
    assert Wizard(other).start().status_code == 303  # a draft of their own
    draft = fresh(session, Registration, status="draft")[0]
    auditor = _log_in(app, session, "auditor@example.com", "auditor")  # national
    outsider = _log_in(app, session, "auditor44@example.com", "auditor", jurisdiction="44")
    admin = _log_in(app, session, "admin@example.com", "admin")
    auditor_user = fresh(session, User, email="auditor@example.com")[0]
    visitor = TestClient(app, follow_redirects=False)
    visitor.__enter__()

    session.rollback()
    platform = Platform(app, session, "Platform A")
    authority = Platform(app, session, "Authority", kind="authority")
    far_authority = Platform(app, session, "Authority of 44", kind="authority",
                             jurisdiction="44")
    target = Platform(app, session, "Platform T")  # the one the admin's changes act on
    buyer = platform.post("/blocklist/buyers", json={"buyer_ref": "u-1", "reason": "Fraud"})
    assert buyer.status_code == 201, buyer.text

    session.rollback()
    registration = session.get(Registration, registration.id)
    sanction, _mail = enforcement.apply_sanction(
        session, registration=registration, actor=moderator_user, kind="warning",
        facts="Claimed a cream cures eczema", reason="False advertising",
        legal_basis="Measures Art. 18", settings=settings)
    session.commit()
    appeal = enforcement.file_appeal(session, settings, sanction_id=sanction.id,
                                     user=applicant_user,
                                     text="The claim was a customer's, read aloud")
    session.commit()
    case = cases.open_case(session, registration=session.get(Registration, registration.id),
                           category="false_advertising", description="Claims a cure",
                           actor=moderator_user)
    session.commit()
    complaint = cases.open_case(session, registration=session.get(Registration, registration.id),
                                category="counterfeit", description="Fake bag",
                                source="complaint")
    session.commit()
    inspection = inspections.open_inspection(
        session, actor=auditor_user, target_kind="registration", subject="Bought followers",
        number=number)
    session.commit()
    asked = inspection_requests.send_request(
        session, jurisdiction="national", platform=str(platform.id),
        request="The room's sales records", deadline=utcnow() + timedelta(days=7),
        number=number, actor=Actor.of(auditor_user))
    session.commit()
    answer = inspection_requests.answer_request(
        session, settings, request=asked, client_id=platform.id, text="Attached",
        files=[inspection_requests.Received("sales.png", PNG)])
    session.commit()
    answer_file = inspection_requests.answers_of(session, asked.id)[0][1][0]
    assert answer.id is not None
    entry = enforcement.add_to_blocklist(session, settings, registration=registration,
                                         actor=moderator_user, reason_code="manual",
                                         reason="Fraud ring")
    session.commit()
    link = RosterLink(manager_id=draft.id, streamer_id=registration.id)
    event = session.exec(select(OutboxEvent)).first()
    assert event is not None
    delivery = WebhookDelivery(client_id=target.id, event_id=event.id, state="failed",
                               attempts=40, last_error="HTTP 500")
    session.add_all([link, delivery])
    session.commit()
    document = session.exec(select(Document).where(
        Document.registration_id == registration.id)).first()
    certificate = certificates.current_certificate(session, registration.id)
    key = session.exec(select(ApiKey).where(ApiKey.client_id == target.id)).one()
    target_row = session.get(ApiClient, target.id)
    licence = filings.add_licence(session, target_row, name="ICP licence", number="B2-1",
                                  expires_on="2030-01-01", actor_id=None)
    assessment = filings.upload_assessment(session, settings, target_row, filename="a.png",
                                           data=PNG, actor_id=None)
    session.commit()
    assert document is not None and certificate is not None
    hold = screening.add_hold(session, registration, "blocklist_person", {"entries": []})
    amendment = Amendment(registration_id=registration.id, status="submitted",
                          answers=dict(registration.answers), submitted_at=utcnow())
    session.add(amendment)
    session.commit()

    values = {
        "number": number, "lang": "en", "step": "identity", "path": "css/portal.css",
        "document_id": document.id, "link_id": link.id, "sanction_id": sanction.id,
        "appeal_id": appeal.id, "entry_id": entry.id, "case_id": case.id,
        "inspection_id": inspection.id, "client_id": target.id, "key_id": key.id,
        "delivery_id": delivery.id, "serial": certificate.serial, "id": buyer.json()["id"],
        "flag_id": hold.id, "request_id": asked.id, "file_id": answer_file.id,
        "licence_id": licence.id, "platform_document_id": assessment.id,
        "user_id": moderator_user.id, "amendment_id": amendment.id,
        "reference": complaint.reference,
    }
    clients = {VISITOR: visitor, APPLICANT: client, OTHER: other, MODERATOR: moderator,
               AUDITOR: auditor, OUTSIDER: outsider, ADMIN: admin, PLATFORM: platform.http,
               AUTHORITY: authority.http, FAR_AUTHORITY: far_authority.http}
    yield World(clients, {k: str(v) for k, v in values.items()})
    for c in (other, auditor, outsider, admin, visitor):
        c.__exit__(None, None, None)


PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def fill(route: AppRoute, values: dict[str, str]) -> str:
    chosen = {**values, **{k: v.format(**values)
                           for k, v in PATH_OVERRIDES.get(route.name, {}).items()}}
    return PARAM.sub(lambda m: chosen[m.group(1)], route.path) + QUERIES.get(route.name, "")


def csrf(client: TestClient) -> str:
    """The session's token, from a page that has a form (the visitor's: the login page)."""
    page = client.get("/")
    try:
        return csrf_from(page.text)
    except AssertionError:
        return csrf_from(client.get("/login").text)


def call(client: TestClient, route: AppRoute, path: str, token: str, actor: str) -> Any:
    if route.method == "GET":
        return client.get(path)
    if route.method == "DELETE":
        return client.delete(path)
    if path.startswith("/api/"):
        return client.request(route.method, path, json=API_BODIES.get(route.name, {}))
    fields = {k: v.format(actor=actor.replace(" ", "-"))
              for k, v in FORMS.get(route.name, {}).items()}
    return client.request(route.method, path, data={**fields, "csrf_token": token})


def outcome(response: Any, path: str) -> int | str:
    path = path.partition("?")[0]
    if response.status_code == 303 and response.headers["location"].startswith("/login?next="):
        assert response.headers["location"] == "/login?" + urlencode({"next": path})
        return LOGIN
    return int(response.status_code)


def test_route_matrix(app, world: World) -> None:  # type: ignore[no-untyped-def]
    routes = sorted(app_routes(app.router.routes),
                    key=lambda r: LAST.index(r.name) + 1 if r.name in LAST else 0)
    tokens = {actor: csrf(c) for actor, c in world.clients.items()}
    wrong = []
    for route in routes:
        if route.name not in MATRIX:
            continue  # test_every_route_is_in_the_matrix names it
        path = fill(route, world.values)
        for actor in ACTORS:
            client = world.clients[actor]
            if route.name in LAST:
                client = TestClient(app, follow_redirects=False, headers=dict(client.headers),
                                    cookies=dict(client.cookies.items()))
            got = outcome(call(client, route, path, tokens[actor], actor), path)
            if got != MATRIX[route.name][actor]:
                wrong.append(f"{route.method} {path} ({route.name}) as {actor}: "
                             f"got {got}, expected {MATRIX[route.name][actor]}")
    # A method no route at that path has is 405, whoever asks.
    for path in sorted({fill(r, world.values) for r in routes}):
        status = world.clients[VISITOR].request("PUT", path).status_code
        if status != 405:
            wrong.append(f"PUT {path}: got {status}, expected 405")
    assert not wrong, "\n".join(wrong)
