"""Inspection requests in the auditors' console: sent from a record, read with the answer and its
files, limited to the jurisdiction; overdue once, counted on the dashboard."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from bs4 import BeautifulSoup
from sqlmodel import select

from portal.base.identity import CHINA_TZ, china_today
from portal.ledger.events import OutboxEvent
from portal.ops import jobs
from portal.oversight import inspection_requests
from tests.unit.conftest import Platform, csrf_from, staff_client
from tests.unit.http_wizard import PNG, field_errors


def _deadline(days: int = 7) -> str:
    return (china_today() + timedelta(days=days)).isoformat()


def send_from_record(auditor, number: str, platform_id: int,  # type: ignore[no-untyped-def]
                     deadline: str | None = None):
    record = auditor.get(f"/audit/registrations/{number}")
    assert record.status_code == 200
    link = BeautifulSoup(record.text, "html.parser").find(
        "a", string="Ask a platform for documents about this registration")
    assert link is not None
    form = auditor.get(link["href"])
    assert form.status_code == 200 and number in form.text
    return auditor.post("/audit/inspection-requests/new", data={
        "csrf_token": csrf_from(form.text), "platform": str(platform_id), "number": number,
        "request": "Sales records of the live room", "deadline": deadline or _deadline()})


def test_an_auditor_sends_a_request_and_reads_the_answer_with_its_file(
        app, session, approved, platform) -> None:
    number, _moderator = approved
    auditor = staff_client(app, session, "auditor@example.com", jurisdiction="11")
    sent = send_from_record(auditor, number, platform.id)
    assert sent.status_code == 303, field_errors(sent.text)
    page = auditor.get(sent.headers["location"])
    assert page.status_code == 200 and "The platform has not answered yet." in page.text

    request_id = int(sent.headers["location"].rsplit("/", 1)[1])
    listed = platform.get("/inspection-requests")
    assert [i["id"] for i in listed.json()["items"]] == [request_id]
    answered = platform.post(f"/inspection-requests/{request_id}/answer",
                             data={"text": "Records attached"},
                             files=[("files", ("records.png", PNG, "image/png"))])
    assert answered.status_code == 201, answered.text

    page = auditor.get(sent.headers["location"])
    assert "Records attached" in page.text
    link = BeautifulSoup(page.text, "html.parser").find("a", string="records.png")
    assert link is not None
    download = auditor.get(link["href"])
    assert download.status_code == 200 and download.headers["content-type"] == "image/png"
    assert download.content.startswith(b"\x89PNG")

    # An auditor of another province sees neither the request nor its file.
    outsider = staff_client(app, session, "auditor44@example.com", jurisdiction="44")
    assert outsider.get(sent.headers["location"]).status_code == 404
    assert outsider.get(link["href"]).status_code == 404
    listed_page = auditor.get("/audit/inspection-requests?status=answered")
    assert f"Request {request_id}" in listed_page.text
    assert f"Request {request_id}" not in outsider.get("/audit/inspection-requests").text


def test_a_request_outside_the_jurisdiction_or_without_a_deadline_is_refused(
        app, session, approved, platform) -> None:
    number, _moderator = approved
    outsider = staff_client(app, session, "auditor44@example.com", jurisdiction="44")
    assert outsider.get(f"/audit/inspection-requests/new?number={number}").status_code == 404
    form = outsider.get("/audit/inspection-requests/new")
    refused = outsider.post("/audit/inspection-requests/new", data={
        "csrf_token": csrf_from(form.text), "platform": str(platform.id), "number": number,
        "request": "Sales records", "deadline": ""})
    assert refused.status_code == 422
    errors = field_errors(refused.text)
    assert errors["number"] == ("There is no registration with this number in your "
                                "jurisdiction")
    assert "deadline" in errors
    assert session.exec(select(inspection_requests.InspectionRequest)).first() is None


def test_an_unanswered_request_turns_overdue_once_and_is_counted_on_the_dashboard(
        app, session, engine, settings, approved, platform) -> None:
    number, _moderator = approved
    auditor = staff_client(app, session, "auditor@example.com")
    assert send_from_record(auditor, number, platform.id, _deadline(3)).status_code == 303
    assert "No inspection request is overdue." in auditor.get("/audit/dashboard").text

    before = datetime.combine(china_today() + timedelta(days=3), time(23, 0), tzinfo=CHINA_TZ)
    assert jobs.run(engine, settings, now=before).requests_overdue == []
    after = before + timedelta(days=1)
    flagged = jobs.run(engine, settings, now=after).requests_overdue
    assert len(flagged) == 1
    assert jobs.run(engine, settings, now=after + timedelta(days=1)).requests_overdue == []

    session.rollback()
    overdue = session.exec(select(OutboxEvent).where(
        OutboxEvent.type == "inspection.overdue")).all()
    assert [(e.client_id, e.number) for e in overdue] == [(platform.id, number)]
    dashboard = auditor.get("/audit/dashboard")
    counted = BeautifulSoup(dashboard.text, "html.parser").find(id="overdue-requests")
    assert counted is not None and "1 inspection request overdue" in counted.get_text()
    items = platform.get("/inspection-requests?status=open").json()["items"]
    assert [i["status"] for i in items] == ["overdue"]

    # Answered late, it is no longer counted.
    late = platform.post(f"/inspection-requests/{flagged[0]}/answer", data={"text": "Sorry"})
    assert late.status_code == 201 and late.json()["late"] is True
    assert "No inspection request is overdue." in auditor.get("/audit/dashboard").text


def test_a_request_about_the_platform_itself(app, session, platform) -> None:
    auditor = staff_client(app, session, "auditor@example.com", jurisdiction="44")
    other = Platform(app, session, "Platform C")
    form = auditor.get(f"/audit/inspection-requests/new?platform={platform.id}")
    assert form.status_code == 200
    sent = auditor.post("/audit/inspection-requests/new", data={
        "csrf_token": csrf_from(form.text), "platform": str(platform.id), "number": "",
        "request": "Your moderation staffing roster", "deadline": _deadline()})
    assert sent.status_code == 303, field_errors(sent.text)
    assert [i.get("number") for i in platform.get("/inspection-requests").json()["items"]] == [
        None]
    assert other.get("/inspection-requests").json() == {"items": []}
    assert "The platform itself" in auditor.get(sent.headers["location"]).text
