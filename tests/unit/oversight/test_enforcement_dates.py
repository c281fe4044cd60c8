"""The dates of enforcement (DESIGN §5): the appeal window, blacklistings until a date or for
good, restrictions that name what they restrict, orders to correct ended as complied with, and
the sanctions a registration approved before can still receive."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from sqlmodel import Session

from portal.accounts import User
from portal.base.db import utcnow
from portal.base.errors import FormErrors
from portal.base.identity import CHINA_TZ, china_date, china_today
from portal.base.settings import Settings
from portal.ledger.events import HistoryEntry, OutboxEvent
from portal.oversight import enforcement
from portal.registration.blocklist import BlocklistEntry
from portal.registration.models import Registration
from portal.registration.sanctions import Appeal, Sanction
from tests.unit.factories import make_moderator, make_registration
from tests.unit.http_wizard import field_errors, fresh, post
from tests.unit.oversight.test_sanctions import SANCTION, sanction
from tests.unit.prg import shown_after


def end_of(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=CHINA_TZ)


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12, 0), tzinfo=CHINA_TZ)


def apply(session: Session, settings: Settings, registration: Registration, kind: str,
          **extra):  # type: ignore[no-untyped-def]
    result, _mail = enforcement.apply_sanction(
        session, registration=registration, actor=make_moderator(session), kind=kind,
        settings=settings, **SANCTION, **extra)
    session.commit()
    return result


def applicant_of(session: Session, registration: Registration) -> User:
    user = session.get(User, registration.user_id)
    assert user is not None
    return user


# --- the appeal window ------------------------------------------------------------------------


def test_an_appeal_on_the_last_day_is_accepted(session, settings) -> None:
    registration = make_registration(session, settings)
    warning = apply(session, settings, registration, "warning")
    assert "15 days" in warning.appeal_channel
    last_day = china_date(warning.created_at) + timedelta(days=15)
    appeal = enforcement.file_appeal(session, settings, sanction_id=warning.id,  # type: ignore[arg-type]
                                     user=applicant_of(session, registration),
                                     text="The product was labelled", now=end_of(last_day))
    session.commit()
    assert fresh(session, Appeal)[0].id == appeal.id


def test_an_appeal_after_the_window_is_refused_with_the_date(session, settings) -> None:
    registration = make_registration(session, settings)
    warning = apply(session, settings, registration, "warning")
    closed_on = china_date(warning.created_at) + timedelta(days=15)
    with pytest.raises(FormErrors) as refused:
        enforcement.file_appeal(session, settings, sanction_id=warning.id,  # type: ignore[arg-type]
                                user=applicant_of(session, registration),
                                text="The product was labelled",
                                now=noon(closed_on + timedelta(days=1)))
    session.rollback()
    assert refused.value.errors["appeal_text"] == (
        f"The appeal window closed on {closed_on.isoformat()}")
    assert fresh(session, Appeal) == []
    assert fresh(session, HistoryEntry, action="appeal_filed") == []


def test_the_window_follows_the_setting(session, settings) -> None:
    short = settings.model_copy(update={"appeal_days": 3})
    registration = make_registration(session, short)
    warning = apply(session, short, registration, "warning")
    assert "3 days" in warning.appeal_channel
    with pytest.raises(FormErrors):
        enforcement.file_appeal(session, short, sanction_id=warning.id,  # type: ignore[arg-type]
                                user=applicant_of(session, registration), text="Too late",
                                now=noon(china_date(warning.created_at) + timedelta(days=4)))


def test_the_status_page_shows_when_the_window_closes(approved, client, session) -> None:
    number, moderator = approved
    assert sanction(moderator, number, "warning").status_code == 303
    closes = china_today() + timedelta(days=15)
    page = client.get("/me").text
    assert "You can appeal until" in page and str(closes.year) in page
    assert 'name="appeal_text"' in page
    # The window has closed: the date is shown instead of the form.
    session.rollback()
    warning = fresh(session, Sanction)[0]
    warning.created_at = utcnow() - timedelta(days=20)
    session.add(warning)
    session.commit()
    page = client.get("/me").text
    assert "The appeal window closed on" in page and 'name="appeal_text"' not in page


# --- blacklisting until a date or for good ----------------------------------------------------


@pytest.mark.parametrize("days", [0, -1])
def test_a_blacklisting_that_would_end_today_or_before_is_refused(session, settings,
                                                                  days: int) -> None:
    registration = make_registration(session, settings)
    with pytest.raises(FormErrors) as refused:
        apply(session, settings, registration, "blacklist",
              until=end_of(china_today() + timedelta(days=days)))
    session.rollback()
    assert refused.value.errors["until"] == "The date must be in the future"
    assert fresh(session, Sanction) == [] and fresh(session, BlocklistEntry) == []
    assert fresh(session, Registration)[0].status == "approved"


def test_a_blacklisting_until_a_date_keeps_it_on_the_entry(session, settings) -> None:
    registration = make_registration(session, settings)
    until = end_of(china_today() + timedelta(days=30))
    blacklisting = apply(session, settings, registration, "blacklist", until=until)
    entry = fresh(session, BlocklistEntry)[0]
    assert blacklisting.until == until and entry.until == until
    assert fresh(session, Registration)[0].status == "revoked"


def test_a_blacklisting_for_good_has_no_end(session, settings) -> None:
    registration = make_registration(session, settings)
    apply(session, settings, registration, "blacklist")
    assert fresh(session, Sanction)[0].until is None
    assert fresh(session, BlocklistEntry)[0].until is None


def test_a_revoked_registration_can_still_be_blacklisted(session, settings) -> None:
    registration = make_registration(session, settings, status="revoked")
    moves = len(fresh(session, HistoryEntry, to_status="revoked"))
    apply(session, settings, registration, "blacklist")
    assert fresh(session, Registration)[0].status == "revoked"
    assert len(fresh(session, HistoryEntry, to_status="revoked")) == moves  # not moved again
    assert fresh(session, BlocklistEntry)[0].registration_id == registration.id
    with pytest.raises(FormErrors) as refused:
        apply(session, settings, session.get(Registration, registration.id), "warning")
    assert "_" in refused.value.errors


def test_a_registration_never_approved_cannot_be_blacklisted(session, settings) -> None:
    registration = make_registration(session, settings, status="rejected")
    with pytest.raises(FormErrors) as refused:
        apply(session, settings, registration, "blacklist")
    assert "_" in refused.value.errors
    session.rollback()
    assert fresh(session, BlocklistEntry) == []


# --- restricting functions --------------------------------------------------------------------


def test_a_restriction_names_what_it_restricts(session, settings) -> None:
    registration = make_registration(session, settings)
    for functions in ([], ["teleportation"]):
        with pytest.raises(FormErrors) as refused:
            apply(session, settings, registration, "restrict_functions", functions=functions)
        session.rollback()
        assert "functions" in refused.value.errors
    assert fresh(session, Sanction) == []
    apply(session, settings, session.get(Registration, registration.id), "restrict_functions",
          functions=["traffic", "live_selling"])
    assert fresh(session, Sanction)[0].functions == ["traffic", "live_selling"]
    applied = fresh(session, OutboxEvent, type="sanction.applied")[0]
    assert applied.data["restricted_functions"] == ["traffic", "live_selling"]


def test_the_moderators_form_ticks_functions(approved, session) -> None:
    number, moderator = approved
    page = moderator.get(f"/review/{number}").text
    assert 'name="functions" value="live_selling"' in page
    missing = sanction(moderator, number, "restrict_functions")
    missing = shown_after(moderator, missing)
    assert field_errors(missing.text)["functions"] == "Choose the functions to restrict"
    assert sanction(moderator, number, "restrict_functions",
                    functions=["new_products", "traffic"]).status_code == 303
    assert fresh(session, Sanction)[0].functions == ["new_products", "traffic"]
    assert "Listing new products" in moderator.get(f"/review/{number}").text


# --- ending an order to correct ---------------------------------------------------------------


def test_a_moderator_ends_an_order_as_complied_with(approved, session) -> None:
    number, moderator = approved
    deadline = (china_today() + timedelta(days=7)).isoformat()
    assert sanction(moderator, number, "order_correction", until=deadline).status_code == 303
    order = fresh(session, Sanction)[0]
    path = f"/review/{number}/sanctions/{order.id}/complied"
    empty = post(moderator, path, {"complied_note": ""}, page=f"/review/{number}")
    assert "complied_note" in field_errors(shown_after(moderator, empty).text)
    assert fresh(session, Sanction)[0].state == "active"
    done = post(moderator, path, {"complied_note": "Labels fixed, checked on the stream"},
                page=f"/review/{number}")
    assert done.status_code == 303
    order = fresh(session, Sanction)[0]
    assert order.state == "ended" and order.ended_at is not None
    ended = fresh(session, OutboxEvent, type="sanction.ended")
    assert [(e.number, e.data) for e in ended] == [
        (number, {"sanction_id": order.id, "kind": "order_correction"})]
    again = post(moderator, path, {"complied_note": "Again"}, page=f"/review/{number}")
    assert "no longer in force" in shown_after(moderator, again).text
    assert len(fresh(session, OutboxEvent, type="sanction.ended")) == 1
