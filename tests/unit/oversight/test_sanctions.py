"""Sanctions, appeals, blocklist lifts, deregistration and the scheduled jobs."""

from __future__ import annotations

import json
from datetime import timedelta

from bs4 import BeautifulSoup
from starlette.testclient import TestClient

from portal.base.db import utcnow
from portal.base.identity import china_today
from portal.ledger import tlog
from portal.ledger.events import HistoryEntry, OutboxEvent
from portal.ops import jobs
from portal.ops.jobs import end_due_suspensions
from portal.records import certificates
from portal.records.certificates import Certificate
from portal.registration.blocklist import BlocklistEntry
from portal.registration.models import Registration
from portal.registration.sanctions import Appeal, Sanction
from tests.unit.conftest import Auth, csrf_from, make_user, staff_client
from tests.unit.http_wizard import Wizard, field_errors, fresh, post, verify_email, version_of
from tests.unit.prg import shown_after


def log_entries(session):  # type: ignore[no-untyped-def]
    session.rollback()
    return tlog.entries(session, 0, tlog.size(session))


SANCTION = {"facts": "Sold counterfeit bags on 3 November", "reason": "Counterfeit goods",
            "legal_basis": "2021 Measures, Art. 18(3)"}


def sanction(moderator, number, kind, **extra):  # type: ignore[no-untyped-def]
    return post(moderator, f"/review/{number}/sanction",
                {**SANCTION, "kind": kind, "version": version_of(moderator, number), **extra},
                page=f"/review/{number}")


def status(session) -> str:
    return fresh(session, Registration)[0].status


def test_warning_leaves_the_registration_approved(approved, client, session) -> None:
    number, moderator = approved
    assert sanction(moderator, number, "warning").status_code == 303
    assert status(session) == "approved"
    me = client.get("/me").text
    assert "Warning" in me and "Sold counterfeit bags" in me and "Art. 18(3)" in me
    events = [e.type for e in fresh(session, OutboxEvent)]
    # The certificate states the sanctions in force: a new one follows.
    assert events[-2:] == ["sanction.applied", "certificate.issued"]


def test_sanction_states_facts_reason_and_basis(approved, session) -> None:
    number, moderator = approved
    response = post(moderator, f"/review/{number}/sanction",
                    {"kind": "suspend", "facts": "", "reason": "", "legal_basis": "",
                     "version": version_of(moderator, number)}, page=f"/review/{number}")
    errors = field_errors(shown_after(moderator, response).text)
    assert {"facts", "reason", "legal_basis", "until"} <= set(errors)
    assert fresh(session, Sanction) == []


def test_suspension_ends_by_itself(approved, client, session, settings) -> None:
    number, moderator = approved
    until = (china_today() + timedelta(days=3)).isoformat()
    assert sanction(moderator, number, "suspend", until=until).status_code == 303
    assert status(session) == "suspended"
    assert "Suspended" in client.get("/me").text
    session.rollback()
    assert end_due_suspensions(session, settings, now=utcnow() + timedelta(days=2)) == []
    assert end_due_suspensions(session, settings, now=utcnow() + timedelta(days=5)) == [number]
    assert status(session) == "approved"
    kinds = [e.type for e in fresh(session, OutboxEvent)]
    assert kinds[-2:] == ["registration.reinstated", "certificate.issued"]
    assert "registration.suspended" in kinds
    logged = [(e["entry"]["type"], e["entry"].get("status")) for e in log_entries(session)]
    assert logged == [
        ("certificate.issued", "approved"),
        ("registration.suspended", "suspended"), ("certificate.issued", "suspended"),
        ("registration.reinstated", "approved"), ("certificate.issued", "approved"),
    ]
    statuses = [json.loads(c.document)["status"] for c in fresh(session, Certificate)]
    assert sorted(statuses) == ["approved", "approved", "suspended"]


def test_blacklist_revokes_and_blocks_a_new_account(approved, client, auth, session) -> None:
    number, moderator = approved
    assert sanction(moderator, number, "blacklist").status_code == 303
    assert status(session) == "revoked"
    entry = fresh(session, BlocklistEntry)[0]
    assert entry.identity_index == fresh(session, Registration)[0].identity_index
    assert "Blacklisting" in client.get("/me").text
    auth.log_out()
    auth.sign_up("again@example.com")
    verify_email(session, "again@example.com")
    wizard = Wizard(client)
    wizard.complete_adult()
    refused = wizard.submit()
    assert refused.status_code == 422
    assert "This identity cannot be registered" in refused.text


def test_appeal_once_decided_by_another_moderator(approved, client, app, session) -> None:
    number, moderator = approved
    until = (china_today() + timedelta(days=10)).isoformat()
    sanction(moderator, number, "suspend", until=until)
    sanction_id = fresh(session, Sanction)[0].id
    token = csrf_from(client.get("/me").text)
    assert client.post(f"/me/sanctions/{sanction_id}/appeal",
                       data={"appeal_text": "I bought them from the brand", "csrf_token": token}
                       ).headers["location"] == "/me?appealed=1"
    second = client.post(f"/me/sanctions/{sanction_id}/appeal",
                         data={"appeal_text": "again", "csrf_token": token})
    assert "already appealed" in second.headers["location"].replace("%20", " ")
    appeal = fresh(session, Appeal)[0]

    own = post(moderator, f"/review/appeals/{appeal.id}/decide",
               {"outcome": "overturned", "decision_reason": "fine"}, page=f"/review/{number}")
    assert "A different moderator" in shown_after(moderator, own).text

    make_user(session, email="mod2@example.com", role="moderator")
    with TestClient(app, follow_redirects=False) as other:
        Auth(other).log_in("mod2@example.com")
        ok = post(other, f"/review/appeals/{appeal.id}/decide",
                  {"outcome": "overturned", "decision_reason": "Receipts from the brand"},
                  page=f"/review/{number}")
    assert ok.status_code == 303
    assert status(session) == "approved"
    assert fresh(session, Appeal)[0].outcome == "overturned"
    assert "The sanction was overturned" in client.get("/me").text


def test_auditors_lift_only_within_their_jurisdiction_and_never_alone(approved, app, session
                                                                      ) -> None:
    number, moderator = approved  # a Beijing (11) registration
    sanction(moderator, number, "blacklist")
    entry = fresh(session, BlocklistEntry)[0]
    lift = f"/blocklist/{entry.id}/lift"
    guangdong = staff_client(app, session, "gd@example.com", jurisdiction="44")
    assert post(guangdong, f"{lift}/request", {}, page="/audit").status_code == 404
    assert fresh(session, BlocklistEntry)[0].lift_requested_by is None
    beijing = staff_client(app, session, "bj@example.com", jurisdiction="11")
    national = staff_client(app, session, "cn@example.com")
    assert post(beijing, f"{lift}/request", {}, page="/audit").status_code == 303
    assert post(guangdong, f"{lift}/confirm", {}, page="/audit").status_code == 404
    alone = post(national, f"{lift}/confirm", {}, page="/audit")
    # Answered at once: an auditor has no blocklist page to be sent back to.
    assert alone.status_code == 422
    assert "A moderator must take part in lifting an entry" in alone.text
    assert fresh(session, BlocklistEntry)[0].lifted_at is None
    confirmed = post(moderator, f"{lift}/confirm", {}, page="/blocklist")
    assert confirmed.headers.get("location") == "/blocklist?done=confirm"
    assert fresh(session, BlocklistEntry)[0].lifted_at is not None


def test_lifting_a_blocklist_entry_needs_two_people(approved, app, session) -> None:
    number, moderator = approved
    sanction(moderator, number, "blacklist")
    entry = fresh(session, BlocklistEntry)[0]
    asked = post(moderator, f"/blocklist/{entry.id}/lift/request", {}, page="/blocklist")
    assert asked.status_code == 303
    self_confirm = post(moderator, f"/blocklist/{entry.id}/lift/confirm", {}, page="/blocklist")
    assert "A second staff member must confirm" in shown_after(moderator, self_confirm).text
    assert fresh(session, BlocklistEntry)[0].lifted_at is None
    make_user(session, email="admin@example.com", role="admin")
    with TestClient(app, follow_redirects=False) as admin:
        Auth(admin).log_in("admin@example.com")
        confirmed = post(admin, f"/blocklist/{entry.id}/lift/confirm", {}, page="/blocklist")
        assert confirmed.headers.get("location") == "/blocklist?done=confirm"
    assert fresh(session, BlocklistEntry)[0].lifted_at is not None
    assert fresh(session, OutboxEvent)[-1].type == "blocklist.person_removed"
    removed = log_entries(session)[-1]["entry"]
    assert set(removed) == {"type", "at", "entry_id"} and removed["entry_id"] == entry.id


def test_blocklist_by_hand_checks_the_id_number(approved, session) -> None:
    _number, moderator = approved
    bad = post(moderator, "/blocklist", {"legal_name": "李四", "id_type": "cn_resident_id",
                                         "id_number": "110105198503128793", "reason": "fraud"},
               page="/blocklist")
    assert "typing mistakes" in field_errors(shown_after(moderator, bad).text)["id_number"]
    ok = post(moderator, "/blocklist", {"legal_name": "李四", "id_type": "cn_resident_id",
                                        "id_number": "310101199211302427", "reason": "fraud"},
              page="/blocklist")
    assert ok.status_code == 303
    page = BeautifulSoup(moderator.get("/blocklist").text, "html.parser")
    assert "李*" in page.select_one("tbody").get_text()


def test_sanction_only_on_approved_registrations(client, auth, session, app) -> None:
    auth.sign_up("draft@example.com")
    verify_email(session, "draft@example.com")
    wizard = Wizard(client)
    wizard.complete_adult()
    wizard.submit()
    number = fresh(session, Registration)[0].number
    make_user(session, email="mod@example.com", role="moderator")
    with TestClient(app, follow_redirects=False) as moderator:
        Auth(moderator).log_in("mod@example.com")
        token = csrf_from(moderator.get(f"/review/{number}").text)
        response = moderator.post(f"/review/{number}/sanction", data={
            **SANCTION, "kind": "warning", "version": "2", "csrf_token": token})
        shown = shown_after(moderator, response)
    assert "Only an approved or suspended registration" in shown.text


def test_applicant_deregisters(approved, client, session) -> None:
    token = csrf_from(client.get("/me").text)
    unconfirmed = client.post("/me/deregister", data={"csrf_token": token})
    assert unconfirmed.headers["location"] == "/me?deregister=confirm"
    assert status(session) == "approved"
    done = client.post("/me/deregister", data={"csrf_token": token, "confirm": "yes"})
    assert done.headers["location"] == "/me?deregistered=1"
    assert status(session) == "deregistered"
    assert [e.type for e in fresh(session, OutboxEvent)][-2:] == [
        "registration.deregistered", "certificate.issued"]
    assert log_entries(session)[-2]["entry"]["type"] == "registration.deregistered"
    assert "Start a new registration" in client.get("/me").text


def test_jobs_warn_then_expire(approved, app, settings, session) -> None:
    registration = fresh(session, Registration)[0]
    engine = app.state.engine
    later = registration.valid_until - timedelta(days=10)
    first = jobs.run(engine, settings, now=later)
    assert first.warned == [registration.number] and first.expired == []
    assert jobs.run(engine, settings, now=later).warned == []  # once per approval
    gone = jobs.run(engine, settings, now=registration.valid_until + timedelta(minutes=1))
    assert gone.expired == [registration.number]
    assert status(session) == "expired"
    actions = [h.action for h in fresh(session, HistoryEntry, registration_id=registration.id)]
    assert actions.count("expiry_warning") == 1
    assert actions[-2:] == ["expired", "certificate_issued"]
    assert [e.type for e in fresh(session, OutboxEvent)][-2:] == [
        "registration.expired", "certificate.issued"]
    assert log_entries(session)[-1]["entry"]["status"] == "expired"


def test_streamer_turning_18_becomes_an_adult(client, auth, session, app, settings) -> None:
    from tests.unit.http_wizard import (
        born_years_ago,
        commitments_form,
        content_form,
        guardian_form,
        identity_files,
        identity_form,
        resident_id_for,
        roles_form,
        security_form,
    )

    birth = born_years_ago(18, days_later=3)  # 17 today, 18 in three days
    auth.sign_up("minor@example.com")
    verify_email(session, "minor@example.com")
    wizard = Wizard(client)
    wizard.start()
    wizard.post("identity", identity_form(id_number=resident_id_for(birth),
                                          date_of_birth=birth.isoformat()), identity_files())
    wizard.post("guardian", guardian_form(),
                {"consent_letter": ("l.pdf", b"%PDF-1.4 x", "application/pdf")})
    for step, form in (("roles", roles_form()), ("security", security_form()),
                       ("content", content_form()), ("commitments", commitments_form())):
        wizard.post(step, form)
    assert wizard.submit().status_code == 303
    assert fresh(session, Registration)[0].age_band == "minor_16_17"
    assert jobs.run(app.state.engine, settings, now=utcnow() + timedelta(days=1)).adults == []
    report = jobs.run(app.state.engine, settings, now=utcnow() + timedelta(days=4))
    assert report.adults == [fresh(session, Registration)[0].number]
    assert fresh(session, Registration)[0].age_band == "adult"


def test_operators_are_reminded_then_restricted(client, auth, session, app, settings) -> None:
    from tests.unit.http_wizard import identity_files, identity_form, roles_form, security_form

    auth.sign_up("operator@example.com")
    verify_email(session, "operator@example.com")
    wizard = Wizard(client)
    wizard.complete_adult()
    wizard.post("roles", roles_form(roles=["streamer", "room_operator"]))
    wizard.post("security", security_form())  # an operator answers the shop-site question
    wizard.post("identity", identity_form(), identity_files())
    wizard.submit()
    number = fresh(session, Registration)[0].number
    make_user(session, email="mod@example.com", role="moderator")
    with TestClient(app, follow_redirects=False) as moderator:
        Auth(moderator).log_in("mod@example.com")
        post(moderator, f"/review/{number}/approve", {"version": version_of(moderator, number)},
             page=f"/review/{number}")
    confirmed = fresh(session, Registration)[0].data_confirmed_at
    engine = app.state.engine
    early = jobs.run(engine, settings, now=confirmed + timedelta(days=100))
    assert early.reminded == [] and early.restricted == []
    due = jobs.run(engine, settings, now=confirmed + timedelta(days=settings.refresh_days + 1))
    assert due.reminded == [number]
    assert jobs.run(engine, settings, now=confirmed + timedelta(days=settings.refresh_days + 2)
                    ).reminded == []
    late = jobs.run(engine, settings, now=confirmed + timedelta(days=settings.refresh_days + 31))
    assert late.restricted == [number]
    restriction = fresh(session, Sanction)[0]
    assert restriction.kind == "restrict_functions" and restriction.issued_by is None
    assert "Restriction of functions" in client.get("/me").text
    registration_id = fresh(session, Registration)[0].id

    def stated() -> list[dict]:
        session.rollback()
        current = certificates.current_certificate(session, registration_id)
        return certificates.certificate_json(current)["sanctions"]

    assert [(s["kind"], s["restricted_functions"]) for s in stated()] == [
        ("restrict_functions", ["live_selling"])]
    token = csrf_from(client.get("/me").text)
    assert client.post("/me/confirm-data", data={"csrf_token": token}).status_code == 303
    assert fresh(session, Sanction)[0].state == "ended"
    # The certificate the pipeline re-issued states no restriction any more.
    assert stated() == []
    assert fresh(session, Registration)[0].data_confirmed_at > confirmed
