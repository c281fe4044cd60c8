"""`portal verify-certificate`: offline checks with the trust the verifier pins (--keys or
--issuer), and with --log the certificate's log entry in the published checkpoint."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portal import cli
from portal.api.log import publish
from portal.records import certificates, verifier


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
    publish(client.app.state.engine, client.app.state.settings)
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


def test_superseded_certificate_fails_the_log_check(downloaded, approved, app, capsys) -> None:
    from tests.unit.oversight.test_sanctions import sanction

    cert, keys = downloaded
    number, moderator = approved
    sanction(moderator, number, "suspend", until="2099-01-01")
    publish(app.state.engine, app.state.settings)
    code, out = run(str(cert), "--keys", str(keys), "--log", "http://x/api/v1/log",
                    capsys=capsys)
    assert code == 1 and out.splitlines() == [
        "invalid: a later log entry supersedes this certificate", "sanctions: none in force"]


def _with_later_entries(monkeypatch, client, *extra: dict) -> None:  # type: ignore[no-untyped-def]
    """The app's log, with ``extra`` entries shown after the last one (what a blocklist
    change logs under a number)."""
    def fetch(url: str):  # type: ignore[no-untyped-def]
        parts = urlsplit(url)
        answer = client.get(parts.path + (f"?{parts.query}" if parts.query else "")).json()
        if parts.path.endswith("/entries"):
            answer["entries"] += [{"index": 10_000 + i, "entry": e} for i, e in enumerate(extra)]
        return answer
    monkeypatch.setattr(verifier, "fetch_json", fetch)


@pytest.mark.parametrize(("later", "valid"), [
    (["blocklist.person_added"], False),
    (["blocklist.person_added", "blocklist.person_removed"], True),
    (["blocklist.person_removed", "blocklist.person_added"], False),
])
def test_the_log_says_whether_the_number_is_blocklisted(downloaded, client, monkeypatch, capsys,
                                                         later, valid) -> None:
    cert, keys = downloaded
    number = json.loads(cert.read_text())["number"]
    _with_later_entries(monkeypatch, client, *(
        {"type": kind, "at": "2026-12-01T00:00:00Z", "number": number, "status": "approved"}
        for kind in later))
    code, out = run(str(cert), "--keys", str(keys), "--log", "http://x/api/v1/log",
                    capsys=capsys)
    assert (code == 0) is valid
    if not valid:
        assert out.splitlines()[0] == ("invalid: the log says the registration's person or "
                                       "organisation is blacklisted")


def test_blocklist_entries_of_other_numbers_do_not_count(downloaded, client, monkeypatch,
                                                         capsys) -> None:
    cert, keys = downloaded
    _with_later_entries(monkeypatch, client, {"type": "blocklist.person_added",
                                              "at": "2026-12-01T00:00:00Z", "entry_id": 1},
                        {"type": "blocklist.person_added", "at": "2026-12-01T00:00:00Z",
                         "number": "LR-2026-0000001", "status": "approved"})
    code, _out = run(str(cert), "--keys", str(keys), "--log", "http://x/api/v1/log",
                     capsys=capsys)
    assert code == 0


def test_the_sanctions_stated_are_printed(downloaded, capsys) -> None:
    cert, keys = downloaded
    code, out = run(str(cert), "--keys", str(keys), capsys=capsys)
    assert code == 0 and out.splitlines()[1:] == ["sanctions: none in force"]
    assert verifier.stated_sanctions({"sanctions": [
        {"kind": "order_correction", "since": "2026-12-01T00:00:00Z",
         "deadline": "2026-12-15T15:59:59Z"},
        {"kind": "restrict_functions", "since": "2026-12-02T00:00:00Z",
         "restricted_functions": ["traffic"]}]}) == [
        "sanction: order_correction since 2026-12-01T00:00:00Z, correction due by "
        "2026-12-15T15:59:59Z",
        "sanction: restrict_functions since 2026-12-02T00:00:00Z, restricts traffic"]
    assert verifier.stated_sanctions({}) == [
        "sanctions: not stated (issued before certificates stated them)"]


def test_trust_must_be_pinned(downloaded, capsys) -> None:
    cert, _keys = downloaded
    code = cli.main(["verify-certificate", str(cert)])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.strip() == ("portal verify-certificate: give --keys FILE_OR_URL or "
                                    "--issuer URL: the keys are never taken from the "
                                    "certificate itself")


def test_the_issuer_named_by_the_verifier_gives_the_keys(downloaded, settings, capsys) -> None:
    cert, _keys = downloaded
    issuer = json.loads(cert.read_text())["issuer"]
    assert issuer == settings.issuer
    code, out = run(str(cert), "--issuer", issuer, "--log", f"{issuer}/api/v1/log",
                    capsys=capsys)
    assert code == 0 and out.startswith("valid: LR-") and "log entry 0" in out


def forged(genuine: dict, issuer: str) -> dict:
    """The genuine certificate's facts, naming ``issuer`` and signed by a key of the forger's
    (which that issuer's key server would serve)."""
    private = Ed25519PrivateKey.generate()
    body = {k: v for k, v in genuine.items() if k != "signature"}
    body.update(issuer=issuer, kid=certificates.thumbprint(private.public_key()))
    return {**body, "signature": certificates.sign(private, body)}


def test_a_forged_certificate_naming_another_key_server_verifies_nothing(
        downloaded, settings, monkeypatch, capsys) -> None:
    cert, keys = downloaded
    genuine = json.loads(cert.read_text())
    fake = forged(genuine, "https://forger.example")
    fetched: list[str] = []
    monkeypatch.setattr(verifier, "fetch_json", lambda url: fetched.append(url))
    cert.write_text(json.dumps(fake))
    code, out = run(str(cert), "--issuer", settings.issuer, capsys=capsys)
    assert code == 1 and out == (
        "invalid: the certificate names the issuer 'https://forger.example', not "
        f"{settings.issuer!r} given with --issuer")
    assert fetched == []  # nothing was asked of the forger's server, nor of ours
    # With the issuer's own keys: the forger's key is not among them.
    code, out = run(str(cert), "--keys", str(keys), capsys=capsys)
    assert code == 1 and out == f"invalid: unknown signing key {fake['kid']!r}"
    # Naming the genuine issuer while signed by the forger's key: the same.
    cert.write_text(json.dumps(forged(genuine, settings.issuer)))
    monkeypatch.setattr(verifier, "fetch_json", lambda url: json.loads(keys.read_text()))
    code, out = run(str(cert), "--issuer", settings.issuer, capsys=capsys)
    assert code == 1 and out.startswith("invalid: unknown signing key ")
