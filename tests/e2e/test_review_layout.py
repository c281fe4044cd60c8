"""The review queue's "Find" button is a button beside (desktop) or under (phone) its field, not
a slab or a half-circle; registration numbers are never broken across lines."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e import wizard as w
from tests.e2e.conftest import STAFF, STAFF_PASSWORD, A11y, Server

SCREENS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}

BOX = "el => { const r = el.getBoundingClientRect(); const s = getComputedStyle(el);" \
      " return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, width: r.width," \
      " height: r.height, radius: parseFloat(s.borderTopRightRadius)} }"
# An inline element broken across lines has one box per line.
LINES = "el => { const range = document.createRange(); range.selectNodeContents(el);" \
        " return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size }"


@pytest.fixture(scope="module")
def number(browser: Browser, server: Server) -> str:
    page = browser.new_context(base_url=server.url).new_page()
    return w.register_adult(page, "layout")


def _moderator(browser: Browser, server: Server, screen: str) -> Page:
    page = browser.new_context(base_url=server.url, viewport=SCREENS[screen]).new_page()
    page.goto("/login")
    page.get_by_label("Email address").fill(STAFF["moderator"])
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Review")
    return page


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_find_is_a_button_and_numbers_stay_on_one_line(browser: Browser, server: Server,
                                                        a11y: A11y, number: str,
                                                        screen: str) -> None:
    page = _moderator(browser, server, screen)
    field = page.get_by_label("Find a registration by its number")
    find = page.get_by_role("button", name="Find", exact=True)
    expect(find).to_be_visible()
    box, input_box = find.evaluate(BOX), field.evaluate(BOX)
    # As tall as the field it submits, with the corners of every other button.
    assert abs(box["height"] - input_box["height"]) <= 2, (box, input_box)
    assert box["radius"] <= 8, box
    assert box["width"] < 200, box  # not a slab
    beside = box["left"] >= input_box["right"] and abs(box["bottom"] - input_box["bottom"]) <= 2
    under = box["top"] >= input_box["bottom"]
    assert beside or under, (box, input_box)
    assert page.evaluate("document.documentElement.scrollWidth") <= SCREENS[screen]["width"]

    link = page.get_by_role("link", name=number, exact=True)
    expect(link).to_be_visible()
    assert link.evaluate(LINES) == 1
    a11y.check(page)

    field.fill(number)
    find.click()
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(number)
    assert heading.evaluate(LINES) == 1

    page.goto(f"/verify/{number}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(number)
    assert page.locator("h1 .nowrap").evaluate(LINES) == 1
