"""Sanctions, appeals and the blocklist, as the moderators and the applicant see them."""

from __future__ import annotations

import re
from datetime import date, timedelta

from playwright.sync_api import Browser, Page, expect

from portal.base import identity
from tests.e2e import wizard as w
from tests.e2e.conftest import STAFF, STAFF_PASSWORD, A11y, Server
from tests.e2e.test_review import approve, new_page, open_registration, status_of


def log_in_staff(page: Page, who: str) -> None:
    page.goto("/login")
    page.get_by_label("Email address").fill(STAFF[who])
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def apply_sanction(page: Page, kind: str, until: str = "") -> None:
    page.get_by_label("Sanction", exact=True).select_option(kind)
    page.get_by_label("Facts", exact=True).fill("Sold counterfeit bags on stream on 3 November")
    page.get_by_label("Reason", exact=True).fill("Counterfeit goods")
    page.get_by_label("Legal basis").fill("2021 Measures, Art. 18(3)")
    if until:
        page.get_by_label("Until (suspension) or deadline (order to correct)").fill(until)
    page.get_by_role("button", name="Apply the sanction").click()
    expect(page.get_by_role("status").first).to_have_text("The sanction has been applied.")


def test_suspension_appeal_blacklist_and_lift(browser: Browser, server: Server,
                                              a11y: A11y) -> None:
    applicant = new_page(browser, server)
    number = w.register_adult(applicant, "sanctioned")
    mod = new_page(browser, server)
    log_in_staff(mod, "moderator")
    open_registration(mod, number)
    approve(mod, number)  # then back to it from the next one in the queue

    until = (identity.china_today() + timedelta(days=7)).isoformat()
    apply_sanction(mod, "suspend", until)
    assert status_of(mod) == "Suspended"
    a11y.check(mod)

    applicant.goto("/me")
    assert status_of(applicant) == "Suspended"
    expect(applicant.get_by_text("Sold counterfeit bags on stream on 3 November", exact=True)
           ).to_be_visible()
    a11y.check(applicant)
    applicant.get_by_label("Your appeal against this sanction").fill(
        "The bags came from the brand's own warehouse; receipts attached to my email")
    applicant.get_by_role("button", name="Send the appeal").click()
    expect(applicant.get_by_text("Waiting for a decision")).to_be_visible()

    mod2 = new_page(browser, server)
    log_in_staff(mod2, "moderator2")
    open_registration(mod2, number)
    mod2.get_by_label("Overturn the sanction").check()
    mod2.get_by_label("Reason for the decision").fill("The receipts are genuine")
    mod2.get_by_role("button", name="Decide the appeal").click()
    expect(mod2.get_by_role("status").first).to_have_text("The appeal has been decided.")
    expect(mod2.get_by_text("The receipts are genuine")).to_be_visible()
    assert status_of(mod2) == "Approved"

    applicant.goto("/me")
    expect(applicant.get_by_text("The sanction was overturned")).to_be_visible()

    open_registration(mod, number)
    apply_sanction(mod, "blacklist")
    assert status_of(mod) == "Revoked"
    applicant.goto("/me")
    assert status_of(applicant) == "Revoked"
    expect(applicant.get_by_role("heading", name="Blacklisting")).to_be_visible()

    again = new_page(browser, server)
    refused_number_page = again
    w.sign_up_verified(refused_number_page, "returning")
    w.start_registration(refused_number_page)
    w.fill_identity(refused_number_page)
    w.save(refused_number_page)
    w.fill_roles(refused_number_page)
    w.save(refused_number_page)
    w.fill_security(refused_number_page)
    w.save(refused_number_page)
    w.fill_content(refused_number_page)
    w.save(refused_number_page)
    w.fill_commitments(refused_number_page)
    w.save(refused_number_page)
    refused_number_page.get_by_label("Type your full legal name").fill("张三")
    refused_number_page.get_by_role("button", name="Submit registration").click()
    expect(refused_number_page.get_by_role("alert")).to_contain_text(
        "This identity cannot be registered")

    mod.goto("/blocklist")
    a11y.check(mod)
    mod.get_by_role("button", name="Ask to lift").first.click()
    expect(mod.get_by_role("status")).to_contain_text("A second staff member must confirm")
    mod.get_by_role("button", name="Confirm the lift").first.click()
    expect(mod.get_by_role("alert")).to_contain_text("A second staff member must confirm")

    admin = new_page(browser, server)
    log_in_staff(admin, "admin")
    admin.goto("/blocklist")
    admin.get_by_role("button", name="Confirm the lift").first.click()
    expect(admin.get_by_role("status")).to_have_text("The entry has been lifted.")


def test_a_blacklisted_person_returns_with_a_passport_and_is_held(
        browser: Browser, server: Server, a11y: A11y) -> None:
    """The evasion of DESIGN §5 done as a person would: blacklisted under a resident ID card,
    back with a passport and an invisible character in the name. The name is refused; typed
    plainly, the submission goes through and is held until a moderator compares both records."""
    birth = date(1979, 6, 5)
    person = {"name": "赵敏", "birth": birth.isoformat()}
    first = new_page(browser, server)
    number = w.register_adult(first, "blacklisted",
                              id_number=identity.make_resident_id("330106", birth, 451), **person)
    mod = new_page(browser, server)
    log_in_staff(mod, "moderator")
    open_registration(mod, number)
    approve(mod, number)
    apply_sanction(mod, "blacklist")

    again = new_page(browser, server)
    w.sign_up_verified(again, "returning-passport")
    w.start_registration(again)
    w.fill_identity(again, id_type="passport", id_number="E7654321", name="赵\u200b敏",
                    birth=person["birth"])
    w.save(again)
    expect(again.get_by_role("alert")).to_contain_text("invisible characters")
    again.get_by_label("Full legal name").fill("赵敏")
    again.get_by_label("Front of your ID document").set_input_files(w.file("front.png"))
    again.get_by_label("Back of your ID document").set_input_files(w.file("back.png"))
    w.save(again)
    expect(again.get_by_role("heading", level=1)).to_have_text("Roles and channels")
    w.fill_roles(again)
    w.save(again)
    w.fill_security(again, name="赵敏")
    w.save(again)
    w.fill_content(again)
    w.save(again)
    w.fill_commitments(again)
    w.save(again)
    held = w.submit(again, "赵敏")

    open_registration(mod, held)
    expect(mod.get_by_text("Held", exact=True)).to_be_visible()
    mod.get_by_role("button", name="Approve registration").click()
    expect(mod.get_by_role("alert")).to_contain_text("This submission is held")
    mod.get_by_role("link", name="Compare the records and decide").click()
    expect(mod.get_by_role("heading", level=1)).to_have_text("Compare the records")
    expect(mod.get_by_role("heading", name="The submission held")).to_be_visible()
    expect(mod.get_by_role("link", name=number)).to_be_visible()
    a11y.check(mod)
    mod.get_by_role("button", name="Clear the hold").click()
    expect(mod.get_by_role("alert")).to_contain_text("Say why the records are not the same person")
    mod.get_by_label("Why are these not the same person?").fill(
        "Passport photo shows another woman; born in Harbin, not Hangzhou")
    mod.get_by_role("button", name="Clear the hold").click()
    expect(mod.get_by_role("status").first).to_have_text(
        "The hold has been cleared. You can now decide.")
    expect(mod.get_by_text("Hold cleared", exact=True)).to_be_visible()


def test_deregistering_and_applying_again_washes_nothing(browser: Browser, server: Server,
                                                         a11y: A11y) -> None:
    """A sanctioned streamer deregisters and applies again from the same account: a new number,
    and the moderator sees the earlier one with its sanctions, the risk level raised by them."""
    birth = date(1988, 11, 2)
    person = {"name": "钱多多", "birth": birth.isoformat(),
              "id_number": identity.make_resident_id("440305", birth, 372)}
    applicant = new_page(browser, server)
    number = w.register_adult(applicant, "washer", **person)
    mod = new_page(browser, server)
    log_in_staff(mod, "moderator")
    open_registration(mod, number)
    approve(mod, number)
    until = (identity.china_today() + timedelta(days=7)).isoformat()
    apply_sanction(mod, "order_correction", until)
    apply_sanction(mod, "suspend", until)

    applicant.goto("/me")
    applicant.get_by_label("I want to end my registration").check()
    applicant.get_by_role("button", name="Deregister").click()
    expect(applicant.get_by_role("status").first).to_have_text(
        "Your registration has been deregistered.")
    w.start_registration(applicant, "Start a new registration")
    w.fill_identity(applicant, **person)
    w.save(applicant)
    w.fill_roles(applicant)
    w.save(applicant)
    w.fill_security(applicant, name=person["name"])
    w.save(applicant)
    w.fill_content(applicant)
    w.save(applicant)
    w.fill_commitments(applicant)
    w.save(applicant)
    again = w.submit(applicant, person["name"])
    assert again != number

    open_registration(mod, again)
    earlier = mod.get_by_role("listitem").filter(
        has_text="Earlier registrations of the same document, person or organisation")
    expect(earlier.get_by_role("link", name=number)).to_be_visible()
    expect(earlier).to_contain_text("(Deregistered)")
    expect(earlier).to_contain_text("2 sanctions")
    risk = mod.locator(".summary-list > div").filter(
        has=mod.get_by_text("Risk level", exact=True)).locator("dd")
    expect(risk).to_have_text("High")
    a11y.check(mod)


def register_organisation(page: Page, prefix: str, *, uscc: str, representative: str,
                          responsible: dict[str, str]) -> None:
    """Fill every step as an MCN agency, up to the page where it is signed and submitted."""
    w.sign_up_verified(page, prefix)
    w.start_registration(page)
    w.fill_identity(page, organisation=True, **responsible)
    w.save(page)
    page.get_by_role("group", name="Which roles do you register for?").get_by_label(
        "MCN agency (marketer service agency)").check()
    page.get_by_label("Organisation name").fill("杭州星辰文化传媒有限公司")
    page.get_by_label("Unified social credit code").fill(uscc)
    page.get_by_label("Legal representative").fill(representative)
    w.choose_place(page, "Province of the registered address", "33",
                   "City of the registered address", "3301")
    page.get_by_label("Business licence").set_input_files(
        w.file("licence.pdf", w.PDF, "application/pdf"))
    w.fill_channel(page, handle=f"{prefix}_mcn")
    page.get_by_label("Monthly sales through your livestreams").select_option("10k_100k")
    w.yes_no(page, re.compile("virtual avatar or an AI-generated presenter"), "No")
    w.save(page)
    w.fill_security(page, name=responsible["name"])
    w.save(page)
    w.fill_content(page)
    w.save(page)
    w.fill_commitments(page)
    w.save(page)


def test_a_blacklisted_organisation_returns_under_a_new_representative_and_is_refused(
        browser: Browser, server: Server) -> None:
    uscc = "91330106MA2H0K1X7X"
    first_born, second_born = date(1975, 2, 14), date(1991, 8, 30)
    first = new_page(browser, server)
    register_organisation(first, "mcn-first", uscc=uscc, representative="孙立",
                          responsible={"name": "孙立", "birth": first_born.isoformat(),
                                       "id_number": identity.make_resident_id(
                                           "330106", first_born, 515)})
    number = w.submit(first, "孙立")
    mod = new_page(browser, server)
    log_in_staff(mod, "moderator")
    open_registration(mod, number)
    approve(mod, number)
    apply_sanction(mod, "blacklist")

    again = new_page(browser, server)
    register_organisation(again, "mcn-again", uscc=uscc.lower(), representative="周新",
                          responsible={"name": "周新", "birth": second_born.isoformat(),
                                       "id_number": identity.make_resident_id(
                                           "330102", second_born, 628)})
    again.get_by_label("Type your full legal name").fill("周新")
    again.get_by_role("button", name="Submit registration").click()
    expect(again.get_by_role("alert")).to_contain_text("This organisation cannot be registered")
