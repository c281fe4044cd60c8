"""The check-your-answers page and the moderator's page show every answer as it was typed."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup

from portal.base import i18n
from portal.registration import steps
from tests.unit.conftest import applicant_logged_in
from tests.unit.factories import make_registration

STAFF = "李四 场控\n王五 客服"
PROCEDURE = "断流时暂停销售\n三十分钟内通知平台"
ROOM = "https://live.douyin.com/123456"
BIO = "每天晚上八点直播\n只卖自家茶叶"
ANSWERS = {"roles": {"channel-0-room_url": ROOM, "channel-0-bio": BIO},
           "security": {"staff_list": STAFF, "incident_details": PROCEDURE}}


def _answers(html: str) -> dict[str, BeautifulSoup]:
    soup = BeautifulSoup(html, "html.parser")
    return {dt.get_text(strip=True): dt.find_next_sibling("dd")
            for section in soup.select("section.answers") for dt in section.find_all("dt")}


def _check(rows: dict[str, BeautifulSoup]) -> None:
    assert rows["Bio of channel 1"].get_text() == BIO
    assert rows["Incident procedure"].get_text() == PROCEDURE
    assert rows["Named staff"].get_text() == STAFF  # the line breaks kept (white-space: pre-line)
    room = rows["Live room of channel 1"].find("a")
    assert room["href"] == ROOM and room["target"] == "_blank"
    assert set(room["rel"]) == {"noopener", "noreferrer", "nofollow"}


def test_check_your_answers_shows_every_answer(app, client, session, settings) -> None:
    registration = make_registration(session, settings, status="draft", **ANSWERS)
    applicant_logged_in(client, app, session, registration)
    _check(_answers(client.get("/apply/review").text))


def test_the_moderator_reads_every_answer_and_can_open_the_live_room(
        app, client, session, settings, moderator) -> None:
    number = make_registration(session, settings, status="submitted", **ANSWERS).number
    _check(_answers(moderator.get(f"/review/{number}").text))


@pytest.mark.parametrize(("lang", "city", "shown"), [
    ("en", "Beijing", "Beijing"), ("en", "北京市", "Beijing"), ("zh-Hans", "Beijing", "北京市"),
    ("en", "Chaoyang", "Beijing · Chaoyang"), ("en", "1101", "Beijing"),
])
def test_a_place_is_named_once(lang: str, city: str, shown: str) -> None:
    token = i18n.set_language(lang)
    try:
        assert steps.place_label("11", city) == shown
    finally:
        i18n.reset_language(token)
