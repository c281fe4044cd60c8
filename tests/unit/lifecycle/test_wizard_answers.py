"""The wizard's smaller promises: names kept without the spaces a Chinese name never has, and
"Save and continue" going on to the next step a moderator asked about."""

from __future__ import annotations

from portal.registration.models import Registration
from portal.registration.names import normal_name
from tests.unit.conftest import applicant_logged_in
from tests.unit.factories import make_registration
from tests.unit.http_wizard import (
    Wizard,
    commitments_form,
    fresh,
    identity_form,
    roles_form,
    security_form,
)


def test_normal_name_removes_spaces_between_han_characters_only() -> None:
    assert normal_name(" 李  伟 ") == "李伟"
    assert normal_name("阿依古丽 · 买买提") == "阿依古丽·买买提"
    assert normal_name("Anna  Maria Li") == "Anna Maria Li"


def test_a_name_typed_with_spaces_is_saved_without_them_and_signs(
        client, app, session, settings) -> None:  # type: ignore[no-untyped-def]
    registration = make_registration(session, settings, status="draft")
    applicant_logged_in(client, app, session, registration)
    wizard = Wizard(client)
    page = client.get("/apply/identity").text
    assert "Spaces between Chinese characters are left out" in page
    assert wizard.post("identity", identity_form(legal_name="张 三")).status_code == 303
    saved = fresh(session, Registration, id=registration.id)[0]
    assert saved.answers["identity"]["legal_name"] == "张三"
    assert wizard.post("security", security_form(signature="张 三")).status_code == 303


def test_save_and_continue_goes_to_the_next_step_the_moderator_asked_about(
        client, app, session, settings) -> None:  # type: ignore[no-untyped-def]
    registration = make_registration(
        session, settings, status="changes_requested",
        step_messages={"roles": "Add the live room address", "commitments": "Name the phone"})
    applicant_logged_in(client, app, session, registration)
    wizard = Wizard(client)
    saved = wizard.post("roles", roles_form())
    assert saved.headers["location"] == "/apply/commitments"  # security was not asked about
    assert wizard.post("commitments", commitments_form()).headers["location"] == "/apply/review"


def test_add_another_channel_comes_back_at_the_new_channel(
        client, app, session, settings) -> None:  # type: ignore[no-untyped-def]
    registration = make_registration(session, settings, status="draft")
    applicant_logged_in(client, app, session, registration)
    page = client.get("/apply/roles").text
    assert 'formaction="/apply/roles#channel-1"' in page
    added = Wizard(client).post("roles", {**roles_form(), "action": "add_channel"})
    assert 'id="channel-1"' in added.text
    assert 'formaction="/apply/roles#channel-2"' in added.text


def test_the_date_of_birth_is_read_from_a_resident_id_number_only(
        client, app, session, settings) -> None:  # type: ignore[no-untyped-def]
    registration = make_registration(session, settings, status="draft")
    applicant_logged_in(client, app, session, registration)
    wizard = Wizard(client)
    assert wizard.post("identity", identity_form(date_of_birth="")).status_code == 303
    saved = fresh(session, Registration, id=registration.id)[0]
    assert saved.answers["identity"]["date_of_birth"] == "1985-03-12"
    passport = identity_form(id_type="passport", id_number="E12345678", date_of_birth="")
    refused = wizard.post("identity", passport)
    assert refused.status_code == 422
    assert "Enter your date of birth" in refused.text
