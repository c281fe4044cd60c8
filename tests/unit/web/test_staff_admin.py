"""The administrator's staff and key pages: staff accounts made with an emailed link, disabled
(logged out at once) and enabled, a lost second factor reset; signing keys listed and rotated;
an API key revoked only once confirmed. Each change that takes something away needs a ticked
box, and says so next to it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from bs4 import BeautifulSoup
from sqlmodel import col, select
from starlette.testclient import TestClient

from portal import accounts
from portal.accounts import User
from portal.ledger import tlog
from portal.ledger.events import HistoryEntry
from portal.platforms import clients, onboarding
from portal.platforms.notify import MailboxMessage
from portal.records import certificates
from tests.unit.conftest import csrf_from, staff_client


@pytest.fixture
def admin(app, session) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with staff_client(app, session, "admin@example.com", "admin") as client:
        yield client


def post(client: TestClient, path: str, data: dict[str, str], page: str = "/admin/staff"):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get(page).text)
    return client.post(path, data={**data, "csrf_token": token})


def member(session, email: str) -> User:  # type: ignore[no-untyped-def]
    session.rollback()
    session.expire_all()  # the test's own objects may be older than the app's commits
    found = accounts.find_user_by_email(session, email)
    assert found is not None
    return found


def error_by(html: str, field: str) -> str:
    page = BeautifulSoup(html, "html.parser")
    box = page.find(id=field)
    assert box is not None, f"no field {field}"
    return box.find_parent(class_="field").select_one(".field-error").get_text(" ", strip=True)


def test_an_admin_adds_a_moderator_who_gets_a_link_to_choose_a_password(admin, session) -> None:
    answer = post(admin, "/admin/staff", {"email": "New.Mod@Example.com", "role": "moderator"})
    assert answer.status_code == 303 and answer.headers["location"].endswith("done=created")
    created = member(session, "new.mod@example.com")
    assert created.role == "moderator" and created.email_verified
    mail = session.exec(select(MailboxMessage).where(
        MailboxMessage.to == "new.mod@example.com")).one()
    token = re.search(r"token=([\w.\-]+)", mail.body)
    assert token, mail.body
    assert accounts.check_password_reset_token(
        session, admin.app.state.settings.secret("secret_key"), token.group(1),
        3600).id == created.id
    history = session.exec(select(HistoryEntry).where(
        HistoryEntry.action == "staff_created")).one()
    assert history.data == {"user_id": created.id, "role": "moderator"}
    assert "new.mod@example.com" not in str(history.data), "ids only in the history"
    listed = BeautifulSoup(admin.get("/admin/staff").text, "html.parser")
    assert "new.mod@example.com" in listed.select_one("table").text


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"email": "admin@example.com", "role": "moderator"}, "email", "already exists"),
    ({"email": "someone@example.com", "role": "applicant"}, "role", "Choose the staff"),
    ({"email": "aud@example.com", "role": "auditor", "jurisdiction": "99x"}, "jurisdiction",
     ""),
])
def test_a_wrong_new_account_is_refused_next_to_its_field(admin, data, field, message) -> None:
    answer = post(admin, "/admin/staff", data)
    assert answer.status_code == 422
    assert message in error_by(answer.text, field)


def test_disabling_needs_the_box_and_logs_the_member_out_everywhere(app, admin, session
                                                                   ) -> None:
    with staff_client(app, session, "mod@example.com", "moderator") as moderator:
        assert moderator.get("/review").status_code == 200
        target = member(session, "mod@example.com")
        path = f"/admin/staff/{target.id}/disable"
        refused = post(admin, path, {})
        assert refused.status_code == 422
        assert "Tick the box" in error_by(refused.text, f"confirm-{target.id}")
        assert member(session, "mod@example.com").is_active

        assert post(admin, path, {"confirm": "yes"}).status_code == 303
        assert not member(session, "mod@example.com").is_active
        assert moderator.get("/review").status_code in (302, 303), "the session ended"

        assert post(admin, f"/admin/staff/{target.id}/enable", {}).status_code == 303
        assert member(session, "mod@example.com").is_active
    actions = session.exec(select(HistoryEntry.action).where(
        col(HistoryEntry.action).startswith("staff_"))).all()
    assert actions == ["staff_disabled", "staff_enabled"]


def test_an_admin_cannot_disable_themselves(admin, session) -> None:
    me = member(session, "admin@example.com")
    answer = post(admin, f"/admin/staff/{me.id}/disable", {"confirm": "yes"})
    assert answer.status_code == 422
    summary = BeautifulSoup(answer.text, "html.parser").select_one(".error-summary")
    assert "You cannot do this to your own account" in summary.text
    assert member(session, "admin@example.com").is_active


def test_a_lost_second_factor_is_reset(app, admin, session) -> None:
    target = staff_client(app, session, "aud@example.com", "auditor")
    user = member(session, "aud@example.com")
    user.totp_enrolled_at = datetime.now(UTC)
    user.totp_secret = b"sealed"
    session.add(user)
    session.commit()
    path = f"/admin/staff/{user.id}/second-factor"
    assert post(admin, path, {}).status_code == 422
    done = post(admin, path, {"confirm": "yes"})
    assert done.status_code == 303, done.text
    after = member(session, "aud@example.com")
    assert not after.has_totp and after.totp_secret is None
    assert target.get("/audit").status_code in (302, 303), "every session ended"


def test_keys_are_listed_and_rotated_once_confirmed(admin, app, session) -> None:
    page = admin.get("/admin/keys")
    assert page.status_code == 200
    before = certificates.public_keys(session)
    assert before and before[0]["kid"] in page.text
    refused = post(admin, "/admin/keys/rotate", {}, page="/admin/keys")
    assert refused.status_code == 422
    assert "Tick the box" in error_by(refused.text, "confirm")
    size = tlog.size(session)

    assert post(admin, "/admin/keys/rotate", {"confirm": "yes"},
                page="/admin/keys").status_code == 303
    session.rollback()
    after = certificates.public_keys(session)
    active = [k["kid"] for k in after if k["status"] == "active"]
    assert len(active) == 1 and active[0] not in {k["kid"] for k in before}
    assert tlog.entries(session, size, size + 1)[0]["entry"]["type"] == "key.rotated"


def test_a_key_set_by_the_environment_is_not_rotated_from_a_page(admin, app, tmp_path) -> None:
    app.state.settings.signing_key = str(tmp_path / "key.pem")
    answer = post(admin, "/admin/keys/rotate", {"confirm": "yes"}, page="/admin/keys")
    assert answer.status_code == 409
    assert "portal keys rotate" in answer.text


def test_an_api_key_is_revoked_only_once_confirmed(admin, app, session) -> None:
    client, secret, _ = onboarding.new_client(session, app.state.settings, name="Platform",
                                              kind="platform")
    session.commit()
    key = session.exec(select(clients.ApiKey).where(clients.ApiKey.client_id == client.id)).one()
    page = f"/admin/clients/{client.id}"
    path = f"{page}/keys/{key.id}/revoke"
    refused = post(admin, path, {}, page=page)
    assert refused.status_code == 422
    assert "stops working" in error_by(refused.text, f"confirm-key-{key.id}")
    assert clients.authenticate(session, secret) is not None
    assert post(admin, path, {"confirm": "yes"}, page=page).status_code == 303
    session.rollback()
    assert clients.authenticate(session, secret) is None
