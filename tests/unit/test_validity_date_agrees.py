"""The approval email, /me and /verify write a registration's validity with one function: the
same words, in the reader's language, with the time zone named, even when the validity ends near
midnight (16:30 UTC is half past midnight the next day in China)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from portal.base import i18n
from portal.base.db import utcnow
from portal.oversight import review
from portal.platforms.notify import MailboxMessage
from portal.registration.models import Registration
from tests.unit.conftest import applicant_logged_in
from tests.unit.factories import make_account, make_registration
from tests.unit.http_wizard import fresh

WORDS = {"en": ("Dec", "CST"), "zh-Hans": ("年", "CST")}


def _last_half_past_four_utc() -> datetime:
    now = utcnow()
    moment = now.replace(hour=16, minute=30, second=0, microsecond=0)
    return moment if moment <= now else moment - timedelta(days=1)


@pytest.mark.parametrize("lang", ["en", "zh-Hans"])
def test_email_and_pages_agree_on_a_validity_ending_near_midnight(
        app, client: TestClient, session, settings, monkeypatch, lang: str) -> None:
    approved_at = _last_half_past_four_utc()
    monkeypatch.setattr(review, "utcnow", lambda: approved_at)
    applicant = make_account(session, email="wang@example.com")
    applicant.language = lang
    session.add(applicant)
    session.commit()
    number = make_registration(session, settings, status="approved", user=applicant).number
    registration = fresh(session, Registration, number=number)[0]
    until = registration.valid_until
    assert until is not None
    assert until.astimezone(UTC).hour == 16  # the next day in China

    token = i18n.set_language(lang)
    try:
        written = i18n.format_datetime(until)
    finally:
        i18n.reset_language(token)
    for word in WORDS[lang]:
        assert word in written
    china_day = until.astimezone(i18n.get_timezone(i18n.CHINA_TIME)).day
    assert (f"{china_day} " if lang == "en" else f"{china_day}日") in written

    mail = [m for m in fresh(session, MailboxMessage) if m.to == "wang@example.com"][-1]
    assert written in mail.body

    client.cookies.set(i18n.LANG_COOKIE, lang)
    assert written in client.get(f"/verify/{number}").text
    applicant_logged_in(client, app, session, registration)
    assert written in client.get("/me/certificate").text
