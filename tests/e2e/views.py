"""Looking at one page as different people do: in English and Chinese, chosen with the site's
language switch, on a desktop and on a 375 px phone; axe each time. One browser context, the
viewport changed in place, so that a journey is walked once, not once per screen."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from playwright.sync_api import Page, expect

from tests.e2e.conftest import A11y

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}
LANGUAGE_NAMES = {"en": "English", "zh-Hans": "简体中文"}
# English then Chinese, switching language once.
EVERY_VIEW = (("en", DESKTOP), ("en", PHONE), ("zh-Hans", PHONE), ("zh-Hans", DESKTOP))

Check = Callable[[Page, str], None]


def switch_language(page: Page, lang: str) -> None:
    """Choose a language with the switch every page has (it comes back to the same page)."""
    page.locator("nav.language-switch").get_by_role(
        "link", name=LANGUAGE_NAMES[lang], exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", lang)


def fits(page: Page) -> bool:
    """No sideways scrolling: the page is no wider than the screen."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def in_each_view(page: Page, a11y: A11y, check: Check,
                 views: Sequence[tuple[str, dict[str, int]]] = EVERY_VIEW,
                 end_in: str | None = "en") -> None:
    """``check(page, lang)`` the page in each view (a language and a screen), with the page no
    wider than the screen and axe each time; then back to ``end_in``, a desktop."""
    for lang, screen in views:
        if page.locator("html").get_attribute("lang") != lang:
            switch_language(page, lang)
        page.set_viewport_size(screen)
        check(page, lang)
        assert fits(page), (page.url, lang, screen)
        a11y.check(page)
    page.set_viewport_size(DESKTOP)
    if end_in is not None and page.locator("html").get_attribute("lang") != end_in:
        switch_language(page, end_in)
