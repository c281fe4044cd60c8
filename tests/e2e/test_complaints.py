"""A buyer reports a problem with a registered seller, is given a reference and follows the
report with it; the moderator sees the case's deadline. In both languages, on a desktop and on
a 375 px phone."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e import wizard as w
from tests.e2e.conftest import A11y, Server
from tests.e2e.test_enforcement import log_in_staff
from tests.e2e.test_review import new_page

SCREENS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 740}}
REFERENCE = re.compile(r"TS-[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}")
WORDS = {
    "en": {
        "commitments": "The seller's commitments to buyers",
        "returns": "Returns within 7 days without a reason",
        "by_phone": "By phone:",
        "about": "What is it about?", "what": "What happened",
        "contact": "Your phone number or email (optional)", "send": "Send the report",
        "refused": "Choose what the case is about",
        "sent": "Thank you. Your report has been sent to the moderators.",
        "yours": "Your report", "keep": "Keep this reference",
        "state": "Received", "reported": "Counterfeit or substandard goods",
        "follow_link": "Follow a report you sent", "follow": "Follow a report",
        "reference": "Report reference", "follow_button": "Follow the report",
        "unknown": "No report has this reference",
        "cases": "Cases", "deadline": "Deadline", "earliest": "Earliest deadline first",
    },
    "zh-Hans": {
        "commitments": "卖家对买家的承诺",
        "returns": "支持七日无理由退货",
        "by_phone": "电话：",
        "about": "事由是什么？", "what": "发生了什么",
        "contact": "您的手机号码或电子邮箱（选填）", "send": "提交举报",
        "refused": "请选择案件事由",
        "sent": "谢谢，您的举报已提交给审核员。",
        "yours": "您的举报", "keep": "请保存此查询编号",
        "state": "已收到", "reported": "假冒伪劣商品",
        "follow_link": "查询您提交的举报", "follow": "查询举报",
        "reference": "举报查询编号", "follow_button": "查询举报进度",
        "unknown": "没有举报使用此查询编号",
        "cases": "案件", "deadline": "期限", "earliest": "期限最早的在前",
    },
}


@pytest.fixture(scope="module")
def seller(browser: Browser, server: Server) -> Iterator[str]:
    """A registered seller, approved: its registration number."""
    applicant = new_page(browser, server)
    number = w.register_adult(applicant, "complained")
    mod = new_page(browser, server)
    log_in_staff(mod, "moderator")
    mod.goto(f"/review/{number}")
    expect(mod.get_by_role("heading", level=1)).to_have_text(number)
    mod.get_by_role("button", name="Approve registration").click()
    expect(mod.get_by_text("Your decision has been recorded.").first).to_be_visible()
    yield number
    applicant.context.close()
    mod.context.close()


def fits(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url


@pytest.mark.parametrize("lang", list(WORDS))
def test_a_buyer_reports_and_follows_the_report_and_the_moderator_sees_its_deadline(
        browser: Browser, server: Server, a11y: A11y, seller: str, lang: str) -> None:
    # Reports are limited per address (five an hour): each language's run sends two, one
    # refused and one sent, and looks at the pages on a desktop and then on a phone.
    words = WORDS[lang]
    context = browser.new_context(base_url=server.url, viewport=SCREENS["desktop"])
    buyer = context.new_page()
    buyer.goto(f"/lang/{lang}?next=/verify/{seller}")
    commitments = buyer.get_by_role("region", name=words["commitments"])
    expect(commitments).to_contain_text(words["returns"])
    expect(commitments).to_contain_text(f"{words['by_phone']} 13987654321")

    # Sent without saying what it is about: back on the page, what was typed still there.
    buyer.get_by_label(words["what"]).fill("The bag I received is a fake")
    buyer.get_by_label(words["contact"]).fill("buyer@example.com")
    buyer.get_by_role("button", name=words["send"]).click()
    expect(buyer.get_by_role("alert")).to_contain_text(words["refused"])
    assert buyer.url.partition("#")[0].endswith(f"/verify/{seller}")
    expect(buyer.get_by_label(words["what"])).to_have_value("The bag I received is a fake")
    a11y.check(buyer)
    buyer.reload()  # shown once
    expect(buyer.get_by_role("alert")).to_have_count(0)

    buyer.get_by_label(words["about"]).select_option("counterfeit")
    buyer.get_by_label(words["what"]).fill("The bag I received is a fake")
    buyer.get_by_label(words["contact"]).fill("buyer@example.com")
    buyer.get_by_role("button", name=words["send"]).click()
    expect(buyer.get_by_role("heading", level=1)).to_have_text(words["yours"])
    expect(buyer.get_by_role("status")).to_have_text(words["sent"])
    reference = buyer.locator(".panel__number").inner_text()
    assert REFERENCE.fullmatch(reference), reference
    assert buyer.url.endswith(f"/complaints/{reference}")

    for screen in SCREENS:
        buyer.set_viewport_size(SCREENS[screen])
        buyer.goto(f"/complaints/{reference}")
        expect(buyer.get_by_text(words["keep"])).to_be_visible()
        main = buyer.get_by_role("main")
        expect(main).to_contain_text(seller)
        expect(main).to_contain_text(words["reported"])
        expect(main).to_contain_text(words["state"])
        expect(main).not_to_contain_text("buyer@example.com")
        expect(main).not_to_contain_text("The bag I received is a fake")
        expect(buyer.get_by_role("status")).to_have_count(0)  # "sent" was said once
        fits(buyer)
        a11y.check(buyer)

        # Later, from the verification page: the reference typed as it was read out.
        buyer.goto("/verify")
        buyer.get_by_role("link", name=words["follow_link"]).click()
        expect(buyer.get_by_role("heading", level=1)).to_have_text(words["follow"])
        fits(buyer)
        a11y.check(buyer)
        buyer.get_by_label(words["reference"]).fill(reference.lower().replace("-", " "))
        buyer.get_by_role("button", name=words["follow_button"]).click()
        expect(buyer.locator(".panel__number")).to_have_text(reference)

        answer = buyer.goto("/complaints/TS-00000-00000")
        assert answer is not None and answer.status == 404
        expect(buyer.get_by_role("heading", level=1)).to_have_text(words["unknown"])
        fits(buyer)
        a11y.check(buyer)
    context.close()

    mod = new_page(browser, server)
    log_in_staff(mod, "moderator")
    mod.goto(f"/lang/{lang}?next=/cases")
    expect(mod.get_by_role("heading", level=1)).to_have_text(words["cases"])
    expect(mod.get_by_role("columnheader", name=words["deadline"])).to_be_visible()
    mod.get_by_role("link", name=words["earliest"]).click()
    expect(mod.get_by_role("row").filter(has_text=seller).first).to_contain_text("CST")
    a11y.check(mod)
    # The newest case (oldest first: the last row) is the one just reported.
    mod.goto("/cases")
    mod.get_by_role("row").filter(has_text=seller).last.get_by_role("link").click()
    details = mod.locator(".summary-list")
    expect(details).to_contain_text(reference)
    deadline = details.locator("div").filter(has_text=words["deadline"]).first
    expect(deadline).to_contain_text("CST")  # a day in China time
    a11y.check(mod)
    mod.set_viewport_size(SCREENS["phone"])
    fits(mod)
    mod.context.close()
