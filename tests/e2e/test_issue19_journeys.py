"""What people meet (issue 19): a failed step keeps what was typed, check-your-answers and the
moderator's page show every answer (the live room opens, the bio and the incident procedure
keep their lines), and each person hears back in the language they chose for messages.

One journey: each page is looked at on a desktop and on a 375 px phone, in English and in
Chinese (chosen with the site's language switch, as a person does), with axe on each."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e import wizard as w
from tests.e2e.conftest import A11y, Server
from tests.e2e.test_review import log_in_moderator, new_page, open_registration
from tests.e2e.views import in_each_view, switch_language

ROOM = "https://live.douyin.com/778899"
BIO = "每天晚上八点直播\n只卖自家茶叶"
PROCEDURE = "断流时暂停销售\n三十分钟内通知平台"
MESSAGE = "The account name does not match the live room"

# The words a person reads, in each language.
WORDS = {
    "en": {"not saved": "Not saved yet", "channel": "Channel 1", "account": "Account name",
           "bio": "Bio (optional)", "room": "Live room address (optional)",
           "room row": "Live room of channel 1", "bio row": "Bio of channel 1",
           "procedure row": "Incident procedure"},
    "zh-Hans": {"not saved": "尚未保存", "channel": "直播账号 1", "account": "账号名称",
                "bio": "简介（选填）", "room": "直播间地址（选填）",
                "room row": "直播账号 1 的直播间地址", "bio row": "直播账号 1 的简介",
                "procedure row": "安全事件处置流程"},
}


def answer(page: Page, label: str) -> Locator:
    """The value beside an answer's label, on check-your-answers or the moderator's page."""
    return page.locator(".summary-list > div").filter(
        has=page.locator("dt").get_by_text(label, exact=True)).locator("dd").first


def every_answer(page: Page, lang: str) -> None:
    words = WORDS[lang]
    room = answer(page, words["room row"]).get_by_role("link", name=ROOM)
    expect(room).to_be_visible()
    expect(room).to_have_attribute("target", "_blank")
    expect(room).to_have_attribute("rel", "noopener noreferrer nofollow")
    # The line breaks typed are kept (white-space: pre-line), not run together.
    assert answer(page, words["bio row"]).inner_text() == BIO
    assert answer(page, words["procedure row"]).inner_text() == PROCEDURE


def test_typed_values_every_answer_and_the_readers_language(browser: Browser, server: Server,
                                                            a11y: A11y) -> None:
    applicant = new_page(browser, server)
    w.sign_up_verified(applicant, "issue19")
    w.start_registration(applicant)
    w.fill_identity(applicant)
    w.save(applicant)

    # A step with an error: leaving and coming back shows what was typed.
    w.fill_roles(applicant)
    channel = applicant.get_by_role("group", name="Channel 1")
    channel.get_by_label("Live room address (optional)").fill("http://live.douyin.com/778899")
    channel.get_by_label("Bio (optional)").fill(BIO)
    w.save(applicant)
    expect(applicant.get_by_role("heading", level=1)).to_have_text("Roles and channels")
    applicant.goto("/apply")
    applicant.get_by_role("link", name="Roles and channels").first.click()

    def typed_values(page: Page, lang: str) -> None:
        words = WORDS[lang]
        expect(page.get_by_role("status")).to_contain_text(words["not saved"])
        typed = page.get_by_role("group", name=words["channel"])
        expect(typed.get_by_label(words["account"])).to_have_value("zhangsan_live")
        expect(typed.get_by_label(words["bio"])).to_have_value(BIO)
        expect(typed.get_by_label(words["room"])).to_have_value(
            "http://live.douyin.com/778899")

    in_each_view(applicant, a11y, typed_values)
    channel = applicant.get_by_role("group", name="Channel 1")
    channel.get_by_label("Live room address (optional)").fill(ROOM)
    w.save(applicant)
    expect(applicant.get_by_role("heading", level=1)).to_have_text("Security attestation")
    w.fill_security(applicant)
    applicant.get_by_label("Incident procedure (optional)").fill(PROCEDURE)
    w.save(applicant)
    w.fill_content(applicant)
    w.save(applicant)
    w.fill_commitments(applicant)
    w.save(applicant)
    # Check your answers: the live room, the bio and the procedure, with their line breaks.
    expect(applicant.get_by_role("heading", level=1)).to_have_text(
        "Check your answers and submit")
    in_each_view(applicant, a11y, every_answer)
    number = w.submit(applicant)

    # The applicant reads Chinese; the moderator works in English.
    applicant.goto("/me")
    applicant.get_by_role("group", name="Language of our emails and messages").get_by_label(
        "简体中文").check()
    applicant.get_by_role("button", name="Save the language").click()
    expect(applicant.get_by_text("We will write to you in 简体中文.")).to_be_visible()

    mod = new_page(browser, server)
    log_in_moderator(mod)
    open_registration(mod, number)
    in_each_view(mod, a11y, every_answer)
    mod.get_by_role("group", name="Which steps must the applicant change?").get_by_label(
        "Roles and channels", exact=True).check()
    mod.get_by_label("Message to the applicant about “Roles and channels”").fill(MESSAGE)
    mod.get_by_role("button", name="Request changes").click()
    expect(mod.get_by_role("status").first).to_have_text("Your decision has been recorded.")

    # In Chinese whatever language the page is in; the step and the message joined with "：".
    subject = f"您的备案 {number} 需要修改"

    def told_in_chinese(page: Page, lang: str) -> None:
        expect(page.get_by_text(subject).first).to_be_visible()
        # The request on the status page is in the page's language, punctuation included.
        asked = {"en": f"Roles and channels: {MESSAGE}", "zh-Hans": f"角色和直播账号：{MESSAGE}"}
        expect(page.get_by_role("status").filter(has_text=MESSAGE).first).to_contain_text(
            asked[lang])

    applicant.goto("/me")
    in_each_view(applicant, a11y, told_in_chinese)
    applicant.goto("/dev/mailbox")
    mail = applicant.get_by_role("article").filter(has_text=subject).first
    expect(mail).to_contain_text(f"角色和直播账号：{MESSAGE}")
    expect(mail).not_to_contain_text("A moderator asks")

    # Now the applicant reads English, and the moderator works in Chinese.
    applicant.goto("/me")
    applicant.get_by_role("group", name="Language of our emails and messages").get_by_label(
        "English").check()
    applicant.get_by_role("button", name="Save the language").click()
    expect(applicant.get_by_text("We will write to you in English.")).to_be_visible()
    applicant.get_by_role("link", name="Roles and channels").first.click()
    w.save(applicant)
    expect(applicant.get_by_role("heading", level=1)).to_have_text("Security attestation")
    applicant.goto("/apply/review")
    assert w.submit(applicant) == number

    open_registration(mod, number)
    switch_language(mod, "zh-Hans")
    mod.get_by_role("button", name="通过该备案", exact=True).click()
    expect(mod.get_by_role("status").first).to_have_text("您的审核决定已记录。")

    approved = f"Your registration {number} is approved"

    def told_in_english(page: Page, lang: str) -> None:
        expect(page.get_by_text(approved).first).to_be_visible()
        expect(page.get_by_text(re.compile(f"您的备案 {number} 已通过"))).to_have_count(0)

    applicant.goto("/me")
    in_each_view(applicant, a11y, told_in_english)
    applicant.goto("/dev/mailbox")
    mail = applicant.get_by_role("article").filter(has_text=approved).first
    expect(mail).to_contain_text("has been approved")
    expect(mail).not_to_contain_text("已通过")
