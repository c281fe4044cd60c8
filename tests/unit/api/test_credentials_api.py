"""The credential endpoints: a platform's, the applicant's own, and the public documents."""

from __future__ import annotations

from portal.records import credentials, data_integrity, status_lists
from tests.unit.conftest import Platform, applicant_logged_in
from tests.unit.factories import make_registration


def test_platform_gets_a_registrations_credential(app, session, settings) -> None:
    registration = make_registration(session, settings, status="approved")
    platform = Platform(app, session, "Shop")

    answer = platform.get(f"/registrations/{registration.number}/credential")

    assert answer.status_code == 200
    credential = answer.json()
    assert credential["credentialSubject"]["number"] == registration.number
    assert data_integrity.verify(settings, credential, credentials.public_key_bytes(session))


def test_credential_of_a_draft_or_unknown_number_is_not_found(app, session, settings) -> None:
    draft = make_registration(session, settings, status="draft")
    submitted = make_registration(session, settings, status="submitted",
                                  email="submitted@example.com")
    platform = Platform(app, session, "Shop")

    for number in (draft.number or "LS-NONE", submitted.number, "LS-0000-000000"):
        assert platform.get(f"/registrations/{number}/credential").status_code == 404


def test_applicant_downloads_their_credential(app, client, session, settings) -> None:
    registration = make_registration(session, settings, status="approved")
    applicant_logged_in(client, app, session, registration)

    answer = client.get("/me/credential.json")

    assert answer.status_code == 200
    assert "attachment" in answer.headers["content-disposition"]
    assert answer.json()["credentialSubject"]["number"] == registration.number


def test_public_documents_a_verifier_needs(app, client, session, settings) -> None:
    registration = make_registration(session, settings, status="suspended")
    session.rollback()

    did = client.get("/.well-known/did.json").json()
    context = client.get(data_integrity.CONTEXT_PATH)
    suspension = client.get("/credentials/status/suspension")

    assert did["id"] == data_integrity.did_web(settings)
    assert context.headers["content-type"].startswith("application/ld+json")
    assert "@context" in context.json()
    assert suspension.status_code == 200
    assert status_lists.is_set(suspension.json(), registration.id)
    assert client.get("/credentials/status/other").status_code == 404


def test_reading_a_status_list_does_not_sign_it(app, client, session, settings) -> None:
    make_registration(session, settings, status="revoked")
    session.rollback()

    first = client.get("/credentials/status/revocation").json()
    second = client.get("/credentials/status/revocation").json()

    assert first["proof"] == second["proof"]
