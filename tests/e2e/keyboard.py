"""Moving through a page with the keyboard alone, as a person without a mouse does: Tab and
Shift+Tab to a control, Space, Enter and arrow keys to use it, typing into it. The target is
found by its label or role only to know when focus has reached it."""

from __future__ import annotations

import re

from playwright.sync_api import FilePayload, Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

# More Tab presses than any page of the portal has stops between two controls.
MAX_PRESSES = 80


def is_focused(target: Locator) -> bool:
    return bool(target.evaluate("el => el === document.activeElement"))


def tab_to(page: Page, target: Locator, *, backwards: bool = False) -> None:
    """Press Tab (or Shift+Tab) until the target has focus."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(MAX_PRESSES):
        if is_focused(target):
            return
        page.keyboard.press(key)
    expect(target).to_be_focused()  # fails with what has focus instead


def type_into(page: Page, target: Locator, text: str) -> None:
    tab_to(page, target)
    page.keyboard.type(text)
    expect(target).to_have_value(text)


def tick(page: Page, box: Locator) -> None:
    """Tick a checkbox (or choose the first radio button of a group that has none chosen)."""
    tab_to(page, box)
    page.keyboard.press("Space")
    expect(box).to_be_checked()


def choose(page: Page, group: Locator, answer: str | re.Pattern[str]) -> None:
    """Choose a radio button: Tab into its group, then arrow keys (which also choose)."""
    target = group.get_by_label(answer, exact=isinstance(answer, str))
    tab_to(page, group.get_by_role("radio").first)
    for _ in range(group.get_by_role("radio").count()):
        if is_focused(target):
            break
        page.keyboard.press("ArrowDown")
    expect(target).to_be_focused()
    page.keyboard.press("Space")
    expect(target).to_be_checked()


def select(page: Page, field: Locator, option_text: str) -> None:
    """Pick an option of a closed drop-down list with the arrow keys."""
    tab_to(page, field)
    chosen = field.locator("option:checked")
    for _ in range(field.locator("option").count()):
        if chosen.inner_text().strip() == option_text:
            break
        page.keyboard.press("ArrowDown")
    expect(chosen).to_have_text(option_text)


def enter_date(page: Page, field: Locator, iso: str) -> None:
    """A date field in the browser's (American English) order: month, day, year."""
    year, month, day = iso.split("-")
    tab_to(page, field)
    page.keyboard.type(month + day + year)
    expect(field).to_have_value(iso)


def upload(page: Page, field: Locator, payload: FilePayload) -> None:
    """Open the file chooser with Enter and choose a file in it. Chromium now and then ignores
    a key press on a file field that has just got focus; a person presses again."""
    tab_to(page, field)
    for attempt in range(3):
        try:
            with page.expect_file_chooser(timeout=2_000) as chooser:
                page.keyboard.press("Enter")
        except PlaywrightTimeoutError:
            expect(field).to_be_focused()
            if attempt == 2:
                raise
            continue
        chooser.value.set_files(payload)
        return


def press_button(page: Page, button: Locator) -> None:
    tab_to(page, button)
    page.keyboard.press("Enter")


def follow(page: Page, link: Locator) -> None:
    tab_to(page, link)
    page.keyboard.press("Enter")


def focus_ring(page: Page) -> dict[str, str]:
    """How the focused element shows its focus: its outline."""
    return page.evaluate("""() => {
      const style = getComputedStyle(document.activeElement);
      return {outline: `${style.outlineStyle} ${style.outlineWidth}`, color: style.outlineColor};
    }""")
