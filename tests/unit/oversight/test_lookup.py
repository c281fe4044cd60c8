"""Finding a seller by the identity in front of the inspector (DESIGN §5, §7 `POST
/audit/lookup`): ID number, passport number or USCC through the keyed indexes, within the
jurisdiction, each look-up with a reason in the personal-data access log."""

from __future__ import annotations

from sqlmodel import select

from portal.ledger.pii_access import PiiAccess
from tests.unit.conftest import Platform, csrf_from, staff_client
from tests.unit.factories import make_moderator, make_registration
from tests.unit.http_wizard import ADULT_ID, PDF, field_errors
from tests.unit.prg import shown_after

ORG = {"roles": "merchant", "uscc": "91110000MA01ABCD1M", "org_name": "北京星光商贸有限公司",
       "legal_representative": "张三", "org_province": "11"}
REASON = "Complaint 2026-118 about counterfeit bags"


def logged(session) -> list[tuple[str, int | None, str]]:  # type: ignore[no-untyped-def]
    session.rollback()
    return [(a.field, a.registration_id, a.reason)
            for a in session.exec(select(PiiAccess).order_by(PiiAccess.id))]


def test_an_auditor_finds_registrations_by_id_number_passport_and_uscc(
        app, session, settings) -> None:  # type: ignore[no-untyped-def]
    moderator = make_moderator(session)
    person = make_registration(session, settings, moderator=moderator)
    traveller = make_registration(
        session, settings, status="submitted", email="b@example.com",
        identity={"id_type": "passport", "id_number": "E12345678", "legal_name": "李四"},
        security={"signature": "李四"})
    org = make_registration(session, settings, email="c@example.com", moderator=moderator,
                            identity={"subject_kind": "organization"}, roles=ORG,
                            roles_files={"business_licence": ("l.pdf", PDF, "application/pdf")})
    auditor = staff_client(app, session, "inspector@example.com")
    form = auditor.get("/audit/lookup")
    assert form.status_code == 200
    token = csrf_from(form.text)

    def look(id_type: str, number: str, reason: str = REASON):  # type: ignore[no-untyped-def]
        """The page shown after the look-up (post/redirect/get)."""
        posted = auditor.post("/audit/lookup", data={"csrf_token": token, "id_type": id_type,
                                                     "id_number": number, "reason": reason})
        assert posted.headers["location"].startswith("/audit/lookup")
        return shown_after(auditor, posted)

    # The person has two registrations under that ID number (one a streamer, one an
    # organisation's responsible person); typed with spaces, as read off a card.
    found = look("cn_resident_id", f"{ADULT_ID[:6]} {ADULT_ID[6:]}")
    assert found.status_code == 200
    assert person.number in found.text and org.number in found.text
    assert traveller.number not in found.text and ADULT_ID not in found.text
    assert traveller.number in look("passport", "e12345678").text
    by_uscc = look("uscc", ORG["uscc"].lower())
    assert org.number in by_uscc.text and person.number not in by_uscc.text
    assert logged(session) == [
        ("identity_lookup", person.id, REASON), ("identity_lookup", org.id, REASON),
        ("identity_lookup", traveller.id, REASON), ("uscc_lookup", org.id, REASON)]

    refused = look("passport", "E12345678", reason="")
    assert "reason" in field_errors(refused.text)["reason"]
    bad = look("cn_resident_id", ADULT_ID[:-1] + "0")
    assert "id_number" in field_errors(bad.text)
    assert len(logged(session)) == 4  # nothing logged for a refused look-up


def test_a_look_up_sees_only_its_jurisdiction_and_is_logged_even_when_nothing_is_found(
        app, session, settings) -> None:  # type: ignore[no-untyped-def]
    registration = make_registration(session, settings)  # lives in Beijing (11)
    far = Platform(app, session, "Guangdong bureau", kind="authority", jurisdiction="44")
    near = Platform(app, session, "Beijing bureau", kind="authority", jurisdiction="11")
    body = {"id_type": "cn_resident_id", "id_number": ADULT_ID, "reason": REASON}

    answer = near.post("/audit/lookup", json=body)
    assert answer.status_code == 200
    assert [i["number"] for i in answer.json()["items"]] == [registration.number]
    assert far.post("/audit/lookup", json=body).json() == {"items": []}
    assert logged(session) == [("identity_lookup", registration.id, REASON),
                               ("identity_lookup", None, REASON)]

    assert near.post("/audit/lookup", json={**body, "reason": ""}).status_code == 422
    both = near.post("/audit/lookup", json={**body, "uscc": ORG["uscc"]})
    assert both.status_code == 422
    wrong = near.post("/audit/lookup", json={"uscc": "91110000MA01ABCD1N", "reason": REASON})
    assert wrong.status_code == 422
    assert [e["field"] for e in wrong.json()["errors"]] == ["uscc"]
    assert len(logged(session)) == 2
