"""Moderators: the queue, decisions along DESIGN §4's transitions, reveals, screening."""

from __future__ import annotations

import itertools

import pytest
from bs4 import BeautifulSoup
from starlette.testclient import TestClient

from portal.base import crypto
from portal.ledger import pii_access
from portal.ledger.events import HistoryEntry, OutboxEvent
from portal.oversight.review import Decision
from portal.platforms.notify import MailboxMessage, Notification
from portal.registration.attestations import Attestation
from portal.registration.blocklist import BlocklistEntry
from portal.registration.models import TRANSITIONS, NotAllowed, Registration, StaleState, move
from portal.registration.screening import ScreeningFlag
from tests.unit.conftest import Auth, csrf_from, make_user
from tests.unit.http_wizard import (
    ADULT_ID,
    Wizard,
    born_years_ago,
    content_form,
    field_errors,
    fresh,
    guardian_form,
    identity_files,
    identity_form,
    post,
    resident_id_for,
    roles_form,
    security_form,
    verify_email,
    version_of,
)
from tests.unit.prg import shown_after

# --- transitions ------------------------------------------------------------------------------

STATES = list(TRANSITIONS)


@pytest.mark.parametrize(("start", "end"), list(itertools.product(STATES, STATES)))
def test_only_design_transitions_are_allowed(session, start, end) -> None:
    user = make_user(session, email=f"t-{start}-{end}@example.com")
    registration = Registration(user_id=user.id, status=start)
    session.add(registration)
    session.commit()
    allowed = {
        ("draft", "submitted"), ("submitted", "approved"), ("submitted", "changes_requested"),
        ("submitted", "rejected"), ("changes_requested", "submitted"),
        ("approved", "suspended"), ("suspended", "approved"), ("approved", "revoked"),
        ("suspended", "revoked"), ("approved", "expired"), ("expired", "submitted"),
        *((s, "deregistered") for s in
          ("draft", "submitted", "changes_requested", "approved", "suspended")),
    }
    if (start, end) in allowed:
        assert move(session, registration, end) == start
        assert registration.status == end and registration.version == 1
    else:
        with pytest.raises(NotAllowed):
            move(session, registration, end)


def test_move_refuses_a_stale_version(session) -> None:
    user = make_user(session, email="stale@example.com")
    registration = Registration(user_id=user.id, status="submitted", version=3)
    session.add(registration)
    session.commit()
    with pytest.raises(StaleState):
        move(session, registration, "approved", expected_version=2)


# --- decisions through the pages -------------------------------------------------------------


def test_queue_lists_submitted_oldest_first(submitted, moderator) -> None:
    page = BeautifulSoup(moderator.get("/review").text, "html.parser")
    rows = page.select("tbody tr")
    assert len(rows) == 1
    assert rows[0].a.get_text() == submitted
    assert "张*" in rows[0].get_text() and "张三" not in rows[0].get_text()


def test_detail_masks_personal_data(submitted, moderator) -> None:
    page = moderator.get(f"/review/{submitted}").text
    assert "1101**********8794" in page and ADULT_ID not in page
    assert "138****5678" in page


def test_approve_records_who_when_and_tells_the_applicant(submitted, moderator, client,
                                                          session) -> None:
    response = post(moderator, f"/review/{submitted}/approve",
                    {"version": version_of(moderator, submitted), "internal_note": "ok"},
                    page=f"/review/{submitted}")
    assert response.status_code == 303
    registration = fresh(session, Registration)[0]
    assert registration.status == "approved" and registration.valid_until is not None
    decision = fresh(session, Decision)[0]
    assert decision.kind == "approve" and decision.internal_note == "ok"
    history = fresh(session, HistoryEntry, action="approve")[0]
    assert (history.from_status, history.to_status, history.actor_role) == (
        "submitted", "approved", "moderator")
    assert [e.type for e in fresh(session, OutboxEvent)] == [
        "registration.submitted", "registration.approved", "certificate.issued"]
    assert fresh(session, Notification)[0].subject.endswith("is approved")
    assert any("is approved" in m.subject for m in fresh(session, MailboxMessage))
    me = client.get("/me").text
    assert "Approved" in me and "is approved" in me


def test_request_changes_then_resubmit(submitted, moderator, client, session) -> None:
    response = post(moderator, f"/review/{submitted}/request-changes", {
        "version": version_of(moderator, submitted), "steps": "roles",
        "message_roles": "The account name does not match the room URL",
        "internal_note": "looks like a copied account",
    }, page=f"/review/{submitted}")
    assert response.status_code == 303
    assert fresh(session, Registration)[0].status == "changes_requested"

    me = client.get("/me").text
    assert "The account name does not match the room URL" in me
    assert "looks like a copied account" not in me
    tasks = client.get("/apply").text
    assert "Needs attention" in tasks
    wizard = Wizard(client)
    refused = wizard.submit()
    assert refused.status_code == 422
    assert wizard.post("roles", roles_form(**{"channel-0-handle": "zhangsan_real"})
                       ).status_code == 303
    assert wizard.submit().status_code == 303
    registration = fresh(session, Registration)[0]
    assert registration.status == "submitted" and registration.number == submitted
    assert [a.version for a in fresh(session, Attestation)] == [1, 2]


def test_reject_needs_reason_and_message(submitted, moderator, client, session) -> None:
    version = version_of(moderator, submitted)
    missing = post(moderator, f"/review/{submitted}/reject",
                   {"version": version, "reason_code": "", "message": ""},
                   page=f"/review/{submitted}")
    missing = shown_after(moderator, missing)
    errors = field_errors(missing.text)
    assert "reason" in errors["reason_code"] and "tells the applicant why" in errors["message"]
    ok = post(moderator, f"/review/{submitted}/reject",
              {"version": version, "reason_code": "false_information",
               "message": "The bio claims results that cannot be true"},
              page=f"/review/{submitted}")
    assert ok.status_code == 303
    assert fresh(session, Registration)[0].status == "rejected"
    me = client.get("/me").text
    assert "was not approved" in me and "cannot be true" in me
    assert "Start a new registration" in me  # a rejected registration has ended


def test_two_moderators_deciding_at_once_one_wins(submitted, moderator, app, session) -> None:
    make_user(session, email="mod2@example.com", role="moderator")
    with TestClient(app, follow_redirects=False) as second:
        Auth(second).log_in("mod2@example.com")
        version = version_of(moderator, submitted)
        assert version_of(second, submitted) == version
        first = post(moderator, f"/review/{submitted}/approve", {"version": version},
                     page=f"/review/{submitted}")
        late = post(second, f"/review/{submitted}/reject",
                    {"version": version, "reason_code": "other", "message": "no"},
                    page=f"/review/{submitted}")
        late_page = shown_after(second, late)
    assert first.status_code == 303
    assert "changed while you were looking at it" in late_page.text
    assert fresh(session, Registration)[0].status == "approved"
    assert len(fresh(session, Decision)) == 1


def test_decision_on_a_registration_that_moved_on_is_refused(submitted, moderator,
                                                             session) -> None:
    version = version_of(moderator, submitted)
    post(moderator, f"/review/{submitted}/approve", {"version": version},
         page=f"/review/{submitted}")
    again = post(moderator, f"/review/{submitted}/approve",
                 {"version": str(int(version) + 1)}, page=f"/review/{submitted}")
    assert "changed while you were looking at it" in shown_after(moderator, again).text
    assert len(fresh(session, Decision)) == 1


def test_reveal_needs_a_reason_and_is_logged(submitted, moderator, session) -> None:
    refused = post(moderator, f"/review/{submitted}/reveal",
                   {"field": "id_number", "reason_id_number": ""}, page=f"/review/{submitted}")
    assert "reason" in field_errors(shown_after(moderator, refused).text)["reason_id_number"]
    assert fresh(session, pii_access.PiiAccess) == []
    shown = post(moderator, f"/review/{submitted}/reveal",
                 {"field": "id_number", "reason_id_number": "Compare with the licence photo"},
                 page=f"/review/{submitted}")
    assert shown.headers["location"].endswith(f"/review/{submitted}#reveal-title")
    assert ADULT_ID in shown_after(moderator, shown).text
    assert ADULT_ID not in moderator.get(f"/review/{submitted}").text  # shown once
    assert shown.headers["cache-control"] == "no-store"
    log = fresh(session, pii_access.PiiAccess)
    assert [(a.field, a.reason, a.actor_role) for a in log] == [
        ("id_number", "Compare with the licence photo", "moderator")]
    assert ADULT_ID not in moderator.get(f"/review/{submitted}").text


def test_applicants_cannot_open_review_pages(submitted, client) -> None:
    assert client.get("/review").status_code == 403
    assert client.get(f"/review/{submitted}").status_code == 403


def test_auditor_cannot_decide(submitted, app, session) -> None:
    make_user(session, email="aud@example.com", role="auditor")
    with TestClient(app, follow_redirects=False) as auditor:
        Auth(auditor).log_in("aud@example.com")
        token = csrf_from(auditor.get("/audit").text)
        response = auditor.post(f"/review/{submitted}/approve",
                                data={"version": "1", "csrf_token": token})
    assert response.status_code == 403


# --- screening --------------------------------------------------------------------------------


def codes(session) -> set[str]:
    return {f.code for f in fresh(session, ScreeningFlag)}


def test_clean_adult_gets_no_flags(submitted, session) -> None:
    assert codes(session) == set()


def test_screening_flags_what_the_rules_name(client, auth, session, settings) -> None:
    auth.sign_up("flags@example.com")
    verify_email(session, "flags@example.com")
    birth = born_years_ago(17)
    wizard = Wizard(client)
    wizard.start()
    wizard.post("identity", identity_form(id_number=resident_id_for(birth),
                                          date_of_birth=birth.isoformat()), identity_files())
    wizard.post("guardian", guardian_form(),
                {"consent_letter": ("l.pdf", b"%PDF-1.4 x", "application/pdf")})
    wizard.post("roles", roles_form(**{"channel-0-bio": "高仿大牌 每晚八点"}))
    wizard.post("security", security_form(two_factor="no"))
    wizard.post("content", content_form(professional_topics=["law"]),
                {"qualification_law": ("law.pdf", b"%PDF-1.4 x", "application/pdf")})
    from tests.unit.http_wizard import commitments_form

    wizard.post("commitments", commitments_form())
    assert wizard.submit().status_code == 303
    assert codes(session) == {"minor", "attestation_no", "professional_topics", "banned_terms"}
    flags = {f.code: f.detail for f in fresh(session, ScreeningFlag)}
    assert flags["attestation_no"] == {"items": ["two_factor"]}
    assert flags["banned_terms"]["found"][0]["term"] == "高仿"
    assert fresh(session, Registration)[0].flag_count == 4


def test_blocklisted_identity_cannot_submit(client, auth, session, settings) -> None:
    session.add(BlocklistEntry(
        identity_index=crypto.identity_index(settings, "cn_resident_id", ADULT_ID),
        id_type="cn_resident_id", legal_name="张三", name_key=crypto.name_key("张三"),
        reason_code="fraud"))
    session.commit()
    auth.sign_up("banned@example.com")
    verify_email(session, "banned@example.com")
    wizard = Wizard(client)
    wizard.complete_adult()
    response = wizard.submit()
    assert response.status_code == 422
    assert "This identity cannot be registered. Contact the platform" in response.text
    assert "fraud" not in response.text
    assert fresh(session, Registration)[0].status == "draft"


def test_close_name_and_duplicate_identity_are_flagged(submitted, client, auth, session,
                                                       settings) -> None:
    session.add(BlocklistEntry(identity_index="0" * 64, legal_name="张三丰",
                               name_key=crypto.name_key("张三丰"), reason_code="fraud"))
    session.commit()
    auth.log_out()
    auth.sign_up("second@example.com")
    verify_email(session, "second@example.com")
    wizard = Wizard(client)
    wizard.complete_adult()
    wizard.submit()
    second = fresh(session, Registration, user_id=fresh(session, Registration)[1].user_id)[0]
    flags = {f.code: f.detail for f in fresh(session, ScreeningFlag,
                                             registration_id=second.id)}
    assert flags["duplicate_identity"] == {"numbers": [submitted]}
    assert "blocklist_name" in flags and "blocklist_identity" not in flags


def test_queue_filters_by_flag_and_role(submitted, moderator, session) -> None:
    assert submitted in moderator.get("/review?role=streamer").text
    assert submitted not in moderator.get("/review?role=merchant").text
    assert submitted not in moderator.get("/review?flag=minor").text
    assert submitted in moderator.get("/review?sort=flags").text


def test_find_a_registration_by_number(submitted, moderator) -> None:
    found = moderator.get(f"/review?number={submitted.lower()}")
    assert found.status_code == 303 and found.headers["location"] == f"/review/{submitted}"
    missing = moderator.get("/review?number=LR-2020-0000000")
    assert "No registration has the number LR-2020-0000000" in field_errors(missing.text)[
        "number"]


def test_declared_shop_site_is_probed_at_submission(client, auth, session, monkeypatch,
                                                    settings) -> None:
    from portal.registration import site_probe

    asked = []

    def fake_probe(domain, *, allow, timeout):  # type: ignore[no-untyped-def]
        asked.append((domain, allow))
        return site_probe.ProbeResult(
            domain=domain, checked_at="2026-11-30T00:00:00Z", reachable=True, findings=[
                site_probe.Finding("https_reachable", True, "HTTP 200"),
                site_probe.Finding("hsts", False, "no Strict-Transport-Security"),
            ])

    monkeypatch.setattr(site_probe, "probe_site", fake_probe)
    settings.outbound_allow = "10.0.0.0/8"
    auth.sign_up("operator@example.com")
    verify_email(session, "operator@example.com")
    wizard = Wizard(client)
    wizard.start()
    wizard.post("identity", identity_form(), identity_files())
    wizard.post("roles", roles_form(roles=["streamer", "room_operator"]))
    assert wizard.post("security", security_form(
        own_site="yes", site_domain="shop.example.cn", icp_number="京ICP备12345678号",
        https_only="yes", assessment_date="2026-01-15"),
        {"assessment_report": ("r.pdf", b"%PDF-1.4 x", "application/pdf")}).status_code == 303
    wizard.post("content", content_form())
    from tests.unit.http_wizard import commitments_form

    wizard.post("commitments", commitments_form())
    assert wizard.submit().status_code == 303
    assert asked == [("shop.example.cn", "10.0.0.0/8")]
    attestation = fresh(session, Attestation)[0]
    assert attestation.site_probe["findings"][1] == {
        "check": "hsts", "ok": False, "detail": "no Strict-Transport-Security"}
    assert "site_probe" not in attestation.data  # findings sit beside the signed answers
    flags = {f.code: f.detail for f in fresh(session, ScreeningFlag)}
    assert flags["site_probe"] == {"domain": "shop.example.cn", "failed": ["hsts"]}
