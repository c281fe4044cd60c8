"""Dates, moments and numbers are written as the page's language writes them (Babel, CLDR)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from portal.base import i18n
from portal.web.core import make_templates


@pytest.fixture(params=["en", "zh-Hans"])
def lang(request: pytest.FixtureRequest):
    token = i18n.set_language(request.param)
    yield request.param
    i18n.reset_language(token)


EXPECTED = {
    "en": {
        "date": "March 12, 1985",
        "iso_moment_date": "November 6, 2027",  # 16:30 UTC is the next day in China
        "short_date": "3/12/85",
        "datetime": "2 Jan 2026, 11:04 CST",
        "number": "1,234,567",
        "decimal": "12,000.5",
    },
    "zh-Hans": {
        "date": "1985年3月12日",
        "iso_moment_date": "2027年11月6日",
        "short_date": "1985/3/12",
        "datetime": "2026年1月2日 11:04 CST",
        "number": "1,234,567",
        "decimal": "12,000.5",
    },
}


def test_dates_in_the_language(lang: str) -> None:
    want = EXPECTED[lang]
    assert i18n.format_date(date(1985, 3, 12)) == want["date"]
    assert i18n.format_date("1985-03-12") == want["date"]
    assert i18n.format_date("2027-11-05T16:30:00Z") == want["iso_moment_date"]
    assert i18n.format_date(date(1985, 3, 12), "short") == want["short_date"]


def test_moments_in_china_standard_time(lang: str) -> None:
    moment = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    want = EXPECTED[lang]["datetime"]
    assert i18n.format_datetime(moment) == want
    assert i18n.format_datetime("2026-01-02T03:04:00Z") == want
    assert i18n.format_datetime(moment.replace(tzinfo=None)) == want  # naive: UTC


def test_days_counted_in_china_with_the_zone(lang: str) -> None:
    want = {"en": "6 Nov 2027 CST", "zh-Hans": "2027年11月6日 CST"}[lang]
    assert i18n.format_day(datetime(2027, 11, 5, 16, 30, tzinfo=UTC)) == want
    assert i18n.format_day(date(2027, 11, 6)) == want


def test_numbers_in_the_language(lang: str) -> None:
    want = EXPECTED[lang]
    assert i18n.format_number(1234567) == want["number"]
    assert i18n.format_number("1234567") == want["number"]
    assert i18n.format_number(Decimal("12000.5")) == want["decimal"]
    assert i18n.format_number(0) == "0"


@pytest.mark.parametrize("value", [None, "", "not a date", "2026-13-40"])
def test_what_is_not_a_date_is_shown_as_it_is(value: object) -> None:
    assert i18n.format_date(value) == ("" if value is None else value)
    assert i18n.format_datetime(value) == ("" if value is None else value)


@pytest.mark.parametrize("value", [None, "", "n/a", True])
def test_what_is_not_a_number_is_shown_as_it_is(value: object) -> None:
    assert i18n.format_number(value) == ("" if value is None else str(value))


def test_templates_have_the_filters(lang: str) -> None:
    env = make_templates().env
    template = env.from_string(
        "{{ day | date }} · {{ moment | datetime }} · {{ count | number }}")
    text = template.render(day=date(1985, 3, 12),
                           moment=datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
                           count=1234567)
    want = EXPECTED[lang]
    assert text == f"{want['date']} · {want['datetime']} · {want['number']}"


def test_counts_in_messages_are_grouped(client) -> None:
    """A translated count takes the formatted number: "%(num)s registrations waiting"."""
    env = make_templates().env
    for lang, want in (("en", "1,234 registrations waiting"), ("zh-Hans", "1,234 件备案待审核")):
        token = i18n.set_language(lang)
        try:
            text = env.from_string(
                '{{ ngettext("%(num)s registration waiting", "%(num)s registrations waiting",'
                ' total, num=total | number) }}').render(total=1234)
        finally:
            i18n.reset_language(token)
        assert text == want
