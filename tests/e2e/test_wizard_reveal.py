"""Follow-up fields show once the answer before them opens them, and only then: with JavaScript
and without, in English and Chinese, on a desktop and on a 375 px phone, axe clean. The account
page leads to the page of what will be asked before anything starts."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e import wizard as w
from tests.e2e.conftest import A11y, Server

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}
LANGUAGE_NAMES = {"en": "English", "zh-Hans": "简体中文"}
# The words a person reads, in each language.
WORDS = {
    "en": {
        "start": "Start your registration", "start now": "Start now", "yes": "Yes", "no": "No",
        "avatar": "Do your streams use a virtual avatar or an AI-generated presenter?",
        "avatar name": "Avatar name", "roles": "Which roles do you register for?",
        "operator": "Live-room operator",
        "roster": "Registration numbers of the streamers you manage",
        "named staff": "Only named staff operate the live room",
        "staff": "Staff who operate the live room",
        "own site": "Do you run your own shop site, outside the platforms?", "domain": "Domain",
    },
    "zh-Hans": {
        "start": "开始备案", "start now": "现在开始", "yes": "是", "no": "否",
        "avatar": "您的直播是否使用虚拟形象或人工智能生成的主播形象？",
        "avatar name": "虚拟形象名称", "roles": "您以哪些角色备案？",
        "operator": "直播间运营者",
        "roster": "您管理的主播的备案编号",
        "named staff": "直播间仅由指定的工作人员操作",
        "staff": "操作直播间的工作人员",
        "own site": "您是否在平台之外运营自建购物网站？", "domain": "域名",
    },
}


def switch_language(page: Page, lang: str) -> None:
    """Choose a language with the switch every page has (it comes back to the same page)."""
    if page.locator("html").get_attribute("lang") == lang:
        return
    page.locator("nav.language-switch").get_by_role(
        "link", name=LANGUAGE_NAMES[lang], exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", lang)


def looks_right(page: Page, a11y: A11y | None) -> None:
    """No sideways scrolling, and axe finds nothing serious (axe runs only where JavaScript
    does: the pages are the same HTML with it and without)."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url
    if a11y is not None:
        a11y.check(page)


def answer(page: Page, question: str, choice: str) -> None:
    page.get_by_role("group", name=question).get_by_label(choice, exact=True).check()


def roles_open_their_follow_ups(page: Page, words: dict[str, str]) -> None:
    avatar_name = page.get_by_label(words["avatar name"], exact=True)
    expect(avatar_name).to_be_hidden()
    answer(page, words["avatar"], words["no"])
    expect(avatar_name).to_be_hidden()
    answer(page, words["avatar"], words["yes"])
    expect(avatar_name).to_be_visible()
    answer(page, words["avatar"], words["no"])
    expect(avatar_name).to_be_hidden()

    roster = page.get_by_label(words["roster"], exact=True)
    expect(roster).to_be_hidden()
    operator = page.get_by_role("group", name=words["roles"]).get_by_label(words["operator"])
    operator.check()
    expect(roster).to_be_visible()
    operator.uncheck()
    expect(roster).to_be_hidden()
    operator.check()
    answer(page, words["avatar"], words["yes"])  # axe looks at the page with both open


def security_opens_its_follow_ups(page: Page, words: dict[str, str]) -> None:
    staff = page.get_by_label(words["staff"], exact=True)
    expect(staff).to_be_hidden()
    answer(page, words["named staff"], words["yes"])
    expect(staff).to_be_visible()
    domain = page.get_by_label(words["domain"], exact=True)
    expect(domain).to_be_hidden()
    answer(page, words["own site"], words["no"])
    expect(domain).to_be_hidden()
    answer(page, words["own site"], words["yes"])
    expect(domain).to_be_visible()


def in_view(page: Page, lang: str, screens: dict[str, dict[str, int]]) -> None:
    switch_language(page, lang)
    page.set_viewport_size(screens[lang])


@pytest.mark.parametrize(("javascript", "screens"), [
    (True, {"zh-Hans": PHONE, "en": DESKTOP}),
    (False, {"zh-Hans": PHONE, "en": PHONE}),
], ids=["javascript", "no-javascript"])
def test_follow_up_fields_open_with_their_answer(browser: Browser, server: Server, a11y: A11y,
                                                 javascript: bool,
                                                 screens: dict[str, dict[str, int]]) -> None:
    context = browser.new_context(java_script_enabled=javascript, base_url=server.url,
                                  viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(10_000)
    checks = a11y if javascript else None
    w.sign_up_verified(page, "reveal")

    # The account page leads to what will be asked; only "Start now" starts.
    in_view(page, "zh-Hans", screens)
    page.get_by_role("button", name=WORDS["zh-Hans"]["start"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(WORDS["zh-Hans"]["start"])
    looks_right(page, checks)
    in_view(page, "en", screens)
    expect(page.get_by_role("heading", level=1)).to_have_text(WORDS["en"]["start"])
    looks_right(page, checks)
    page.get_by_role("button", name=WORDS["en"]["start now"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your identity")
    w.fill_identity(page)
    w.save(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Roles and channels")

    for lang in ("zh-Hans", "en"):
        in_view(page, lang, screens)  # the page again, nothing chosen yet
        roles_open_their_follow_ups(page, WORDS[lang])
        looks_right(page, checks)

    # A "Yes" saved with its follow-up empty: the page comes back with the field shown.
    page.reload()
    w.fill_roles(page, roles=("Streamer (livestream marketer)", "Live-room operator"))
    answer(page, WORDS["en"]["avatar"], "Yes")
    w.save(page)
    avatar_name = page.get_by_label("Avatar name", exact=True)
    expect(avatar_name).to_be_visible()
    expect(avatar_name).to_have_attribute("aria-invalid", "true")
    avatar_name.fill("小星")
    page.get_by_label("The person whose likeness or voice the avatar uses has consented").check()
    w.save(page)

    expect(page.get_by_role("heading", level=1)).to_have_text("Security attestation")
    for lang in ("zh-Hans", "en"):
        in_view(page, lang, screens)
        security_opens_its_follow_ups(page, WORDS[lang])
        looks_right(page, checks)

    # Saved with "Yes", the step shows its follow-up with the answer.
    page.goto("/apply/roles")
    expect(page.get_by_label("Avatar name", exact=True)).to_have_value("小星")
    expect(page.get_by_label(WORDS["en"]["roster"], exact=True)).to_be_visible()
    context.close()
