"""Certificates issued at approval: signed, logged, downloadable, verifiable with public keys."""

from __future__ import annotations

import hashlib
import json

import rfc8785

from portal.ledger import tlog
from portal.lifecycle import changes
from portal.records import certificates
from portal.records.certificates import Certificate, SigningKey
from tests.unit.http_wizard import ADULT_ID, fresh


def test_approval_issues_a_signed_certificate(approved, client, session) -> None:
    number, _moderator = approved
    certificate = fresh(session, Certificate)[0]
    body = json.loads(certificate.document)
    assert body["type"] == "LivestreamRegistrationCertificate" and body["version"] == 1
    assert body["number"] == number and body["status"] == "approved"
    assert body["subject"]["id_number_masked"] == "1101**********8794"
    assert body["subject"]["display_name"] == "张*" and body["subject"]["age_band"] == "adult"
    assert ADULT_ID not in certificate.document and "张三" not in certificate.document
    assert body["roles"] == ["streamer"]
    assert body["channels"] == [{"platform": "douyin", "handle": "zhangsan_live"}]
    assert len(body["attestation_sha256"]) == 64 and len(body["declaration_sha256"]) == 64
    assert not any(isinstance(v, float) for v in body.values())
    keys = client.get("/.well-known/portal-keys.json").json()["keys"]
    assert [k["status"] for k in keys] == ["active"] and keys[0]["kid"] == body["kid"]
    assert certificates.verify_signature(body, keys)
    tampered = {**body, "status": "revoked"}
    assert not certificates.verify_signature(tampered, keys)


def test_certificate_is_in_the_log(approved, session) -> None:
    certificate = fresh(session, Certificate)[0]
    assert certificate.log_index == 0
    assert certificate.sha256 == hashlib.sha256(certificate.document.encode()).hexdigest()
    entry = tlog.entries(session, 0, 1)[0]
    assert entry["entry"]["certificate_sha256"] == certificate.sha256
    assert entry["entry"]["type"] == "certificate.issued"
    size = tlog.size(session)
    proof = tlog.inclusion_proof(session, 0, size)
    leaf = tlog.leaf_hash(tlog.entry_bytes(entry["entry"]))
    assert tlog.verify_inclusion(leaf, 0, size, proof.audit_path, tlog.root_hash(session, size))


def test_applicant_downloads_the_exact_certificate(approved, client, session) -> None:
    certificate = fresh(session, Certificate)[0]
    response = client.get("/me/certificate.json")
    assert response.status_code == 200
    assert response.content == certificate.document.encode()
    assert rfc8785.dumps(response.json()) == response.content  # it is canonical JSON


def test_no_certificate_before_approval(submitted, client) -> None:
    assert client.get("/me/certificate.json").status_code == 404


def test_rotated_key_keeps_old_certificates_verifiable(approved, session, settings) -> None:
    body = json.loads(fresh(session, Certificate)[0].document)
    certificates.generate_key_file(settings)
    kid, _private = certificates.ensure_registered(session, settings)
    session.commit()
    assert kid != body["kid"]
    keys = certificates.public_keys(session)
    assert {k["kid"]: k["status"] for k in keys} == {body["kid"]: "retired", kid: "active"}
    assert certificates.verify_signature(body, keys)
    assert len(fresh(session, SigningKey)) == 2


def test_rotation_is_logged_and_announced(approved, session, settings) -> None:
    from portal.ledger.events import OutboxEvent

    kid, _path = changes.rotate_signing_key(session, settings)
    session.commit()
    last = tlog.entries(session, tlog.size(session) - 1, tlog.size(session))[0]["entry"]
    assert last["type"] == "key.rotated" and last["kid"] == kid
    assert fresh(session, OutboxEvent)[-1].type == "key.rotated"
