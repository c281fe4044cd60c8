"""Changes after approval, as the people do it: an approved streamer adds a channel and gives a
new phone number, the registration stays as approved meanwhile, the moderator compares the
answers side by side and approves, and the change shows on the public check."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, expect

from tests.e2e import wizard as w
from tests.e2e.conftest import A11y, Server
from tests.e2e.test_review import log_in_moderator, new_page, open_registration


def test_an_approved_streamer_changes_their_registration(browser: Browser, server: Server,
                                                         a11y: A11y) -> None:
    applicant = new_page(browser, server)
    number = w.register_adult(applicant, "changer")
    mod = new_page(browser, server)
    log_in_moderator(mod)
    open_registration(mod, number)
    mod.get_by_role("button", name="Approve registration").click()
    expect(mod.get_by_role("status").first).to_have_text("Your decision has been recorded.")

    applicant.goto("/me")
    applicant.get_by_role("button", name="Change your registration").click()
    expect(applicant.get_by_role("heading", level=1)).to_have_text("Change your registration")
    a11y.check(applicant)
    applicant.get_by_role("button", name="Start a change").click()
    expect(applicant.get_by_role("heading", level=1)).to_have_text("Change your registration")
    expect(applicant.get_by_role("status")).to_contain_text("stay as approved")

    # A second channel and a new phone number, through the wizard's own steps.
    applicant.get_by_role("link", name="Roles and channels").click()
    applicant.get_by_role("button", name="Add another channel").click()
    channel = applicant.get_by_role("group", name="Channel 2")
    channel.get_by_label("Platform").select_option("kuaishou")
    channel.get_by_label("Account name").fill("zhangsan_ks")
    w.save(applicant)
    applicant.goto("/apply/identity")
    applicant.get_by_label("Mobile phone number").fill("13900001111")
    w.save(applicant)
    applicant.goto("/apply/review")
    expect(applicant.get_by_role("heading", level=1)).to_have_text(
        "Check your change and submit it")
    expect(applicant.get_by_role("heading", name=re.compile("Roles and channels"))).to_contain_text(
        "Changed")
    applicant.get_by_label("Type your full legal name").fill("张三")
    applicant.get_by_role("button", name="Submit the change").click()
    expect(applicant.get_by_role("heading", name="Your change is waiting for a moderator")
           ).to_be_visible()

    # Meanwhile the public check still shows the approved registration, one channel.
    buyer = new_page(browser, server)
    buyer.goto(f"/verify/{number}")
    expect(buyer.get_by_text("zhangsan_live")).to_be_visible()
    expect(buyer.get_by_text("zhangsan_ks")).to_have_count(0)

    mod.goto("/review")
    mod.get_by_role("link", name="Changes to approved registrations").click()
    mod.get_by_role("link", name=number).click()
    expect(mod.get_by_role("heading", level=1)).to_have_text(f"Change to {number}")
    phone = mod.get_by_role("row").filter(has_text="Mobile phone number")
    expect(phone.get_by_role("cell").nth(0)).to_have_text("138****5678")
    expect(phone.get_by_role("cell").nth(1)).to_have_text("139****1111")
    expect(mod.get_by_role("cell", name="zhangsan_ks")).to_be_visible()
    a11y.check(mod)
    mod.get_by_role("button", name="Approve the change").click()
    expect(mod.get_by_role("status").first).to_have_text("Your decision has been recorded.")

    buyer.goto(f"/verify/{number}")
    expect(buyer.get_by_text("zhangsan_ks")).to_be_visible()
    applicant.goto("/apply/change")
    expect(applicant.get_by_role("status")).to_contain_text("was approved")
