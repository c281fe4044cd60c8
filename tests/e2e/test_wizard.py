"""The registration wizard in a real browser, from an empty account to a registration number."""

from __future__ import annotations

import html
import re
import urllib.request

from playwright.sync_api import Browser, Page, expect

from portal.base import identity
from tests.e2e import keyboard
from tests.e2e import wizard as w
from tests.e2e.conftest import A11y, Server, unique_email


def start(page: Page) -> None:
    w.start_registration(page)


def confirmation_link(server: Server, email: str) -> str:
    """The link in the confirmation email the development mailbox holds for this address."""
    with urllib.request.urlopen(f"{server.url}/dev/mailbox") as response:  # noqa: S310
        mailbox = response.read().decode()
    for article in re.findall(r"<article.*?</article>", mailbox, re.S):
        if email in article:
            found = re.search(r'href="([^"]*verify-email[^"]*)"', article)
            assert found, article
            return html.unescape(found.group(1))
    raise AssertionError(f"no message to {email}")


def expect_status_page(page: Page, number: str) -> None:
    page.get_by_role("link", name="Go to your status page").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My account")
    expect(page.get_by_text(number, exact=True)).to_be_visible()
    status = page.locator(".summary-list > div").filter(has=page.get_by_text("Status", exact=True))
    expect(status).to_contain_text("Submitted")


def test_adult_streamer_registers_with_the_keyboard_alone(page: Page, a11y: A11y,
                                                          server: Server) -> None:
    """Every step done with Tab, Shift+Tab, Space, Enter, arrow keys and typing; focus lands
    where a person expects it after each page."""
    kb = keyboard
    page.goto("/")
    kb.follow(page, page.get_by_role("button", name="Create an account"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Create an account")
    email = unique_email("keyboard")
    kb.type_into(page, page.get_by_label("Email address"), email)
    kb.type_into(page, page.get_by_label("Password", exact=True), w.PASSWORD)
    kb.type_into(page, page.get_by_label("Confirm password"), w.PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    # The confirmation link arrives by email, outside the portal: open it as the mail app does.
    page.goto(confirmation_link(server, email))
    expect(page.get_by_role("heading", level=1)).to_have_text("Email address confirmed")
    kb.follow(page, page.get_by_role("main").get_by_role("link", name="Log in"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    kb.type_into(page, page.get_by_label("Email address"), email)
    kb.type_into(page, page.get_by_label("Password"), w.PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("My account")
    kb.tab_to(page, page.get_by_role("button", name="Start your registration"))
    assert kb.focus_ring(page)["outline"] == "solid 3px"  # visible focus
    kb.press_button(page, page.get_by_role("button", name="Start your registration"))
    # First what will be asked, then the registration starts.
    expect(page.get_by_role("heading", level=1)).to_have_text("Start your registration")
    a11y.check(page)
    kb.press_button(page, page.get_by_role("button", name="Start now"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your identity")
    expect(page.locator("#main")).to_be_focused()
    a11y.check(page)

    kb.choose(page, page.get_by_role("group", name="Who are you registering?"),
              re.compile("As a person"))
    kb.type_into(page, page.get_by_label("Full legal name"), "张三")
    kb.select(page, page.get_by_label("Type of ID document"), "Resident identity card")
    kb.type_into(page, page.get_by_label("ID number"), "110105198503128794")
    kb.enter_date(page, page.get_by_label("Date of birth"), "1985-03-12")
    kb.select(page, page.get_by_label("Province where you live"), "Beijing")
    w.narrowed_to(page, page.get_by_label("City where you live"))
    kb.select(page, page.get_by_label("City where you live"), "Beijing")
    kb.type_into(page, page.get_by_label("Mobile phone number"), "13812345678")
    kb.upload(page, page.get_by_label("Front of your ID document"), w.file("front.png"))
    kb.upload(page, page.get_by_label("Back of your ID document"), w.file("back.png"))
    kb.tick(page, page.get_by_label(re.compile("I consent to the processing")))
    # A mistake, then back with Shift+Tab to correct it: the error is tied to its field.
    kb.tab_to(page, page.get_by_label("Mobile phone number"), backwards=True)
    page.keyboard.press("Control+A")
    page.keyboard.type("123")
    kb.press_button(page, page.get_by_role("button", name="Save and continue"))
    summary = page.get_by_role("alert")
    expect(summary).to_be_focused()
    phone = page.get_by_label("Mobile phone number")
    expect(phone).to_have_attribute("aria-invalid", "true")
    expect(phone).to_have_accessible_description(re.compile("Error:"))
    a11y.check(page)
    kb.follow(page, summary.get_by_role("link"))
    expect(phone).to_be_focused()
    page.keyboard.press("Control+A")
    page.keyboard.type("13812345678")
    # Every other answer, the documents and the tick included, was kept.
    expect(page.get_by_label(re.compile("I consent to the processing"))).to_be_checked()
    expect(page.get_by_role("link", name="View the file")).to_have_count(2)
    kb.press_button(page, page.get_by_role("button", name="Save and continue"))

    expect(page.get_by_role("heading", level=1)).to_have_text("Roles and channels")
    expect(page.locator("#main")).to_be_focused()
    a11y.check(page)
    kb.tick(page, page.get_by_label("Streamer (livestream marketer)"))
    channel = page.get_by_role("group", name="Channel 1")
    kb.select(page, channel.get_by_label("Platform"), "Douyin")
    kb.type_into(page, channel.get_by_label("Account name"), "zhangsan_live")
    kb.type_into(page, channel.get_by_label("Followers (optional)"), "12000")
    kb.select(page, page.get_by_label("Monthly sales through your livestreams"),
              "¥10,000 to ¥100,000")
    kb.choose(page, page.get_by_role("group", name=re.compile("virtual avatar")), "No")
    kb.press_button(page, page.get_by_role("button", name="Save and continue").last)

    expect(page.get_by_role("heading", level=1)).to_have_text("Security attestation")
    a11y.check(page)
    for question in w.SECURITY_QUESTIONS:
        kb.choose(page, page.get_by_role("group", name=re.compile(re.escape(question))), "Yes")
        if question.startswith("Only named staff"):
            # Opened by the "Yes", it is the next stop of the Tab key.
            page.keyboard.press("Tab")
            expect(page.get_by_label("Staff who operate the live room")).to_be_focused()
            page.keyboard.type("李四 场控")
    kb.type_into(page, page.get_by_label("Security contact"), "李四 13912345678")
    # A streamer is not asked about a shop site of their own.
    expect(page.get_by_role("group", name=re.compile("your own shop site"))).to_have_count(0)
    kb.type_into(page, page.get_by_label("Type your full legal name"), "张三")
    page.keyboard.press("Enter")  # in a text field, Enter submits the form

    expect(page.get_by_role("heading", level=1)).to_have_text("Content rating")
    a11y.check(page)
    kb.tick(page, page.get_by_label("Clothing, shoes and accessories"))
    kb.choose(page, page.get_by_role("group", name="Who are your streams for?"),
              "Everyone, including minors")
    kb.choose(page, page.get_by_role("group", name="Do minors appear on your streams?"), "No")
    kb.press_button(page, page.get_by_role("button", name="Save and continue"))

    expect(page.get_by_role("heading", level=1)).to_have_text("Consumer protection")
    a11y.check(page)
    kb.choose(page, page.get_by_role("group", name="Your return policy"),
              "Returns within 7 days without a reason")
    kb.choose(page, page.get_by_role("group", name="How can buyers complain?"), "Phone")
    kb.type_into(page, page.get_by_label("Phone number or email address for complaints"),
                 "13987654321")
    kb.choose(page, page.get_by_role("group", name="How quickly do you answer a complaint?"),
              "Within 24 hours")
    kb.tick(page, page.get_by_label(re.compile("clearly label paid promotion")))
    for box in page.get_by_label(re.compile("I will not")).all():
        kb.tick(page, box)
    kb.press_button(page, page.get_by_role("button", name="Save and continue"))

    expect(page.get_by_role("heading", level=1)).to_have_text("Check your answers and submit")
    expect(page.get_by_text("1101**********8794")).to_be_visible()
    expect(page.get_by_text("March 12, 1985", exact=True)).to_be_visible()
    expect(page.get_by_text("Douyin: zhangsan_live · 12,000 followers")).to_be_visible()
    expect(page.get_by_role("heading", name="Still to do")).to_have_count(0)
    a11y.check(page)
    kb.type_into(page, page.get_by_label("Type your full legal name"), "张三")
    kb.press_button(page, page.get_by_role("button", name="Submit registration"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Registration submitted")
    number = page.locator(".panel__number").inner_text()
    a11y.check(page)
    kb.follow(page, page.get_by_role("link", name="Go to your status page"))
    expect(page.get_by_role("heading", level=1)).to_have_text("My account")
    expect(page.get_by_text(number, exact=True)).to_be_visible()
    a11y.check(page)


def test_sixteen_year_old_registers_with_a_guardian(page: Page) -> None:
    birth = w.born_years_ago(16)
    w.sign_up_verified(page, "minor")
    start(page)
    w.fill_identity(page, name="李小红", id_number=identity.make_resident_id("310101", birth, 24),
                    birth=birth.isoformat())
    w.save(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Guardian's consent")
    page.get_by_label("Guardian's full legal name").fill("李大明")
    page.get_by_label("Type of the guardian's ID document").select_option("cn_resident_id")
    page.get_by_label("Guardian's ID number").fill("440305197801016988")
    page.get_by_label("Guardian's date of birth").fill("1978-01-01")
    page.get_by_label("Father").check()
    page.get_by_label("Guardian, type your full legal name to consent").fill("李大明")
    page.get_by_label("Consent letter signed by the guardian").set_input_files(
        w.file("consent.pdf", w.PDF, "application/pdf"))
    w.save(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Roles and channels")
    w.fill_roles(page)
    w.save(page)
    w.fill_security(page, name="李小红")
    w.save(page)
    w.fill_content(page)
    w.save(page)
    w.fill_commitments(page)
    w.save(page)
    expect(page.get_by_role("heading", name="Guardian's consent")).to_be_visible()
    number = w.submit(page, "李小红")
    expect_status_page(page, number)


def test_merchant_company_with_its_own_shop_site(page: Page, a11y: A11y) -> None:
    w.sign_up_verified(page, "merchant")
    start(page)
    w.fill_identity(page, organisation=True)
    w.save(page)
    page.get_by_label("Organisation name").fill("北京星光商贸有限公司")
    page.get_by_label("Unified social credit code").fill("91110000MA01ABCD1M")
    page.get_by_label("Legal representative").fill("张三")
    w.choose_place(page, "Province of the registered address", "11",
                   "City of the registered address", "1101")
    page.get_by_label("Business licence").set_input_files(w.file("licence.pdf", w.PDF,
                                                                 "application/pdf"))
    w.fill_roles(page, roles=("Merchant", "Live-room operator"))
    page.get_by_role("button", name="Add another channel").click()
    second = page.get_by_role("group", name="Channel 2")
    second.get_by_label("Platform").select_option("taobao")
    second.get_by_label("Account name").fill("xingguang_shop")
    expect(page.get_by_role("group", name="Channel 1").get_by_label("Account name")).to_have_value(
        "zhangsan_live")
    w.save(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Security attestation")
    w.fill_security(page, own_site=True)
    w.save(page)
    w.fill_content(page)
    w.save(page)
    w.fill_commitments(page)
    w.save(page)
    expect(page.get_by_text("shop.example.cn")).to_be_visible()
    expect(page.get_by_text("Taobao Live: xingguang_shop")).to_be_visible()
    a11y.check(page)
    number = w.submit(page)
    expect_status_page(page, number)


def test_errors_a_person_sees(page: Page, a11y: A11y) -> None:
    w.sign_up_verified(page, "errors")
    start(page)
    too_young = w.born_years_ago(15)
    w.fill_identity(page, id_number=identity.make_resident_id("110101", too_young, 5),
                    birth=too_young.isoformat())
    w.save(page)
    expect(page.locator("#date_of_birth-error")).to_contain_text("at least 16")
    expect(page.get_by_role("alert")).to_contain_text("A streamer must be at least 16")
    a11y.check(page)

    page.get_by_label("ID number").fill("110105198503128793")
    page.get_by_label("Date of birth").fill("1985-03-12")
    page.get_by_label("Front of your ID document").set_input_files(w.file("front.gif", w.GIF,
                                                                          "image/png"))
    page.get_by_label("Back of your ID document").set_input_files(w.file("back.png"))
    w.save(page)
    expect(page.locator("#id_number-error")).to_contain_text("check it for typing mistakes")
    expect(page.locator("#id_front-error")).to_contain_text("must be a JPG, PNG or PDF")
    expect(page.get_by_label("Full legal name")).to_have_value("张三")

    w.fill_identity(page)
    w.save(page)
    w.fill_roles(page)
    w.save(page)
    w.fill_security(page)
    w.save(page)
    page.get_by_role("checkbox", name="Alcohol").check()
    page.get_by_label("Everyone, including minors").check()
    yes_no_group = page.get_by_role("group", name="Do minors appear on your streams?")
    yes_no_group.get_by_label("No", exact=True).check()
    page.get_by_label("Clothing, shoes and accessories").check()
    w.save(page)
    expect(page.locator("#audience-error")).to_contain_text(
        "alcohol or financial products must be for adults only")
    expect(page.locator("#qualification_alcohol-error")).to_contain_text(
        "Upload your qualification for Alcohol")
    a11y.check(page)


def test_inline_check_when_leaving_a_field(page: Page) -> None:
    w.sign_up_verified(page, "inline")
    start(page)
    page.get_by_label("ID number").fill("110105198503128793")
    page.get_by_label("Date of birth").focus()
    expect(page.locator("#id_number-error")).to_contain_text("check it for typing mistakes")
    # Tied to its field, and read out although the person is already in the next one.
    expect(page.get_by_label("ID number")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("ID number")).to_have_accessible_description(
        re.compile("check it for typing mistakes"))
    expect(page.locator("#live-announcer")).to_contain_text("check it for typing mistakes")
    expect(page.get_by_label("Date of birth")).to_be_focused()
    page.get_by_label("ID number").fill("110105198503128794")
    page.get_by_label("Date of birth").focus()
    expect(page.locator("#id_number-error")).to_have_count(0)
    expect(page.get_by_label("ID number")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#live-announcer")).to_have_text("")


def test_wizard_works_with_javascript_off(browser: Browser, server: Server) -> None:
    context = browser.new_context(java_script_enabled=False, base_url=server.url)
    page = context.new_page()
    w.sign_up_verified(page, "nojs")
    start(page)
    w.fill_identity(page)
    w.save(page)
    w.fill_roles(page)
    page.get_by_role("button", name="Add another channel").click()
    expect(page.get_by_role("group", name="Channel 2")).to_be_visible()
    w.save(page)
    w.fill_security(page)
    w.save(page)
    w.fill_content(page)
    w.save(page)
    w.fill_commitments(page)
    w.save(page)
    number = w.submit(page)
    expect_status_page(page, number)
    context.close()


def test_leaving_and_coming_back_resumes(page: Page) -> None:
    email = w.sign_up_verified(page, "resume")
    start(page)
    w.fill_identity(page)
    w.save(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Roles and channels")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_have_text("You have logged out.")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Log in").click()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(w.PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My account")
    page.get_by_role("button", name="Continue your registration").click()
    tasks = page.locator(".task-list")
    expect(tasks.locator("li").filter(has_text="Your identity")).to_contain_text("Completed")
    expect(tasks.locator("li").filter(has_text="Roles and channels")).to_contain_text(
        "Not started")
    page.get_by_role("link", name="Your identity").click()
    expect(page.get_by_label("Full legal name")).to_have_value("张三")
    expect(page.get_by_text(re.compile(r"Saved as 1101\*+8794"))).to_be_visible()
