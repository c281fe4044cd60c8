"""A moderator decides registrations in a browser; the applicants see the outcome."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from portal.base import i18n
from tests.e2e import wizard as w
from tests.e2e.conftest import STAFF, STAFF_PASSWORD, A11y, Server


def new_page(browser: Browser, server: Server) -> Page:
    return browser.new_context(base_url=server.url).new_page()


def log_in_moderator(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Email address").fill(STAFF["moderator"])
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Review")


def open_registration(page: Page, number: str) -> None:
    page.goto("/review")
    page.get_by_label("Find a registration by its number").fill(number)
    page.get_by_role("button", name="Find", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(number)


def approve(page: Page, number: str, following: str | None = None) -> None:
    """Approve the registration open, and land on the next one waiting (``following``, when
    the test knows it), which says once what was approved; then open the approved one again."""
    page.get_by_role("button", name="Approve registration").click()
    notice = page.locator(".notice--decided")
    expect(notice.get_by_role("status")).to_have_text("Your decision has been recorded.")
    expect(notice).to_contain_text(f"You approved {number}.")
    if following is not None:
        expect(page.get_by_role("heading", level=1)).to_have_text(following)
        expect(notice).to_contain_text("This is the next registration in the queue.")
        return
    notice.get_by_role("link", name=f"Open {number} again").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(number)


def switch_language(page: Page, lang: str) -> None:
    """Choose a language with the switch every page has (it comes back to the same page)."""
    name = {"en": "English", "zh-Hans": "简体中文"}[lang]
    page.locator("nav.language-switch").get_by_role("link", name=name, exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", lang)


def status_of(page: Page) -> str:
    row = page.locator(".summary-list > div").filter(has=page.get_by_text("Status", exact=True))
    return row.locator("dd").inner_text().strip()


def test_moderator_approves_requests_changes_and_rejects(browser: Browser, server: Server,
                                                         a11y: A11y) -> None:
    applicants = [new_page(browser, server) for _ in range(3)]
    numbers = [w.register_adult(page, f"decided{i}") for i, page in enumerate(applicants)]

    mod = new_page(browser, server)
    log_in_moderator(mod)
    for number in numbers:
        expect(mod.get_by_role("link", name=number)).to_be_visible()
    a11y.check(mod)

    open_registration(mod, numbers[0])
    expect(mod.get_by_text("1101**********8794")).to_be_visible()
    a11y.check(mod)
    # Each decision lands on the next registration waiting, which says what was decided once.
    approve(mod, numbers[0], numbers[1])
    mod.get_by_role("group", name="Which steps must the applicant change?").get_by_label(
        "Roles and channels", exact=True).check()
    mod.get_by_label("Message to the applicant about “Roles and channels”").fill(
        "Add the live room address of your Douyin account")
    mod.get_by_role("button", name="Request changes").click()
    expect(mod.get_by_role("heading", level=1)).to_have_text(numbers[2])
    expect(mod.locator(".notice--decided")).to_contain_text(
        f"You asked for changes to {numbers[1]}.")

    mod.get_by_role("button", name="Reject registration").click()
    expect(mod.locator("#message-error")).to_contain_text("tells the applicant why")
    mod.get_by_label("Reason", exact=True).select_option("false_information")
    mod.get_by_label("Message to the applicant", exact=True).fill(
        "The follower numbers cannot be true")
    mod.get_by_role("button", name="Reject registration").click()
    expect(mod.locator(".notice--decided")).to_contain_text(f"You rejected {numbers[2]}.")
    for number, status in zip(numbers, ("Approved", "Changes requested", "Rejected"),
                              strict=True):
        open_registration(mod, number)
        assert status_of(mod) == status

    visitor = new_page(browser, server)
    visitor.goto("/")
    visitor.get_by_role("link", name="Check a registration").click()
    visitor.get_by_label("Registration number").fill(numbers[0])
    visitor.get_by_role("button", name="Check").click()
    expect(visitor.get_by_role("status")).to_contain_text("Valid registration")
    expect(visitor.get_by_text("The certificate is recorded in the public transparency log."))\
        .to_be_visible()
    a11y.check(visitor)

    approved, changed, rejected = applicants
    approved.goto("/me")
    assert status_of(approved) == "Approved"
    expect(approved.get_by_text(f"Your registration {numbers[0]} is approved")).to_be_visible()

    rejected.goto("/me")
    assert status_of(rejected) == "Rejected"
    expect(rejected.get_by_role("button", name="Start a new registration")).to_be_visible()
    expect(rejected.get_by_text("The follower numbers cannot be true")).to_be_visible()

    changed.goto("/")
    # The receipt of the submission and the request for changes.
    expect(changed.get_by_role("link", name="My account").locator(".badge")).to_have_text(
        "2 new messages")
    changed.get_by_role("link", name="My account").click()
    expect(changed.get_by_text(f"We received your registration {numbers[1]}").first
           ).to_be_visible()
    expect(changed.get_by_text("Add the live room address of your Douyin account").first
           ).to_be_visible()
    changed.get_by_role("link", name="Roles and channels").first.click()
    expect(changed.get_by_role("status")).to_contain_text("Add the live room address")
    changed.get_by_role("group", name="Channel 1").get_by_label(
        "Live room address (optional)").fill("https://live.douyin.com/778899")
    w.save(changed)
    expect(changed.get_by_role("heading", level=1)).to_have_text("Security attestation")
    changed.goto("/apply/review")
    number = w.submit(changed)
    assert number == numbers[1]

    open_registration(mod, numbers[1])
    assert status_of(mod) == "Submitted"


def test_reveal_needs_a_reason(browser: Browser, server: Server) -> None:
    applicant = new_page(browser, server)
    number = w.register_adult(applicant, "reveal")
    mod = new_page(browser, server)
    log_in_moderator(mod)
    open_registration(mod, number)
    mod.get_by_role("button", name="Reveal ID number").click()
    expect(mod.locator("#reason_id_number-error")).to_contain_text("reason")
    mod.get_by_label("Reason for revealing it: ID number").fill("Compare with the document")
    mod.get_by_role("button", name="Reveal ID number").click()
    expect(mod.get_by_text("110105198503128794")).to_be_visible()
    expect(mod.get_by_text("Compare with the document")).to_be_visible()


def test_next_in_queue_in_chinese(browser: Browser, server: Server, a11y: A11y) -> None:
    """A moderator working in Chinese approves and lands on the next registration waiting,
    which says so in Chinese; its page links on to the one after it."""
    zh = i18n.translations("zh-Hans")
    first, second = (w.register_adult(new_page(browser, server), f"queued{i}")
                     for i in range(2))
    mod = new_page(browser, server)
    log_in_moderator(mod)
    open_registration(mod, first)
    switch_language(mod, "zh-Hans")
    expect(mod.get_by_role("link", name=zh.ugettext("Next in queue"))).to_have_attribute(
        "href", f"/review/{second}")
    mod.get_by_role("button", name=zh.ugettext("Approve registration"), exact=True).click()
    expect(mod.get_by_role("heading", level=1)).to_have_text(second)
    notice = mod.locator(".notice--decided")
    expect(notice.get_by_role("status")).to_have_text(
        zh.ugettext("Your decision has been recorded."))
    expect(notice).to_contain_text(zh.ugettext("You approved %(number)s.") % {"number": first})
    expect(notice).to_contain_text(zh.ugettext("This is the next registration in the queue."))
    a11y.check(mod)
    mod.reload()  # shown once
    expect(mod.locator(".notice--decided")).to_have_count(0)
    notice_link = zh.ugettext("Open %(number)s again") % {"number": first}
    expect(mod.get_by_role("link", name=notice_link)).to_have_count(0)
    switch_language(mod, "en")
