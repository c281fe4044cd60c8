"""`portal verify-certificate`: offline checks, and with --log the certificate's log entry."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from portal import cli
from portal.records import verifier


@pytest.fixture
def downloaded(approved, client, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """The applicant's certificate and the public keys as files; the log served by the app."""
    cert = tmp_path / "certificate.json"
    cert.write_bytes(client.get("/me/certificate.json").content)
    keys = tmp_path / "keys.json"
    keys.write_bytes(client.get("/.well-known/portal-keys.json").content)
    # The CLI fetches over HTTP; here the app answers those requests directly.
    monkeypatch.setattr(verifier, "fetch_json", lambda url: client.get(
        urlsplit(url).path + ("?" + urlsplit(url).query if urlsplit(url).query else "")).json())
    return cert, keys


def run(*args: str, capsys) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    code = cli.main(["verify-certificate", *args])
    return code, capsys.readouterr().out.strip()


def test_valid_certificate_offline_and_in_the_log(downloaded, capsys) -> None:
    cert, keys = downloaded
    code, out = run(str(cert), "--keys", str(keys), capsys=capsys)
    assert code == 0 and out.startswith("valid: LR-")
    code, out = run(str(cert), "--keys", str(keys), "--log", "http://x/api/v1/log",
                    capsys=capsys)
    assert code == 0 and "log entry 0" in out


def test_tampered_certificate_is_invalid(downloaded, capsys) -> None:
    cert, keys = downloaded
    body = json.loads(cert.read_text())
    body["risk_level"] = "low" if body["risk_level"] != "low" else "high"
    cert.write_text(json.dumps(body))
    code, out = run(str(cert), "--keys", str(keys), capsys=capsys)
    assert code == 1 and out == "invalid: the signature does not match the certificate"


def test_wrong_key_is_invalid(downloaded, capsys, tmp_path) -> None:
    cert, keys = downloaded
    other = json.loads(keys.read_text())
    other["keys"][0]["x"] = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    keys.write_text(json.dumps(other))
    code, out = run(str(cert), "--keys", str(keys), capsys=capsys)
    assert code == 1 and "signature" in out


def test_superseded_certificate_fails_the_log_check(downloaded, approved, capsys) -> None:
    from tests.unit.oversight.test_sanctions import sanction

    cert, keys = downloaded
    number, moderator = approved
    sanction(moderator, number, "suspend", until="2099-01-01")
    code, out = run(str(cert), "--keys", str(keys), "--log", "http://x/api/v1/log",
                    capsys=capsys)
    assert code == 1 and out == "invalid: a later log entry supersedes this certificate"
