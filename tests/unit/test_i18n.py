from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from bs4 import BeautifulSoup

from portal import i18n

ROOT = Path(__file__).resolve().parents[2]
ZH_PO = ROOT / "portal" / "locale" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-Hans"),
        ("zh", "zh-Hans"),
        ("zh-TW", "zh-Hans"),
        ("en-US,en;q=0.9,zh;q=0.8", "en"),
        ("fr-FR,fr;q=0.9", "en"),
        ("fr;q=0.9,zh;q=0.5", "zh-Hans"),
        ("en;q=0.1,zh;q=0.5", "zh-Hans"),
        ("zh;q=0", "en"),
        ("garbage;;q=x", "en"),
    ],
)
def test_negotiate_prefers_chinese_for_zh_browsers(header, expected) -> None:
    assert i18n.negotiate(header) == expected


def test_every_message_in_code_and_templates_is_translated_to_chinese(tmp_path) -> None:
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg",
         "-k", "_", "-k", "lazy_gettext", "-o", str(pot), "--no-location", "."],
        cwd=ROOT, check=True, capture_output=True,
    )
    with pot.open("rb") as fh:
        wanted = {m.id for m in read_po(fh) if m.id}
    assert len(wanted) > 50, "extraction found too few messages"
    with ZH_PO.open("rb") as fh:
        catalog = read_po(fh, locale="zh_Hans_CN")
    translated = {m.id for m in catalog if m.id and m.string and "fuzzy" not in m.flags}
    missing = sorted(str(m) for m in wanted - translated)
    assert not missing, f"untranslated (run `make messages` and translate): {missing}"
    problems = [(m.id, errs) for m, errs in catalog.check() if errs]
    assert not problems, problems


def _title(response) -> str:
    return BeautifulSoup(response.text, "html.parser").title.get_text(strip=True)


def test_chinese_browser_gets_chinese_page(client) -> None:
    response = client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert response.headers["content-language"] == "zh-Hans"
    soup = BeautifulSoup(response.text, "html.parser")
    assert soup.html["lang"] == "zh-Hans"
    assert soup.h1.get_text(strip=True) == "直播营销备案"


def test_other_browsers_get_english(client) -> None:
    response = client.get("/", headers={"Accept-Language": "de-DE"})
    assert BeautifulSoup(response.text, "html.parser").html["lang"] == "en"
    assert "Register to sell by livestream" in _title(response)


def test_switcher_remembers_choice_over_browser_preference(client) -> None:
    response = client.get("/lang/zh-Hans?next=/signup", headers={"Accept-Language": "en"})
    assert response.status_code == 303 and response.headers["location"] == "/signup"
    page = client.get("/signup", headers={"Accept-Language": "en"})
    assert "注册账号" in _title(page)
    client.get("/lang/en?next=/")
    page = client.get("/signup", headers={"Accept-Language": "zh-CN"})
    assert "Create an account" in _title(page)


def test_switcher_refuses_unknown_language_and_foreign_next(client) -> None:
    assert client.get("/lang/xx").status_code == 404
    response = client.get("/lang/en?next=https://evil.example/")
    assert response.headers["location"] == "/"
    response = client.get("/lang/en?next=//evil.example/")
    assert response.headers["location"] == "/"


def test_validation_messages_follow_the_language(client, auth) -> None:
    client.get("/lang/zh-Hans")
    response = auth.post(
        "/signup", {"email": "bad", "password": "short", "password_confirm": "short"}
    )
    soup = BeautifulSoup(response.text, "html.parser")
    assert "请输入格式正确的电子邮箱" in soup.find(id="email-error").get_text()
    assert "密码至少需要 12 个字符" in soup.find(id="password-error").get_text()
