"""The auditors' compliance view: per platform, identity checks, violations reported, inspection
requests answered on time, late or open, and webhook deliveries failing."""

from __future__ import annotations

from datetime import timedelta

from bs4 import BeautifulSoup
from sqlmodel import select

from portal.base.db import utcnow
from portal.ledger.events import Actor, OutboxEvent
from portal.oversight import inspection_requests
from portal.platforms.webhooks import WebhookDelivery
from tests.unit.conftest import staff_client


def _row(page: str, name: str) -> list[str]:
    table = BeautifulSoup(page, "html.parser").find("table")
    assert table is not None
    for tr in table.find("tbody").find_all("tr"):
        if tr.find("th").get_text(" ", strip=True).startswith(name):
            return [td.get_text(" ", strip=True) for td in tr.find_all("td")]
    raise AssertionError(f"no row for {name}")


def test_each_platform_shows_what_it_did_and_failed_to_do(
        app, session, approved, platform, other_platform) -> None:
    number, _moderator = approved
    reported = platform.post("/violations", json={
        "number": number, "category": "counterfeit", "description": "Fake handbags",
        "occurred_at": (utcnow() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "evidence": []})
    assert reported.status_code == 201, reported.text
    matched = platform.post("/registrations/match", json={
        "id_type": "cn_resident_id", "id_number": "110105198503128794", "legal_name": "张三"})
    assert matched.status_code == 200
    on_time = inspection_requests.send_request(
        session, jurisdiction="national", platform=str(platform.id), request="Records",
        deadline=utcnow() + timedelta(days=5), actor=Actor(None, "authority"))
    inspection_requests.send_request(
        session, jurisdiction="national", platform=str(platform.id), request="Staffing",
        deadline=utcnow() + timedelta(days=5), actor=Actor(None, "authority"))
    session.commit()
    assert platform.post(f"/inspection-requests/{on_time.id}/answer",
                         data={"text": "Attached"}).status_code == 201
    inspection_requests.flag_overdue(session, now=utcnow() + timedelta(days=6))
    event = session.exec(select(OutboxEvent)).first()
    assert event is not None
    session.add(WebhookDelivery(client_id=other_platform.id, event_id=event.id, state="failed",
                                attempts=40, last_error="HTTP 500"))
    session.commit()

    auditor = staff_client(app, session, "auditor@example.com")
    page = auditor.get("/audit/platforms")
    assert page.status_code == 200
    # checks, violations, on time, late, open, overdue, failed, waiting, link
    assert _row(page.text, "Platform A")[:8] == ["1", "1", "1", "0", "0", "1", "0", "0"]
    assert _row(page.text, "Platform B")[:8] == ["0", "0", "0", "0", "0", "0", "1", "0"]

    # An auditor of another province does not count the violation about a Beijing seller.
    outsider = staff_client(app, session, "auditor44@example.com", jurisdiction="44")
    assert _row(outsider.get("/audit/platforms").text, "Platform A")[1] == "0"
