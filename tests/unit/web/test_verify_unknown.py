"""/verify with a number nobody holds: a page that says so and what a buyer can do."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup

from portal.base.i18n import LANG_COOKIE
from tests.unit.conftest import csrf_from

UNKNOWN = "LR-2026-0999999"


def _text(html: str) -> str:
    return " ".join(BeautifulSoup(html, "html.parser").get_text(" ").split())


def test_an_unknown_number_says_no_registration_has_it(client) -> None:
    response = client.get(f"/verify/{UNKNOWN}")
    assert response.status_code == 404
    text = _text(response.text)
    assert "No registration has this number" in text
    assert f"{UNKNOWN} is not in the registry" in text
    assert "The seller may not be registered" in text
    assert "Page not found" not in text
    report = BeautifulSoup(response.text, "html.parser").find("a", href="https://www.12315.cn/")
    assert report is not None and "report" in report.get_text().lower()


def test_the_check_form_with_an_unknown_number_lands_on_the_same_page(client) -> None:
    response = client.get("/verify", params={"number": UNKNOWN.lower()})
    assert response.status_code == 303
    landed = client.get(response.headers["location"])
    assert landed.status_code == 404
    assert "No registration has this number" in landed.text
    # The number can be corrected where it is shown.
    field = BeautifulSoup(landed.text, "html.parser").find("input", attrs={"name": "number"})
    assert field is not None and field["value"] == UNKNOWN


def test_an_unknown_number_in_chinese(client) -> None:
    client.cookies.set(LANG_COOKIE, "zh-Hans")
    text = _text(client.get(f"/verify/{UNKNOWN}").text)
    assert "没有备案使用此编号" in text and "卖家可能未备案" in text


@pytest.mark.parametrize("number", ["<script>", "X" * 200])
def test_whatever_is_typed_is_shown_escaped_and_short(client, number: str) -> None:
    response = client.get(f"/verify/{number}")
    assert response.status_code == 404
    main = response.text.split("<main", 1)[-1]
    assert "<script>" not in main and "X" * 31 not in main


def test_a_report_on_an_unknown_number_answers_the_same_page(client) -> None:
    data = {"category": "fraud", "description": "It sold me fakes",
            "csrf_token": csrf_from(client.get("/signup").text)}
    response = client.post(f"/verify/{UNKNOWN}/report", data=data)
    assert response.status_code == 404
    assert "No registration has this number" in response.text
