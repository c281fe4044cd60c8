"""Filling the registration wizard as a person does: by label, group and button."""

from __future__ import annotations

import re
from datetime import date

from playwright.sync_api import Locator, Page, expect

from portal.base import identity
from tests.e2e.conftest import unique_email

PASSWORD = "amber willow station 64 cloud"


def _image(fmt: str) -> bytes:
    """A real 8x8 image: uploads are decoded and encoded again (uploads.clean_upload)."""
    from io import BytesIO

    from PIL import Image

    out = BytesIO()
    Image.new("RGB", (8, 8), (200, 180, 160)).save(out, fmt)
    return out.getvalue()


PNG = _image("PNG")
PDF = b"%PDF-1.7\n" + b"0" * 64
GIF = b"GIF89a" + b"\x00" * 64


def file(name: str, data: bytes = PNG, mime: str = "image/png") -> dict:
    return {"name": name, "mimeType": mime, "buffer": data}


def born_years_ago(years: int) -> date:
    today = identity.china_today()
    try:
        return today.replace(year=today.year - years)
    except ValueError:
        return today.replace(year=today.year - years, day=28)


def sign_up_verified(page: Page, prefix: str = "applicant") -> str:
    """Create an account, open the confirmation link from the development mailbox and log in."""
    email = unique_email(prefix)
    page.goto("/signup")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    page.get_by_role("link", name="Development mailbox").click()
    page.get_by_role("article").filter(has_text=email).get_by_role(
        "link", name=re.compile("verify-email")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Email address confirmed")
    page.get_by_role("main").get_by_role("link", name="Log in").click()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My account")
    return email


def start_registration(page: Page, control: str = "Start your registration") -> None:
    """From the account page: its button opens the page of what will be asked, whose
    "Start now" starts the registration at its first step."""
    page.get_by_role("button", name=control).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Start your registration")
    page.get_by_role("button", name="Start now").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your identity")


def yes_no(page: Page, question: str | re.Pattern[str], answer: str = "Yes") -> None:
    """Answer a yes/no question; the fields a "Yes" opens show only once it is chosen."""
    page.get_by_role("group", name=question).get_by_label(answer, exact=True).check()


def save(page: Page) -> None:
    page.get_by_role("button", name="Save and continue").last.click()


def narrowed_to(page: Page, city_field: Locator) -> None:
    """Wait until the city list holds only the cities of the province chosen (htmx asks the
    server as the province changes); without JavaScript it holds every city at once."""
    if page.evaluate("typeof htmx !== 'undefined'"):
        expect(city_field.locator("optgroup")).to_have_count(0)


def choose_place(page: Page, province_label: str, province: str, city_label: str,
                 city: str) -> None:
    """Choose a province, then one of its cities (GB/T 2260 codes)."""
    page.get_by_label(province_label).select_option(province)
    city_field = page.get_by_label(city_label)
    narrowed_to(page, city_field)
    expect(city_field.locator(f"option[value='{city}']")).to_be_attached()
    city_field.select_option(city)


def fill_identity(page: Page, *, name: str = "张三", id_number: str = "110105198503128794",
                  birth: str = "1985-03-12", organisation: bool = False,
                  id_type: str = "cn_resident_id") -> None:
    who = "As an organisation" if organisation else "As a person"
    page.get_by_label(re.compile(who)).check()
    page.get_by_label("Full legal name").fill(name)
    page.get_by_label("Type of ID document").select_option(id_type)
    page.get_by_label("ID number").fill(id_number)
    page.get_by_label("Date of birth").fill(birth)
    page.get_by_label("Nationality").select_option("CN")
    choose_place(page, "Province where you live", "11", "City where you live", "1101")
    page.get_by_label("Mobile phone number").fill("13812345678")
    page.get_by_label("Front of your ID document").set_input_files(file("front.png"))
    page.get_by_label("Back of your ID document").set_input_files(file("back.png"))
    page.get_by_label(re.compile("I consent to the processing")).check()


def fill_channel(page: Page, *, handle: str = "zhangsan_live") -> None:
    channel = page.get_by_role("group", name="Channel 1")
    channel.get_by_label("Platform").select_option("douyin")
    channel.get_by_label("Account name").fill(handle)
    channel.get_by_label("Followers (optional)").fill("12000")


def fill_roles(page: Page, roles: tuple[str, ...] = ("Streamer (livestream marketer)",)) -> None:
    group = page.get_by_role("group", name="Which roles do you register for?")
    for role in roles:
        group.get_by_label(role).check()
    fill_channel(page)
    page.get_by_label("Monthly sales through your livestreams").select_option("10k_100k")
    yes_no(page, re.compile("virtual avatar or an AI-generated presenter"), "No")


SECURITY_QUESTIONS = (
    "Two-factor authentication is turned on",
    "Only named staff operate the live room",
    "Buyers' personal information stays",
    "Purchase links and QR codes",
    "Streaming devices are kept updated",
    "There is a security contact",
)


def fill_security(page: Page, *, name: str = "张三", own_site: bool | None = None) -> None:
    """Answer every statement "Yes". ``own_site``: the answer about an own shop site, asked
    only of live-room operators and merchants; None (a streamer, an MCN agency): not asked."""
    for question in SECURITY_QUESTIONS:
        yes_no(page, re.compile(re.escape(question)))
    page.get_by_label("Staff who operate the live room").fill("李四 场控")
    page.get_by_label("Security contact").fill("李四 13912345678")
    site = page.get_by_role("group", name=re.compile("your own shop site"))
    if own_site is None:
        expect(site).to_have_count(0)
    else:
        yes_no(page, re.compile("your own shop site"), "Yes" if own_site else "No")
    if own_site:
        page.get_by_label("Domain").fill("shop.example.cn")
        page.get_by_label("ICP filing number").fill("京ICP备12345678号")
        yes_no(page, re.compile("HTTPS only"))
        page.get_by_label("Date of the latest security assessment").fill("2026-06-01")
        page.get_by_label("Report of the latest security assessment").set_input_files(
            file("report.pdf", PDF, "application/pdf"))
    page.get_by_label("Type your full legal name").fill(name)


def fill_content(page: Page) -> None:
    page.get_by_label("Clothing, shoes and accessories").check()
    page.get_by_label("Everyone, including minors").check()
    yes_no(page, "Do minors appear on your streams?", "No")


def fill_commitments(page: Page) -> None:
    page.get_by_label("Returns within 7 days without a reason", exact=True).check()
    page.get_by_role("group", name="How can buyers complain?").get_by_label("Phone").check()
    page.get_by_label("Phone number or email address for complaints").fill("13987654321")
    page.get_by_label("Within 24 hours").check()
    page.get_by_label(re.compile("clearly label paid promotion")).check()
    boxes = page.get_by_label(re.compile("I will not"))
    expect(boxes).to_have_count(8)
    for box in boxes.all():
        box.check()


def submit(page: Page, name: str = "张三") -> str:
    """Sign on the review page, submit, and return the number the confirmation shows."""
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your answers and submit")
    expect(page.get_by_role("heading", name="Still to do")).to_have_count(0)
    page.get_by_label("Type your full legal name").fill(name)
    page.get_by_role("button", name="Submit registration").click()
    # A declared shop site is probed first (here without network: it gives up within ~2 s).
    expect(page.get_by_role("heading", level=1)).to_have_text("Registration submitted",
                                                              timeout=15_000)
    number = page.locator(".panel__number").inner_text()
    assert re.fullmatch(r"LR-\d{4}-\d{7}", number), number
    return number


def register_adult(page: Page, prefix: str, **person: str) -> str:
    """Sign up, complete every step as an adult streamer and submit; returns the number.
    ``person``: ``fill_identity``'s name, id_number, birth and id_type."""
    sign_up_verified(page, prefix)
    start_registration(page)
    fill_identity(page, **person)  # type: ignore[arg-type]
    save(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Roles and channels")
    fill_roles(page)
    save(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Security attestation")
    fill_security(page, name=person.get("name", "张三"))
    save(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Content rating")
    fill_content(page)
    save(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Consumer protection")
    fill_commitments(page)
    save(page)
    return submit(page, person.get("name", "张三"))
