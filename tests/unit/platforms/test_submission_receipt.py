"""Submitting gives a receipt: an email and a message on /me, in the applicant's language,
with the registration number and what happens next."""

from __future__ import annotations

import pytest

from portal.base.i18n import LANG_COOKIE
from portal.platforms.notify import MailboxMessage, Notification
from portal.registration.models import Registration
from tests.unit.conftest import applicant_logged_in
from tests.unit.factories import make_account, make_registration
from tests.unit.http_wizard import fresh, post

EXPECTED = {
    "en": ("We received your registration", "What happens next", "A moderator checks"),
    "zh-Hans": ("我们已收到您的备案", "接下来", "审核员"),
}


@pytest.mark.parametrize(("account_language", "page_language"), [("zh-Hans", "en"),
                                                                 ("en", "zh-Hans")])
def test_submitting_sends_a_receipt_in_the_applicants_language(
        app, client, session, settings, account_language: str, page_language: str) -> None:
    applicant = make_account(session, email="li@example.com")
    applicant.language = account_language
    session.add(applicant)
    session.commit()
    draft = make_registration(session, settings, status="draft", user=applicant)
    signature = draft.answers["identity"]["legal_name"]
    applicant_logged_in(client, app, session, draft)
    client.cookies.set(LANG_COOKIE, page_language)  # the page's language is not the account's

    response = post(client, "/apply/review", {"signature": signature}, page="/apply/review")
    assert response.status_code == 303, response.text
    assert response.headers["location"].endswith("/apply/submitted"), response.headers["location"]

    session.expire_all()  # the application committed in between
    regs = fresh(session, Registration)
    assert [r.status for r in regs] == ["submitted"], [(r.id, r.status, r.number) for r in regs]
    number = regs[0].number
    assert number
    mails = [m for m in fresh(session, MailboxMessage) if m.to == "li@example.com"]
    notes = fresh(session, Notification, user_id=applicant.id)
    assert len(mails) == 1 and len(notes) == 1
    mail, note = mails[0], notes[0]
    assert number in mail.subject and number in mail.body
    assert note.subject == mail.subject and note.body == mail.body
    for words in EXPECTED[account_language]:
        assert words in mail.body or words in mail.subject, words
    assert "/me" in mail.body
    client.cookies.set(LANG_COOKIE, account_language)
    assert note.subject in client.get("/me").text


def test_a_refused_submission_sends_no_receipt(app, client, session, settings) -> None:
    draft = make_registration(session, settings, status="draft")
    applicant_logged_in(client, app, session, draft)
    response = post(client, "/apply/review", {"signature": "Someone Else"}, page="/apply/review")
    assert response.status_code in (303, 422)
    session.expire_all()
    assert fresh(session, Registration, id=draft.id)[0].status == "draft"
    assert not fresh(session, MailboxMessage) and not fresh(session, Notification)
