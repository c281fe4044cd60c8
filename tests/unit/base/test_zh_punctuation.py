"""Chinese text uses Chinese punctuation: full-width ，：；（） beside Chinese words, and lists
and label-value pairs built from translated words separated the Chinese way."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from portal.base import i18n
from portal.registration import steps

CJK = r"[\u3400-\u4dbf\u4e00-\u9fff]"
# Placeholders, addresses and code-like words hold no Chinese text to punctuate.
NOT_TEXT = re.compile(r"%\([a-z_]+\)[sd]|%[sd]|https?://\S+|`[^`]*`")
ASCII_BESIDE_CJK = re.compile(
    rf"{CJK}\s*[,:;]|[,:;]\s*{CJK}|{CJK}\s*\(|\(\s*{CJK}|{CJK}\s*\)|\)\s*{CJK}")
# Between two placeholders that hold translated words, the separator is the catalog's.
ASCII_BETWEEN_WORDS = re.compile(r"%\([a-z_]+\)s[,:;] %\([a-z_]+\)s")
# Entries whose ASCII punctuation stands beside code, not Chinese text.
ALLOWED: set[str] = set()


def _catalog():  # type: ignore[no-untyped-def]
    with (i18n.LOCALE_DIR / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale="zh_Hans_CN")


def test_chinese_messages_use_chinese_punctuation() -> None:
    wrong = []
    for message in _catalog():
        if not message.id or message.id in ALLOWED:
            continue
        texts = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in texts:
            if ASCII_BESIDE_CJK.search(NOT_TEXT.sub("X", text or "")) or \
                    ASCII_BETWEEN_WORDS.search(text or ""):
                wrong.append((message.id, text))
    assert not wrong, "ASCII punctuation beside Chinese text:\n" + "\n".join(map(repr, wrong))


@pytest.fixture
def chinese():  # type: ignore[no-untyped-def]
    token = i18n.set_language("zh-Hans")
    yield
    i18n.reset_language(token)


def test_summaries_of_answers_are_punctuated_the_chinese_way(chinese) -> None:
    rows = steps.summarize({
        "roles": {"roles": ["streamer"], "subject_kind": "person",
                  "channels": [{"platform": "douyin", "handle": "zhangsan_live"}]},
        "content": {"categories": ["beauty", "food"], "audience": "all_ages",
                    "professional_topics": ["law", "finance"]},
        "commitments": {"return_policy": "seven_day", "complaint_channel": "phone",
                        "complaint_contact": "400-000-0000", "response_hours": "24"},
    }, "content") + steps.summarize({"commitments": {
        "return_policy": "seven_day", "complaint_channel": "phone",
        "complaint_contact": "400-000-0000", "response_hours": "24"}}, "commitments") \
        + steps.summarize({"roles": {"roles": ["streamer"], "channels": [
            {"platform": "douyin", "handle": "zhangsan_live"}]}}, "roles")
    shown = " | ".join(f"{label} {value}" for label, value in rows)
    assert "法律、金融" in shown or "金融、法律" in shown, shown
    assert "：400-000-0000" in shown, shown
    assert not ASCII_BESIDE_CJK.search(NOT_TEXT.sub("X", shown)), shown


def test_join_words_and_label_value_follow_the_language() -> None:
    assert i18n.join_words(["Law", "Finance"]) == "Law, Finance"
    assert i18n.label_value("Phone", "123") == "Phone: 123"
    token = i18n.set_language("zh-Hans")
    try:
        assert i18n.join_words(["法律", "金融"]) == "法律、金融"
        assert i18n.label_value("电话", "123") == "电话：123"
    finally:
        i18n.reset_language(token)
