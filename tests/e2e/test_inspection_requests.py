"""The inspector's journey (issue of the inspector's toolkit): a city auditor finds a seller by
the ID number in front of them, opens the record, asks the platform for documents; the platform
answers over the API; the auditor reads the answer."""

from __future__ import annotations

import re
from datetime import date, timedelta

from playwright.sync_api import Browser, Playwright, expect

from portal.base import identity
from tests.e2e import wizard as w
from tests.e2e.conftest import STAFF_PASSWORD, A11y, Server
from tests.e2e.test_enforcement import log_in_staff
from tests.e2e.test_review import new_page, open_registration

CITY_AUDITOR = "hangzhou-amr@example.com"


def test_a_city_auditor_finds_a_seller_and_asks_the_platform(
        browser: Browser, playwright: Playwright, server: Server, a11y: A11y) -> None:
    born = date(1992, 4, 18)
    id_number = identity.make_resident_id("110108", born, 733)
    seller = new_page(browser, server)
    number = w.register_adult(seller, "inspected", name="吴芳", birth=born.isoformat(),
                              id_number=id_number)
    moderator = new_page(browser, server)
    log_in_staff(moderator, "moderator")
    open_registration(moderator, number)
    moderator.get_by_role("button", name="Approve registration").click()

    made = server.portal("create-user", "--email", CITY_AUDITOR, "--role", "auditor",
                         "--jurisdiction", "1101", stdin=STAFF_PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    created = server.portal("create-platform", "Inspected Platform")
    assert created.returncode == 0, created.stderr
    key = re.findall(r"\blrp_\S+", created.stdout)[0]

    auditor = new_page(browser, server)
    auditor.goto("/login")
    auditor.get_by_label("Email address").fill(CITY_AUDITOR)
    auditor.get_by_label("Password").fill(STAFF_PASSWORD)
    auditor.get_by_role("button", name="Log in").click()
    auditor.get_by_role("link", name="Find by identity").click()
    auditor.get_by_label("Type of document").select_option("cn_resident_id")
    auditor.get_by_label("Number", exact=True).fill(id_number)
    auditor.get_by_label("Reason for the look-up").fill("Complaint 2026-311: fake health claims")
    auditor.get_by_role("button", name="Look up").click()
    expect(auditor.get_by_role("status")).to_have_text("1 registration of this identity")
    a11y.check(auditor)
    auditor.get_by_role("link", name=number).click()
    expect(auditor.get_by_role("heading", level=1)).to_contain_text(number)
    expect(auditor.get_by_text(id_number)).to_have_count(0)
    # Beside the masked ID number, the year of birth only.
    birth_row = auditor.locator(".summary-list > div").filter(
        has=auditor.get_by_text("Year of birth", exact=True))
    expect(birth_row.locator("dd")).to_have_text(["1992", "1992"])  # answers, and as submitted
    expect(auditor.get_by_text("18 April 1992")).to_have_count(0)

    auditor.get_by_role("link", name="Ask a platform for documents about this registration").click()
    auditor.get_by_label("Platform asked").select_option(label="Inspected Platform")
    expect(auditor.get_by_label("Registration number (optional)")).to_have_value(number)
    auditor.get_by_label("Documents or data asked for").fill(
        "The recordings of the streams of 28 November and the sales records of that night")
    deadline = identity.china_today() + timedelta(days=10)
    auditor.get_by_label("Deadline").fill(deadline.isoformat())
    auditor.get_by_role("button", name="Send the request").click()
    expect(auditor.get_by_text("The platform has not answered yet.")).to_be_visible()
    request_url = auditor.url

    api = playwright.request.new_context(
        base_url=server.url, extra_http_headers={"Authorization": f"Bearer {key}"})
    try:
        listed = api.get("/api/v1/inspection-requests?status=open")
        assert listed.status == 200, listed.text()
        (asked,) = [i for i in listed.json()["items"] if i.get("number") == number]
        answered = api.post(f"/api/v1/inspection-requests/{asked['id']}/answer", multipart={
            "text": "Recordings attached; sales records follow by 5 December.",
            "files": {"name": "sales.pdf", "mimeType": "application/pdf",
                      "buffer": w.PDF},
        })
        assert answered.status == 201, answered.text()
    finally:
        api.dispose()

    auditor.goto(request_url)
    expect(auditor.get_by_text("Recordings attached; sales records follow by 5 December.")
           ).to_be_visible()
    expect(auditor.get_by_role("link", name="sales.pdf")).to_be_visible()
    a11y.check(auditor)
