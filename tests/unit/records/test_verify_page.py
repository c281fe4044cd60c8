"""The public verification page: no account, no clear personal data, checks that can fail."""

from __future__ import annotations

from bs4 import BeautifulSoup
from starlette.testclient import TestClient

from portal.accounts import User
from portal.oversight import enforcement
from portal.records.certificates import Certificate
from portal.registration.models import Registration
from tests.unit.factories import MODERATOR_EMAIL
from tests.unit.http_wizard import ADULT_ID, fresh


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    return BeautifulSoup(response.text, "html.parser").get_text(" ", strip=True)


def test_visitor_sees_a_valid_registration(approved, app, session) -> None:
    number, _moderator = approved
    with TestClient(app) as visitor:
        page = visitor.get(f"/verify/{number.lower()}")
        found = visitor.get(f"/verify?number={number}", follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == f"/verify/{number}"
    body = text_of(page)
    assert "Valid registration" in body and "张*" in body
    assert "The certificate is signed by the registry." in body
    assert "recorded in the public transparency log" in body
    assert "张三" not in page.text and ADULT_ID not in page.text


def test_tampered_certificate_fails_its_check(approved, app, session) -> None:
    number, _moderator = approved
    certificate = fresh(session, Certificate)[0]
    certificate.document = certificate.document.replace('"approved"', '"revoked"')
    session.add(certificate)
    session.commit()
    with TestClient(app) as visitor:
        body = text_of(visitor.get(f"/verify/{number}"))
    assert "Not valid for livestream selling" in body
    assert "signature does not check out" in body


def test_submitted_registration_is_not_valid_and_drafts_are_unknown(submitted, app) -> None:
    with TestClient(app) as visitor:
        body = text_of(visitor.get(f"/verify/{submitted}"))
        assert "Not valid for livestream selling" in body and "no certificate" in body
        assert visitor.get("/verify/LR-2020-0000000").status_code == 404
        bad = visitor.get("/verify?number=nonsense")
    assert bad.status_code == 422 and "Enter a registration number" in bad.text


def test_buyer_reports_a_problem_which_opens_a_case(approved, app, session, settings) -> None:
    from portal.oversight.cases import Case
    from tests.unit.conftest import csrf_from

    number, moderator = approved
    settings.report_rate_limit = "2/hour"
    with TestClient(app, follow_redirects=False) as buyer:
        token = csrf_from(buyer.get(f"/verify/{number}").text)
        empty = buyer.post(f"/verify/{number}/report",
                           data={"category": "", "description": "", "csrf_token": token})
        # Refused: back to the page, which shows why once (post/redirect/get).
        assert empty.status_code == 303
        assert "Choose what the case is about" in buyer.get(empty.headers["location"]).text
        sent = buyer.post(f"/verify/{number}/report", data={
            "category": "counterfeit", "description": "The bag I received is a fake",
            "contact": "buyer@example.com", "csrf_token": token})
        assert sent.status_code == 303 and sent.headers["location"].startswith("/complaints/")
        assert "Your report has been sent" in buyer.get(sent.headers["location"]).text
        third = buyer.post(f"/verify/{number}/report", data={
            "category": "counterfeit", "description": "again", "csrf_token": token})
        assert third.status_code == 303
        assert "several reports in a short time" in buyer.get(third.headers["location"]).text
    case = fresh(session, Case)[0]
    assert case.source == "complaint" and "buyer@example.com" in case.description
    assert "The bag I received is a fake" in moderator.get(f"/cases/{case.id}").text


def test_the_page_and_the_api_apply_one_validity_rule(approved, app, session, settings, platform
                                                      ) -> None:
    """An approved registration whose identity is then put on the blocklist by hand (another
    registration of the same person, say) is not valid: the API says so, and so must /verify,
    although its certificate still says "approved" and checks out."""
    number, _moderator = approved
    registration = fresh(session, Registration, number=number)[0]
    moderator = fresh(session, User, email=MODERATOR_EMAIL)[0]
    enforcement.add_to_blocklist(
        session, settings, registration=None, actor=moderator, reason_code="sanction",
        reason="Blacklisted under another registration",
        identity_index=registration.identity_index, legal_name="张三",
        id_type=(registration.answers.get("identity") or {}).get("id_type"))
    session.commit()
    assert platform.get(f"/registrations/{number}").json()["valid"] is False
    with TestClient(app) as visitor:
        body = text_of(visitor.get(f"/verify/{number}"))
    assert "Not valid for livestream selling" in body and "Valid registration" not in body
    assert "The certificate is signed by the registry." in body
