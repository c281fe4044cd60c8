"""Every page a person can reach, once per role, checked with axe (WCAG 2.1 AA: no serious or
critical violation). The pages are those of the route matrix (tests/unit/test_route_matrix.py)
that answer HTML; the wizard's steps are checked in test_wizard.py and test_phone.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e import wizard as w
from tests.e2e.conftest import STAFF_PASSWORD, A11y, Server, unique_email
from tests.e2e.test_enforcement import log_in_staff
from tests.e2e.test_review import open_registration, status_of

PHONE = {"width": 375, "height": 740}

PHONE_PROBLEMS = """() => {
  const problems = [];
  const root = document.scrollingElement;
  if (root.scrollWidth > root.clientWidth) {
    const wide = [...document.body.querySelectorAll("*")].filter(
      (el) => el.getBoundingClientRect().right > root.clientWidth + 1).pop();
    problems.push(`scrolls sideways: ${root.scrollWidth}px wide on a ${root.clientWidth}px `
      + `screen (${wide ? wide.outerHTML.slice(0, 80) : ""})`);
  }
  const targets = "button, select, textarea, input:not([type=hidden]), nav a, footer a, form a, "
    + "a.back-link, a[role=button]";
  for (const el of document.querySelectorAll(targets)) {
    let target = el;
    if (el.matches("input[type=checkbox], input[type=radio]")) {
      target = el.closest("label") || document.querySelector(`label[for="${el.id}"]`) || el;
    }
    const box = target.getBoundingClientRect();
    if (box.width <= 1 || box.height <= 1 || getComputedStyle(target).visibility === "hidden") {
      continue;  // not shown (visually hidden, or a closed <details>)
    }
    if (box.height < 44) {
      const name = (target.innerText || target.getAttribute("aria-label") || target.name || "")
        .trim().slice(0, 50);
      problems.push(`${target.tagName.toLowerCase()} "${name}" is ${box.height.toFixed(1)}px high`);
    }
  }
  for (const input of document.querySelectorAll("input[type=file]")) {
    if (!input.accept) problems.push(`file input ${input.id} accepts any file`);
  }
  return problems;
}"""


FILE_INPUTS = """() => Object.fromEntries([...document.querySelectorAll("input[type=file]")].map(
  (i) => [i.labels[0].innerText, {accept: i.accept, capture: i.getAttribute("capture")}]))"""


def phone_problems(page: Page) -> list[str]:
    """What would hinder a person on a 375-px phone: sideways scrolling, tap targets under
    44 px (WCAG 2.5.5), file inputs without a list of accepted types."""
    heading = page.get_by_role("heading", level=1).inner_text()
    return [f"{heading}: {p}" for p in page.evaluate(PHONE_PROBLEMS)]


@dataclass
class Approved:
    applicant: Page
    email: str
    number: str
    phone_problems: list[str]
    file_inputs: dict[str, dict[str, str | None]]


@pytest.fixture(scope="module")
def approved(browser: Browser, server: Server) -> Iterator[Approved]:
    """An applicant who registered on a phone (noting what hindered them on each page), and
    whose registration a moderator then approved."""
    contexts: list[BrowserContext] = [browser.new_context(
        base_url=server.url, viewport=PHONE, is_mobile=True, has_touch=True)]
    applicant = contexts[0].new_page()
    problems: list[str] = []
    files: dict[str, dict[str, str | None]] = {}
    email = w.sign_up_verified(applicant, "phone")
    problems += phone_problems(applicant)
    w.start_registration(applicant)
    for title, fill in (("Your identity", w.fill_identity), ("Roles and channels", w.fill_roles),
                        ("Security attestation", w.fill_security),
                        ("Content rating", w.fill_content),
                        ("Consumer protection", w.fill_commitments)):
        heading(applicant, title)
        problems += phone_problems(applicant)
        files.update(applicant.evaluate(FILE_INPUTS))
        fill(applicant)
        w.save(applicant)
    problems += phone_problems(applicant)  # the review page
    number = w.submit(applicant)
    problems += phone_problems(applicant)
    applicant.get_by_role("link", name="Go to your status page").click()
    heading(applicant, "My account")
    problems += phone_problems(applicant)

    contexts.append(browser.new_context(base_url=server.url))
    mod = contexts[-1].new_page()
    log_in_staff(mod, "moderator")
    open_registration(mod, number)
    mod.get_by_role("button", name="Approve registration").click()
    expect(mod.get_by_role("status").first).to_have_text("Your decision has been recorded.")
    yield Approved(applicant, email, number, problems, files)
    for context in contexts:
        context.close()


def test_the_whole_wizard_and_the_status_page_fit_a_phone(approved: Approved) -> None:
    page = approved.applicant
    assert page.viewport_size == PHONE
    assert not approved.phone_problems, "\n".join(approved.phone_problems)
    # Photos of the ID document are taken with the back camera; the other documents are often
    # PDF files, so their inputs do not force the camera (a phone then offers both).
    inputs = approved.file_inputs
    for side in ("Front of your ID document", "Back of your ID document"):
        assert inputs[side]["capture"] == "environment", inputs
        assert "image/jpeg" in str(inputs[side]["accept"]), inputs
    assert all(attrs["accept"] for attrs in inputs.values()), inputs
    page.goto("/me")
    heading(page, "My account")
    expect(page.get_by_text(approved.number, exact=True)).to_be_visible()
    assert status_of(page) == "Approved"
    assert not phone_problems(page)


def heading(page: Page, text: str | re.Pattern[str]) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text(text)


def visit(page: Page, a11y: A11y, path: str, title: str | re.Pattern[str],
          status: int = 200) -> None:
    response = page.goto(path)
    assert response is not None and response.status == status, (path, response)
    heading(page, title)
    a11y.check(page)


def test_public_pages(browser: Browser, server: Server, approved: Approved, a11y: A11y) -> None:
    context = browser.new_context(base_url=server.url)
    page = context.new_page()
    for path, title in (
        ("/", "Register to sell by livestream"),
        ("/privacy", "Privacy notice"),
        ("/signup", "Create an account"),
        ("/login", "Log in"),
        ("/verify", "Check a registration"),
        (f"/verify/{approved.number}", f"Registration {approved.number}"),
        ("/api/v1/docs", "API reference"),
        ("/dev/mailbox", "Development mailbox"),
    ):
        visit(page, a11y, path, title)
    visit(page, a11y, "/no-such-page", "Page not found", status=404)
    visit(page, a11y, "/verify-email?token=forged", "We could not confirm your email address",
          status=400)
    visit(page, a11y, "/password/reset?token=forged", "This link cannot be used", status=400)

    # The reset link as its owner opens it from their mailbox.
    page.goto("/login")
    page.get_by_role("link", name=re.compile("Forgot your password")).click()
    heading(page, "Set a new password")
    a11y.check(page)
    page.get_by_label("Email address").fill(approved.email)
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_role("status")).to_contain_text("we have sent it a link")
    a11y.check(page)
    page.get_by_role("link", name="Development mailbox").click()
    page.get_by_role("article").filter(has_text=approved.email).filter(
        has_text="password").first.get_by_role("link", name=re.compile(r"password.reset")).click()
    heading(page, "Choose a new password")
    a11y.check(page)

    # The same pages in Chinese: no English word left (but the applicant's channel handle).
    page.goto("/lang/zh-Hans?next=/")
    for path, title, status in (("/", "直播营销备案", 200), ("/signup", "注册账号", 200),
                                (f"/verify/{approved.number}", re.compile(approved.number), 200),
                                ("/no-such-page", re.compile("页面"), 404)):
        visit(page, a11y, path, title, status)
        text = page.locator("body").inner_text().replace("zhangsan_live", "")
        # CST: China Standard Time, named after every moment shown (as Chinese readers see it).
        english = set(re.findall(r"[A-Za-z]{3,}", text)) - {"English", "API", "MCN", "CST"}
        assert not english, f"{path} in Chinese shows {english}"
    context.close()


def test_applicant_pages(approved: Approved, a11y: A11y) -> None:
    page = approved.applicant
    page.goto("/")
    page.get_by_role("link", name="My account").click()
    heading(page, "My account")
    a11y.check(page)
    page.get_by_role("link", name="Printable certificate").click()
    heading(page, "Registration certificate")
    a11y.check(page)
    visit(page, a11y, "/apply/submitted", "Registration submitted")
    # Staff pages are refused with a page of their own.
    visit(page, a11y, "/audit", "You cannot open this page", status=403)


def test_moderator_pages(browser: Browser, server: Server, approved: Approved,
                         a11y: A11y) -> None:
    context = browser.new_context(base_url=server.url)
    mod = context.new_page()
    log_in_staff(mod, "moderator")
    heading(mod, "Review")
    a11y.check(mod)
    open_registration(mod, approved.number)
    a11y.check(mod)
    cases = mod.get_by_role("region", name="Open a case")
    cases.get_by_label("What is it about?").select_option(index=1)
    cases.get_by_label("What happened").fill("A buyer reports a fake brand label")
    cases.get_by_role("button", name="Open the case").click()
    heading(mod, re.compile(r"Case \d+"))
    a11y.check(mod)
    visit(mod, a11y, "/cases", "Cases")
    visit(mod, a11y, "/blocklist", "Person blocklist")
    context.close()


def test_auditor_pages(browser: Browser, server: Server, approved: Approved,
                       a11y: A11y) -> None:
    context = browser.new_context(base_url=server.url)
    auditor = context.new_page()
    log_in_staff(auditor, "auditor")
    heading(auditor, "Inspection console")
    a11y.check(auditor)
    search = auditor.get_by_role("search", name="Search registrations")
    search.get_by_label("Search", exact=True).fill(approved.number)
    search.get_by_role("button", name="Search", exact=True).click()
    expect(auditor.get_by_role("status")).to_have_text("1 registration found")
    a11y.check(auditor)
    auditor.get_by_role("link", name=approved.number).click()
    heading(auditor, approved.number)
    a11y.check(auditor)
    tools = auditor.get_by_role("navigation", name="Inspection tools")
    for link, title in (("Transparency log", "Transparency log"),
                        ("Dashboard", "Dashboard"), ("Inspections", "Inspections")):
        auditor.goto("/audit")
        tools.get_by_role("link", name=link).click()
        heading(auditor, title)
        a11y.check(auditor)
    visit(auditor, a11y, "/audit/inspections/new", "Inspections")
    visit(auditor, a11y, "/admin/clients", "API clients")
    context.close()


def test_admin_pages(browser: Browser, server: Server, a11y: A11y) -> None:
    context = browser.new_context(base_url=server.url)
    admin = context.new_page()
    log_in_staff(admin, "admin")
    heading(admin, "Administration")
    a11y.check(admin)
    admin.get_by_role("link", name="API clients: platforms and authorities").click()
    heading(admin, "API clients")
    a11y.check(admin)
    admin.get_by_label("Client name").fill("Zhejiang Market Regulation")
    admin.get_by_role("group", name="Kind of client").get_by_label("Authority").check()
    admin.get_by_label("Jurisdiction (authorities only)").fill("33")
    admin.get_by_role("button", name="Add the client").click()
    heading(admin, "Zhejiang Market Regulation")
    expect(admin.get_by_label(re.compile("Copy this key now"))).to_have_value(re.compile("^lrp_"))
    a11y.check(admin)
    admin.get_by_role("link", name="Back to the API clients").click()
    admin.get_by_role("link", name="Back to administration").click()
    admin.get_by_role("link", name="Webhook deliveries").click()
    heading(admin, "Webhook deliveries")
    a11y.check(admin)
    context.close()


def test_staff_sign_in_security_pages(browser: Browser, server: Server, a11y: A11y) -> None:
    email = unique_email("security-mod")
    made = server.portal("create-user", "--email", email, "--role", "moderator",
                         stdin=STAFF_PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    context = browser.new_context(base_url=server.url)
    page = context.new_page()

    def log_in() -> None:
        page.goto("/login")
        page.get_by_label("Email address").fill(email)
        page.get_by_label("Password").fill(STAFF_PASSWORD)
        page.get_by_role("button", name="Log in").click()

    log_in()
    page.get_by_role("link", name="Sign-in security").click()
    heading(page, "Sign-in security")
    a11y.check(page)
    page.get_by_role("button", name="Set up an authenticator app").click()
    heading(page, "Set up an authenticator app")
    a11y.check(page)
    key = page.locator("#totp-key").inner_text().replace(" ", "")
    page.get_by_label("6-digit code").fill("000000")
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_label("6-digit code")).to_have_attribute("aria-invalid", "true")
    a11y.check(page)
    page.get_by_label("6-digit code").fill(pyotp.TOTP(key).now())
    page.get_by_role("button", name="Turn on").click()
    heading(page, "Your recovery codes")
    a11y.check(page)
    recovery = page.locator(".recovery-codes code").first.inner_text()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_have_text("You have logged out.")

    log_in()
    heading(page, "Enter the code from your app")
    a11y.check(page)
    page.get_by_text("Use a recovery code instead").click()
    page.get_by_label("Recovery code", exact=True).fill(recovery)
    page.get_by_role("button", name="Use the recovery code").click()
    heading(page, "Sign-in security")
    expect(page.get_by_role("status")).to_contain_text("You logged in with a recovery code")
    a11y.check(page)
    context.close()
