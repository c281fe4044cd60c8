"""Passwords: the reset flow (single-use, expiring links by the notifier), no enumeration on
reset, sign-up and login, and argon2id parameters that are upgraded at the next login."""

from __future__ import annotations

import re
import time

import pyotp
from bs4 import BeautifulSoup
from itsdangerous import URLSafeTimedSerializer
from passlib.context import CryptContext
from sqlalchemy import event
from sqlmodel import select
from starlette.testclient import TestClient

from portal import accounts
from portal.accounts import User
from portal.base import crypto
from portal.platforms.notify import MailboxMessage
from tests.unit.conftest import STRONG_PASSWORD, Auth, csrf_from, make_user

NEW_PASSWORD = "amber lighthouse tractor 73 fern"


def mails(session, to: str | None = None) -> list[MailboxMessage]:  # type: ignore[no-untyped-def]
    session.rollback()
    query = select(MailboxMessage).order_by(MailboxMessage.id)  # type: ignore[arg-type]
    found = session.exec(query).all()
    return [m for m in found if to is None or m.to == to]


def post(client: TestClient, path: str, data: dict[str, str], *, page: str):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get(page, follow_redirects=True).text)
    return client.post(path, data={**data, "csrf_token": token})


def ask_for_link(client: TestClient, email: str):  # type: ignore[no-untyped-def]
    return post(client, "/password/forgot", {"email": email}, page="/password/forgot")


def reset_link(session, email: str) -> str:  # type: ignore[no-untyped-def]
    body = [m for m in mails(session, email) if m.subject == "Set a new password"][-1].body
    return re.search(r"http://testserver(/password/reset\?token=\S+)", body).group(1)


def set_password(client: TestClient, link: str, password: str, confirm: str | None = None):  # type: ignore[no-untyped-def]
    return post(client, "/password/reset", {
        "password": password,
        "password_confirm": password if confirm is None else confirm,
    }, page=link)


def text_of(html: str) -> str:
    return BeautifulSoup(html, "html.parser").get_text(" ", strip=True)


def main_text(html: str) -> str:
    return BeautifulSoup(html, "html.parser").find("main").get_text(" ", strip=True)


def test_login_page_links_to_the_reset(client) -> None:
    link = BeautifulSoup(client.get("/login").text, "html.parser").find(
        "a", string="Forgot your password?")
    assert link["href"] == "/password/forgot"
    assert client.get(link["href"]).status_code == 200


def test_reset_answers_the_same_whether_or_not_the_address_has_an_account(client, session):
    make_user(session, email="known@example.com")
    known = ask_for_link(client, "Known@example.com")
    unknown = ask_for_link(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 303
    assert known.headers["location"] == unknown.headers["location"] == "/password/forgot?sent=1"
    page = client.get("/password/forgot?sent=1")
    assert "If an account uses that address, we have sent it a link" in page.text
    assert "works for 60 minutes" in page.text
    sent = mails(session)
    assert [m.to for m in sent] == ["known@example.com"]
    assert sent[0].subject == "Set a new password"


def test_reset_with_a_malformed_address_says_so(client) -> None:
    response = ask_for_link(client, "not-an-address")
    assert response.status_code == 422
    assert "correct format" in text_of(response.text)


def test_reset_sets_the_password_ends_every_session_and_works_once(app, client, session):
    make_user(session, email="r@example.com")
    with TestClient(app, follow_redirects=False) as elsewhere:
        Auth(elsewhere).log_in("r@example.com")
        assert elsewhere.get("/me").status_code == 200
        ask_for_link(client, "r@example.com")
        link = reset_link(session, "r@example.com")
        form = client.get(link, follow_redirects=True)
        assert form.status_code == 200
        soup = BeautifulSoup(form.text, "html.parser")
        assert soup.find("input", id="password")["autocomplete"] == "new-password"
        assert soup.find("label", attrs={"for": "password"}).get_text(strip=True) == "New password"
        assert "r@example.com" in text_of(form.text)

        mismatch = set_password(client, link, NEW_PASSWORD, confirm="something else")
        assert mismatch.status_code == 422 and "do not match" in text_of(mismatch.text)
        weak = set_password(client, link, "password1234")
        assert weak.status_code == 422 and "too common" in text_of(weak.text)
        # A wrong try does not spend the link.
        done = set_password(client, link, NEW_PASSWORD)
        assert done.status_code == 303 and done.headers["location"] == "/login?done=reset"
        assert "Your password has been changed" in client.get(done.headers["location"]).text
        assert elsewhere.get("/me").status_code == 303  # logged out everywhere

    notice = [m for m in mails(session, "r@example.com") if m.subject != "Set a new password"]
    assert [m.subject for m in notice] == ["Your password has been changed"]
    assert Auth(client).log_in("r@example.com").status_code == 422
    assert Auth(client).log_in("r@example.com", NEW_PASSWORD).headers["location"] == "/me"

    again = client.get(link, follow_redirects=True)
    assert again.status_code == 400 and "already been used" in text_of(again.text)
    replay = client.post("/password/reset", data={
        "token": link.split("token=", 1)[1], "password": "another fine phrase 99 pine",
        "password_confirm": "another fine phrase 99 pine", "csrf_token": csrf_from(
            client.get("/password/forgot").text)})
    assert replay.status_code == 400
    session.expire_all()
    user = session.exec(select(User).where(User.email == "r@example.com")).one()
    assert accounts.pwd_context.verify(NEW_PASSWORD, user.password_hash)


def test_a_reset_link_expires_and_cannot_be_forged(client, session, settings, monkeypatch):
    user = make_user(session, email="late@example.com")
    secret = settings.secret("secret_key")
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now - 61 * 60)
    old = accounts.password_reset_token(secret, user)
    monkeypatch.setattr(time, "time", lambda: now)
    expired = client.get(f"/password/reset?token={old}", follow_redirects=True)
    assert expired.status_code == 400 and "This link has expired" in text_of(expired.text)
    assert BeautifulSoup(expired.text, "html.parser").find(
        "a", string="Ask for a new link")["href"] == "/password/forgot"
    # Signed with another key, or for another purpose (an email-confirmation token).
    forged = URLSafeTimedSerializer("x" * 48, salt="portal.password-reset").dumps(
        {"uid": user.id, "pw": ""})
    for token in (forged, accounts.email_token(secret, user), "garbage"):
        page = client.get(f"/password/reset?token={token}", follow_redirects=True)
        assert page.status_code == 400 and "not valid" in text_of(page.text)
    assert accounts.check_password_reset_token(session, secret, accounts.password_reset_token(
        secret, user), max_age=3600).id == user.id


def test_no_link_for_a_deactivated_account_or_one_without_password(client, session) -> None:
    user = make_user(session, email="gone@example.com")
    user.is_active = False
    session.add(user)
    session.commit()
    accounts.create_user(session, email="seeded@example.com", password=None)
    session.commit()
    for email in ("gone@example.com", "seeded@example.com"):
        assert ask_for_link(client, email).headers["location"] == "/password/forgot?sent=1"
    assert mails(session) == []


def test_an_address_gets_a_few_messages_at_most(client, session) -> None:
    make_user(session, email="flooded@example.com")
    for _ in range(5):
        assert ask_for_link(client, "flooded@example.com").status_code == 303
    assert len(mails(session, "flooded@example.com")) == 3


def test_a_reset_does_not_skip_the_second_factor(client, session, settings, monkeypatch):
    user = make_user(session, email="mod@example.com", role="moderator")
    cipher = crypto.cipher_for(settings)
    secret = accounts.start_totp(session, user, cipher)
    session.commit()
    accounts.confirm_totp(session, user, cipher, pyotp.TOTP(secret).now())
    session.commit()
    ask_for_link(client, "mod@example.com")
    done = set_password(client, reset_link(session, "mod@example.com"), NEW_PASSWORD)
    assert done.headers["location"] == "/login?done=reset"
    assert Auth(client).log_in("mod@example.com", NEW_PASSWORD).headers["location"] == (
        "/login/code")
    assert client.get("/review").status_code == 303


# --- no enumeration ----------------------------------------------------------------------------


def test_login_answers_alike_for_an_unknown_email_and_a_wrong_password(client, session):
    make_user(session, email="known@example.com")
    unknown = Auth(client).log_in("nobody@example.com", "a wrong password here")
    wrong = Auth(client).log_in("known@example.com", "a wrong password here")
    assert unknown.status_code == wrong.status_code == 422
    assert main_text(unknown.text).replace("nobody", "known") == main_text(wrong.text)


def test_sign_up_with_a_taken_address_answers_like_a_new_one_page_wise(app, client, session):
    make_user(session, email="taken@example.com")
    taken = Auth(client).sign_up_only("taken@example.com")
    assert taken.status_code == 303
    page = client.get(taken.headers["location"])
    assert "Check your email" in page.text and "exist" not in main_text(page.text)
    # Errors in the form are reported the same way for a taken and a free address.
    for email in ("taken@example.com", "free@example.com"):
        weak = Auth(client).post("/signup", {
            "email": email, "password": "password1234", "password_confirm": "password1234"})
        assert weak.status_code == 422 and "too common" in text_of(weak.text)
    assert "exist" not in text_of(weak.text)
    notices = mails(session, "taken@example.com")
    assert [m.subject for m in notices] == ["You already have an account"]
    assert "http://testserver/login" in notices[0].body
    assert "http://testserver/password/forgot" in notices[0].body


# --- argon2id ----------------------------------------------------------------------------------


def test_passwords_are_hashed_with_at_least_owasps_argon2id_parameters(session) -> None:
    user = make_user(session, email="owasp@example.com")
    params = dict(re.findall(r"([mtp])=(\d+)", user.password_hash))
    assert user.password_hash.startswith("$argon2id$")
    assert int(params["m"]) >= 19 * 1024 and int(params["t"]) >= 2


def test_changed_parameters_rehash_at_the_next_login(client, session, monkeypatch) -> None:
    user = make_user(session, email="stronger@example.com")
    before = user.password_hash
    assert "m=19456,t=2" in before
    # The parameters are raised (as a later release would): the next login stores a new hash.
    stronger = CryptContext(schemes=["argon2"], argon2__type="ID", argon2__memory_cost=24576,
                            argon2__time_cost=3, argon2__parallelism=1)
    monkeypatch.setattr(accounts, "pwd_context", stronger)
    assert Auth(client).log_in("stronger@example.com").headers["location"] == "/me"
    session.expire_all()
    after = session.exec(select(User).where(User.email == "stronger@example.com")).one()
    assert after.password_hash != before and "m=24576,t=3" in after.password_hash
    assert stronger.verify(STRONG_PASSWORD, after.password_hash)
    # A wrong password changes nothing.
    client.cookies.clear()
    Auth(client).log_in("stronger@example.com", "a wrong password again")
    session.expire_all()
    again = session.exec(select(User).where(User.email == "stronger@example.com")).one()
    assert again.password_hash == after.password_hash


def test_the_reset_lifetime_is_a_setting(client, session, settings, monkeypatch):
    minutes = 5
    client.app.state.settings.password_reset_max_age_minutes = minutes
    user = make_user(session, email="short@example.com")
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now - (minutes * 60 + 5))
    token = accounts.password_reset_token(settings.secret("secret_key"), user)
    monkeypatch.setattr(time, "time", lambda: now)
    assert client.get(f"/password/reset?token={token}", follow_redirects=True).status_code == 400
    ask_for_link(client, "short@example.com")
    assert f"works for {minutes} minutes" in mails(session, "short@example.com")[-1].body


# --- the same work for a known and an unknown address ------------------------------------------


class _UntilAnswered:
    """The app, noting how many SQL statements ran before its answer started to go out."""

    def __init__(self, app, statements: list[str]) -> None:  # type: ignore[no-untyped-def]
        self.app, self.statements, self.before_answer = app, statements, -1

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        async def noting(message) -> None:  # type: ignore[no-untyped-def]
            if message["type"] == "http.response.start":
                self.before_answer = len(self.statements)
            await send(message)

        await self.app(scope, receive, noting)


def test_a_reset_request_does_the_same_work_for_a_known_and_an_unknown_address(app, session):
    make_user(session, email="known@example.com")
    statements: list[str] = []

    def note(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(app.state.engine, "before_cursor_execute", note)
    wrapped = _UntilAnswered(app, statements)
    before = {}
    try:
        for email in ("known@example.com", "nobody@example.com"):
            with TestClient(wrapped, follow_redirects=False) as browser:  # type: ignore[arg-type]
                token = csrf_from(browser.get("/password/forgot").text)
                statements.clear()
                answer = browser.post("/password/forgot",
                                      data={"email": email, "csrf_token": token})
                assert answer.headers["location"] == "/password/forgot?sent=1"
                before[email] = statements[:wrapped.before_answer]
    finally:
        event.remove(app.state.engine, "before_cursor_execute", note)
    # The same statements until the answer goes out; the one message is sent after it.
    assert before["known@example.com"] == before["nobody@example.com"]
    assert [m.to for m in mails(session)] == ["known@example.com"]
