"""Screening flags and the log's entry types are shown as words in both languages, never as
their codes ("named_staff", "certificate.issued")."""

from __future__ import annotations

import re

import pytest
from bs4 import BeautifulSoup
from starlette.testclient import TestClient

from portal.base import i18n
from portal.ledger import tlog
from portal.ledger.event_names import EVENT_NAMES
from portal.registration import attestations, screening
from portal.registration.models import Registration
from tests.unit.conftest import staff_client
from tests.unit.factories import make_registration
from tests.unit.http_wizard import fresh

CJK = re.compile(r"[\u4e00-\u9fff]")
CODES = sorted(tlog.EVENT_TYPES | set(screening.FLAGS) | set(attestations.SECURITY_ITEMS)
               | set(attestations.PROFESSIONAL_TOPICS))


def _in(lang: str, label: object) -> str:
    token = i18n.set_language(lang)
    try:
        return str(label)
    finally:
        i18n.reset_language(token)


@pytest.mark.parametrize(("code", "labels"), [
    *[(t, EVENT_NAMES) for t in sorted(tlog.EVENT_TYPES)],
    *[(f, screening.FLAGS) for f in sorted(screening.FLAGS)],
])
def test_every_code_has_words_in_both_languages(code: str, labels: dict) -> None:
    assert code in labels, f"{code} has no label: add it beside the others"
    english = _in("en", labels[code])
    chinese = _in("zh-Hans", labels[code])
    assert english != code and " " in english and not re.search(r"[._]", english)
    assert CJK.search(chinese) and chinese != english, f"{code}: {english!r} is not translated"


def _visible(client: TestClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    soup = BeautifulSoup(response.text, "html.parser")
    for hidden in soup(["script", "style", "option"]):
        hidden.decompose()
    return soup.get_text(" ")


@pytest.mark.parametrize("lang", ["en", "zh-Hans"])
def test_staff_pages_show_words_not_codes(app, session, settings, lang: str) -> None:
    number = make_registration(
        session, settings, status="approved", security={"two_factor": "no"},
        content={"professional_topics": ["law"]},
        content_files={"qualification_law": ("law.pdf", b"%PDF-1.4 x", "application/pdf")},
    ).number
    registration = fresh(session, Registration, number=number)[0]
    flags = {f.code for f in screening.flags_of(session, registration.id)}
    assert {"attestation_no", "professional_topics"} <= flags
    moderator = staff_client(app, session, "reviewer@example.com", role="moderator")
    auditor = staff_client(app, session, "inspector@example.com", role="auditor")
    for client in (moderator, auditor):
        client.cookies.set(i18n.LANG_COOKIE, lang)
    pages = {
        "moderator's page": _visible(moderator, f"/review/{number}"),
        "auditor's record": _visible(auditor, f"/audit/registrations/{number}"),
        "log explorer": _visible(auditor, "/audit/log"),
    }
    for where, text in pages.items():
        shown = [code for code in CODES if re.search(rf"(?<![\w.]){re.escape(code)}(?![\w.])",
                                                     text)]
        assert not shown, f"{where} shows codes: {shown}"
    for words in (screening.FLAGS["attestation_no"], attestations.SECURITY_ITEMS["two_factor"],
                  attestations.PROFESSIONAL_TOPICS["law"]):
        assert _in(lang, words) in pages["moderator's page"]
        assert _in(lang, words) in pages["auditor's record"]
    assert _in(lang, EVENT_NAMES["certificate.issued"]) in pages["log explorer"]
