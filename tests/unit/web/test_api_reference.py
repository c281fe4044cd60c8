"""The HTML API reference: every operation's summary and description in the reader's
language."""

from __future__ import annotations

from bs4 import BeautifulSoup

from portal.api import openapi
from portal.base.i18n import LANG_COOKIE
from portal.web.api_reference import translated
from portal.web.api_texts import TEXTS


def test_every_summary_and_description_is_in_the_catalog(app) -> None:
    missing = [text for _kind, _title, _description, ops in openapi.reference()
               for op in ops for text in (op.summary, op.description)
               if text and " ".join(text.split()) not in TEXTS]
    assert missing == [], "add these to portal/web/api_texts.py and translate them"


def test_the_chinese_reference_describes_operations_in_chinese(client) -> None:
    client.cookies.set(LANG_COOKIE, "zh-Hans")
    soup = BeautifulSoup(client.get("/api/v1/docs").text, "html.parser")
    article = soup.find("h3", id="get_registration").find_parent("article")
    text = article.get_text(" ")
    assert "按编号查询一个备案" in text
    assert "Everything a platform checks" not in text and "透明日志" in text


def test_the_english_reference_is_unchanged(client) -> None:
    soup = BeautifulSoup(client.get("/api/v1/docs").text, "html.parser")
    article = soup.find("h3", id="get_registration").find_parent("article")
    assert "A registration by its number" in article.get_text(" ")


def test_a_text_the_catalog_does_not_know_is_shown_as_it_is() -> None:
    assert translated("Something new\n  and untranslated") == "Something new\n  and untranslated"
