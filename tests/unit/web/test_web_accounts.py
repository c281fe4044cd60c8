from __future__ import annotations

import re

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import func
from sqlmodel import select
from starlette.testclient import TestClient

from portal import accounts
from portal.accounts import User
from portal.platforms.notify import MailboxMessage
from tests.unit.conftest import STRONG_PASSWORD, Auth, csrf_from, make_user


def field_error(html: str, name: str) -> str:
    soup = BeautifulSoup(html, "html.parser")
    node = soup.find(id=f"{name}-error")
    return node.get_text(" ", strip=True) if node else ""


def summary_links(html: str) -> dict[str, str]:
    soup = BeautifulSoup(html, "html.parser")
    box = soup.select_one(".error-summary")
    if box is None:
        return {}
    return {a["href"]: a.get_text(strip=True) for a in box.select("a")}


def test_sign_up_sends_a_link_and_the_account_opens_once_it_is_followed(client, auth, session):
    response = auth.sign_up_only("new@example.com")
    assert response.status_code == 303
    assert response.headers["location"] == "/signup/sent"
    assert client.get("/me").status_code == 303  # no session yet
    # Not usable before the link, with the one message a wrong password gets.
    refused = auth.log_in("new@example.com")
    assert refused.status_code == 422 and "not right" in field_error(refused.text, "email")
    message = session.exec(select(MailboxMessage)).one()
    assert message.to == "new@example.com"
    link = re.search(r"http://testserver(/verify-email\?token=\S+)", message.body).group(1)
    # The token leaves the address at once: the page that confirms has none.
    moved = client.get(link)
    assert moved.status_code == 303 and moved.headers["location"] == "/verify-email"
    confirmed = client.get("/verify-email")
    assert confirmed.status_code == 200 and "Email address confirmed" in confirmed.text
    assert auth.log_in("new@example.com").headers["location"] == "/me"
    page = client.get("/me")
    assert "new@example.com" in page.text and "Confirmed" in page.text


def test_sign_up_answers_a_taken_and_a_free_address_alike(app, session) -> None:
    make_user(session, email="staff@example.com", role="moderator")
    seen = []
    for email in ("staff@example.com", "free@example.com"):
        with TestClient(app, follow_redirects=False) as browser:
            response = Auth(browser).sign_up_only(email)
            page = browser.get(response.headers["location"])
            seen.append((response.status_code, response.headers["location"],
                         "portal_device" in response.headers.get("set-cookie", ""),
                         page.status_code, BeautifulSoup(page.text, "html.parser").main.text,
                         browser.get("/me").status_code))
    assert seen[0] == seen[1]
    assert seen[0][:2] == (303, "/signup/sent") and seen[0][-1] == 303
    session.expire_all()
    assert [m.to for m in session.exec(select(MailboxMessage)
                                       .order_by(MailboxMessage.id)).all()] == [
        "staff@example.com", "free@example.com"]


def test_a_started_but_unconfirmed_account_is_taken_over_only_through_its_mailbox(
        client, auth, session) -> None:
    # Someone signs up with an address that is not theirs: the account is not usable.
    auth.sign_up_only("victim@example.com", "squatter chose this 81 phrase")
    assert auth.log_in("victim@example.com", "squatter chose this 81 phrase").status_code == 422
    # The address's owner signs up: the same answer, and their mail offers to choose the
    # password (which confirms the address), never to confirm the squatter's.
    auth.sign_up_only("victim@example.com")
    notice = session.exec(select(MailboxMessage).order_by(MailboxMessage.id.desc())).first()
    assert notice.subject == "You already have an account"
    assert "/verify-email" not in notice.body
    link = re.search(r"http://testserver(/password/reset\?token=\S+)", notice.body).group(1)
    token = csrf_from(client.get(link, follow_redirects=True).text)
    done = client.post("/password/reset", data={
        "password": STRONG_PASSWORD, "password_confirm": STRONG_PASSWORD, "csrf_token": token})
    assert done.headers["location"] == "/login?done=reset"
    assert auth.log_in("victim@example.com", "squatter chose this 81 phrase").status_code == 422
    assert auth.log_in("victim@example.com").headers["location"] == "/me"


@pytest.mark.parametrize(
    ("email", "password", "confirm", "field", "message"),
    [
        ("bad-address", STRONG_PASSWORD, STRONG_PASSWORD, "email", "correct format"),
        ("ok@example.com", "tooshort", "tooshort", "password", "at least 12 characters"),
        ("ok@example.com", "password1234", "password1234", "password", "too common"),
        ("ok@example.com", STRONG_PASSWORD, "something else", "password_confirm", "do not match"),
    ],
)
def test_sign_up_errors_show_beside_field_and_keep_email(
    client, auth, session, email, password, confirm, field, message
) -> None:
    response = auth.post(
        "/signup", {"email": email, "password": password, "password_confirm": confirm}
    )
    assert response.status_code == 422
    assert message in field_error(response.text, field)
    assert message in summary_links(response.text)[f"#{field}"]
    soup = BeautifulSoup(response.text, "html.parser")
    assert soup.find("input", id="email")["value"] == email
    assert soup.find("input", id=field).get("aria-invalid") == "true"
    assert session.exec(select(func.count()).select_from(User)).one() == 0


def test_sign_up_with_a_taken_email_creates_nothing_and_tells_its_owner(client, auth, session):
    make_user(session, email="taken@example.com")
    response = auth.sign_up_only("Taken@example.com")
    # No enumeration: no "already exists", just "check your email", and no session.
    assert response.status_code == 303
    assert response.headers["location"] == "/signup/sent"
    page = client.get("/signup/sent")
    assert "Check your email" in page.text and "already" not in page.text
    assert client.get("/me").status_code == 303
    assert session.exec(select(func.count()).select_from(User)).one() == 1
    notice = session.exec(select(MailboxMessage)).one()
    assert notice.to == "taken@example.com" and notice.subject == "You already have an account"
    assert "http://testserver/password/forgot" in notice.body


def test_login_gives_one_message_for_unknown_email_and_wrong_password(client, auth, session):
    make_user(session, email="known@example.com")
    unknown = auth.log_in("nobody@example.com")
    wrong = auth.log_in("known@example.com", "a wrong password here")
    assert unknown.status_code == wrong.status_code == 422
    assert field_error(unknown.text, "email") == field_error(wrong.text, "email")
    assert "not right" in field_error(unknown.text, "email")


def test_login_rotates_session_and_csrf_token(client, auth, session) -> None:
    make_user(session, email="rot@example.com")
    before_token = csrf_from(client.get("/login").text)
    before_cookie = client.cookies.get("portal_session")
    response = auth.log_in("rot@example.com")
    assert response.status_code == 303 and response.headers["location"] == "/me"
    assert client.cookies.get("portal_session") != before_cookie
    assert csrf_from(client.get("/me").text) != before_token


def test_post_without_csrf_token_is_refused(client, session) -> None:
    make_user(session, email="csrf@example.com")
    client.get("/login")
    response = client.post(
        "/login", data={"email": "csrf@example.com", "password": STRONG_PASSWORD}
    )
    assert response.status_code == 403
    assert "You cannot open this page" in response.text
    assert client.get("/me").status_code == 303  # still not logged in


def test_post_with_wrong_csrf_token_is_refused(client) -> None:
    client.get("/signup")
    response = client.post(
        "/signup",
        data={"email": "x@example.com", "password": STRONG_PASSWORD, "csrf_token": "forged"},
    )
    assert response.status_code == 403


def test_htmx_request_may_send_csrf_token_as_header(client, session) -> None:
    make_user(session, email="hx@example.com")
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/login",
        data={"email": "hx@example.com", "password": STRONG_PASSWORD},
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
    )
    assert response.status_code == 303


def test_logout_ends_the_session(client, auth) -> None:
    auth.sign_up("out@example.com")
    assert client.get("/me").status_code == 200
    response = auth.log_out()
    assert response.status_code == 303
    assert client.get("/me").status_code == 303


def test_a_cookie_captured_before_logout_opens_nothing_after_it(app, client, auth, session):
    make_user(session, email="mod@example.com", role="moderator")
    auth.log_in("mod@example.com")
    captured = client.cookies.get("portal_session")
    assert client.get("/review").status_code == 200
    auth.log_out()
    with TestClient(app, follow_redirects=False) as thief:
        thief.cookies.set("portal_session", captured)
        assert thief.get("/review").status_code == 303
        assert thief.get("/me").status_code == 303


def test_log_out_everywhere_ends_every_session_of_the_account(app, client, auth, session):
    make_user(session, email="many@example.com")
    with TestClient(app, follow_redirects=False) as laptop:
        Auth(laptop).log_in("many@example.com")
        auth.log_in("many@example.com")
        user = session.exec(select(User).where(User.email == "many@example.com")).one()
        assert len(accounts.live_sessions(session, user)) == 2
        done = auth.post("/logout/everywhere", {}, token_from="/me")
        assert done.headers["location"] == "/login?done=everywhere"
        assert laptop.get("/me").status_code == 303
        assert client.get("/me").status_code == 303
        session.rollback()  # a fresh read
        assert accounts.live_sessions(session, user) == []


def test_visitor_is_sent_to_login_with_next(client) -> None:
    for path in ("/me", "/review", "/audit", "/admin"):
        response = client.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next=%2F{path[1:]}"


def test_login_follows_next_only_to_local_paths(client, auth, session) -> None:
    make_user(session, email="next@example.com")
    token = csrf_from(client.get("/login?next=/me").text)
    response = client.post(
        "/login",
        data={"email": "next@example.com", "password": STRONG_PASSWORD,
              "next": "https://evil.example/", "csrf_token": token},
    )
    assert response.headers["location"] == "/me"


@pytest.mark.parametrize("path", ["/review", "/audit", "/admin"])
def test_applicant_cannot_open_staff_pages(client, auth, path) -> None:
    auth.sign_up("nosy@example.com")
    response = client.get(path)
    assert response.status_code == 403
    assert "You cannot open this page" in response.text


@pytest.mark.parametrize(
    ("role", "start", "heading", "refused"),
    [
        ("moderator", "/review", "Review", "/audit"),
        ("auditor", "/audit", "Inspection console", "/review"),
        ("admin", "/admin", "Administration", None),
    ],
)
def test_staff_land_on_their_start_page(client, auth, session, role, start, heading, refused):
    make_user(session, email=f"{role}@example.com", role=role)
    response = auth.log_in(f"{role}@example.com")
    assert response.headers["location"] == start
    page = client.get(start)
    assert page.status_code == 200
    assert BeautifulSoup(page.text, "html.parser").h1.get_text(strip=True) == heading
    if refused:
        assert client.get(refused).status_code == 403


def test_session_of_deactivated_user_ends(client, auth, session) -> None:
    auth.sign_up("gone@example.com")
    user = session.exec(select(User).where(User.email == "gone@example.com")).one()
    user.is_active = False
    session.add(user)
    session.commit()
    assert client.get("/me").status_code == 303


def test_verify_email_with_bad_token_explains(client) -> None:
    response = client.get("/verify-email?token=garbage", follow_redirects=True)
    assert response.status_code == 400
    assert "This link is not valid" in response.text


def test_resend_sends_nothing_for_a_confirmed_address(client, auth, session) -> None:
    auth.sign_up("again@example.com")
    response = auth.post("/verify-email/resend", {}, token_from="/me")
    assert response.headers["location"] == "/me?sent=1"
    assert len(session.exec(select(MailboxMessage)).all()) == 1
