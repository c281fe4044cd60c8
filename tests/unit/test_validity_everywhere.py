"""One validity rule, and the sanctions in force, wherever a platform or a buyer looks.

For every state a registration can reach, the API's ``valid``, the verdict of
``/verify/<number>``, the current certificate and ``portal verify-certificate --log`` agree;
the API's ``sanctions``, the certificate's and the page's are those in force.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup
from sqlmodel import Session, select
from starlette.testclient import TestClient

from portal import cli
from portal.base import identity
from portal.base.settings import Settings
from portal.ledger.tlog import rfc3339
from portal.ops import jobs
from portal.oversight import enforcement
from portal.records import certificates, verifier
from portal.registration.models import Registration
from portal.registration.sanctions import Sanction
from tests.unit.factories import SANCTION_TEXT, make_moderator, make_registration


def _end_of_day_in(days: int) -> datetime:
    day = identity.china_today() + timedelta(days=days)
    return datetime.combine(day, datetime.max.time().replace(microsecond=0),
                            tzinfo=identity.CHINA_TZ)


def _sanctioned(kind: str, **extra: Any) -> Callable[[Session, Settings], Registration]:
    def reach(session: Session, settings: Settings) -> Registration:
        registration = make_registration(session, settings, status="approved")
        enforcement.apply_sanction(
            session, registration=registration, actor=make_moderator(session), kind=kind,
            version=registration.version, settings=settings, **SANCTION_TEXT, **extra)
        session.commit()
        return registration
    return reach


def _status(status: str) -> Callable[[Session, Settings], Registration]:
    def reach(session: Session, settings: Settings) -> Registration:
        return make_registration(session, settings, status=status)
    return reach


def _reinstated(session: Session, settings: Settings) -> Registration:
    until = _end_of_day_in(3)
    registration = make_registration(session, settings, status="suspended", until=until)
    jobs.end_due_suspensions(session, settings, now=until + timedelta(seconds=1))
    session.commit()
    return registration


def _blocked_through_another(session: Session, settings: Settings) -> Registration:
    """The same document blacklisted under another registration: an entry by hand with the
    identity index, as a blacklisting elsewhere leaves."""
    registration = make_registration(session, settings, status="approved")
    enforcement.add_to_blocklist(
        session, settings, registration=None, actor=make_moderator(session),
        reason_code="sanction", reason="Blacklisted under another registration",
        identity_index=registration.identity_index, legal_name="张三",
        id_type=(registration.answers.get("identity") or {}).get("id_type"))
    session.commit()
    return registration


# state: (how to reach it, valid, the kinds of the sanctions in force)
STATES: dict[str, tuple[Callable[[Session, Settings], Registration], bool, list[str]]] = {
    "submitted": (_status("submitted"), False, []),
    "approved": (_status("approved"), True, []),
    "changes_requested": (_status("changes_requested"), False, []),
    "rejected": (_status("rejected"), False, []),
    "approved_with_warning": (_sanctioned("warning"), True, ["warning"]),
    "approved_with_order_to_correct": (
        _sanctioned("order_correction", until=_end_of_day_in(14)), True, ["order_correction"]),
    "approved_with_restriction": (
        _sanctioned("restrict_functions", functions=["traffic", "new_products"]), True,
        ["restrict_functions"]),
    "suspended": (_status("suspended"), False, ["suspend"]),
    "reinstated_after_suspension": (_reinstated, True, []),
    "revoked": (_status("revoked"), False, ["close"]),
    "blacklisted": (_sanctioned("blacklist"), False, ["blacklist"]),
    "blacklisted_through_another_registration": (_blocked_through_another, False, []),
    "expired": (_status("expired"), False, []),
    "deregistered": (_status("deregistered"), False, []),
}


def _verify_offline(app: Any, session: Session, registration: Registration, tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
                    ) -> tuple[int, str]:
    """``portal verify-certificate --log`` on the registration's current certificate, the log
    and the keys served by the app."""
    certificate = certificates.current_certificate(session, registration.id or 0)
    assert certificate is not None
    path = tmp_path / "certificate.json"
    path.write_text(certificate.document)
    with TestClient(app) as http:
        keys = tmp_path / "keys.json"
        keys.write_bytes(http.get("/.well-known/portal-keys.json").content)

        def fetch(url: str) -> Any:
            parts = urlsplit(url)
            return http.get(parts.path + (f"?{parts.query}" if parts.query else "")).json()

        monkeypatch.setattr(verifier, "fetch_json", fetch)
        capsys.readouterr()
        code = cli.main(["verify-certificate", str(path), "--keys", str(keys),
                         "--log", "http://portal.test/api/v1/log"])
    return code, capsys.readouterr().out


@pytest.mark.parametrize("state", list(STATES))
def test_every_view_agrees_on_validity_and_sanctions(
    state: str, app: Any, session: Session, settings: Settings, platform: Any, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    reach, valid, kinds = STATES[state]
    registration = reach(session, settings)
    session.expire_all()
    number = registration.number
    assert number is not None

    answer = platform.get(f"/registrations/{number}").json()
    assert answer["valid"] is valid, answer["status"]

    in_force = session.exec(select(Sanction).where(
        Sanction.registration_id == registration.id, Sanction.state == "active")).all()
    assert [s.kind for s in in_force] == kinds
    assert [s["kind"] for s in answer["sanctions"]] == kinds
    for stated, sanction in zip(answer["sanctions"], in_force, strict=True):
        assert stated["since"] == rfc3339(sanction.created_at)
        if sanction.kind == "order_correction":
            assert "deadline" in stated and "until" not in stated
        elif sanction.kind == "suspend":
            assert "until" in stated and "deadline" not in stated
        if sanction.kind == "restrict_functions":
            assert stated["restricted_functions"] == ["traffic", "new_products"]
        else:
            assert "restricted_functions" not in stated

    with TestClient(app) as visitor:
        page = BeautifulSoup(visitor.get(f"/verify/{number}").text, "html.parser")
    verdict = page.select_one(".panel__title").get_text(strip=True)
    assert verdict == ("Valid registration" if valid else "Not valid for livestream selling")
    shown = page.select_one("#sanctions").get_text(" ", strip=True)
    assert ("No sanction in force." in shown) is (not kinds)

    certificate = answer["certificate"]
    if certificate is None:  # never approved: nothing to verify offline, nothing valid
        assert not valid and registration.valid_from is None
        return
    assert certificate == json.loads(certificates.current_certificate(
        session, registration.id or 0).document)  # type: ignore[union-attr]
    assert certificate["sanctions"] == answer["sanctions"]
    assert (certificate["status"] == "approved") is (answer["status"] == "approved")

    code, out = _verify_offline(app, session, registration, tmp_path, monkeypatch, capsys)
    assert (code == 0) is valid, out
    assert out.startswith("valid: " if valid else "invalid: ")
    for kind in kinds:
        assert f"sanction: {kind} since" in out
    if not kinds:
        assert "sanctions: none in force" in out
