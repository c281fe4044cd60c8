"""An approved applicant keeps the certificate (JSON and printable page); anyone follows its QR."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Browser, expect

from tests.e2e import wizard as w
from tests.e2e.conftest import A11y, Server
from tests.e2e.test_review import log_in_moderator, new_page, open_registration, status_of


def test_applicant_prints_the_certificate_and_a_visitor_follows_its_address(
        browser: Browser, server: Server, a11y: A11y) -> None:
    applicant = new_page(browser, server)
    number = w.register_adult(applicant, "printable")
    mod = new_page(browser, server)
    log_in_moderator(mod)
    open_registration(mod, number)
    mod.get_by_role("button", name="Approve registration").click()
    expect(mod.get_by_role("status").first).to_have_text("Your decision has been recorded.")

    applicant.goto("/")
    applicant.get_by_role("link", name="My account").click()
    expect(applicant.get_by_role("heading", level=1)).to_have_text("My account")
    with applicant.expect_download() as download:
        applicant.get_by_role("link", name="Download the certificate (JSON)").click()
    certificate = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert certificate["number"] == number and certificate["status"] == "approved"

    applicant.get_by_role("link", name="Printable certificate").click()
    expect(applicant.get_by_role("heading", level=1)).to_have_text("Registration certificate")
    expect(applicant.get_by_text(number, exact=True)).to_be_visible()
    assert status_of(applicant) == "Approved"
    qr = applicant.get_by_role("img", name=f"QR code of the verification page of {number}")
    expect(qr).to_be_visible()
    a11y.check(applicant)
    # The address written under the code, read as a person would.
    address = applicant.get_by_role("figure").get_by_role("link").inner_text().strip()
    assert address == f"{certificate['issuer'].rstrip('/')}/verify/{number}"

    # On paper: no header, navigation or footer, the certificate and its code still there.
    applicant.emulate_media(media="print")
    expect(applicant.get_by_role("navigation", name="Main")).to_be_hidden()
    expect(applicant.get_by_role("navigation", name="Language")).to_be_hidden()
    expect(applicant.get_by_role("link", name="Privacy notice")).to_be_hidden()
    expect(qr).to_be_visible()
    applicant.emulate_media(media="screen")
    # On a phone: one column, nothing wider than the screen.
    applicant.set_viewport_size({"width": 375, "height": 800})
    assert applicant.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth")

    # The server's issuer is its own address, so the URL under the QR leads to it.
    context = browser.new_context()
    visitor = context.new_page()
    visitor.goto(address)
    expect(visitor.get_by_role("heading", level=1)).to_have_text(f"Registration {number}")
    expect(visitor.get_by_role("status")).to_contain_text("Valid registration")
    expect(visitor.get_by_role("status")).to_contain_text("Approved")
    expect(visitor.get_by_role("link", name="Log in")).to_be_visible()
    context.close()
