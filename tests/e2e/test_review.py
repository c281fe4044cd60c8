"""A moderator decides registrations in a browser; the applicants see the outcome."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

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
    mod.get_by_role("button", name="Approve registration").click()
    expect(mod.get_by_role("status").first).to_have_text("Your decision has been recorded.")
    assert status_of(mod) == "Approved"

    open_registration(mod, numbers[1])
    mod.get_by_role("group", name="Which steps must the applicant change?").get_by_label(
        "Roles and channels", exact=True).check()
    mod.get_by_label("Message to the applicant about “Roles and channels”").fill(
        "Add the live room address of your Douyin account")
    mod.get_by_role("button", name="Request changes").click()
    expect(mod.get_by_role("status").first).to_have_text("Your decision has been recorded.")
    assert status_of(mod) == "Changes requested"

    open_registration(mod, numbers[2])
    mod.get_by_role("button", name="Reject registration").click()
    expect(mod.locator("#message-error")).to_contain_text("tells the applicant why")
    mod.get_by_label("Reason", exact=True).select_option("false_information")
    mod.get_by_label("Message to the applicant", exact=True).fill(
        "The follower numbers cannot be true")
    mod.get_by_role("button", name="Reject registration").click()
    expect(mod.get_by_role("status").first).to_have_text("Your decision has been recorded.")
    assert status_of(mod) == "Rejected"

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
