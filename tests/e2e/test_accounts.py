"""Accounts as a person uses them: sign up, confirm the email, log out and in, staff, refusals."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import STAFF, STAFF_PASSWORD, A11y, Server, unique_email
from tests.e2e.wizard import sign_up_verified

PASSWORD = "copper meadow lantern 58 river"


def sign_up(page: Page, email: str, password: str = PASSWORD, confirm: str | None = None) -> None:
    page.goto("/")
    page.get_by_role("button", name="Create an account").click()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Confirm password").fill(password if confirm is None else confirm)
    page.get_by_role("button", name="Create account").click()


def log_in(page: Page, email: str, password: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Log in").click()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_sign_up_confirm_email_log_out_and_in(page: Page, a11y: A11y) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    email = unique_email()
    page.goto("/")
    a11y.check(page)
    sign_up(page, email)

    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    a11y.check(page)
    # Not usable before the link: the same words as a wrong password.
    log_in(page, email, PASSWORD)
    expect(page.locator("#email-error")).to_contain_text("not been confirmed yet")

    page.get_by_role("link", name="Development mailbox").click()
    message = page.get_by_role("article").filter(has_text=email)
    expect(message.get_by_role("heading")).to_have_text("Confirm your email address")
    a11y.check(page)
    message.get_by_role("link", name=re.compile("verify-email")).click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Email address confirmed")
    expect(page).to_have_url(re.compile(r"/verify-email$"))  # the token left the address
    a11y.check(page)
    log_in(page, email, PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("My account")
    expect(page.get_by_text("Confirmed", exact=True)).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_have_text("You have logged out.")
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)

    log_in(page, email, PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("My account")
    expect(page.get_by_text(email)).to_be_visible()
    expect(page.get_by_text("Confirmed", exact=True)).to_be_visible()
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors


def test_sign_up_errors_are_shown_next_to_the_field(page: Page, a11y: A11y) -> None:
    email = unique_email()
    sign_up(page, email, password="short")
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("There is a problem")
    expect(summary.get_by_role("link")).to_have_text("Password must be at least 12 characters")
    expect(page.locator("#password-error")).to_contain_text("at least 12 characters")
    expect(page.get_by_label("Email address")).to_have_value(email)
    a11y.check(page)
    summary.get_by_role("link").click()
    expect(page.get_by_label("Password", exact=True)).to_be_focused()

    page.get_by_label("Password", exact=True).fill("password1234")
    page.get_by_label("Confirm password").fill("password1234")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#password-error")).to_contain_text("too common")


def test_second_account_for_same_email_is_refused(page: Page) -> None:
    email = unique_email()
    sign_up(page, email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    sign_up(page, email)
    # No enumeration: the page does not say the address is taken; its owner is told by email.
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    page.get_by_role("link", name="Development mailbox").click()
    notice = page.get_by_role("article").filter(has_text=email).filter(
        has_text="You already have an account")
    expect(notice).to_have_count(1)


def test_wrong_password_gives_the_same_message_as_unknown_email(page: Page) -> None:
    page.goto("/")
    message = "The email address or password is not right"  # (or not confirmed yet)
    log_in(page, STAFF["moderator"], "not the right password at all")
    expect(page.locator("#email-error")).to_contain_text(message)
    log_in(page, unique_email("nobody"), "not the right password at all")
    expect(page.locator("#email-error")).to_contain_text(message)


def test_switch_language_and_remember_it(page: Page, a11y: A11y) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Register to sell by livestream")
    page.get_by_role("navigation", name="Language").get_by_role("link", name="简体中文").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("直播营销备案")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    a11y.check(page)
    page.get_by_role("link", name="注册", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("注册账号")
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("注册账号")
    page.get_by_role("navigation", name="语言").get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Create an account")


def test_chinese_browser_gets_chinese_pages(browser: Browser, server: Server) -> None:
    context = browser.new_context(locale="zh-CN", base_url=server.url)
    page = context.new_page()
    page.goto("/login")
    expect(page.get_by_role("heading", level=1)).to_have_text("登录")
    context.close()


def test_staff_log_in_to_their_start_page(page: Page, a11y: A11y) -> None:
    page.goto("/")
    for role, heading in (("moderator", "Review"), ("auditor", "Inspection console"),
                          ("admin", "Administration")):
        log_in(page, STAFF[role], STAFF_PASSWORD)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        a11y.check(page)
        page.get_by_role("button", name="Log out").click()


def test_applicant_is_refused_a_staff_page(page: Page, a11y: A11y) -> None:
    sign_up_verified(page)
    response = page.goto("/review")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("You cannot open this page")
    a11y.check(page)


def test_visitor_is_sent_to_login_and_back(page: Page) -> None:
    page.goto("/review")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Freview$"))
    page.get_by_label("Email address").fill(STAFF["moderator"])
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/review$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Review")


def test_everything_works_with_javascript_off(browser: Browser, server: Server) -> None:
    context = browser.new_context(java_script_enabled=False, base_url=server.url)
    page = context.new_page()
    email = unique_email("nojs")
    sign_up(page, email, password="short")
    expect(page.locator("#password-error")).to_contain_text("at least 12 characters")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    page.get_by_role("link", name="Development mailbox").click()
    page.get_by_role("article").filter(has_text=email).get_by_role(
        "link", name=re.compile("verify-email")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Email address confirmed")
    log_in(page, email, PASSWORD)
    expect(page.get_by_text(email)).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    log_in(page, email, PASSWORD)
    expect(page.get_by_text(email)).to_be_visible()
    context.close()


def test_pages_fit_a_phone_screen(browser: Browser, server: Server, a11y: A11y) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, base_url=server.url,
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    for path in ("/", "/signup", "/login", "/privacy"):
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
        a11y.check(page)
    context.close()
