"""Certificates as W3C Verifiable Credentials, and the Bitstring Status Lists (DESIGN §6)."""

from __future__ import annotations

import base58

from portal.base.settings import Settings
from portal.ledger.events import SYSTEM
from portal.lifecycle import changes
from portal.records import credentials, data_integrity, status_lists
from portal.records.certificates import current_certificate
from tests.unit.factories import make_registration


def _credential(session, settings, registration):  # type: ignore[no-untyped-def]
    certificate = current_certificate(session, registration.id)
    assert certificate is not None
    return credentials.credential(settings, certificate)


def test_credential_states_the_certificate_under_the_issuers_did(session, settings) -> None:
    registration = make_registration(session, settings, status="approved")
    credential = _credential(session, settings, registration)

    assert credential["type"] == ["VerifiableCredential", "LivestreamRegistrationCredential"]
    assert credential["@context"][0] == "https://www.w3.org/ns/credentials/v2"
    assert credential["issuer"] == data_integrity.did_web(settings)
    subject = credential["credentialSubject"]
    assert subject["number"] == registration.number
    assert subject["status"] == "approved"
    assert "*" in subject["subject"]["display_name"]
    assert [s["statusPurpose"] for s in credential["credentialStatus"]] == \
        ["revocation", "suspension"]
    assert {s["statusListIndex"] for s in credential["credentialStatus"]} == \
        {str(registration.id)}
    assert credential["proof"]["cryptosuite"] == "eddsa-rdfc-2022"
    assert credential["proof"]["proofValue"].startswith("z")


def test_credential_proof_verifies_and_a_changed_fact_does_not(session, settings) -> None:
    registration = make_registration(session, settings, status="approved")
    credential = _credential(session, settings, registration)
    keys = credentials.public_key_bytes(session)

    assert data_integrity.verify(settings, credential, keys)
    credential["credentialSubject"]["status"] = "revoked"
    assert not data_integrity.verify(settings, credential, keys)


def test_every_term_of_the_credential_survives_expansion(session, settings) -> None:
    registration = make_registration(session, settings, status="approved")
    credential = _credential(session, settings, registration)
    nquads = data_integrity.canonize(settings, credential).decode()

    stated = {**credential["credentialSubject"], **credential["credentialSubject"]["subject"],
              **credential["credentialSubject"]["content_rating"]}
    for term, value in stated.items():
        if value != []:  # an empty list states nothing in RDF
            assert f"urn:livestream-portal:terms#{term}>" in nquads


def test_did_document_lists_the_signing_key_as_a_multikey(session, settings) -> None:
    registration = make_registration(session, settings, status="approved")
    credential = _credential(session, settings, registration)
    document = credentials.did_document(session, settings)

    method = document["verificationMethod"][0]
    assert document["id"] == data_integrity.did_web(settings)
    assert method["id"] == credential["proof"]["verificationMethod"]
    assert method["type"] == "Multikey"
    assert base58.b58decode(method["publicKeyMultibase"][1:])[:2] == b"\xed\x01"
    assert document["assertionMethod"] == [method["id"]]


def test_did_web_encodes_the_port() -> None:
    settings = Settings(issuer="https://portal.example:8443", _env_file=None)  # type: ignore[call-arg]
    assert data_integrity.did_web(settings) == "did:web:portal.example%3A8443"


def test_status_lists_follow_suspension_and_reinstatement(session, settings) -> None:
    registration = make_registration(session, settings, status="suspended")
    suspension = status_lists.stored(session, "suspension")
    revocation = status_lists.stored(session, "revocation")
    assert suspension is not None and revocation is not None
    assert status_lists.is_set(suspension, registration.id)
    assert not status_lists.is_set(revocation, registration.id)
    assert len(status_lists.decode(suspension["credentialSubject"]["encodedList"])) * 8 \
        >= 131_072

    changes.change(session, settings, registration, action="reinstated", actor=SYSTEM,
                   to_status="approved", event_type="registration.reinstated", logged=True)
    session.commit()

    suspension = status_lists.stored(session, "suspension")
    assert suspension is not None
    assert not status_lists.is_set(suspension, registration.id)
    assert data_integrity.verify(settings, suspension, credentials.public_key_bytes(session))


def test_revocation_sets_the_revocation_bit(session, settings) -> None:
    registration = make_registration(session, settings, status="revoked")
    revocation = status_lists.stored(session, "revocation")

    assert revocation is not None
    assert status_lists.is_set(revocation, registration.id)
    assert data_integrity.verify(settings, revocation, credentials.public_key_bytes(session))
