"""Nothing typed is lost: a step that fails its checks, "Add another channel" and a session that
ends mid-step all keep what was typed as the step's draft, never submitted, kept encrypted."""

from __future__ import annotations

import time

import pytest
from bs4 import BeautifulSoup
from sqlmodel import select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.lifecycle.wizard import StepDraft
from portal.registration.models import Registration
from portal.web.apply import HELD_COOKIE
from tests.unit.http_wizard import (
    Wizard,
    field_errors,
    identity_files,
    identity_form,
    roles_form,
    verify_email,
)

HANDLE = "zhangsan_tea_house"
BIO = "每天晚上八点直播，电话 13912345678"


@pytest.fixture
def wizard(client, auth, session) -> Wizard:
    auth.sign_up("applicant@example.com")
    verify_email(session, "applicant@example.com")
    wizard = Wizard(client)
    wizard.start()
    assert wizard.post("identity", identity_form(), identity_files()).status_code == 303
    return wizard


def _value(html: str, name: str) -> str | None:
    soup = BeautifulSoup(html, "html.parser")
    field = soup.find(["input", "textarea"], attrs={"name": name})
    if field is None:
        return None
    return field.get_text() if field.name == "textarea" else field.get("value", "")


def _drafts(session) -> list[StepDraft]:  # type: ignore[no-untyped-def]
    session.rollback()
    return list(session.exec(select(StepDraft)))


def _registration(session) -> Registration:  # type: ignore[no-untyped-def]
    session.rollback()
    return session.exec(select(Registration)).one()


def test_a_step_with_an_error_keeps_what_was_typed(wizard, client, session) -> None:
    refused = wizard.post("roles", roles_form(**{
        "channel-0-handle": HANDLE, "channel-0-bio": BIO,
        "channel-0-room_url": "http://not-https.example"}))
    assert refused.status_code == 422
    assert "channel-0-room_url" in field_errors(refused.text)

    # Leaving and coming back: the values typed, the error still shown, nothing saved.
    page = client.get("/apply/roles")
    assert page.status_code == 200
    assert _value(page.text, "channel-0-handle") == HANDLE
    assert _value(page.text, "channel-0-bio") == BIO
    assert "channel-0-room_url" in field_errors(page.text)
    assert "Not saved yet" in page.text
    assert "roles" not in _registration(session).answers

    # Kept encrypted: neither the handle nor the phone number is in the row in clear.
    [draft] = _drafts(session)
    assert draft.step == "roles" and draft.held_token is None
    assert HANDLE.encode() not in draft.ciphertext and b"13912345678" not in draft.ciphertext


def test_saving_the_step_forgets_its_draft(wizard, client, session) -> None:
    wizard.post("roles", roles_form(**{"channel-0-room_url": "http://not-https.example"}))
    assert len(_drafts(session)) == 1
    assert wizard.post("roles", roles_form(**{"channel-0-handle": HANDLE})).status_code == 303
    assert _drafts(session) == []
    page = client.get("/apply/roles")
    assert _value(page.text, "channel-0-handle") == HANDLE and "Not saved yet" not in page.text


def test_add_another_channel_keeps_what_was_typed(wizard, client, session) -> None:
    added = wizard.post("roles", roles_form(**{"channel-0-handle": HANDLE,
                                               "action": "add_channel"}))
    assert added.status_code == 200
    assert _value(added.text, "channel-1-handle") == ""
    page = client.get("/apply/roles")
    assert _value(page.text, "channel-0-handle") == HANDLE
    assert _value(page.text, "channel-1-handle") == ""  # the row added is there too
    assert "roles" not in _registration(session).answers  # a draft, never the saved step


def test_a_draft_is_never_submitted(wizard, client, session) -> None:
    from tests.unit.http_wizard import commitments_form, content_form, security_form

    for step, data in (("roles", roles_form()), ("security", security_form()),
                       ("content", content_form()), ("commitments", commitments_form())):
        assert wizard.post(step, data).status_code == 303
    # A change typed later that does not pass: the saved answers are what is submitted.
    wizard.post("roles", roles_form(**{"channel-0-handle": HANDLE,
                                       "channel-0-room_url": "http://not-https.example"}))
    assert wizard.submit().status_code == 303
    registration = _registration(session)
    assert registration.status == "submitted"
    assert registration.answers["roles"]["channels"][0]["handle"] != HANDLE
    assert _drafts(session) == []


def test_a_session_that_ends_mid_step_keeps_the_typed_values(wizard, client, auth, session,
                                                             settings) -> None:
    token_page = client.get("/apply/roles")
    token = BeautifulSoup(token_page.text, "html.parser").find(
        "input", attrs={"name": "csrf_token"})["value"]
    # The same browser, after the session's idle time has run out.
    ended = create_app(settings.model_copy(update={"session_idle_minutes": 0}))
    with TestClient(ended, follow_redirects=False, cookies=client.cookies) as late:
        time.sleep(1.1)
        answer = late.post("/apply/roles", data={
            **roles_form(**{"channel-0-handle": HANDLE, "channel-0-bio": BIO}),
            "csrf_token": token})
        held = late.cookies.get(HELD_COOKIE)
    ended.state.engine.dispose()
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fapply%2Froles"
    assert held
    [draft] = _drafts(session)
    assert draft.registration_id is None and b"13912345678" not in draft.ciphertext

    # Logging in again and coming back to the step: the values are there, not saved yet.
    auth.log_out()  # this client's own session (the app above ended its copy)
    client.cookies.set(HELD_COOKIE, held)
    assert auth.log_in("applicant@example.com").status_code == 303
    page = client.get("/apply/roles")
    assert _value(page.text, "channel-0-handle") == HANDLE
    assert _value(page.text, "channel-0-bio") == BIO
    assert "Your session ended before this step was saved" in page.text
    assert "roles" not in _registration(session).answers
    [claimed] = _drafts(session)
    assert claimed.registration_id == _registration(session).id and claimed.held_token is None


def test_a_held_draft_is_claimed_only_with_its_token(wizard, client, session, settings) -> None:
    from portal.lifecycle import wizard as wizard_service

    token = wizard_service.hold_draft(session, settings, step="roles",
                                      form={"channel-0-handle": [HANDLE]},
                                      account=_registration(session).user_id)
    session.commit()
    client.cookies.set(HELD_COOKIE, token[:-2] + "xx")
    page = client.get("/apply/roles")
    assert _value(page.text, "channel-0-handle") != HANDLE
    assert [d.held_token is not None for d in _drafts(session)] == [True]


def test_deregistering_forgets_the_drafts(wizard, client, session) -> None:
    wizard.post("roles", roles_form(**{"channel-0-room_url": "http://not-https.example"}))
    assert len(_drafts(session)) == 1
    token = BeautifulSoup(client.get("/me").text, "html.parser").find(
        "input", attrs={"name": "csrf_token"})["value"]
    answer = client.post("/me/deregister", data={"confirm": "yes", "csrf_token": token})
    assert answer.status_code == 303
    assert _registration(session).status == "deregistered"
    assert _drafts(session) == []
