"""The auditor's forms follow post/redirect/get: a look-up by identity and a consistency check
of the transparency log land on their page, which shows the results (or the errors and what was
typed) once. The ID number looked up is in no address, no session and no page after the POST."""

from __future__ import annotations

import json

from bs4 import BeautifulSoup
from sqlmodel import select

from portal.ledger.pii_access import PiiAccess
from tests.unit.conftest import staff_client
from tests.unit.factories import make_registration
from tests.unit.http_wizard import ADULT_ID, field_errors, post
from tests.unit.prg import shown_after
from tests.unit.web.test_post_redirect_get import _cookie_text

REASON = "Inspection 2026-31, a complaint about fake goods"


def _found(html: str) -> list[str]:
    section = BeautifulSoup(html, "html.parser").find(id="found-title")
    if section is None:
        return []
    return [a.get_text(strip=True) for a in section.find_parent("section").find_all("a")]


def _accesses(session) -> int:  # type: ignore[no-untyped-def]
    session.rollback()
    return len(session.exec(select(PiiAccess)).all())


def test_a_look_up_shows_its_results_once_and_the_number_nowhere(app, session,
                                                                 settings) -> None:
    number = make_registration(session, settings, status="approved").number
    auditor = staff_client(app, session, "inspector@example.com")
    looked = post(auditor, "/audit/lookup", {"id_type": "cn_resident_id", "id_number": ADULT_ID,
                                             "reason": REASON}, page="/audit/lookup")
    assert looked.status_code == 303
    location = looked.headers["location"]
    assert location == "/audit/lookup#found-title" and ADULT_ID not in location
    assert ADULT_ID not in _cookie_text(auditor) and number not in _cookie_text(auditor)
    assert _accesses(session) == 1

    shown = shown_after(auditor, looked)
    assert _found(shown.text) == [number]
    assert ADULT_ID not in shown.text  # neither in the results nor back in the form
    form = BeautifulSoup(shown.text, "html.parser")
    assert form.find("input", attrs={"name": "reason"})["value"] == REASON
    assert form.find("select", attrs={"name": "id_type"}).find(
        "option", selected=True)["value"] == "cn_resident_id"

    # A refresh shows the empty form: nothing is looked up (or logged) again.
    again = auditor.get("/audit/lookup")
    assert again.status_code == 200 and _found(again.text) == []
    assert REASON not in again.text
    assert _accesses(session) == 1


def test_a_refused_look_up_keeps_the_reason_and_asks_for_the_number_again(
        app, session, settings) -> None:
    make_registration(session, settings, status="approved")
    auditor = staff_client(app, session, "inspector@example.com")
    wrong = ADULT_ID[:-1] + "0"  # a wrong check digit
    refused = post(auditor, "/audit/lookup", {"id_type": "cn_resident_id", "id_number": wrong,
                                              "reason": REASON}, page="/audit/lookup")
    assert refused.status_code == 303 and refused.headers["location"] == "/audit/lookup"
    assert wrong not in _cookie_text(auditor)
    shown = shown_after(auditor, refused)
    assert "id_number" in field_errors(shown.text)
    assert wrong not in shown.text
    number_field = BeautifulSoup(shown.text, "html.parser").find(
        "input", attrs={"name": "id_number"})
    assert not number_field.get("value")
    assert REASON in shown.text and _found(shown.text) == []
    assert _accesses(session) == 0  # a refused look-up is no access
    assert not field_errors(auditor.get("/audit/lookup").text)  # once


def test_an_auditor_outside_the_jurisdiction_is_shown_nothing_found(app, session,
                                                                    settings) -> None:
    make_registration(session, settings, status="approved")  # in Beijing (11)
    far = staff_client(app, session, "far@example.com", jurisdiction="44")
    shown = shown_after(far, post(far, "/audit/lookup", {
        "id_type": "cn_resident_id", "id_number": ADULT_ID, "reason": REASON},
        page="/audit/lookup"))
    assert _found(shown.text) == []
    assert "No registration within your jurisdiction has this identity." in shown.text


def _checkpoint(client) -> dict:  # type: ignore[no-untyped-def,type-arg]
    page = BeautifulSoup(client.get("/audit/log").text, "html.parser")
    return json.loads(page.select_one("#checkpoint-json").get_text())


def _verdict(html: str) -> str:
    box = BeautifulSoup(html, "html.parser").select_one("#consistency .tag")
    return box.get_text(strip=True) if box else ""


def test_a_consistency_check_shows_its_result_once(app, session, approved) -> None:
    auditor = staff_client(app, session, "inspector@example.com")
    saved = _checkpoint(auditor)
    checked = post(auditor, "/audit/log/consistency", {"checkpoint": json.dumps(saved)},
                   page="/audit/log")
    assert checked.status_code == 303
    assert checked.headers["location"] == "/audit/log#consistency"
    shown = shown_after(auditor, checked)
    assert _verdict(shown.text) == "Consistent"
    assert saved["root_hash"] in shown.text  # what was pasted is back in the form
    assert _verdict(auditor.get("/audit/log").text) == ""  # a refresh: the form alone


def test_a_refused_consistency_check_keeps_what_was_typed_once(app, session, approved) -> None:
    auditor = staff_client(app, session, "inspector@example.com")
    refused = post(auditor, "/audit/log/consistency",
                   {"tree_size": "twelve", "root_hash": "AAAA"}, page="/audit/log")
    assert refused.status_code == 303
    shown = shown_after(auditor, refused)
    errors = field_errors(shown.text)
    assert "whole number" in errors["tree_size"] and "44 characters" in errors["root_hash"]
    page = BeautifulSoup(shown.text, "html.parser")
    assert page.find("input", attrs={"name": "tree_size"})["value"] == "twelve"
    assert page.find("input", attrs={"name": "root_hash"})["value"] == "AAAA"
    assert not field_errors(auditor.get("/audit/log").text)


def test_a_pasted_checkpoint_too_long_to_keep_is_answered_where_it_was_sent(
        app, session, approved) -> None:
    auditor = staff_client(app, session, "inspector@example.com")
    pasted = json.dumps({"tree_size": "x", "note": "备注" * 1500}, ensure_ascii=False)
    refused = post(auditor, "/audit/log/consistency", {"checkpoint": pasted}, page="/audit/log")
    assert refused.status_code == 422  # nothing typed is lost, even then
    assert "lacks root_hash" in field_errors(refused.text)["checkpoint"]
    assert "备注" * 1500 in refused.text  # what was pasted, back in its field
