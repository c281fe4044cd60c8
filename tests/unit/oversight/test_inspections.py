"""Inspections by authorities: open, findings, closing (with a sanction), jurisdiction, roles."""

from __future__ import annotations

from datetime import timedelta

from bs4 import BeautifulSoup
from sqlalchemy import func
from sqlmodel import select
from starlette.testclient import TestClient

from portal.accounts import User
from portal.base.identity import china_today
from portal.ledger import tlog
from portal.ledger.events import HistoryEntry
from portal.oversight.inspections import Finding, Inspection
from portal.records import certificates
from portal.registration.models import Registration
from portal.registration.sanctions import Sanction
from tests.unit.conftest import csrf_from, staff_client
from tests.unit.http_wizard import field_errors, fresh, summary_items

staff = staff_client


def send(client: TestClient, path: str, data: dict[str, str], page: str = "/audit/inspections"
         ):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get(page).text)
    return client.post(path, data={**data, "csrf_token": token})


def open_on(client: TestClient, number: str, subject: str = "Bought followers") -> str:
    response = send(client, "/audit/inspections/new", {
        "target_kind": "registration", "number": number, "subject": subject})
    assert response.status_code == 303, field_errors(response.text)
    return response.headers["location"]


SUSPENSION = {
    "order_sanction": "yes", "kind": "suspend", "facts": "Follower counts were bought",
    "reason": "Faked data misleads buyers", "legal_basis": "Measures Art. 18 (3)",
}


def _until() -> str:
    return (china_today() + timedelta(days=30)).isoformat()


def _snapshot(session, registration_id: int) -> tuple:  # type: ignore[no-untyped-def,type-arg]
    session.rollback()
    count = session.exec(select(func.count()).select_from(certificates.Certificate).where(
        certificates.Certificate.registration_id == registration_id)).one()
    history = [h.action for h in session.exec(select(HistoryEntry).where(
        HistoryEntry.registration_id == registration_id))]
    return (session.get(Registration, registration_id).status, count, tlog.size(session),
            len(fresh(session, Sanction)), history)


def test_an_inspection_closed_with_a_suspension(approved, app, session) -> None:
    number, _moderator = approved
    registration = fresh(session, Registration, number=number)[0]
    certificates_before = len(fresh(session, certificates.Certificate,
                                    registration_id=registration.id))
    with staff(app, session, "auditor@example.com") as auditor:
        assert "No inspections yet." in auditor.get("/audit/inspections").text
        form = BeautifulSoup(auditor.get(f"/audit/inspections/new?number={number}").text,
                             "html.parser")
        assert form.find("input", id="number")["value"] == number
        page = open_on(auditor, number.lower())  # typed in lower case: still found
        inspection = fresh(session, Inspection)[0]
        assert page.endswith(f"/audit/inspections/{inspection.id}")
        assert inspection.region == "1101" and inspection.status == "open"

        added = send(auditor, f"{page}/findings", {
            "text": "47 000 of 50 000 followers created on one day",
            "evidence": "https://example.com/report.pdf\n\nhttp://example.org/graph"}, page)
        assert added.status_code == 303
        finding = fresh(session, Finding)[0]
        assert finding.evidence == ["https://example.com/report.pdf", "http://example.org/graph"]
        shown = auditor.get(page).text
        assert 'href="https://example.com/report.pdf"' in shown and "47 000" in shown

        closed = send(auditor, f"{page}/close", {
            "conclusion": "Follower counts were faked", **SUSPENSION, "until": _until()}, page)
        assert closed.status_code == 303, field_errors(closed.text)
        listing = BeautifulSoup(auditor.get("/audit/inspections").text, "html.parser")
        assert "Closed" in listing.select_one("tbody tr").text

    session.rollback()
    auditor_user = fresh(session, User, email="auditor@example.com")[0]
    registration = fresh(session, Registration, number=number)[0]
    assert registration.status == "suspended"
    sanction = fresh(session, Sanction)[0]
    assert sanction.kind == "suspend" and sanction.issued_by == auditor_user.id
    assert sanction.issued_role == "auditor"
    inspection = fresh(session, Inspection)[0]
    assert inspection.status == "closed" and inspection.sanction_id == sanction.id
    assert inspection.closed_by == auditor_user.id
    assert inspection.conclusion == "Follower counts were faked"
    # The sanction service re-issued the certificate with the new status.
    issued = fresh(session, certificates.Certificate, registration_id=registration.id)
    assert len(issued) == certificates_before + 1
    current = certificates.current_certificate(session, registration.id)
    assert certificates.certificate_json(current)["status"] == "suspended"
    actions = [(h.action, h.actor_role) for h in fresh(
        session, HistoryEntry, registration_id=registration.id)]
    for action in ("inspection_opened", "inspection_finding", "sanction_applied",
                   "inspection_closed"):
        assert (action, "auditor") in actions


def test_closing_without_a_conclusion_changes_nothing(approved, app, session) -> None:
    number, _moderator = approved
    registration = fresh(session, Registration, number=number)[0]
    with staff(app, session, "auditor@example.com") as auditor:
        page = open_on(auditor, number)
        before = _snapshot(session, registration.id)
        response = send(auditor, f"{page}/close", {
            "conclusion": "  ", **SUSPENSION, "until": _until()}, page)
        assert response.status_code == 422
        assert "conclusion" in field_errors(response.text)
        assert _snapshot(session, registration.id) == before
        # The sanction's own rules answer beside their fields, all at once, still writing nothing.
        response = send(auditor, f"{page}/close", {
            "conclusion": "", "order_sanction": "yes", "kind": "suspend"}, page)
        errors = field_errors(response.text)
        assert {"conclusion", "facts", "reason", "legal_basis", "until"} <= errors.keys()
        assert _snapshot(session, registration.id) == before
        assert fresh(session, Inspection)[0].status == "open"
        # A finding needs text, and evidence must be web addresses.
        response = send(auditor, f"{page}/findings", {
            "text": "", "evidence": "https://ok.example\njavascript:alert(1)"}, page)
        assert response.status_code == 422
        errors = field_errors(response.text)
        assert "text" in errors and "Line 2" in errors["evidence"]
        assert fresh(session, Finding) == []
        # Closing with a conclusion only: no sanction.
        assert send(auditor, f"{page}/close", {"conclusion": "No breach"}, page
                    ).status_code == 303
        assert fresh(session, Inspection)[0].status == "closed"
        assert fresh(session, Registration, number=number)[0].status == "approved"
        assert "This inspection is already closed" in send(
            auditor, f"{page}/close", {"conclusion": "Again"}, page).text


def test_a_registration_outside_the_jurisdiction_cannot_be_inspected(approved, app, session
                                                                      ) -> None:
    number, _moderator = approved  # Beijing (11)
    with staff(app, session, "zj@example.com", jurisdiction="33") as zhejiang:
        assert zhejiang.get(f"/audit/inspections/new?number={number}").status_code == 404
        response = send(zhejiang, "/audit/inspections/new", {
            "target_kind": "registration", "number": number, "subject": "Look"})
        assert response.status_code == 422
        assert "in your jurisdiction" in field_errors(response.text)["number"]
        assert fresh(session, Inspection) == []
        with staff(app, session, "bj@example.com", jurisdiction="11") as beijing:
            page = open_on(beijing, number)
        # Another region's inspection is not found, for reading or for writing.
        assert zhejiang.get(page).status_code == 404
        assert number not in zhejiang.get("/audit/inspections").text
        token = csrf_from(zhejiang.get("/audit/inspections").text)
        for path, data in ((f"{page}/findings", {"text": "x"}),
                           (f"{page}/close", {"conclusion": "x"})):
            assert zhejiang.post(path, data={**data, "csrf_token": token}).status_code == 404
    assert fresh(session, Finding) == [] and fresh(session, Inspection)[0].status == "open"


def test_opening_needs_a_subject_and_a_target(approved, app, session) -> None:
    number, _moderator = approved
    with staff(app, session, "auditor@example.com") as auditor:
        response = send(auditor, "/audit/inspections/new", {
            "target_kind": "registration", "number": number, "subject": ""})
        assert response.status_code == 422 and "subject" in field_errors(response.text)
        response = send(auditor, "/audit/inspections/new", {"subject": "Something"})
        assert "target_kind" in field_errors(response.text)
        response = send(auditor, "/audit/inspections/new", {
            "target_kind": "registration", "number": "LR-2026-0000000", "subject": "x"})
        assert "number" in field_errors(response.text)
        response = send(auditor, "/audit/inspections/new", {
            "target_kind": "platform", "client_id": "999", "subject": "x"})
        assert "client_id" in field_errors(response.text)
    assert fresh(session, Inspection) == []


def test_a_platform_inspection_is_seen_by_every_auditor(approved, app, session, platform
                                                        ) -> None:
    with staff(app, session, "auditor@example.com") as auditor:
        listing = auditor.get("/audit/inspections").text
        assert "Platform A" in listing
        response = send(auditor, "/audit/inspections/new", {
            "target_kind": "platform", "client_id": str(platform.id),
            "subject": "Moderation staffing"})
        assert response.status_code == 303
        page = response.headers["location"]
        # A platform's inspection closes with a conclusion; sanctions are for registrations.
        refused = send(auditor, f"{page}/close", {"conclusion": "Understaffed", **SUSPENSION,
                                                  "until": _until()}, page)
        assert refused.status_code == 422
        assert "Sanctions are ordered on registrations" in " ".join(summary_items(refused.text))
        assert fresh(session, Sanction) == []
    with staff(app, session, "zj@example.com", jurisdiction="33") as zhejiang:
        assert "Moderation staffing" in zhejiang.get(page).text
        assert send(zhejiang, f"{page}/close", {"conclusion": "Understaffed"}, page
                    ).status_code == 303
    inspection = fresh(session, Inspection)[0]
    assert inspection.target_kind == "platform" and inspection.client_id == platform.id
    assert inspection.status == "closed" and inspection.region == ""
    assert [h.action for h in fresh(session, HistoryEntry) if h.registration_id is None
            and h.data.get("inspection") == inspection.id] == ["inspection_opened",
                                                               "inspection_closed"]


def test_moderators_and_applicants_may_not_inspect(approved, app, session, client) -> None:
    number, moderator = approved
    with staff(app, session, "auditor@example.com") as auditor:
        page = open_on(auditor, number)
    token = csrf_from(moderator.get("/review").text)
    for who in (moderator, client):
        for path in ("/audit/inspections", f"/audit/inspections/new?number={number}", page):
            assert who.get(path).status_code == 403
    for path, data in (("/audit/inspections/new", {"target_kind": "registration",
                                                   "number": number, "subject": "x"}),
                       (f"{page}/findings", {"text": "x"}),
                       (f"{page}/close", {"conclusion": "x"})):
        assert moderator.post(path, data={**data, "csrf_token": token}).status_code == 403
    assert len(fresh(session, Inspection)) == 1 and fresh(session, Finding) == []
