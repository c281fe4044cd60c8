"""The API reference (/api/v1/docs, linked from every footer) fits the screen and speaks the
reader's language."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import A11y, Server
from tests.e2e.views import DESKTOP, PHONE, in_each_view

LARGE_PHONE = {"width": 390, "height": 844}
# English on each screen from the widest, then Chinese back up: the language switched once.
VIEWS = (("en", DESKTOP), ("en", LARGE_PHONE), ("en", PHONE),
         ("zh-Hans", PHONE), ("zh-Hans", LARGE_PHONE), ("zh-Hans", DESKTOP))

WIDTHS = """() => ({scroll: document.documentElement.scrollWidth, viewport: window.innerWidth,
  widest: [...document.body.querySelectorAll("*")].filter(
    (el) => el.getBoundingClientRect().right > window.innerWidth + 1
      && !el.closest(".table-wrap")).map((el) => el.outerHTML.slice(0, 80)).slice(0, 3)})"""


def fits_the_screen(page: Page, lang: str) -> None:
    contents = "目录" if lang == "zh-Hans" else "Contents"
    heading = page.get_by_role("heading", name=contents, exact=True)
    expect(heading).to_be_visible()
    widths = page.evaluate(WIDTHS)
    assert widths["scroll"] <= widths["viewport"], widths
    # The heading is one line: not one character a line in a squeezed column.
    box = heading.bounding_box()
    line = page.evaluate("(el) => parseFloat(getComputedStyle(el).lineHeight)",
                         heading.element_handle())
    assert box is not None and box["height"] < 1.5 * line, (box, line)
    # Wide tables scroll inside their own box, never the page.
    nav = page.get_by_role("navigation", name=contents)
    expect(nav.get_by_role("link", name="GET /api/v1/registrations/{number}", exact=True)
           ).to_be_visible()


def test_the_reference_fits_the_screen(browser: Browser, server: Server, a11y: A11y) -> None:
    context = browser.new_context(base_url=server.url)
    page = context.new_page()
    page.goto("/")
    page.get_by_role("contentinfo").get_by_role("link", name="API for platforms").click()
    expect(page).to_have_url(f"{server.url}/api/v1/docs")
    in_each_view(page, a11y, fits_the_screen, views=VIEWS)
    context.close()


def test_the_chinese_reference_describes_operations_in_chinese(browser: Browser,
                                                                server: Server) -> None:
    context = browser.new_context(base_url=server.url)
    page = context.new_page()
    page.goto("/lang/zh-Hans?next=/api/v1/docs")
    section = page.locator("article", has=page.get_by_role(
        "heading", name="GET /api/v1/registrations/{number}", exact=True))
    expect(section.get_by_text("按编号查询一个备案")).to_be_visible()
    expect(page.get_by_role("heading", name="平台接口", exact=True)).to_be_visible()
    context.close()
