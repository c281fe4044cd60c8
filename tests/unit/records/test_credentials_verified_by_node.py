"""Our credentials and status lists, verified by the Verifiable Credentials ecosystem's own
JavaScript libraries (tests/js, installed by `make install-dev`), not by the portal's code."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from portal.records import credentials, data_integrity, status_lists
from portal.records.certificates import current_certificate
from tests.unit.factories import make_registration

JS = Path(__file__).resolve().parents[2] / "js"


def _verify_with_node(tmp_path: Path, documents: dict[str, Any],
                      issued: dict[str, Any]) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the credentials are verified with the JavaScript "
                    "VC libraries (install Node.js 20+, then `make install-dev`)")
    if not (JS / "node_modules" / "@digitalbazaar" / "vc").is_dir():
        pytest.fail(f"the JavaScript VC libraries are not installed in {JS}: run "
                    "`make install-dev` (npm ci --prefix tests/js)")
    given = tmp_path / "verify.json"
    given.write_text(json.dumps({"documents": documents, "credentials": issued}))
    done = subprocess.run([node, str(JS / "verify_credential.mjs"), str(given)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_vc_libraries_verify_credentials_and_read_their_status(session, settings,
                                                               tmp_path) -> None:
    approved = make_registration(session, settings, status="approved",
                                 email="approved@example.com")
    suspended = make_registration(session, settings, status="suspended",
                                  email="suspended@example.com")
    revoked = make_registration(session, settings, status="revoked",
                                email="revoked@example.com")
    issued = {}
    for name, registration in (("approved", approved), ("suspended", suspended),
                               ("revoked", revoked)):
        certificate = current_certificate(session, registration.id)
        assert certificate is not None
        issued[name] = credentials.credential(settings, certificate)
    documents: dict[str, Any] = {
        data_integrity.VC_CONTEXT: data_integrity.context_document(
            settings, data_integrity.VC_CONTEXT),
        data_integrity.our_context(settings): data_integrity.context_document(
            settings, data_integrity.our_context(settings)),
        data_integrity.did_web(settings): credentials.did_document(session, settings),
    }
    for purpose in status_lists.PURPOSES:
        documents[status_lists.list_url(settings, purpose)] = status_lists.stored(session, purpose)

    results = _verify_with_node(tmp_path, documents, issued)

    for name in issued:
        assert results[name]["verified"], (name, results[name]["errors"])
    assert results["approved"]["status"] == {"revocation": False, "suspension": False}
    assert results["suspended"]["status"] == {"revocation": False, "suspension": True}
    assert results["revoked"]["status"] == {"revocation": True, "suspension": False}


def test_vc_libraries_refuse_a_changed_credential(session, settings, tmp_path) -> None:
    registration = make_registration(session, settings, status="approved")
    certificate = current_certificate(session, registration.id)
    assert certificate is not None
    credential = credentials.credential(settings, certificate)
    credential["credentialSubject"]["risk_level"] = "low" \
        if credential["credentialSubject"]["risk_level"] != "low" else "high"
    documents: dict[str, Any] = {
        data_integrity.VC_CONTEXT: data_integrity.context_document(
            settings, data_integrity.VC_CONTEXT),
        data_integrity.our_context(settings): data_integrity.context_document(
            settings, data_integrity.our_context(settings)),
        data_integrity.did_web(settings): credentials.did_document(session, settings),
    }
    for purpose in status_lists.PURPOSES:
        documents[status_lists.list_url(settings, purpose)] = status_lists.stored(session, purpose)

    results = _verify_with_node(tmp_path, documents, {"changed": credential})

    assert not results["changed"]["verified"]
