"""What people meet (issue 19): a failed step keeps what was typed, the moderator reads every
answer and opens the live room, and the applicant hears back in the language they chose."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.e2e import wizard as w
from tests.e2e.conftest import A11y, Server
from tests.e2e.test_review import log_in_moderator, new_page, open_registration

ROOM = "https://live.douyin.com/778899"
BIO = "每天晚上八点直播\n只卖自家茶叶"


def test_typed_values_every_answer_and_the_readers_language(browser: Browser, server: Server,
                                                            a11y: A11y) -> None:
    applicant = new_page(browser, server)
    w.sign_up_verified(applicant, "issue19")
    applicant.get_by_role("button", name="Start your registration").click()
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
    expect(applicant.get_by_role("status")).to_contain_text("Not saved yet")
    channel = applicant.get_by_role("group", name="Channel 1")
    expect(channel.get_by_label("Account name")).to_have_value("zhangsan_live")
    expect(channel.get_by_label("Bio (optional)")).to_have_value(BIO)
    a11y.check(applicant)
    channel.get_by_label("Live room address (optional)").fill(ROOM)
    w.save(applicant)
    expect(applicant.get_by_role("heading", level=1)).to_have_text("Security attestation")
    w.fill_security(applicant)
    w.save(applicant)
    w.fill_content(applicant)
    w.save(applicant)
    w.fill_commitments(applicant)
    w.save(applicant)
    # Check your answers: the live room and the bio, with its line break.
    answers = applicant.locator("section.answers").filter(has_text="Roles and channels")
    expect(answers.get_by_role("link", name=ROOM)).to_be_visible()
    assert answers.locator("dd", has_text="只卖自家茶叶").inner_text() == BIO
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
    room = mod.get_by_role("link", name=ROOM)
    expect(room).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(room).to_have_attribute("target", "_blank")
    expect(mod.locator("dd", has_text="只卖自家茶叶")).to_have_text(BIO)
    a11y.check(mod)
    mod.get_by_role("group", name="Which steps must the applicant change?").get_by_label(
        "Roles and channels", exact=True).check()
    mod.get_by_label("Message to the applicant about “Roles and channels”").fill(
        "The account name does not match the live room")
    mod.get_by_role("button", name="Request changes").click()
    expect(mod.get_by_role("status").first).to_have_text("Your decision has been recorded.")

    subject = f"您的备案 {number} 需要修改"
    applicant.goto("/me")
    expect(applicant.get_by_text(subject).first).to_be_visible()
    applicant.goto("/dev/mailbox")
    expect(applicant.get_by_role("article").filter(has_text=subject).first).to_contain_text(
        "角色和直播账号: The account name does not match the live room")
