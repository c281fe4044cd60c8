"""A step posted after the session timed out is held for the account whose session it was:
only that account, logging in again in the same browser, gets the typed values back."""

from __future__ import annotations

import time

import pytest
from bs4 import BeautifulSoup
from sqlmodel import select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.lifecycle import wizard as wizard_service
from portal.lifecycle.wizard import StepDraft
from portal.registration.models import Registration
from portal.web.apply import HELD_COOKIE
from tests.unit.http_wizard import (
    Wizard,
    born_years_ago,
    identity_files,
    identity_form,
    resident_id_for,
    roles_form,
    verify_email,
)

HANDLE = "zhangsan_tea_house"
OWNER = "applicant@example.com"
OTHER = "neighbour@example.com"


def _registered(client, auth, session, email: str, **identity: str) -> Wizard:  # type: ignore[no-untyped-def]
    auth.sign_up(email)
    verify_email(session, email)
    wizard = Wizard(client)
    wizard.start()
    assert wizard.post("identity", identity_form(**identity),
                       identity_files()).status_code == 303
    return wizard


@pytest.fixture
def owner(client, auth, session) -> Wizard:
    return _registered(client, auth, session, OWNER)


def _drafts(session) -> list[StepDraft]:  # type: ignore[no-untyped-def]
    session.rollback()
    return list(session.exec(select(StepDraft)))


def _registration_of(session, email: str) -> Registration:  # type: ignore[no-untyped-def]
    from portal.accounts import User

    session.rollback()
    user = session.exec(select(User).where(User.email == email)).one()
    return session.exec(select(Registration).where(Registration.user_id == user.id)).one()


def _handle_shown(client) -> str | None:  # type: ignore[no-untyped-def]
    page = BeautifulSoup(client.get("/apply/roles").text, "html.parser")
    field = page.find("input", attrs={"name": "channel-0-handle"})
    return field.get("value") if field is not None else None


def _post_after_timeout(client, settings, data: dict[str, str]) -> tuple[int, str, str | None]:  # type: ignore[no-untyped-def]
    """Post the roles step from this browser once its session has been idle too long."""
    token = BeautifulSoup(client.get("/apply/roles").text, "html.parser").find(
        "input", attrs={"name": "csrf_token"})["value"]
    ended = create_app(settings.model_copy(update={"session_idle_minutes": 0}))
    with TestClient(ended, follow_redirects=False, cookies=client.cookies) as late:
        time.sleep(1.1)
        answer = late.post("/apply/roles", data={**data, "csrf_token": token})
        held = late.cookies.get(HELD_COOKIE)
    ended.state.engine.dispose()
    return answer.status_code, answer.headers.get("location", ""), held


def test_a_held_draft_goes_only_to_the_account_that_typed_it(owner, client, auth, session,
                                                              settings) -> None:
    status, location, held = _post_after_timeout(
        client, settings, roles_form(**{"channel-0-handle": HANDLE}))
    assert status == 303 and location == "/login?next=%2Fapply%2Froles"
    assert held
    [draft] = _drafts(session)
    assert draft.held_token is not None

    # Someone else logs in next in the same browser, with a registration of their own.
    auth.log_out()
    client.cookies.set(HELD_COOKIE, held)
    _registered(client, auth, session, OTHER, legal_name="李四",
                id_number=resident_id_for(born_years_ago(30), 77),
                date_of_birth=born_years_ago(30).isoformat())
    page = client.get("/apply/roles").text
    assert HANDLE not in page
    assert "Your session ended before this step was saved" not in page
    assert [d.held_token is not None for d in _drafts(session)] == [True]  # still held
    assert HANDLE not in str(_registration_of(session, OTHER).answers)

    # The account that typed it logs in again: the values are there, not saved yet.
    auth.log_out()
    client.cookies.set(HELD_COOKIE, held)
    assert auth.log_in(OWNER).status_code == 303
    assert _handle_shown(client) == HANDLE
    [claimed] = _drafts(session)
    assert claimed.held_token is None
    assert claimed.registration_id == _registration_of(session, OWNER).id


def test_a_post_from_no_session_is_not_held(owner, client, auth, session) -> None:
    """A visitor's POST (a CSRF token of its own, no account behind it) keeps nothing: no
    account could ever claim it."""
    auth.log_out()
    token = BeautifulSoup(client.get("/login").text, "html.parser").find(
        "input", attrs={"name": "csrf_token"})["value"]
    answer = client.post("/apply/roles", data={**roles_form(), "csrf_token": token})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert HELD_COOKIE not in answer.headers.get("set-cookie", "")
    assert _drafts(session) == []


def test_a_held_draft_opens_only_for_its_account(owner, client, auth, session,
                                                 settings) -> None:
    mine = _registration_of(session, OWNER)
    token = wizard_service.hold_draft(session, settings, step="roles",
                                      form={"channel-0-handle": [HANDLE]},
                                      account=mine.user_id + 1000)
    session.commit()
    assert not wizard_service.claim_held_draft(session, settings, token=token,
                                               registration=mine, step="roles")
    assert wizard_service.draft_of(session, settings, mine, "roles") is None

    token = wizard_service.hold_draft(session, settings, step="roles",
                                      form={"channel-0-handle": [HANDLE]},
                                      account=mine.user_id)
    assert wizard_service.claim_held_draft(session, settings, token=token,
                                           registration=mine, step="roles")
    assert wizard_service.draft_of(session, settings, mine, "roles") == {
        "channel-0-handle": [HANDLE]}
