"""A buyer's complaint is tracked: a reference that opens its page, a deadline counted in China
days for every case, and the state a buyer may know."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from portal.base import identity
from portal.base.db import utcnow
from portal.oversight import cases
from portal.oversight.cases import Case
from tests.unit.factories import SANCTION_TEXT, make_moderator, make_registration

REFERENCE = re.compile(r"TS-[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}")


def _complaint(session, registration, category: str = "counterfeit") -> Case:  # type: ignore[no-untyped-def]
    case = cases.open_case(session, registration=registration, category=category,
                           description="The bag is fake\n\nBuyer's contact: 13900001111",
                           source="complaint")
    session.commit()
    return case


def test_references_are_crockford_base32_in_two_groups_and_differ() -> None:
    made = {cases.make_reference() for _ in range(2000)}
    assert len(made) == 2000  # 50 random bits: no two alike here
    assert all(REFERENCE.fullmatch(r) for r in made), sorted(made)[:3]
    # Every character of the alphabet turns up: the draw is not stuck on a few.
    assert set("".join(r[3:].replace("-", "") for r in made)) == set(cases.REFERENCE_ALPHABET)


@pytest.mark.parametrize(("typed", "stored"), [
    ("TS-7K2QD-M9X4B", "TS-7K2QD-M9X4B"),
    ("ts-7k2qd-m9x4b", "TS-7K2QD-M9X4B"),
    ("ts 7k2qd m9x4b", "TS-7K2QD-M9X4B"),
    ("7K2QDM9X4B", "TS-7K2QD-M9X4B"),
    ("ＴＳ－７Ｋ２ＱＤ－Ｍ９Ｘ４Ｂ", "TS-7K2QD-M9X4B"),  # full-width, from a Chinese input method
    ("TS-OK2QD-M9XLI", "TS-0K2QD-M9X11"),  # O read as 0, I and L as 1
])
def test_a_reference_is_read_as_people_type_it(typed: str, stored: str) -> None:
    assert cases.normalize_reference(typed) == stored


@pytest.mark.parametrize("typed", ["", "TS-", "TS-7K2QD-M9X4", "TS-7K2QD-M9X4BB", "TS-7K2QD-M9X4U",
                                   "LR-2026-0012345", "TS-7K2QD-M9X4\x00", "<script>"])
def test_what_cannot_be_a_reference_is_refused(typed: str) -> None:
    assert cases.normalize_reference(typed) is None


def test_only_a_buyers_complaint_gets_a_reference_and_no_two_share_one(
        session, settings, monkeypatch) -> None:
    registration = make_registration(session, settings)
    drawn = iter(["TS-AAAAA-AAAAA", "TS-AAAAA-AAAAA", "TS-BBBBB-BBBBB"])
    monkeypatch.setattr(cases, "make_reference", lambda: next(drawn))
    first = _complaint(session, registration)
    second = _complaint(session, registration)  # draws the first's reference, then another
    assert (first.reference, second.reference) == ("TS-AAAAA-AAAAA", "TS-BBBBB-BBBBB")
    finding = cases.open_case(session, registration=registration, category="other",
                              description="Seen on stream", actor=make_moderator(session))
    session.commit()
    assert finding.reference is None

    second.reference = first.reference  # the database refuses a shared one too
    session.add(second)
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_a_complaint_is_found_by_its_reference_as_typed(session, settings) -> None:
    registration = make_registration(session, settings)
    case = _complaint(session, registration)
    assert case.reference is not None
    assert cases.by_reference(session, case.reference.lower().replace("-", "")) == case
    assert cases.by_reference(session, "TS-00000-00000") is None
    assert cases.by_reference(session, "nonsense") is None


CST = identity.CHINA_TZ


@pytest.mark.parametrize(("received", "due"), [
    # 23:30 in Beijing on 1 December (15:30 UTC): seven days from 1 December.
    (datetime(2026, 12, 1, 15, 30, tzinfo=UTC), datetime(2026, 12, 8, 23, 59, 59, tzinfo=CST)),
    # 00:10 in Beijing on 2 December, still 1 December in UTC: seven days from the 2nd.
    (datetime(2026, 12, 1, 16, 10, tzinfo=UTC), datetime(2026, 12, 9, 23, 59, 59, tzinfo=CST)),
    # The last second of a Beijing day, and the first of the next.
    (datetime(2026, 12, 31, 15, 59, 59, tzinfo=UTC), datetime(2027, 1, 7, 23, 59, 59, tzinfo=CST)),
    (datetime(2026, 12, 31, 16, 0, 0, tzinfo=UTC), datetime(2027, 1, 8, 23, 59, 59, tzinfo=CST)),
])
def test_a_complaints_deadline_is_the_end_of_the_seventh_day_in_china(
        received: datetime, due: datetime) -> None:
    assert cases.deadline_for("complaint", received) == due


def test_each_source_has_its_days() -> None:
    received = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)  # 10:00 on 1 March in Beijing
    days = {source: (cases.deadline_for(source, received).astimezone(CST).date()
                     - identity.china_date(received)).days for source in cases.SOURCES}
    assert days == {"complaint": 7, "violation_report": 7, "correction_overdue": 3,
                    "linked_blacklisting": 3, "moderator": 14}
    assert set(cases.ANSWER_DAYS) == set(cases.SOURCES)


def test_a_case_is_overdue_only_when_open_and_past_the_deadline(session, settings) -> None:
    registration = make_registration(session, settings)
    case = _complaint(session, registration)
    session.refresh(case)
    assert case.deadline == cases.deadline_for("complaint", case.created_at)
    assert case.deadline.utcoffset() == timedelta(0)  # stored in UTC, read back aware
    assert not cases.is_overdue(case, case.deadline)
    assert cases.is_overdue(case, case.deadline + timedelta(seconds=1))
    cases.close_case(session, case=case, moderator=make_moderator(session), outcome="dismissed",
                     note="Genuine goods")
    session.commit()
    assert not cases.is_overdue(case, case.deadline + timedelta(days=30))


def test_the_state_a_buyer_may_know(session, settings) -> None:
    registration = make_registration(session, settings)
    moderator = make_moderator(session)
    case = _complaint(session, registration)
    assert cases.public_state(session, case) == "received"
    cases.add_note(session, case=case, author=moderator, text="Called the seller")
    session.commit()
    assert cases.public_state(session, case) == "looked_at"
    cases.close_case(session, case=case, moderator=moderator, outcome="dismissed",
                     note="Genuine goods")
    session.commit()
    assert cases.public_state(session, case) == "dismissed"

    other = _complaint(session, registration)
    from portal.oversight import enforcement

    sanction, _mail = enforcement.apply_sanction(
        session, registration=registration, actor=moderator, kind="warning",
        settings=settings, **SANCTION_TEXT)
    cases.close_case(session, case=other, moderator=moderator, outcome="sanctioned",
                     note="Confirmed", sanction_id=sanction.id)
    session.commit()
    assert cases.public_state(session, other) == "action_taken"


def test_the_list_orders_by_deadline_and_keeps_the_overdue(session, settings) -> None:
    registration = make_registration(session, settings)
    finding = cases.open_case(session, registration=registration, category="other",
                              description="Seen on stream", actor=make_moderator(session))
    session.commit()
    complaint = _complaint(session, registration)  # opened later, due earlier (7 < 14 days)
    opened = [c.id for c, _r in cases.cases_page(session)]
    by_deadline = [c.id for c, _r in cases.cases_page(session, order="deadline")]
    assert opened == [finding.id, complaint.id]
    assert by_deadline == [complaint.id, finding.id]
    assert cases.cases_page(session, overdue_at=utcnow()) == []
    in_ten_days = [c.id for c, _r in cases.cases_page(session,
                                                      overdue_at=utcnow() + timedelta(days=10))]
    assert in_ten_days == [complaint.id]
