"""Staff forms redirect after every POST (post/redirect/get): a refused form, a conflict or a
reveal lands on the registration's page, which shows what was typed and the errors once, so
that refresh and Back never send the form again or answer 405. What waits in the session cookie
is sealed: typed text and revealed values are not readable in it."""

from __future__ import annotations

import base64

from tests.unit.conftest import staff_client
from tests.unit.factories import make_registration
from tests.unit.http_wizard import ADULT_ID, field_errors, post, version_of
from tests.unit.prg import shown_after

TYPED = "请核对直播间地址 check the room address"


def _cookie_text(client) -> str:  # type: ignore[no-untyped-def]
    value = client.cookies.get("portal_session") or ""
    payload = value.split(".")[0]
    return base64.b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8", "replace")


def test_refused_request_for_changes_redirects_and_keeps_what_was_typed(
        app, session, settings) -> None:
    number = make_registration(session, settings, status="submitted").number
    moderator = staff_client(app, session, "reviewer@example.com", role="moderator")
    page = f"/review/{number}"
    refused = post(moderator, f"{page}/request-changes", {
        "version": version_of(moderator, number), "steps": "roles", "message_roles": "",
        "internal_note": TYPED}, page=page)
    assert refused.status_code == 303 and refused.headers["location"] == page
    assert TYPED not in _cookie_text(moderator)  # sealed, not only signed

    shown = shown_after(moderator, refused)
    assert "message_roles" in field_errors(shown.text)
    assert TYPED in shown.text  # the internal note typed is still in its field
    again = moderator.get(page)  # a refresh: the page, without the old errors
    assert again.status_code == 200 and not field_errors(again.text)


def test_a_reveal_redirects_and_shows_the_value_once(app, session, settings) -> None:
    number = make_registration(session, settings, status="approved").number
    auditor = staff_client(app, session, "inspector@example.com")
    record = f"/audit/registrations/{number}"
    revealed = post(auditor, f"{record}/reveal", {
        "field": "id_number", "reason_id_number": "Inspection 2026-18"}, page=record)
    assert revealed.status_code == 303
    assert ADULT_ID not in _cookie_text(auditor)
    assert ADULT_ID in shown_after(auditor, revealed).text
    assert ADULT_ID not in auditor.get(record).text


def test_what_one_page_keeps_is_not_shown_on_another(app, session, settings) -> None:
    first = make_registration(session, settings, status="submitted").number
    second = make_registration(session, settings, status="submitted",
                               email="other@example.com",
                               identity={"id_number": "11010519491231002X",
                                         "date_of_birth": "1949-12-31"}).number
    moderator = staff_client(app, session, "reviewer@example.com", role="moderator")
    refused = post(moderator, f"/review/{first}/reject", {
        "version": version_of(moderator, first), "reason_code": "", "message": TYPED},
        page=f"/review/{first}")
    assert refused.status_code == 303
    assert TYPED not in moderator.get(f"/review/{second}").text
    assert TYPED in moderator.get(f"/review/{first}").text


def test_a_form_too_long_to_keep_is_shown_where_it_was_sent(app, session, settings) -> None:
    number = make_registration(session, settings, status="submitted").number
    moderator = staff_client(app, session, "reviewer@example.com", role="moderator")
    long_note = "备注" * 1500
    refused = post(moderator, f"/review/{number}/reject", {
        "version": version_of(moderator, number), "reason_code": "", "message": "",
        "internal_note": long_note}, page=f"/review/{number}")
    assert refused.status_code == 422  # nothing typed is lost, even then
    assert long_note in refused.text or "reason_code" in field_errors(refused.text)


# --- The auditor's look-up by identity and log explorer (tests/unit/web/test_audit_prg.py) ---


def test_the_auditors_look_up_and_log_check_redirect_and_seal_what_they_keep(
        app, session, settings) -> None:
    make_registration(session, settings, status="approved")
    auditor = staff_client(app, session, "inspector@example.com")
    for path, data, page in (
            ("/audit/lookup", {"id_type": "cn_resident_id", "id_number": ADULT_ID,
                               "reason": TYPED}, "/audit/lookup"),
            ("/audit/log/consistency", {"tree_size": "1", "root_hash": TYPED}, "/audit/log")):
        answered = post(auditor, path, data, page=page)
        assert answered.status_code == 303, path
        assert answered.headers["location"].split("#")[0] == page
        assert TYPED not in _cookie_text(auditor) and ADULT_ID not in _cookie_text(auditor)
        assert TYPED in shown_after(auditor, answered).text
        assert TYPED not in auditor.get(page).text  # once
