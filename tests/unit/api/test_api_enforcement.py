"""Platforms and enforcement (DESIGN §5, §7): violation reports about any registration ever
approved, and every start, end and overturn of a sanction in every platform's events."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from portal.accounts import User
from portal.base.identity import CHINA_TZ, china_today
from portal.ledger.events import OutboxEvent
from portal.oversight import enforcement
from portal.oversight.cases import Case
from portal.registration.models import Registration
from tests.unit.factories import make_moderator, make_registration
from tests.unit.http_wizard import fresh

REPORT = {"category": "counterfeit", "description": "Still selling fake bags after revocation",
          "occurred_at": "2025-11-03T12:30:00Z", "evidence": ["https://platform.example/c/9"]}
FACTS = {"facts": "Sold counterfeit bags", "reason": "Counterfeit goods",
         "legal_basis": "2021 Measures, Art. 18(3)"}


def feed(platform) -> list[dict]:  # type: ignore[no-untyped-def]
    response = platform.get("/events?after=0&limit=1000")
    assert response.status_code == 200
    return response.json()["events"]


@pytest.mark.parametrize("status", ["revoked", "deregistered", "expired", "suspended"])
def test_a_report_about_a_registration_approved_before(session, settings, platform,
                                                       status: str) -> None:
    registration = make_registration(session, settings, status=status)
    response = platform.post("/violations", {**REPORT, "number": registration.number})
    assert response.status_code == 201, response.text
    [case] = fresh(session, Case)
    assert response.json() == {"id": case.id, "status": "open"}
    assert (case.registration_id, case.source) == (registration.id, "violation_report")
    assert fresh(session, Registration)[0].status == status  # a report moves nothing


@pytest.mark.parametrize("status", ["submitted", "rejected", "changes_requested"])
def test_a_report_about_a_registration_never_approved(session, settings, platform,
                                                      status: str) -> None:
    registration = make_registration(session, settings, status=status)
    response = platform.post("/violations", {**REPORT, "number": registration.number})
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"number"}
    assert fresh(session, Case) == []


def test_a_case_on_a_revoked_registration_closes_with_a_blacklisting(session, settings,
                                                                       platform) -> None:
    registration = make_registration(session, settings, status="revoked")
    case_id = platform.post("/violations", {**REPORT, "number": registration.number}).json()["id"]
    moderator = make_moderator(session)
    session.rollback()
    blacklisting, _mail = enforcement.apply_sanction(
        session, registration=session.get(Registration, registration.id), actor=moderator,
        kind="blacklist", settings=settings, **FACTS)
    session.commit()
    assert blacklisting.kind == "blacklist" and fresh(session, Case)[0].id == case_id
    assert fresh(session, Registration)[0].status == "revoked"


def test_sanction_events_reach_every_platform(session, settings, platform,
                                              other_platform) -> None:
    registration = make_registration(session, settings)
    number = registration.number
    moderator = make_moderator(session)
    deadline = datetime.combine(china_today() + timedelta(days=7), time(23, 59, 59),
                                tzinfo=CHINA_TZ)
    order, _mail = enforcement.apply_sanction(
        session, registration=registration, actor=moderator, kind="order_correction",
        until=deadline, settings=settings, **FACTS)
    session.commit()
    enforcement.end_correction(session, settings, sanction_id=order.id,  # type: ignore[arg-type]
                               registration=registration, moderator=moderator,
                               note="Listings corrected")
    session.commit()
    warning, _mail = enforcement.apply_sanction(
        session, registration=registration, actor=moderator, kind="warning", settings=settings,
        **FACTS)
    session.commit()
    applicant = session.get(User, registration.user_id)
    appeal = enforcement.file_appeal(session, settings, sanction_id=warning.id,  # type: ignore[arg-type]
                                     user=applicant, text="It was a customer's words")  # type: ignore[arg-type]
    session.commit()
    enforcement.decide_appeal(session, settings, appeal_id=appeal.id,  # type: ignore[arg-type]
                              moderator=make_moderator(session, email="second@example.com"),
                              outcome="overturned", reason="The claim was quoted")
    session.commit()

    for client in (platform, other_platform):
        events = [(e["type"], e["number"], e["data"]) for e in feed(client)
                  if e["type"].startswith("sanction.")]
        assert events == [
            ("sanction.applied", number, {"sanction_id": order.id, "kind": "order_correction",
                                          "until": order.until.isoformat()}),  # type: ignore[union-attr]
            ("sanction.ended", number, {"sanction_id": order.id, "kind": "order_correction"}),
            ("sanction.applied", number, {"sanction_id": warning.id, "kind": "warning",
                                          "until": None}),
            ("sanction.overturned", number, {"sanction_id": warning.id, "kind": "warning"}),
        ]
    # Sanction events belong to no one platform: every platform hears of them.
    assert all(e.client_id is None for e in fresh(session, OutboxEvent)
               if e.type.startswith("sanction."))
