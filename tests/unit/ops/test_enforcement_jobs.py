"""The jobs keep the dates of enforcement (DESIGN §5): a correction order past its deadline opens
one case, a blacklisting that reached its end date is lifted, logged and announced."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta

from sqlmodel import Session

from portal.base.identity import CHINA_TZ, china_today
from portal.base.settings import Settings
from portal.ledger import tlog
from portal.ledger.events import HistoryEntry, OutboxEvent
from portal.ops import jobs
from portal.oversight import enforcement
from portal.oversight.cases import SOURCES, Case
from portal.registration.blocklist import BlocklistEntry
from portal.registration.models import Registration
from portal.registration.sanctions import Sanction
from tests.unit.factories import make_moderator, make_registration
from tests.unit.http_wizard import fresh

FACTS = {"facts": "Sold unlabelled cosmetics", "reason": "Missing labels",
         "legal_basis": "2021 Measures, Art. 18"}


def end_of(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=CHINA_TZ)


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12, 0), tzinfo=CHINA_TZ)


def apply(session: Session, settings: Settings, registration: Registration, kind: str,
          until: datetime) -> Sanction:
    result, _mail = enforcement.apply_sanction(
        session, registration=registration, actor=make_moderator(session), kind=kind,
        until=until, settings=settings, **FACTS)
    session.commit()
    return result


def test_an_overdue_order_opens_one_case(session, settings, engine, caplog) -> None:
    registration = make_registration(session, settings)
    deadline = china_today() + timedelta(days=5)
    order = apply(session, settings, registration, "order_correction", end_of(deadline))

    assert jobs.run(engine, settings, now=noon(deadline)).overdue == []
    assert fresh(session, Case) == []
    with caplog.at_level(logging.INFO, logger="portal.ops.jobs"):
        report = jobs.run(engine, settings, now=noon(deadline + timedelta(days=1)))
    assert report.overdue == [registration.number]
    again = jobs.run(engine, settings, now=noon(deadline + timedelta(days=2)))
    assert again.overdue == []

    [case] = fresh(session, Case)
    assert (case.source, case.registration_id, case.status) == (
        "correction_overdue", registration.id, "open")
    assert deadline.isoformat() in case.description and FACTS["facts"] in case.description
    assert str(SOURCES["correction_overdue"]) == "Order to correct past its deadline"
    order = fresh(session, Sanction)[0]
    assert order.overdue_case_id == case.id and order.state == "active"
    assert any(f"case {case.id} opened" in r.getMessage() for r in caplog.records)
    opened = fresh(session, OutboxEvent, type="case.opened")
    assert len(opened) == 1 and opened[0].number == registration.number


def test_an_order_complied_with_opens_no_case(session, settings, engine) -> None:
    registration = make_registration(session, settings)
    deadline = china_today() + timedelta(days=5)
    order = apply(session, settings, registration, "order_correction", end_of(deadline))
    enforcement.end_correction(session, settings, sanction_id=order.id,  # type: ignore[arg-type]
                               registration=registration, moderator=make_moderator(session),
                               note="Labels fixed")
    session.commit()
    assert jobs.run(engine, settings, now=noon(deadline + timedelta(days=1))).overdue == []
    assert fresh(session, Case) == []


def test_a_blacklisting_ends_on_its_date(session, settings, engine, caplog) -> None:
    registration = make_registration(session, settings)
    until = china_today() + timedelta(days=10)
    blacklisting = apply(session, settings, registration, "blacklist", end_of(until))
    assert fresh(session, BlocklistEntry)[0].until == end_of(until)
    logged_before = tlog.size(session)

    assert jobs.run(engine, settings, now=noon(until)).unblocked == []
    with caplog.at_level(logging.INFO, logger="portal.ops.jobs"):
        report = jobs.run(engine, settings, now=noon(until + timedelta(days=1)))
    assert report.unblocked == [registration.number]
    assert jobs.run(engine, settings, now=noon(until + timedelta(days=2))).unblocked == []

    [entry] = fresh(session, BlocklistEntry)
    assert entry.lifted_at is not None and entry.lifted_by is None
    ended = fresh(session, Sanction)[0]
    assert ended.id == blacklisting.id and ended.state == "ended" and ended.ended_at
    removed = fresh(session, OutboxEvent, type="blocklist.person_removed")
    assert [e.data for e in removed] == [{"entry_id": entry.id}]
    assert [(e.number, e.data) for e in fresh(session, OutboxEvent, type="sanction.ended")] == [
        (registration.number, {"sanction_id": blacklisting.id, "kind": "blacklist"})]
    actions = [h.action for h in fresh(session, HistoryEntry, registration_id=registration.id)]
    assert "blocklist_removed" in actions and "sanction_ended" in actions
    logged = [e["entry"] for e in tlog.entries(session, logged_before, tlog.size(session))]
    assert {"type": "blocklist.person_removed", "entry_id": entry.id} in [
        {k: v for k, v in e.items() if k != "at"} for e in logged]
    assert any("blacklisting" in r.getMessage() for r in caplog.records)
    # The registration stays revoked: the end of a blacklisting reinstates nothing.
    assert fresh(session, Registration)[0].status == "revoked"


def test_a_suspension_that_runs_out_is_announced(session, settings, engine) -> None:
    registration = make_registration(session, settings, status="suspended",
                                     until=end_of(china_today() + timedelta(days=3)))
    assert jobs.run(engine, settings,
                    now=noon(china_today() + timedelta(days=4))).reinstated == [
        registration.number]
    suspension = fresh(session, Sanction)[0]
    types = [e.type for e in fresh(session, OutboxEvent, number=registration.number)]
    assert types.index("sanction.ended") < types.index("registration.reinstated")
    [ended] = fresh(session, OutboxEvent, type="sanction.ended")
    assert ended.data == {"sanction_id": suspension.id, "kind": "suspend"}
