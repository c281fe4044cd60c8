"""The buyer's side of a complaint: the report's page opened by its reference, what it says and
must never say, the lookup's throttle; the refused report (post/redirect/get); the seller's
commitments on /verify; the deadline on the moderators' cases."""

from __future__ import annotations

import base64
from datetime import timedelta

from bs4 import BeautifulSoup
from starlette.testclient import TestClient

from portal.base import i18n
from portal.base.db import utcnow
from portal.oversight import cases
from portal.oversight.cases import Case
from portal.registration.models import Registration
from portal.web import verify
from tests.unit.conftest import csrf_from
from tests.unit.http_wizard import field_errors, fresh, post

CONTACT = "buyer-contact@example.com"
WHAT = "The handbag I received is a counterfeit of a brand"
NOTE = "Seller's warehouse inspected on Monday"
CLOSING = "Receipts from the brand's own distributor"


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    main = BeautifulSoup(response.text, "html.parser").select_one("main")
    return (main or BeautifulSoup(response.text, "html.parser")).get_text(" ", strip=True)


def _report(buyer: TestClient, number: str, **data: str):  # type: ignore[no-untyped-def]
    token = csrf_from(buyer.get(f"/verify/{number}").text)
    return buyer.post(f"/verify/{number}/report", data={
        "category": "counterfeit", "description": WHAT, "contact": CONTACT, **data,
        "csrf_token": token})


class _english:
    """Dates written as the English page writes them."""

    token: object

    def __enter__(self) -> None:
        self.token = i18n.set_language("en")

    def __exit__(self, *exc: object) -> None:
        i18n.reset_language(self.token)


def _cookie_text(client: TestClient) -> str:
    payload = (client.cookies.get("portal_session") or "").split(".")[0]
    return base64.b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8", "replace")


def test_a_buyer_reports_and_follows_the_report_by_its_reference(
        approved, app, session) -> None:
    number, moderator = approved
    with TestClient(app, follow_redirects=False) as buyer:
        sent = _report(buyer, number)
        assert sent.status_code == 303
        case = fresh(session, Case)[0]
        assert sent.headers["location"] == f"/complaints/{case.reference}"
        page = buyer.get(sent.headers["location"])
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
        body = text_of(page)
        assert "Thank you. Your report has been sent to the moderators." in body
        assert case.reference in body and "Keep this reference" in body
        assert number in body and "张*" in body  # the seller's name as /verify shows it
        assert "Counterfeit or substandard goods" in body
        assert "Received A moderator has not looked at it yet." in body
        with _english():
            assert i18n.format_day(case.created_at) in body
            assert i18n.format_day(case.deadline) in body
        # What the buyer wrote and their contact stay with the moderators.
        assert CONTACT not in page.text and WHAT not in page.text
        again = text_of(buyer.get(sent.headers["location"]))
        assert "has been sent" not in again and case.reference in again  # said once

        # A moderator's note: the buyer sees that someone is on it, not what the note says.
        post(moderator, f"/cases/{case.id}/notes", {"note": NOTE}, page=f"/cases/{case.id}")
        looked = buyer.get(f"/complaints/{case.reference}")
        assert "Being looked at" in text_of(looked) and NOTE not in looked.text
        post(moderator, f"/cases/{case.id}/close",
             {"outcome": "dismissed", "closing_note": CLOSING}, page=f"/cases/{case.id}")
        closed = buyer.get(f"/complaints/{case.reference}")
    body = text_of(closed)
    assert "Closed" in body and "found no breach of the rules" in body
    assert CLOSING not in closed.text and NOTE not in closed.text and CONTACT not in closed.text
    assert "12315" in closed.text  # where else the buyer may turn


def test_the_reference_is_found_as_typed_and_an_unknown_one_says_so(
        approved, app, session) -> None:
    number, _moderator = approved
    with TestClient(app, follow_redirects=False) as buyer:
        _report(buyer, number)
        reference = fresh(session, Case)[0].reference
        form = buyer.get("/complaints")
        assert form.status_code == 200 and "Report reference" in form.text
        typed = buyer.get("/complaints", params={"reference": reference.lower()})
        assert typed.status_code == 303 and typed.headers["location"] == f"/complaints/{reference}"
        loose = buyer.get(f"/complaints/{reference.lower().replace('-', '')}")
        assert loose.status_code == 303 and loose.headers["location"] == f"/complaints/{reference}"
        bad = buyer.get("/complaints", params={"reference": "my order"})
        assert bad.status_code == 422 and "reference" in field_errors(bad.text)
        unknown = buyer.get("/complaints/TS-00000-00000")
    assert unknown.status_code == 404
    assert "No report has this reference" in text_of(unknown)
    assert "TS-00000-00000" in text_of(unknown)


def test_unknown_references_are_throttled_before_anything_is_looked_up(
        approved, app, session, settings) -> None:
    number, _moderator = approved
    settings.report_rate_limit = "3/hour"
    with TestClient(app, follow_redirects=False) as buyer:
        _report(buyer, number)  # a report counts against reports, not against lookups
        reference = fresh(session, Case)[0].reference
        for _ in range(3):  # the buyer's own page, as often as they like
            assert buyer.get(f"/complaints/{reference}").status_code == 200
        for guess in ("TS-00000-00001", "TS-00000-00002", "TS-00000-00003"):
            assert buyer.get(f"/complaints/{guess}").status_code == 404
        refused = buyer.get("/complaints/TS-00000-00004")
        known = buyer.get(f"/complaints/{reference}")  # a right guess is not told apart now
    assert refused.status_code == 429 and known.status_code == 429
    assert "several unknown references" in text_of(known)
    # The same page as for a wrong guess, but for the reference typed.
    assert known.text.replace(reference, "?") == refused.text.replace("TS-00000-00004", "?")


def test_a_refused_report_redirects_and_shows_what_was_typed_once(approved, app, session) -> None:
    number, _moderator = approved
    with TestClient(app, follow_redirects=False) as buyer:
        refused = _report(buyer, number, category="")
        assert refused.status_code == 303
        assert refused.headers["location"] == f"/verify/{number}#report"
        assert CONTACT not in _cookie_text(buyer)  # the contact typed is sealed, not only signed
        shown = buyer.get(refused.headers["location"])
        assert shown.status_code == 200
        assert field_errors(shown.text) == {"category": "Choose what the case is about"}
        assert WHAT in shown.text and CONTACT in shown.text  # what was typed, in its fields
        again = buyer.get(f"/verify/{number}")  # a refresh: no old errors, nothing typed
    assert not field_errors(again.text) and WHAT not in again.text
    assert fresh(session, Case) == []


def test_the_sellers_commitments_are_on_verify_in_words(approved, app, session) -> None:
    number, _moderator = approved
    with TestClient(app) as visitor:
        page = visitor.get(f"/verify/{number}")
    soup = BeautifulSoup(page.text, "html.parser")
    section = soup.select_one("section[aria-labelledby=commitments-title]")
    assert section is not None
    words = section.get_text(" ", strip=True)
    assert "Returns within 7 days without a reason" in words
    assert "By phone: 13987654321" in words and "Within 24 hours" in words
    assert section.select_one("a[href='tel:13987654321']") is not None
    for code in ("seven_day", "phone", "24"):
        assert f">{code}<" not in str(section)  # codes never shown as they are stored
    # The identity's own phone and ID number stay sealed: only the complaint contact is shown.
    assert "110105198503128794" not in page.text and "13812345678" not in page.text

    registration = fresh(session, Registration, number=number)[0]
    answers = dict(registration.answers)
    answers["commitments"] = {**answers["commitments"], "complaint_channel": "email",
                              "complaint_contact": "kefu@example.com",
                              "return_policy": "legal_exceptions", "response_hours": "72"}
    registration.answers = answers
    session.add(registration)
    session.commit()
    with TestClient(app) as visitor:
        words = text_of(visitor.get(f"/verify/{number}"))
    assert "By email: kefu@example.com" in words and "Within 72 hours" in words
    assert "except the goods the law exempts" in words
    for status in ("submitted", "changes_requested", "rejected", "revoked", "expired",
                   "deregistered"):  # not selling: no one to complain to
        registration.status = status
        assert verify.seller_commitments(registration) is None
    session.rollback()


def test_moderators_see_each_cases_deadline_and_the_overdue_stand_out(
        approved, app, session) -> None:
    number, moderator = approved
    with TestClient(app, follow_redirects=False) as buyer:
        _report(buyer, number)
        _report(buyer, number, category="fake_data")
    late, due = fresh(session, Case)
    late.deadline = utcnow() - timedelta(hours=1)
    session.add(late)
    session.commit()

    listing = moderator.get("/cases")
    rows = BeautifulSoup(listing.text, "html.parser").select("tbody tr")
    cells = {row.select_one("a").get_text(): row.get_text(" ", strip=True) for row in rows}
    assert "Overdue" in cells[f"Case {late.id}"] and "Overdue" not in cells[f"Case {due.id}"]
    with _english():
        assert i18n.format_day(due.deadline) in cells[f"Case {due.id}"]
    only = moderator.get("/cases", params={"order": "deadline", "overdue": "1"})
    shown = [a.get_text() for a in BeautifulSoup(only.text, "html.parser").select("tbody a")]
    assert shown == [f"Case {late.id}"]

    detail = text_of(moderator.get(f"/cases/{late.id}"))
    assert "Overdue The case is past its deadline." in detail
    assert late.reference in detail
    assert "7 days after the day it was received" in text_of(moderator.get(f"/cases/{due.id}"))
    assert cases.ANSWER_DAYS["complaint"] == 7
