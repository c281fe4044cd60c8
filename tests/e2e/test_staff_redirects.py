"""Refused staff forms and reveals redirect to their page: the address bar shows the page, not
the form's action, so reloading it shows the page again (no 405), without the errors or the
clear value, which are shown once."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests.e2e import wizard as w
from tests.e2e.conftest import STAFF, STAFF_PASSWORD, Server

CLEAR_ID = "110105198503128794"


def _staff(browser: Browser, server: Server, role: str) -> Page:
    page = browser.new_context(base_url=server.url).new_page()
    page.goto("/login")
    page.get_by_label("Email address").fill(STAFF[role])
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name="Log out").or_(
        page.get_by_role("button", name="Log out"))).to_be_visible()
    return page


def test_refused_request_for_changes_and_a_reveal_can_be_reloaded(browser: Browser,
                                                                   server: Server) -> None:
    number = w.register_adult(browser.new_context(base_url=server.url).new_page(), "redirects")
    mod = _staff(browser, server, "moderator")
    mod.goto(f"/review/{number}")
    mod.get_by_role("group", name="Which steps must the applicant change?").get_by_label(
        "Roles and channels", exact=True).check()
    note = "Compare the handle with the live room before deciding"
    form = mod.locator("form").filter(has=mod.get_by_role("button", name="Request changes"))
    form.locator("textarea[name=internal_note]").fill(note)
    mod.get_by_role("button", name="Request changes").click()
    expect(mod.get_by_role("alert")).to_contain_text("Say what the applicant must change")
    assert mod.url.endswith(f"/review/{number}"), mod.url
    expect(form.locator("textarea[name=internal_note]")).to_have_value(note)  # kept
    answer = mod.reload()
    assert answer is not None and answer.status == 200
    expect(mod.get_by_role("heading", level=1)).to_have_text(number)
    expect(mod.get_by_role("alert")).to_have_count(0)  # shown once

    mod.get_by_label("Reason for revealing it: ID number").fill("Compare with the licence")
    mod.get_by_role("button", name="Reveal ID number").click()
    expect(mod.get_by_role("status").filter(has_text="ID number:")).to_contain_text(CLEAR_ID)
    assert re.search(rf"/review/{number}(#reveal-title)?$", mod.url), mod.url
    answer = mod.reload()
    assert answer is not None and answer.status == 200
    expect(mod.get_by_text(CLEAR_ID)).to_have_count(0)
