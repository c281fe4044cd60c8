"""Messages to a person are in the language kept on their account, not the sender's."""

from __future__ import annotations

from sqlmodel import select
from starlette.testclient import TestClient

from portal.accounts import User
from portal.base.i18n import LANG_COOKIE
from portal.platforms.notify import MailboxMessage, Notification
from portal.registration.models import Registration
from tests.unit.conftest import Auth, applicant_logged_in, csrf_from, make_user
from tests.unit.factories import make_account, make_registration
from tests.unit.http_wizard import fresh, post, version_of


def _speaking(client: TestClient, lang: str) -> TestClient:
    client.cookies.set(LANG_COOKIE, lang)
    return client


def _account(session, email: str) -> User:  # type: ignore[no-untyped-def]
    session.rollback()
    user = session.exec(select(User).where(User.email == email)).one()
    return user


def _registration(session, number: str) -> Registration:  # type: ignore[no-untyped-def]
    return fresh(session, Registration, number=number)[0]


def _moderator(app, session, lang: str) -> TestClient:  # type: ignore[no-untyped-def]
    make_user(session, email="mod@example.com", role="moderator")
    client = _speaking(TestClient(app, follow_redirects=False), lang)
    assert Auth(client).log_in("mod@example.com").status_code == 303
    return client


def test_sign_up_keeps_the_language_in_use(client, session) -> None:
    _speaking(client, "zh-Hans")
    assert Auth(client).sign_up("zhang@example.com").status_code == 303
    assert _account(session, "zhang@example.com").language == "zh-Hans"


def test_english_moderator_asks_a_chinese_applicant_in_chinese(app, client, session,
                                                                 settings) -> None:
    applicant = make_account(session, email="zhang@example.com")
    applicant.language = "zh-Hans"
    session.add(applicant)
    session.commit()
    number = make_registration(session, settings, status="submitted", user=applicant).number
    applicant_logged_in(_speaking(client, "zh-Hans"), app, session, _registration(session, number))
    moderator = _moderator(app, session, "en")
    response = post(moderator, f"/review/{number}/request-changes", {
        "version": version_of(moderator, number), "steps": "roles",
        "message_roles": "The account name does not match the room URL",
    }, page=f"/review/{number}")
    assert response.status_code == 303

    note = fresh(session, Notification)[-1]
    assert note.subject == f"您的备案 {number} 需要修改"
    mail = [m for m in fresh(session, MailboxMessage) if m.to == "zhang@example.com"][-1]
    assert mail.subject == note.subject
    # The step and its message joined as Chinese writes a label and its value.
    assert "- 角色和直播账号：The account name does not match the room URL" in mail.body
    assert "A moderator asks" not in mail.body and note.body == mail.body
    me = client.get("/me").text
    assert f"您的备案 {number} 需要修改" in me


def test_chinese_moderator_approves_an_english_applicant_in_english(app, client, session,
                                                                     settings) -> None:
    number = make_registration(session, settings, status="submitted").number
    applicant_logged_in(_speaking(client, "en"), app, session, _registration(session, number))
    moderator = _moderator(app, session, "zh-Hans")
    assert "通过" in moderator.get(f"/review/{number}").text  # the moderator works in Chinese
    response = post(moderator, f"/review/{number}/approve",
                    {"version": version_of(moderator, number)}, page=f"/review/{number}")
    assert response.status_code == 303

    note = fresh(session, Notification)[-1]
    assert note.subject == f"Your registration {number} is approved"
    mail = [m for m in fresh(session, MailboxMessage) if m.subject == note.subject]
    assert mail and "has been approved" in mail[0].body
    assert "已通过" not in client.get("/me").text


def test_the_language_of_messages_is_changed_on_me(app, client, session, settings) -> None:
    number = make_registration(session, settings, status="submitted").number
    user = applicant_logged_in(client, app, session, _registration(session, number))
    me = client.get("/me").text
    assert "Language of our emails and messages" in me
    response = client.post("/me/language", data={"language": "zh-Hans",
                                                 "csrf_token": csrf_from(me)})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/me?language=1")
    assert _account(session, user.email).language == "zh-Hans"
    assert "We will write to you in 简体中文." in client.get("/me?language=1").text

    moderator = _moderator(app, session, "en")
    post(moderator, f"/review/{number}/approve", {"version": version_of(moderator, number)},
         page=f"/review/{number}")
    assert fresh(session, Notification)[-1].subject == f"您的备案 {number} 已通过审核"


def test_an_unknown_language_is_not_kept(client, auth, session) -> None:
    auth.sign_up("someone@example.com")
    me = client.get("/me").text
    client.post("/me/language", data={"language": "fr", "csrf_token": csrf_from(me)})
    assert _account(session, "someone@example.com").language == "en"
