"""Masking that cannot be combined (DESIGN §8): beside a masked ID number only the birth year
shows, on every page and export staff and authorities read; phone numbers typed in free text are
kept encrypted and shown masked. The clear values come only through a reveal, with a reason."""

from __future__ import annotations

import base64

from sqlmodel import select
from starlette.testclient import TestClient

from portal.accounts import User
from portal.base import crypto
from portal.ledger.pii_access import PiiAccess
from portal.registration.models import secret_context
from tests.unit.conftest import Platform, csrf_from, staff_client
from tests.unit.factories import log_in, make_moderator, make_registration
from tests.unit.http_wizard import ADULT_DOB
from tests.unit.prg import shown_after

CONTACT = "李四 139 1234 5678"
STAFF = "王五 场控 13800001111\n赵六 客服"


def test_no_page_or_export_shows_a_full_birth_date_or_a_typed_phone_number(
        app, session, settings) -> None:  # type: ignore[no-untyped-def]
    moderator = make_moderator(session)
    registration = make_registration(session, settings, moderator=moderator,
                                     security={"security_contact": CONTACT,
                                               "staff_list": STAFF})
    number = registration.number
    saved = registration.answers["security"]
    # At rest: the text as typed only encrypted; beside it, the numbers masked.
    assert saved["security_contact"] == "李四 139****5678"
    assert saved["staff_list"] == "王五 场控 138****1111\n赵六 客服"
    cipher = crypto.cipher_for(settings)
    assert cipher.decrypt_text(base64.b64decode(saved["staff_list_enc"]),
                               context=secret_context(registration.id, "security",
                                                      "staff_list")) == STAFF

    auditor = staff_client(app, session, "inspector@example.com")
    authority = Platform(app, session, "Regulator", kind="authority")
    with TestClient(app) as mod:
        log_in(mod, app, moderator)
        pages = {
            "moderator": mod.get(f"/review/{number}").text,
            "auditor": auditor.get(f"/audit/registrations/{number}").text,
            "csv": auditor.get("/audit/export.csv").text,
            "json": auditor.get("/audit/export.json").text,
            "api": authority.get(f"/audit/registrations/{number}").text,
            "api_csv": authority.get("/audit/export.csv").text,
        }
    for name, text in pages.items():
        assert ADULT_DOB not in text, name
        assert "13912345678" not in text and "1234 5678" not in text, name
        assert "13800001111" not in text, name
    assert "1985" in pages["moderator"] and "Year of birth" in pages["moderator"]
    assert "139****5678" in pages["moderator"]

    # The full date and the contact as typed, each with a reason, each logged.
    token = csrf_from(pages["auditor"])
    shown = auditor.post(f"/audit/registrations/{number}/reveal", data={
        "field": "date_of_birth", "reason_date_of_birth": "Inspection 2026-17",
        "csrf_token": token})
    assert ADULT_DOB in shown_after(auditor, shown).text
    revealed = authority.post(f"/audit/registrations/{number}/reveal",
                              json={"field": "staff_list", "reason": "Inspection 2026-17"})
    assert revealed.json()["value"] == STAFF
    session.rollback()
    assert [a.field for a in session.exec(select(PiiAccess).order_by(PiiAccess.id))] == [
        "date_of_birth", "staff_list"]


def test_the_applicant_edits_the_contact_as_typed(app, session, settings) -> None:  # type: ignore[no-untyped-def]
    registration = make_registration(session, settings, status="draft",
                                     security={"security_contact": CONTACT})
    with TestClient(app) as client:
        log_in(client, app, session.get(User, registration.user_id))
        form = client.get("/apply/security").text
    assert CONTACT in form
