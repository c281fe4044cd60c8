"""An auditor searches, reads, reveals, checks, exports and inspects; a platform sees the result."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, expect

from portal.base import identity
from tests.e2e import wizard as w
from tests.e2e.conftest import A11y, Server
from tests.e2e.test_enforcement import log_in_staff
from tests.e2e.test_review import new_page, open_registration, status_of

CLEAR_ID = "110105198503128794"  # the ID number wizard.fill_identity types
MASKED_ID = "1101**********8794"


@pytest.fixture(scope="module")
def platform_key(server: Server) -> str:
    """A platform's API key, made by `portal create-platform` as the staff accounts are made."""
    result = server.portal("create-platform", "E2E Platform")
    assert result.returncode == 0, result.stderr
    keys = re.findall(r"\blrp_\S+", result.stdout)
    assert len(keys) == 1, result.stdout
    return keys[0]


def test_auditor_inspects_a_registration_and_suspends_it(
        browser: Browser, server: Server, a11y: A11y, playwright: Playwright,
        platform_key: str) -> None:
    applicant = new_page(browser, server)
    number = w.register_adult(applicant, "audited")
    mod = new_page(browser, server)
    log_in_staff(mod, "moderator")
    open_registration(mod, number)
    mod.get_by_role("button", name="Approve registration").click()
    expect(mod.get_by_role("status").first).to_have_text("Your decision has been recorded.")

    # The search: by number, in the auditor's (national) jurisdiction.
    auditor = new_page(browser, server)
    log_in_staff(auditor, "auditor")
    auditor.goto("/audit")
    expect(auditor.get_by_role("heading", level=1)).to_have_text("Inspection console")
    expect(auditor.get_by_text("Jurisdiction: National")).to_be_visible()
    search = auditor.get_by_role("search", name="Search registrations")
    search.get_by_label("Search", exact=True).fill(number)
    search.get_by_role("button", name="Search", exact=True).click()
    expect(auditor.get_by_role("status")).to_have_text("1 registration found")
    results = auditor.get_by_role("table", name="Registrations found, newest number first")
    row = results.get_by_role("row").filter(has=auditor.get_by_role("link", name=number))
    expect(row).to_have_count(1)
    expect(row.get_by_role("cell", name="Approved", exact=True)).to_be_visible()
    a11y.check(auditor)
    # On a phone the filters stack: nothing is wider than the screen but the results table,
    # which scrolls inside its own wrapper.
    auditor.set_viewport_size({"width": 375, "height": 800})
    assert auditor.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    auditor.set_viewport_size({"width": 1280, "height": 800})

    # The export of this search: named after its filter and the time, masked values only.
    with auditor.expect_download() as download:
        auditor.get_by_role("link", name="Export these results (CSV)").click()
    name = download.value.suggested_filename
    assert re.fullmatch(rf"registrations_q-{number}_\d{{8}}T\d{{4}}Z\.csv", name), name
    exported = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert number in exported
    assert MASKED_ID in exported
    assert CLEAR_ID not in exported

    # The record.
    row.get_by_role("link", name=number).click()
    expect(auditor.get_by_role("heading", level=1)).to_have_text(number)
    assert status_of(auditor) == "Approved"
    expect(auditor.get_by_text(MASKED_ID).first).to_be_visible()
    expect(auditor.get_by_text(CLEAR_ID)).to_have_count(0)
    expect(auditor.get_by_text("No one has revealed personal data of this registration.")
           ).to_be_visible()
    a11y.check(auditor)

    # A reveal needs a reason; the clear value shows once, the reveal stays in the log.
    reason_field = auditor.get_by_label("Reason for revealing it: ID number")
    auditor.get_by_role("button", name="Reveal ID number").click()
    expect(auditor.get_by_role("alert")).to_contain_text("Give the reason for revealing it")
    expect(reason_field).to_have_accessible_description(
        re.compile("Give the reason for revealing it"))
    expect(auditor.get_by_text(CLEAR_ID)).to_have_count(0)
    a11y.check(auditor)
    reason = "Inspection of counterfeit sales: compare with the ID card"
    reason_field.fill(reason)
    auditor.get_by_role("button", name="Reveal ID number").click()
    expect(auditor.get_by_role("status").filter(has_text="ID number:")).to_contain_text(CLEAR_ID)
    log = auditor.get_by_role("table", name="Who revealed what, when and why")
    logged = log.get_by_role("row").filter(has_text=reason)
    expect(logged).to_have_count(1)
    expect(logged).to_contain_text("ID number")
    expect(logged).to_contain_text("auditor@example.com")

    # Integrity (a fresh page load: the clear value is gone again, the log line stays).
    auditor.get_by_role("button", name="Check integrity").click()
    expect(auditor.get_by_role("status")).to_contain_text("All checks passed")
    expect(auditor.get_by_text(CLEAR_ID)).to_have_count(0)
    expect(log.get_by_role("row").filter(has_text=reason)).to_have_count(1)

    # An inspection of the registration: a finding, then closed with a suspension.
    auditor.get_by_role("link", name="Open an inspection of this registration").click()
    expect(auditor.get_by_role("heading", level=1)).to_have_text("Inspections")
    expect(auditor.get_by_role("group", name="What do you inspect?").get_by_label(
        "A registration")).to_be_checked()
    expect(auditor.get_by_label("Registration number")).to_have_value(number)
    auditor.get_by_label("Subject of the inspection").fill("Counterfeit bags sold on stream")
    a11y.check(auditor)
    auditor.get_by_role("button", name="Open the inspection").click()
    expect(auditor.get_by_role("heading", level=1)).to_have_text(re.compile(r"Inspection \d+"))
    inspection_title = auditor.get_by_role("heading", level=1).inner_text()
    expect(auditor.get_by_text("No findings yet.")).to_be_visible()

    finding = "Three bags sold on 3 November carry a forged brand label"
    auditor.get_by_label("Add a finding").fill(finding)
    auditor.get_by_label("Evidence links (optional)").fill("https://evidence.example.com/bag-1")
    auditor.get_by_role("button", name="Add the finding").click()
    expect(auditor.get_by_text(finding)).to_be_visible()
    expect(auditor.get_by_role("list", name="Evidence").get_by_role("link")).to_have_text(
        "https://evidence.example.com/bag-1")
    a11y.check(auditor)

    until = (identity.china_today() + timedelta(days=30)).isoformat()
    close = auditor.get_by_role("region", name="Close the inspection")
    close.get_by_label("Conclusion").fill("Counterfeit goods were sold on stream")
    close.get_by_label("Order a sanction (fill in below)").check()
    close.get_by_label("Sanction", exact=True).select_option("suspend")
    close.get_by_label("Facts", exact=True).fill("Sold counterfeit bags on stream on 3 November")
    close.get_by_label("Reason", exact=True).fill("Counterfeit goods")
    close.get_by_label("Legal basis").fill("2021 Measures, Art. 18(3)")
    close.get_by_label("Until (suspension) or deadline (order to correct)").fill(until)
    close.get_by_role("button", name="Close the inspection").click()

    expect(auditor.get_by_role("heading", level=1)).to_have_text(inspection_title)
    facts = auditor.locator(".summary-list")
    expect(facts.locator("div").filter(has=auditor.get_by_text("State", exact=True))
           ).to_contain_text("Closed")
    expect(facts.locator("div").filter(has=auditor.get_by_text("Sanction ordered", exact=True))
           ).to_contain_text("Suspension")
    expect(auditor.get_by_role("button", name="Close the inspection")).to_have_count(0)
    expect(auditor.get_by_role("button", name="Add the finding")).to_have_count(0)
    a11y.check(auditor)
    auditor.get_by_role("link", name=number).click()
    expect(auditor.get_by_role("heading", level=1)).to_have_text(number)
    assert status_of(auditor) == "Suspended"
    expect(auditor.get_by_role("heading", name=re.compile(r"^Suspension"))).to_be_visible()

    auditor.get_by_role("link", name="Back to the search").click()
    auditor.get_by_role("navigation", name="Inspection tools").get_by_role(
        "link", name="Inspections").click()
    listed = auditor.get_by_role("row").filter(has=auditor.get_by_role(
        "link", name=inspection_title, exact=True))
    expect(listed).to_contain_text("Closed")
    expect(listed.get_by_role("link", name=number)).to_be_visible()
    a11y.check(auditor)

    # A platform checking the number before a stream sees the suspension.
    api = playwright.request.new_context(
        base_url=server.url, extra_http_headers={"Authorization": f"Bearer {platform_key}"})
    try:
        response = api.get(f"/api/v1/registrations/{number}")
        assert response.status == 200, response.text()
        body = response.json()
        assert body["number"] == number
        assert body["status"] == "suspended"
        assert body["valid"] is False
    finally:
        api.dispose()

    # The inspector looks up the ID card in front of them: after the look-up (post/redirect/
    # get) the number is in no address and not on the page; a refresh shows the empty form.
    auditor.goto("/audit")
    auditor.get_by_role("link", name="Find by identity").click()
    expect(auditor.get_by_role("heading", level=1)).to_have_text("Find by identity")
    auditor.get_by_label("Type of document").select_option("cn_resident_id")
    auditor.get_by_label("Number", exact=True).fill(CLEAR_ID)
    auditor.get_by_role("button", name="Look up").click()
    expect(auditor.get_by_role("alert")).to_contain_text("Give the reason for the look-up")
    expect(auditor.get_by_label("Type of document")).to_have_value("cn_resident_id")
    expect(auditor.get_by_label("Number", exact=True)).to_have_value("")  # asked again
    a11y.check(auditor)
    auditor.get_by_label("Number", exact=True).fill(CLEAR_ID)
    auditor.get_by_label("Reason for the look-up").fill("Inspection of counterfeit sales")
    auditor.get_by_role("button", name="Look up").click()
    found = auditor.get_by_role("region", name="Registrations found")
    expect(found.get_by_role("link", name=number)).to_be_visible()
    expect(found).to_contain_text("Suspended")
    assert CLEAR_ID not in auditor.url
    expect(auditor.get_by_text(CLEAR_ID)).to_have_count(0)
    expect(auditor.get_by_label("Number", exact=True)).to_have_value("")
    a11y.check(auditor)
    auditor.reload()
    expect(auditor.get_by_role("heading", level=1)).to_have_text("Find by identity")
    expect(auditor.get_by_role("region", name="Registrations found")).to_have_count(0)


def test_auditor_checks_a_saved_checkpoint(browser: Browser, server: Server,
                                           a11y: A11y) -> None:
    auditor = new_page(browser, server)
    log_in_staff(auditor, "auditor")
    auditor.goto("/audit")
    auditor.get_by_role("link", name="Transparency log").click()
    expect(auditor.get_by_role("heading", level=1)).to_have_text("Transparency log")
    auditor.get_by_text("The checkpoint as JSON, to save").first.click()
    saved = auditor.get_by_label("The checkpoint as JSON, to save").inner_text()

    check = auditor.get_by_role("region", name="Check a saved checkpoint")
    check.get_by_label("Tree size").fill("twelve")
    check.get_by_role("button", name="Check consistency").click()
    expect(auditor.get_by_role("alert")).to_contain_text("Enter the tree size as a whole number")
    expect(check.get_by_label("Tree size")).to_have_value("twelve")  # kept, to correct
    a11y.check(auditor)

    check.get_by_label("Tree size").fill("")
    check.get_by_label("Saved checkpoint (JSON)").fill(saved)
    check.get_by_role("button", name="Check consistency").click()
    expect(check.locator(".tag").first).to_have_text("Consistent")
    expect(check).to_contain_text("Passed Signature")
    a11y.check(auditor)
    # A refresh does not send the check again: the form alone.
    auditor.reload()
    expect(auditor.get_by_role("heading", level=1)).to_have_text("Transparency log")
    expect(check.locator(".tag")).to_have_count(0)
