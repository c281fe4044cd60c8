"""GET /me/data.json: an applicant downloads everything the portal holds about them (PIPL
Art. 45), their own clear values included, and nobody else's; each download is logged."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from portal.accounts import User
from portal.ledger.pii_access import PiiAccess
from portal.oversight import enforcement, review
from portal.registration.models import Registration
from tests.unit.conftest import Auth, make_user
from tests.unit.http_wizard import (
    ADULT_ID,
    PNG,
    Wizard,
    born_years_ago,
    identity_form,
    resident_id_for,
    verify_email,
)

OTHER_ID = resident_id_for(born_years_ago(40), seq=321)


def registration_of(session, email: str) -> Registration:  # type: ignore[no-untyped-def]
    session.rollback()
    return session.exec(select(Registration).join(User, User.id == Registration.user_id)
                        .where(User.email == email)).one()


@pytest.fixture
def sanctioned(approved, client, session, settings):  # type: ignore[no-untyped-def]
    """The approved applicant (``client``), warned by a moderator and appealing it."""
    number, _moderator = approved
    registration = registration_of(session, "applicant@example.com")
    moderator = session.exec(select(User).where(User.email == "mod@example.com")).one()
    sanction, _mail = enforcement.apply_sanction(
        session, registration=registration, actor=moderator, kind="warning",
        facts="Unlabelled paid promotion on 1 May", reason="Advertising rules",
        legal_basis="Measures Art. 18", settings=settings)
    session.commit()
    enforcement.file_appeal(session, settings, sanction_id=sanction.id, user=session.get(
        User, registration.user_id), text="It was labelled at the start of the stream")
    session.commit()
    return number


def download(client: TestClient) -> dict:  # type: ignore[type-arg]
    response = client.get("/me/data.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    assert response.headers["cache-control"] == "no-store"
    return response.json()  # type: ignore[no-any-return]


def test_an_applicant_downloads_all_their_data(sanctioned, client, session) -> None:
    data = download(client)
    assert data["account"]["email"] == "applicant@example.com"
    assert data["account"]["email_verified"] is True and data["account"]["created_at"]
    (mine,) = data["registrations"]
    assert mine["number"] == sanctioned and mine["status"] == "approved"
    # Their own clear values, not only the masks.
    identity = mine["answers"]["identity"]
    assert identity["id_number"] == ADULT_ID and identity["phone"] == "13812345678"
    assert identity["legal_name"] == "张三" and identity["id_number_masked"]
    assert not any(k.endswith("_enc") for step in mine["answers"].values()
                   if isinstance(step, dict) for k in step)
    (submission,) = mine["submissions"]
    assert submission["answers"]["identity"]["id_number"] == ADULT_ID
    assert submission["signed_name"] == "张三" and submission["version"] == 1
    assert mine["attestations"][0]["sha256"] and mine["declarations"][0]["sha256"]
    # Documents: what they are, and where to download each.
    kinds = {d["kind"] for d in mine["documents"]}
    assert kinds == {"id_front", "id_back"}
    front = next(d for d in mine["documents"] if d["kind"] == "id_front")
    assert front["url"].startswith("http://testserver/documents/") and not front["erased"]
    assert client.get(front["url"]).content == PNG
    # Decisions as told to them; the moderator's internal note stays with the moderator.
    assert [d["kind"] for d in mine["decisions"]] == ["approve"]
    assert "internal_note" not in mine["decisions"][0]
    (sanction,) = mine["sanctions"]
    assert sanction["kind"] == "warning" and sanction["facts"].startswith("Unlabelled")
    assert sanction["appeal"]["text"].startswith("It was labelled")
    actions = [h["action"] for h in mine["history"]]
    assert actions[:2] == ["started", "submitted"] and "sanction_applied" in actions
    assert all("actor_id" not in h for h in mine["history"])
    # The approval's certificate, and the one that states the warning.
    first, latest = mine["certificates"]
    assert first["certificate"]["number"] == latest["certificate"]["number"] == sanctioned
    assert [s["kind"] for s in latest["certificate"]["sanctions"]] == ["warning"]
    assert mine["roster"] == {"manages": [], "managed_by": []}
    subjects = [n["subject"] for n in data["notifications"]]
    assert any(sanctioned in s for s in subjects) and len(subjects) >= 2


def test_the_download_is_logged_as_a_pii_access_by_the_person(sanctioned, client,
                                                              session) -> None:
    download(client)
    session.rollback()
    (row,) = session.exec(select(PiiAccess).where(PiiAccess.field == "data_export")).all()
    registration = registration_of(session, "applicant@example.com")
    assert row.actor_id == registration.user_id and row.actor_role == "applicant"
    assert row.registration_id == registration.id and row.reason == "download my data"


def test_another_applicant_gets_only_their_own(sanctioned, app, session) -> None:
    with TestClient(app, follow_redirects=False) as other:
        Auth(other).sign_up("other@example.com")
        verify_email(session, "other@example.com")
        wizard = Wizard(other)
        wizard.start()
        assert wizard.post("identity", identity_form(legal_name="王五", id_number=OTHER_ID,
                                                     date_of_birth=born_years_ago(40).isoformat(),
                                                     phone="13700001111"),
                           {"id_front": ("f.png", PNG, "image/png"),
                            "id_back": ("b.png", PNG, "image/png")}).status_code == 303
        data = download(other)
        text = json.dumps(data, ensure_ascii=False)
        assert data["account"]["email"] == "other@example.com"
        (theirs,) = data["registrations"]
        assert theirs["answers"]["identity"]["id_number"] == OTHER_ID
        assert theirs["status"] == "draft" and theirs["number"] is None
        for foreign in ("applicant@example.com", sanctioned, ADULT_ID, "13812345678", "张三",
                        "Unlabelled"):
            assert foreign not in text
        # The other's documents stay theirs, even with the link in hand.
        mine = registration_of(session, "applicant@example.com")
        first = session.exec(select(Registration).where(Registration.id == mine.id)).one()
        assert other.get(f"/documents/{first.answers['identity']['id_front']}").status_code == 404
    session.rollback()
    rows = session.exec(select(PiiAccess).where(PiiAccess.field == "data_export")).all()
    assert [r.registration_id for r in rows] == [registration_of(session,
                                                                 "other@example.com").id]


def test_an_applicant_without_a_registration_gets_their_account(client, auth, session) -> None:
    auth.sign_up("new@example.com")
    data = download(client)
    assert data["account"]["email"] == "new@example.com"
    assert data["account"]["email_verified"] is True  # signing up ends with the link
    assert data["registrations"] == [] and data["notifications"] == []
    session.rollback()
    (row,) = session.exec(select(PiiAccess)).all()
    assert row.registration_id is None and row.field == "data_export"


def test_staff_and_strangers_cannot_download(app, client, session) -> None:
    assert client.get("/me/data.json").status_code == 303  # to the login page
    make_user(session, email="mod2@example.com", role="moderator")
    with TestClient(app, follow_redirects=False) as staff:
        Auth(staff).log_in("mod2@example.com")
        assert staff.get("/me/data.json").status_code == 403


def test_the_moderators_internal_note_is_not_exported(client, auth, session, app,
                                                      settings) -> None:
    auth.sign_up("applicant@example.com")
    verify_email(session, "applicant@example.com")
    wizard = Wizard(client)
    wizard.complete_adult()
    wizard.submit()
    moderator = make_user(session, email="mod@example.com", role="moderator")
    registration = registration_of(session, "applicant@example.com")
    review.approve(session, settings, registration=registration, moderator=moderator,
                   version=registration.version, note="Seen this person before, watch them")
    session.commit()
    text = json.dumps(download(client), ensure_ascii=False)
    assert "Seen this person before" not in text
