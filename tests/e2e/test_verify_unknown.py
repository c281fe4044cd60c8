"""A buyer checks a number nobody holds: the page says so and what to do, in both languages, on
a desktop and on a phone."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import A11y, Server

SCREENS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 740}}
WORDS = {
    "en": ("Check a registration", "Registration number", "Check",
           "No registration has this number", "The seller may not be registered",
           "report an unregistered seller on the national 12315 platform"),
    "zh-Hans": ("核验备案", "备案编号", "核验", "没有备案使用此编号", "卖家可能未备案",
                "在全国12315平台举报未备案的卖家"),
}


@pytest.mark.parametrize("screen", list(SCREENS))
@pytest.mark.parametrize("lang", list(WORDS))
def test_a_buyer_checks_an_unknown_number(browser: Browser, server: Server, a11y: A11y,
                                          screen: str, lang: str) -> None:
    context = browser.new_context(base_url=server.url, viewport=SCREENS[screen])
    page = context.new_page()
    page.goto(f"/lang/{lang}?next=/verify")
    _title, label, button, heading, seller, report = WORDS[lang]
    page.get_by_label(label).fill("lr-2026-0999999")
    page.get_by_role("button", name=button, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    expect(page.get_by_text(seller)).to_be_visible()
    expect(page.get_by_role("link", name=report)).to_have_attribute(
        "href", "https://www.12315.cn/")
    expect(page.get_by_label(label)).to_have_value("LR-2026-0999999")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    a11y.check(page)
    context.close()
