"""The screenshot gallery in docs/screens: every wizard step, the status page, the review
queue, the auditor's record and the public verification page, in English and in Chinese.

Made by `make screens` (PORTAL_SCREENS=1); tests/e2e/conftest.py leaves this folder out of
every other run, so `make test` neither runs nor skips it. Each picture is the whole page at a
1000-px-wide window, reduced to 256 colours to keep the repository small.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from PIL import Image
from playwright.sync_api import Browser, Page, expect

from portal.base import identity
from tests.e2e import wizard as w
from tests.e2e.conftest import Server
from tests.e2e.test_enforcement import log_in_staff
from tests.e2e.test_review import open_registration

SCREENS = Path(__file__).resolve().parents[3] / "docs" / "screens"
VIEWPORT = {"width": 1000, "height": 800}
LANGUAGES = {"en": "English", "zh-Hans": "简体中文"}


@dataclass
class Shot:
    name: str
    title: str


class Gallery:
    def __init__(self) -> None:
        self.shots: list[Shot] = []

    def take(self, page: Page, path: str, name: str, title: str) -> None:
        """The page at ``path`` in each language, switched with the language links' address."""
        for lang in LANGUAGES:
            page.goto(f"/lang/{lang}?next={quote(path)}")
            expect(page.locator("html")).to_have_attribute("lang", lang)
            file = SCREENS / f"{name}.{lang}.png"
            page.screenshot(path=file, full_page=True, animations="disabled", caret="hide")
            with Image.open(file) as image:
                small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
            small.save(file, optimize=True)
        page.goto(f"/lang/en?next={quote(path)}")
        self.shots.append(Shot(name, title))

    def write_index(self) -> None:
        lines = [
            "# Screens",
            "",
            "What people see, in English and in Simplified Chinese, at a 1000-px-wide window.",
            "Made by `make screens` from a browser test (`tests/e2e/gallery/test_gallery.py`)",
            "against a fresh server; run it again after changing a page.",
            "",
            "| Page | English | 简体中文 |",
            "|---|---|---|",
        ]
        for shot in self.shots:
            lines.append(f"| {shot.title} | [{shot.name}.en.png]({shot.name}.en.png) "
                         f"| [{shot.name}.zh-Hans.png]({shot.name}.zh-Hans.png) |")
        (SCREENS / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_gallery(browser: Browser, server: Server) -> None:
    # Without a font that has Chinese characters the Chinese pictures show empty boxes.
    fonts = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True,
                           check=False).stdout if shutil.which("fc-list") else ""
    assert fonts.strip(), ("no font with Chinese characters here (Debian: apt-get install "
                           "fonts-noto-cjk)")
    SCREENS.mkdir(parents=True, exist_ok=True)
    for old in SCREENS.glob("*.png"):
        old.unlink()
    gallery = Gallery()
    contexts = []

    def new_page() -> Page:
        contexts.append(browser.new_context(base_url=server.url, viewport=VIEWPORT))
        return contexts[-1].new_page()

    # A 16-year-old's guardian step.
    minor = new_page()
    w.sign_up_verified(minor, "gallery-minor")
    w.start_registration(minor)
    birth = w.born_years_ago(16)
    w.fill_identity(minor, name="李小红",
                    id_number=identity.make_resident_id("310101", birth, 24),
                    birth=birth.isoformat())
    w.save(minor)
    expect(minor.get_by_role("heading", level=1)).to_have_text("Guardian's consent")

    # An adult streamer: every step saved, then each shown again with its answers.
    applicant = new_page()
    w.sign_up_verified(applicant, "gallery")
    w.start_registration(applicant)
    gallery.take(applicant, "/apply/identity", "01-identity", "Step 1: your identity (empty)")
    for fill in (w.fill_identity, w.fill_roles, w.fill_security, w.fill_content,
                 w.fill_commitments):
        fill(applicant)
        w.save(applicant)
    gallery.take(minor, "/apply/guardian", "02-guardian", "Step 2: guardian's consent "
                 "(16- and 17-year-olds only)")
    for number, (step, title) in enumerate((
            ("roles", "Step 3: roles and channels"),
            ("security", "Step 4: security attestation"),
            ("content", "Step 5: content rating"),
            ("commitments", "Step 6: consumer protection")), start=3):
        gallery.take(applicant, f"/apply/{step}", f"{number:02d}-{step}", title)
    gallery.take(applicant, "/apply", "07-task-list", "The task list: every step's state")
    gallery.take(applicant, "/apply/review", "08-review", "Step 7: check your answers and "
                 "submit")
    number = w.submit(applicant)
    gallery.take(applicant, "/apply/submitted", "09-submitted", "Registration submitted")
    gallery.take(applicant, "/me", "10-status", "The applicant's status page")

    moderator = new_page()
    log_in_staff(moderator, "moderator")
    gallery.take(moderator, "/review", "11-review-queue", "The moderators' review queue")
    open_registration(moderator, number)
    gallery.take(moderator, f"/review/{number}", "14-review-registration",
                 "The moderator's page: answers, documents beside them, the decision")
    moderator.get_by_role("button", name="Approve registration").click()
    expect(moderator.get_by_role("status").first).to_have_text(
        "Your decision has been recorded.")

    auditor = new_page()
    log_in_staff(auditor, "auditor")
    gallery.take(auditor, f"/audit/registrations/{number}", "12-auditor-record",
                 "The auditor's record of a registration")
    visitor = new_page()
    gallery.take(visitor, f"/verify/{number}", "13-verify", "The public verification page")
    visitor.get_by_label("What is it about?").select_option(label="False or misleading claims")
    visitor.get_by_label("What happened").fill("The jacket shown in the stream was not the "
                                               "one delivered.")
    visitor.get_by_role("button", name="Send the report").click()
    expect(visitor).to_have_url(re.compile(r"/complaints/TS-"))
    gallery.take(visitor, visitor.url.removeprefix(server.url).split("#")[0], "15-complaint",
                 "A buyer's report: its reference and where it stands")
    gallery.write_index()

    total = sum(p.stat().st_size for p in SCREENS.glob("*.png"))
    assert len(list(SCREENS.glob("*.png"))) == 2 * len(gallery.shots)
    assert total < 4_000_000, f"the gallery weighs {total} bytes"
    for context in contexts:
        context.close()
