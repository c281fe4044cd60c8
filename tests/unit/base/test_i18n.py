from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest
from babel.messages.pofile import read_po
from bs4 import BeautifulSoup

from portal.base import i18n

ROOT = Path(__file__).resolve().parents[3]
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


# --- no text in a template escapes translation ------------------------------------------------

TEMPLATES = ROOT / "templates"
# Text that is the same in every language: protocol names and examples of identifiers.
UNTRANSLATED_OK = re.compile(r"\b(?:HTTP|evt_|LR-\d{4}-\d{7})\b|evt_")
VISIBLE_ATTRIBUTES = {"alt", "title", "placeholder", "aria-label", "aria-roledescription", "label"}
_EXPRESSION = "\ue000"  # stands for {{ ... }} and for the text of {% trans %} blocks


def _skeleton(source: str) -> str:
    """The template's markup and literal text, with every expression (and every text inside
    {% trans %}) replaced by a placeholder and every statement removed."""
    env = jinja2.Environment(extensions=["jinja2.ext.i18n"], trim_blocks=True,
                             lstrip_blocks=True, autoescape=True)  # only its lexer is used
    out: list[str] = []
    in_trans = in_block = False
    block: list[str] = []
    for _line, token, value in env.lex(source):
        if token == "block_begin":
            in_block, block = True, []
        elif token == "block_end":
            in_block = False
            if block[:1] in (["trans"], ["pluralize"]):
                in_trans = True
            elif block[:1] == ["endtrans"]:
                in_trans = False
        elif in_block:
            if token == "name":
                block.append(value)
        elif token == "data":
            out.append(_EXPRESSION if in_trans else value)
        elif token == "variable_begin":
            out.append(_EXPRESSION)
    return "".join(out)


class _TextFinder(HTMLParser):
    """Text nodes and visible attributes that hold words (Latin letters or Chinese)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.hidden += 1
        kind = dict(attrs).get("type")
        for name, value in attrs:
            if value and (name in VISIBLE_ATTRIBUTES
                          or (name == "value" and tag == "input" and kind in ("submit", "button"))):
                self._check(value, f"<{tag} {name}>")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self._check(data, "text")

    def _check(self, text: str, where: str) -> None:
        text = UNTRANSLATED_OK.sub(" ", text.replace(_EXPRESSION, " "))
        if '="' in text:
            return  # a macro that writes attributes (macros/forms.html), not text
        if re.search(r"[A-Za-z\u4e00-\u9fff]{2,}", text):
            self.found.append(f"{where}: {' '.join(text.split())!r}")


def untranslated_text(source: str) -> list[str]:
    finder = _TextFinder()
    finder.feed(_skeleton(source))
    finder.close()
    return finder.found


def test_the_checker_finds_text_outside_gettext() -> None:
    assert untranslated_text("<p>{{ _('Saved') }}</p>") == []
    assert untranslated_text("<p>{% trans %}Saved{% endtrans %}</p>") == []
    assert untranslated_text("<p>{{ number }} · {{ _('Saved') }}</p>") == []
    assert untranslated_text("<p>Saved {{ number }}</p>") == ["text: 'Saved'"]
    assert untranslated_text("<h2>已保存</h2>") == ["text: '已保存'"]
    assert untranslated_text('<input placeholder="Your name">') == [
        "<input placeholder>: 'Your name'"]
    assert untranslated_text('<a aria-label="Close" href="/x">×</a>') == [
        "<a aria-label>: 'Close'"]
    assert untranslated_text("{% if x %}<b>{{ y }}</b>{% endif %}") == []


@pytest.mark.parametrize("template", sorted(p.relative_to(TEMPLATES).as_posix()
                                            for p in TEMPLATES.rglob("*.html")))
def test_every_text_in_templates_is_translatable(template: str) -> None:
    """Words a person reads (text, labels, placeholders, alt texts) go through _() or
    {% trans %}, so they have a Chinese translation (the test above)."""
    found = untranslated_text((TEMPLATES / template).read_text(encoding="utf-8"))
    assert not found, f"{template} has text outside _() or {{% trans %}}: {found}"
