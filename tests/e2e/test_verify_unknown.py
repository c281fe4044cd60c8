"""A buyer checks a number nobody holds: the page says so and what to do, in both languages, on
a desktop and on a phone."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import A11y, Server
from tests.e2e.views import in_each_view

UNKNOWN = "LR-2026-0999999"
WORDS = {
    "en": ("Registration number", "No registration has this number",
           "The seller may not be registered",
           "report an unregistered seller on the national 12315 platform"),
    "zh-Hans": ("备案编号", "没有备案使用此编号", "卖家可能未备案",
                "在全国12315平台举报未备案的卖家"),
}


def says_nobody_holds_it(page: Page, lang: str) -> None:
    label, heading, seller, report = WORDS[lang]
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    expect(page.get_by_text(seller)).to_be_visible()
    expect(page.get_by_role("link", name=report)).to_have_attribute(
        "href", "https://www.12315.cn/")
    # The number can be corrected where it is shown.
    expect(page.get_by_label(label)).to_have_value(UNKNOWN)


def test_a_buyer_checks_an_unknown_number(browser: Browser, server: Server,
                                          a11y: A11y) -> None:
    context = browser.new_context(base_url=server.url)
    page = context.new_page()
    page.goto("/")
    page.get_by_role("link", name="Check a registration").first.click()
    page.get_by_label("Registration number").fill(UNKNOWN.lower())
    page.get_by_role("button", name="Check", exact=True).click()
    expect(page).to_have_url(f"{server.url}/verify/{UNKNOWN}")
    # The language switch opens the page's address again: /verify/<number> as a link shows it.
    in_each_view(page, a11y, says_nobody_holds_it)
    context.close()
