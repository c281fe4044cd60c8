"""The review queue's "Find" button is a button beside (desktop) or under (phone) its field, not
a slab or a half-circle; registration numbers are never broken across lines."""

from __future__ import annotations

from collections.abc import Callable

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


# --- The moderator's registration page: documents beside answers, the decision in view -------

PANEL = ".review-layout__decide"
PHONE = {"width": 375, "height": 740}
# English then Chinese, on a desktop and on a 375 px phone.
VIEWS = (("en", SCREENS["desktop"]), ("en", PHONE), ("zh-Hans", PHONE),
         ("zh-Hans", SCREENS["desktop"]))
LANGUAGE_NAMES = {"en": "English", "zh-Hans": "简体中文"}


def _switch_language(page: Page, lang: str) -> None:
    """Choose a language with the switch every page has (it comes back to the same page)."""
    page.locator("nav.language-switch").get_by_role(
        "link", name=LANGUAGE_NAMES[lang], exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", lang)


def _in_each_view(page: Page, a11y: A11y, check: Callable[[Page, str], None]) -> None:
    """``check`` the page in each language (chosen with the site's switch) and screen, the page
    no wider than the screen, axe each time; then back to English on a desktop."""
    for lang, screen in VIEWS:
        if page.locator("html").get_attribute("lang") != lang:
            _switch_language(page, lang)
        page.set_viewport_size(screen)
        check(page, lang)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        a11y.check(page)
    page.set_viewport_size(SCREENS["desktop"])
    _switch_language(page, "en")


def _identity_answers(page: Page):  # type: ignore[no-untyped-def]
    return page.locator("section.answers").filter(has=page.locator("#answers-identity"))


def _in_view(page: Page, selector: str) -> float:
    """How much of the element the window shows (0 to 1)."""
    return float(page.locator(selector).evaluate(
        "el => { const r = el.getBoundingClientRect(); const h = window.innerHeight;"
        " return Math.max(0, Math.min(r.bottom, h) - Math.max(r.top, 0)) / r.height }"))


def _documents_beside_and_the_decision_in_view(page: Page, lang: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    section = _identity_answers(page)
    # The scans of the ID document are in the identity answers' section, each a link.
    links = section.locator(".proved__documents a")
    expect(links).to_have_count(2)
    expect(links.first).to_have_attribute("target", "_blank")
    assert (links.first.get_attribute("href") or "").startswith("/documents/")
    answers = section.locator(".proved__answers").evaluate(BOX)
    documents = section.locator(".proved__documents").evaluate(BOX)
    panel = page.locator(PANEL)
    approve, reject = panel.locator("button[type=submit]").first, \
        panel.locator("button[type=submit]").last
    record = page.locator(".review-layout__record").evaluate(BOX)
    if page.viewport_size["width"] >= 1024:  # type: ignore[index]
        # Beside the name, the ID number and the date of birth they prove.
        assert documents["left"] >= answers["right"], (documents, answers)
        assert abs(documents["top"] - answers["top"]) < 60, (documents, answers)
        # The decision panel, beside the record, stays in view while the answers scroll.
        assert panel.evaluate(BOX)["left"] >= record["right"]
        for where in ("#answers-roles", "#answers-commitments", "#history-title"):
            page.evaluate(f"document.querySelector('{where}').scrollIntoView()")
            expect(approve).to_be_in_viewport()
            assert _in_view(page, PANEL) > 0.9, where
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        expect(approve).to_be_in_viewport()
        assert _in_view(page, PANEL) > 0.6
        # Taller than the window, the panel scrolls in itself: its last button is reached
        # without leaving the bottom of the page.
        reject.scroll_into_view_if_needed()
        expect(reject).to_be_in_viewport(ratio=1)
        assert page.evaluate("window.scrollY + window.innerHeight") >= page.evaluate(
            "document.documentElement.scrollHeight") - 2
        panel.evaluate("el => el.scrollTo(0, 0)")
    else:
        # On a phone: one above the other, the documents under the answers they prove; the
        # decision at the end, after the record, never over it.
        assert documents["top"] >= answers["bottom"] - 1, (documents, answers)
        assert panel.evaluate("el => getComputedStyle(el).position") == "static"
        assert panel.evaluate(BOX)["top"] >= record["bottom"] - 1
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        expect(reject).to_be_in_viewport()
    page.evaluate("window.scrollTo(0, 0)")


def test_documents_sit_beside_their_answers_and_the_decision_stays_in_view(
        browser: Browser, server: Server, a11y: A11y, number: str) -> None:
    page = _moderator(browser, server, "desktop")
    page.goto(f"/review/{number}")
    expect(page.get_by_role("heading", level=1)).to_have_text(number)
    _in_each_view(page, a11y, _documents_beside_and_the_decision_in_view)
    # The keyboard reads the record first, then decides: the panel comes after the record in
    # the page's order, and "Go to the decision" takes the keyboard straight to it.
    assert page.evaluate("document.querySelector('.review-layout__record').compareDocumentPosition("
                         "document.querySelector('.review-layout__decide'))"
                         " & Node.DOCUMENT_POSITION_FOLLOWING")
    assert page.locator("[tabindex]:not([tabindex='0']):not([tabindex='-1'])").count() == 0
    page.get_by_role("link", name="Go to the decision").press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('.review-layout__decide') !== null")
    expect(page.locator(":focus")).to_be_in_viewport()
