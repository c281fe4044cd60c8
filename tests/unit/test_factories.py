"""The registration factory: each state it makes is real, and as the HTTP wizard leaves it."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from portal.accounts import User
from portal.ledger.events import history_of
from portal.oversight.review import Decision
from portal.records import certificates
from portal.registration.attestations import Attestation
from portal.registration.models import Document, Registration, Submission
from portal.registration.sanctions import Sanction
from tests.unit.conftest import Platform
from tests.unit.factories import (
    APPLICANT_EMAIL,
    MODERATOR_EMAIL,
    STATUSES,
    log_in,
    make_account,
    make_registration,
)
from tests.unit.http_wizard import born_years_ago, fresh, resident_id_for

# The moves each state is reached by, as the history records them (to_status of each row).
PATHS = {
    "draft": ["draft"],
    "submitted": ["draft", "submitted"],
    "approved": ["draft", "submitted", "approved"],
    "changes_requested": ["draft", "submitted", "changes_requested"],
    "rejected": ["draft", "submitted", "rejected"],
    "suspended": ["draft", "submitted", "approved", "suspended"],
    "revoked": ["draft", "submitted", "approved", "revoked"],
    "deregistered": ["draft", "submitted", "approved", "deregistered"],
    "expired": ["draft", "submitted", "approved", "expired"],
}


def moves(session: Session, registration: Registration) -> list[str]:
    return [h.to_status for h in history_of(session, registration.id or 0)
            if h.to_status is not None]


@pytest.mark.parametrize("status", STATUSES)
def test_each_status_with_its_history(status, session, settings, engine) -> None:
    registration = make_registration(session, settings, status=status)
    # Committed: another connection sees it in that state.
    with Session(engine) as other:
        seen = other.get(Registration, registration.id)
        assert seen is not None and seen.status == status
        path = moves(other, seen)
    assert path == PATHS[status]
    assert (registration.number is None) == (status == "draft")
    assert registration.answers["identity"]["legal_name"] == "张三"
    # Both ID photos were uploaded and stored.
    documents = fresh(session, Document, registration_id=registration.id)
    assert sorted(d.kind for d in documents) == ["id_back", "id_front"]
    decisions = [d.kind for d in fresh(session, Decision, registration_id=registration.id)]
    expected = {"changes_requested": ["request_changes"], "rejected": ["reject"],
                "draft": [], "submitted": []}.get(status, ["approve"])
    assert decisions == expected


def test_approved_has_a_certificate_and_is_valid_for_platforms(app, session, settings) -> None:
    registration = make_registration(session, settings)  # approved by default
    assert registration.status == "approved" and registration.valid_until is not None
    certificate = certificates.current_certificate(session, registration.id or 0)
    assert certificate is not None and certificate.number == registration.number
    platform = Platform(app, session, "Platform A")
    body = platform.get(f"/registrations/{registration.number}").json()
    assert body["status"] == "approved" and body["valid"] is True
    assert body["channels"] == [{"platform": "douyin", "handle": "zhangsan_live"}]


@pytest.mark.parametrize("status", ["submitted", "suspended", "rejected"])
def test_others_are_not_valid_for_platforms(status, app, session, settings) -> None:
    registration = make_registration(session, settings, status=status)
    platform = Platform(app, session, "Platform A")
    body = platform.get(f"/registrations/{registration.number}").json()
    assert body["status"] == status and body["valid"] is False


def test_suspension_and_closure_are_sanctions(session, settings) -> None:
    suspended = make_registration(session, settings, status="suspended")
    revoked = make_registration(session, settings, status="revoked", email="other@example.com",
                                identity={"id_number": resident_id_for(born_years_ago(30)),
                                          "date_of_birth": born_years_ago(30).isoformat()})
    kinds = {s.registration_id: s.kind for s in fresh(session, Sanction)}
    assert kinds == {suspended.id: "suspend", revoked.id: "close"}
    assert certificates.current_certificate(session, suspended.id or 0) is not None


def test_accounts_have_no_password_and_are_confirmed(session, settings) -> None:
    make_registration(session, settings)
    users = {u.email: u for u in fresh(session, User)}
    assert set(users) == {APPLICANT_EMAIL, MODERATOR_EMAIL}
    assert all(u.password_hash is None and u.email_verified for u in users.values())
    assert users[MODERATOR_EMAIL].role == "moderator"
    assert users[APPLICANT_EMAIL].role == "applicant"


def test_signed_as_from_the_test_client(session, settings) -> None:
    """The HTTP wizard records TestClient's address and user agent with each signature."""
    registration = make_registration(session, settings, status="submitted")
    submission = fresh(session, Submission, registration_id=registration.id)[0]
    assert (submission.ip, submission.user_agent, submission.signed_name) == (
        "testclient", "testclient", "张三")
    attestation = fresh(session, Attestation, registration_id=registration.id)[0]
    assert (attestation.ip, attestation.user_agent, attestation.signed_name) == (
        "testclient", "testclient", "张三")


def test_a_given_moderator_decides(session, settings) -> None:
    other = make_account(session, email="other-mod@example.com", role="moderator")
    registration = make_registration(session, settings, moderator=other)
    decision = fresh(session, Decision, registration_id=registration.id)[0]
    assert decision.moderator_id == other.id
    assert not fresh(session, User, email=MODERATOR_EMAIL)


def test_overrides_change_the_answers_and_a_minor_has_a_guardian(session, settings) -> None:
    birth = born_years_ago(17)
    registration = make_registration(
        session, settings, status="submitted",
        identity={"id_number": resident_id_for(birth), "date_of_birth": birth.isoformat()},
        roles={"channel-0-handle": "minor_live"},
    )
    assert registration.age_band == "minor_16_17"
    assert registration.answers["guardian"]["guardian_name"] == "张大山"
    assert registration.answers["roles"]["channels"][0]["handle"] == "minor_live"
    kinds = {d.kind for d in fresh(session, Document, registration_id=registration.id)}
    assert kinds == {"id_front", "id_back", "consent_letter"}


def test_changes_requested_asks_for_the_steps(client, app, session, settings) -> None:
    registration = make_registration(session, settings, status="changes_requested",
                                     step_messages={"roles": "Add the room URL"})
    assert registration.answers["_requested"] == {"roles": "Add the room URL"}
    user = fresh(session, User, email=APPLICANT_EMAIL)[0]
    log_in(client, app, user)
    assert "Add the room URL" in client.get("/apply/roles").text


def test_unknown_status_or_override_is_refused(session, settings) -> None:
    with pytest.raises(ValueError, match="cannot make"):
        make_registration(session, settings, status="approvedd")
    with pytest.raises(TypeError, match="identityy"):
        make_registration(session, settings, identityy={"legal_name": "李四"})


def test_log_in_makes_the_session_the_app_makes(client, app, session, settings, auth) -> None:
    registration = make_registration(session, settings, status="submitted")
    user = fresh(session, User, email=APPLICANT_EMAIL)[0]
    assert client.get("/me").status_code in (302, 303)
    log_in(client, app, user)
    me = client.get("/me")
    assert me.status_code == 200 and registration.number in me.text
    # Its CSRF token works, and logging out replaces the cookie (no stale session is kept).
    assert auth.log_out().status_code == 303
    assert client.get("/me").status_code in (302, 303)
    assert [c.name for c in client.cookies.jar].count("portal_session") <= 1


def test_fixtures_log_in_applicant_and_moderator(approved, client) -> None:
    number, moderator = approved
    assert number in client.get("/me").text
    assert moderator.get(f"/review/{number}").status_code == 200
    assert client.get(f"/review/{number}").status_code == 403


def test_submitted_fixture_waits_in_the_queue(submitted, client, session) -> None:
    assert fresh(session, Registration)[0].status == "submitted"
    assert submitted in client.get("/me").text
    # Nothing else was made on the way: one account, no moderator.
    assert [u.email for u in fresh(session, User)] == [APPLICANT_EMAIL]
    assert not session.exec(select(Decision)).all()
