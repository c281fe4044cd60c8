"""Cases: opened on approved registrations, investigated, closed by dismissal or a sanction."""

from __future__ import annotations

from bs4 import BeautifulSoup

from portal.ledger.events import OutboxEvent
from portal.oversight.cases import Case, CaseNote
from portal.registration.models import Registration
from portal.registration.sanctions import Sanction
from tests.unit.http_wizard import field_errors, fresh, post
from tests.unit.oversight.test_sanctions import SANCTION


def open_one(moderator, number):  # type: ignore[no-untyped-def]
    return post(moderator, f"/review/{number}/cases",
                {"category": "counterfeit", "description": "Buyer sent photos of fake bags"},
                page=f"/review/{number}")


def test_open_investigate_and_dismiss(approved, session) -> None:
    number, moderator = approved
    opened = open_one(moderator, number)
    assert opened.status_code == 303
    case = fresh(session, Case)[0]
    assert opened.headers["location"] == f"/cases/{case.id}"
    listing = BeautifulSoup(moderator.get("/cases").text, "html.parser")
    assert number in listing.select_one("tbody").get_text()

    empty = post(moderator, f"/cases/{case.id}/notes", {"note": ""}, page=f"/cases/{case.id}")
    assert empty.status_code == 422 and "Write the note" in field_errors(empty.text)["note"]
    post(moderator, f"/cases/{case.id}/notes", {"note": "Asked the buyer for the order id"},
         page=f"/cases/{case.id}")
    assert [n.text for n in fresh(session, CaseNote)] == ["Asked the buyer for the order id"]

    closed = post(moderator, f"/cases/{case.id}/close",
                  {"outcome": "dismissed", "closing_note": "The bags were genuine"},
                  page=f"/cases/{case.id}")
    assert closed.status_code == 303
    case = fresh(session, Case)[0]
    assert (case.status, case.outcome) == ("closed", "dismissed")
    types = [e.type for e in fresh(session, OutboxEvent)]
    assert "case.opened" in types and types[-1] == "case.closed"
    assert number in moderator.get("/cases?status=closed").text


def test_close_with_a_sanction_in_one_go(approved, session) -> None:
    number, moderator = approved
    open_one(moderator, number)
    case = fresh(session, Case)[0]
    missing_note = post(moderator, f"/cases/{case.id}/close",
                        {"outcome": "sanctioned", "kind": "warning", **SANCTION},
                        page=f"/cases/{case.id}")
    assert missing_note.status_code == 422
    assert fresh(session, Sanction) == []  # nothing half-written
    done = post(moderator, f"/cases/{case.id}/close",
                {"outcome": "sanctioned", "closing_note": "Confirmed by two buyers",
                 "kind": "warning", **SANCTION}, page=f"/cases/{case.id}")
    assert done.status_code == 303
    case = fresh(session, Case)[0]
    sanction = fresh(session, Sanction)[0]
    assert case.outcome == "sanctioned" and case.sanction_id == sanction.id


def test_cases_only_on_approved_registrations(submitted, moderator, session) -> None:
    assert fresh(session, Registration)[0].status == "submitted"
    refused = open_one(moderator, submitted)
    assert refused.status_code == 422
    assert "registrations that have been approved" in refused.text
    assert fresh(session, Case) == []
