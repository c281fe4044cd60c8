"""One record (DESIGN §1): ``portal.oversight.full_record.build_record`` builds a
registration's whole record for the moderator's page, the auditor's page and the authority API,
and one partial (templates/partials/_record.html) renders it on both pages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import inspect, update
from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from portal.accounts import User
from portal.api.audit import RecordAnswer, record
from portal.base import crypto, i18n, identity
from portal.base.settings import Settings
from portal.lifecycle import transitions, wizard
from portal.oversight import cases, enforcement, full_record, review
from portal.registration import sanctions
from portal.registration.models import Registration, Submission
from tests.unit import factories, http_wizard
from tests.unit.factories import (
    APPLICANT_EMAIL,
    MODERATOR_EMAIL,
    SANCTION_TEXT,
    log_in,
    make_account,
    make_registration,
)
from tests.unit.http_wizard import ADULT_ID

MASKED_ID = "1101**********8794"
MASKED_PHONE = "138****5678"
SIGNING_IP = "203.0.113.45"
APPEAL_TEXT = "The bags came from the brand's own warehouse"
APPEAL_DECISION = "The receipts are genuine"
CASE_TEXT = "A buyer reports a fake brand label"
NOTE_TEXT = "Asked the platform for the order records"
REVEAL_REASON = "Inspection 2026-17: counterfeit goods"
# The sections the partial renders on both pages, by the id of their heading.
SHARED_SECTIONS = ["flags-title", "documents-title", "decisions-title", "sanctions-title",
                   "cases-title", "certificates-title", "history-title", "access-title"]


@dataclass
class Eventful:
    registration: Registration
    applicant: User
    moderator: User
    second_moderator: User
    auditor: User
    suspension: sanctions.Sanction
    warning: sanctions.Sanction
    appeal: sanctions.Appeal
    case: cases.Case


def _in_days(days: int) -> datetime:
    day = identity.china_today() + timedelta(days=days)
    return datetime.combine(day, time(23, 59, 59), tzinfo=identity.CHINA_TZ)


def eventful(session: Session, settings: Settings, *, decide_appeal: bool = True) -> Eventful:
    """A registration with something in every part of its record: two submitted versions (the
    first sent back for changes), an approval, a suspension appealed (and overturned, unless
    ``decide_appeal`` is false), a warning, a case with a note and an auditor's reveal."""
    registration = make_registration(session, settings, status="changes_requested",
                                     step_messages={"roles": "Add your live room's address"})
    applicant = session.exec(select(User).where(User.email == APPLICANT_EMAIL)).one()
    moderator = session.exec(select(User).where(User.email == MODERATOR_EMAIL)).one()
    second = make_account(session, email="mod2@example.com", role="moderator")
    auditor = make_account(session, email="inspector@example.com", role="auditor")
    # The applicant saves the step again, then submits the second version.
    wizard.save_step(session, settings, registration=registration, step="roles",
                     form=factories.form_input(http_wizard.roles_form()), uploads=[],
                     signing=factories.testclient_signing(),
                     today=identity.china_today())
    session.commit()
    transitions.submit(session, settings, registration=registration, user=applicant,
                       signature="张三", signing=factories.testclient_signing(),
                       today=identity.china_today())
    session.commit()
    review.approve(session, settings, registration=registration, moderator=moderator,
                   version=registration.version)
    session.commit()
    suspension, _mail = enforcement.apply_sanction(
        session, registration=registration, actor=moderator, kind="suspend", until=_in_days(30),
        version=registration.version, settings=settings, **SANCTION_TEXT)
    session.commit()
    appeal = enforcement.file_appeal(session, settings, sanction_id=suspension.id,  # type: ignore[arg-type]
                                     user=applicant, text=APPEAL_TEXT)
    session.commit()
    if decide_appeal:
        appeal, _mail = enforcement.decide_appeal(
            session, settings, appeal_id=appeal.id,  # type: ignore[arg-type]
            moderator=second, outcome="overturned", reason=APPEAL_DECISION)
        session.commit()
    session.refresh(registration)
    warning, _mail = enforcement.apply_sanction(
        session, registration=registration, actor=moderator, kind="warning",
        version=registration.version, settings=settings, facts="Shouted at buyers",
        reason="Rude to buyers", legal_basis="2021 Measures, Art. 18(1)")
    session.commit()
    case = cases.open_case(session, registration=registration, category="counterfeit",
                           description=CASE_TEXT, actor=moderator)
    session.commit()
    cases.add_note(session, case=case, author=moderator, text=NOTE_TEXT)
    session.commit()
    review.reveal(session, settings, registration=registration, actor=auditor,
                  field="id_number", reason=REVEAL_REASON)
    session.commit()
    # The test client signs from "testclient"; a real address shows how it is masked.
    session.execute(update(Submission)
                    .where(col(Submission.registration_id) == registration.id)
                    .values(ip=SIGNING_IP))
    session.commit()
    session.refresh(registration)
    return Eventful(registration, applicant, moderator, second, auditor, suspension, warning,
                    appeal, case)


@pytest.fixture
def story(session: Session, settings: Settings) -> Eventful:
    return eventful(session, settings)


# --- the builder ------------------------------------------------------------------------------


def test_masked_record_holds_every_part_masked(story: Eventful, session: Session) -> None:
    built = full_record.build_record(session, story.registration, masked=True)
    assert built.masked and built.registration is story.registration
    assert built.applicant is not None and built.applicant.id == story.applicant.id
    assert built.applicant_email == "a*****@example.com"

    identity_answers = built.answers["identity"]
    assert identity_answers["legal_name"] == "张*"
    assert identity_answers["id_number_masked"] == MASKED_ID
    assert identity_answers["phone_masked"] == MASKED_PHONE
    everything = json.dumps([built.answers, [v.answers for v in built.submissions]],
                            ensure_ascii=False)
    assert "_enc" not in everything and "张三" not in everything and ADULT_ID not in everything

    assert [v.submission.version for v in built.submissions] == [2, 1]  # latest first
    assert {v.signed_name for v in built.submissions} == {"张*"}
    assert {v.ip for v in built.submissions} == {"203.0.113.*"}

    assert built.documents and all(d.registration_id == story.registration.id
                                   for d in built.documents)
    assert all("ciphertext" in inspect(d).unloaded for d in built.documents)  # never read

    assert [d.kind for d in built.decisions] == ["request_changes", "approve"]
    assert [s.id for s in built.sanctions] == [story.suspension.id, story.warning.id]
    assert [s.state for s in built.sanctions] == ["overturned", "active"]
    assert list(built.appeals) == [story.suspension.id]
    assert built.appeals[story.suspension.id].decision_reason == APPEAL_DECISION
    [case] = built.cases
    assert case.case.id == story.case.id and [n.text for n in case.notes] == [NOTE_TEXT]

    certificates = built.certificates
    assert len(certificates) >= 3
    assert [c.current for c in certificates] == [True] + [False] * (len(certificates) - 1)
    issued = [c.certificate.issued_at for c in certificates]
    assert issued == sorted(issued, reverse=True)  # latest first
    assert certificates[0].status == "approved" and "suspended" in {c.status for c in
                                                                    certificates}
    assert all(c.document["serial"] == c.certificate.serial for c in certificates)

    actions = [h.action for h in built.history]
    assert actions[:5] == ["started", "submitted", "request_changes", "submitted", "approve"]
    assert {"sanction_applied", "appeal_filed", "appeal_decided", "case_opened"} <= set(actions)
    assert [(a.actor_id, a.field, a.reason) for a in built.access_log] == [
        (story.auditor.id, "id_number", REVEAL_REASON)]

    assert built.people[story.moderator.id] == MODERATOR_EMAIL  # type: ignore[index]
    assert built.people[story.second_moderator.id] == "mod2@example.com"  # type: ignore[index]
    assert built.people[story.auditor.id] == "inspector@example.com"  # type: ignore[index]
    assert built.people[story.applicant.id] == "a*****@example.com"  # type: ignore[index]
    assert built.site_probe == full_record.latest_site_probe(
        session, story.registration.id)  # type: ignore[arg-type]


def test_unmasked_record_keeps_the_answers_as_stored_but_the_birth_date(
        story: Eventful, session: Session) -> None:
    """Moderators read the answers as stored, but for the date of birth: its year only, beside
    the masked ID number (the full date is revealed with a reason)."""
    built = full_record.build_record(session, story.registration, masked=False)
    assert not built.masked
    stored = story.registration.answers
    assert stored["identity"]["date_of_birth"] == "1985-03-12"
    assert built.answers == {**stored, "identity": {**stored["identity"],
                                                    "date_of_birth": "1985"}}
    assert built.answers["identity"]["legal_name"] == "张三"
    assert built.answers["identity"]["id_number_enc"]  # the ciphertext a reveal opens
    assert {v.signed_name for v in built.submissions} == {"张三"}
    assert {v.ip for v in built.submissions} == {SIGNING_IP}
    submitted = session.exec(select(Submission).where(
        Submission.registration_id == story.registration.id, Submission.version == 2)).one()
    assert built.submissions[0].answers["identity"]["date_of_birth"] == "1985"
    assert built.submissions[0].answers["roles"] == submitted.answers["roles"]
    # Whoever reads it, the applicant's address stays masked and staff are named.
    assert built.applicant_email == "a*****@example.com"
    assert built.people == full_record.build_record(session, story.registration,
                                                    masked=True).people


def test_masking_helpers() -> None:
    assert full_record.mask_ip("203.0.113.45") == "203.0.113.*"
    assert full_record.mask_ip("2001:db8:85a3::8a2e:370:7334") == "2001:db8:85a3:*"
    assert full_record.mask_ip("") == ""
    answers = {"identity": {"legal_name": "张三", "id_number_enc": "x", "phone_masked": "1"},
               "security": {"staff_list": "李四 13912345678", "signature": "王五"},
               "version": 3}
    assert full_record.mask_answers(answers) == {
        "identity": {"legal_name": "张*", "phone_masked": "1"},
        "security": {"staff_list": f"李* {crypto.mask_phone('13912345678')}",
                     "signature": "王*"},
        "version": 3}
    assert answers["identity"]["legal_name"] == "张三"  # the stored answers are left alone


def test_people_are_staff_by_address_and_applicants_masked(story: Eventful,
                                                           session: Session) -> None:
    assert full_record.people(session, []) == {}
    assert full_record.people(session, [None, story.applicant.id, story.moderator.id]) == {
        story.applicant.id: "a*****@example.com", story.moderator.id: MODERATOR_EMAIL}


# --- the authority API ------------------------------------------------------------------------


def test_the_api_record_is_the_built_record_oldest_first(story: Eventful,
                                                         session: Session) -> None:
    built = full_record.build_record(session, story.registration, masked=True)
    body = record(session, story.registration)
    assert list(body) == list(RecordAnswer.model_fields)
    RecordAnswer.model_validate(body)
    assert body["answers"] == built.answers
    assert [s["version"] for s in body["submissions"]] == [1, 2]
    assert [c["serial"] for c in body["certificates"]] == [
        c.certificate.serial for c in reversed(built.certificates)]
    assert body["certificates"][-1]["certificate"] == built.certificates[0].document
    assert [v["id"] for v in body["violations"]] == [story.case.id]
    assert [a["sanction_id"] for a in body["appeals"]] == [story.suspension.id]
    assert [s["state"] for s in body["sanctions"]] == ["overturned", "active"]
    assert [h["action"] for h in body["history"]] == [h.action for h in built.history]


# --- both pages, one partial ------------------------------------------------------------------


@pytest.fixture
def pages(story: Eventful, app, session: Session) -> Iterator[dict[str, TestClient]]:  # type: ignore[no-untyped-def]
    session.rollback()  # no read snapshot left open: the app writes next
    with TestClient(app, follow_redirects=False) as moderator, \
            TestClient(app, follow_redirects=False) as auditor:
        log_in(moderator, app, story.moderator)
        log_in(auditor, app, story.auditor)
        yield {"review": moderator, "audit": auditor}


def _page(pages: dict[str, TestClient], which: str, number: str,
          lang: str | None = None) -> BeautifulSoup:
    path = f"/review/{number}" if which == "review" else f"/audit/registrations/{number}"
    client = pages[which]
    if lang:
        client.cookies.set(i18n.LANG_COOKIE, lang)
    response = client.get(path)
    assert response.status_code == 200, response.text[:500]
    return BeautifulSoup(response.text, "html.parser")


def _section(html: BeautifulSoup, heading_id: str) -> str:
    heading = html.find(id=heading_id)
    assert heading is not None, heading_id
    return heading.find_parent("section").get_text(" ", strip=True)


def test_both_pages_show_the_same_record_sections(story: Eventful, pages, session) -> None:  # type: ignore[no-untyped-def]
    number = story.registration.number
    built = full_record.build_record(session, story.registration, masked=True)
    current = built.certificates[0].certificate.serial
    for which in ("review", "audit"):
        html = _page(pages, which, number)
        ids = [h.get("id") for h in html.select("main h2") if h.get("id") in SHARED_SECTIONS]
        assert ids == SHARED_SECTIONS, which  # every shared section, in the same order
        sanctions_text = _section(html, "sanctions-title")
        assert SANCTION_TEXT["facts"] in sanctions_text and "Shouted at buyers" in sanctions_text
        assert APPEAL_TEXT in sanctions_text and APPEAL_DECISION in sanctions_text
        assert "mod2@example.com" in sanctions_text  # who decided the appeal
        case = html.find(id=f"case-{story.case.id}")
        assert case is not None and CASE_TEXT in case.get_text() and NOTE_TEXT in case.get_text()
        rows = html.select("#certificates-title ~ .table-wrap tbody tr")
        assert len(rows) == len(built.certificates)
        assert rows[0].th.get_text(" ", strip=True).split()[0] == current
        assert "Current" in rows[0].th.get_text()
        history = html.select("#history-title ~ .table-wrap tbody tr")
        assert len(history) == len(built.history)
        assert REVEAL_REASON in _section(html, "access-title")
        assert "inspector@example.com" in _section(html, "access-title")
        assert html.find("h2", string="Identity") is not None  # the current answers, in staff words
        assert html.find("h2", string="Your identity") is None
        assert MASKED_ID in html.get_text() and ADULT_ID not in html.get_text()
        for table in html.select("main table"):  # every table has a caption and headers
            assert table.caption is not None and table.select("thead th[scope=col]")


def test_each_page_adds_only_its_own_parts(story: Eventful, pages) -> None:  # type: ignore[no-untyped-def]
    number = story.registration.number
    moderator = _page(pages, "review", number)
    auditor = _page(pages, "audit", number)
    # The auditor reads masked answers, each version as submitted, and can download the
    # certificates and check their integrity; nothing on the page changes the registration.
    assert "张三" not in auditor.get_text() and "张*" in auditor.get_text()
    assert auditor.find(id="submission-2") is not None
    assert auditor.find(id="submission-1") is not None
    assert "203.0.113.*" in auditor.get_text() and SIGNING_IP not in auditor.get_text()
    assert len(auditor.select('a[href*="/certificates/"]')) == len(
        auditor.select("#certificates-title ~ .table-wrap tbody tr"))
    assert "Why" in [th.get_text() for th in auditor.select("#history-title ~ div th")]
    assert auditor.find(id="integrity-title") is not None
    assert {f.get("action") for f in auditor.select("main form")} == {
        f"/audit/registrations/{number}/reveal", f"/audit/registrations/{number}"}
    # The moderator reads the answers as stored (the page shows ID and phone numbers masked)
    # and acts: reveal, risk level, cases, sanctions; the versions and files are the auditor's.
    assert "张三" in moderator.get_text()
    assert moderator.find(id="submission-1") is None and moderator.find(
        id="integrity-title") is None
    assert not moderator.select('a[href*="/certificates/"]')
    assert "Why" not in [th.get_text() for th in moderator.select("#history-title ~ div th")]
    assert {f.get("action") for f in moderator.select("main form")} == {
        f"/review/{number}/reveal", f"/review/{number}/risk", f"/review/{number}/cases",
        f"/review/{number}/sanction"}
    # Cases link to their page for moderators only (auditors cannot open it).
    assert moderator.select_one(f"#case-{story.case.id}-title a")["href"] == (
        f"/cases/{story.case.id}")
    assert auditor.select_one(f"#case-{story.case.id}-title a") is None


def test_a_pending_appeal_is_decided_on_the_moderators_page_only(
        session: Session, settings: Settings, app) -> None:  # type: ignore[no-untyped-def]
    story = eventful(session, settings, decide_appeal=False)
    session.rollback()
    number = story.registration.number
    with TestClient(app, follow_redirects=False) as moderator, \
            TestClient(app, follow_redirects=False) as auditor:
        log_in(moderator, app, story.second_moderator)
        log_in(auditor, app, story.auditor)
        pages = {"review": moderator, "audit": auditor}
        for which in ("review", "audit"):
            appeal = _page(pages, which, number).find(id=f"appeal-{story.appeal.id}")
            assert appeal is not None and "Waiting for a decision" in appeal.get_text()
            assert APPEAL_TEXT in appeal.get_text()
            forms = [f.get("action") for f in appeal.find_all("form")]
            expected = [f"/review/appeals/{story.appeal.id}/decide"] if which == "review" else []
            assert forms == expected, which


def test_both_pages_are_in_chinese(story: Eventful, pages) -> None:  # type: ignore[no-untyped-def]
    zh = i18n.translations("zh-Hans")
    for which in ("review", "audit"):
        html = _page(pages, which, story.registration.number, lang="zh-Hans")
        headings = {h.get("id"): h.get_text(strip=True) for h in html.select("main h2")}
        for heading_id, english in (("flags-title", "Screening"), ("documents-title", "Documents"),
                                    ("sanctions-title", "Sanctions"), ("cases-title", "Cases"),
                                    ("certificates-title", "Certificates"),
                                    ("history-title", "History"),
                                    ("access-title", "Reveals of personal data")):
            assert headings[heading_id] == zh.ugettext(english) != english, (which, english)
        assert zh.ugettext("Every certificate issued, newest first") in html.get_text()
