"""The moderator's flow through the queue: after each decision (on a registration or on a change
after approval) the next one waiting, in the queue's order, says once what was just decided, or
the queue says it is empty; every other review form redirects after its POST, refused ones
included, and shows its errors and what was typed once; each document sits beside the answers
it proves; ids are unique on the moderator's pages."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest
from bs4 import BeautifulSoup
from sqlmodel import Session, select

from portal.base import identity
from portal.base.db import utcnow
from portal.oversight import enforcement, review
from portal.registration import screening
from portal.registration.blocklist import BlocklistEntry
from portal.registration.models import Amendment, Registration
from tests.unit.conftest import staff_client
from tests.unit.factories import SANCTION_TEXT, make_moderator, make_registration
from tests.unit.http_wizard import ADULT_ID, field_errors, fresh, post, version_of
from tests.unit.prg import shown_after

TYPED = "请核对直播间地址 check the room address"


def _person(i: int) -> dict[str, dict[str, str]]:
    """The identity of the i-th applicant: each their own ID number (no duplicate flags)."""
    birth = date(1980 + i, 5, 17)
    return {"identity": {"id_number": identity.make_resident_id("110101", birth, 100 + i),
                         "date_of_birth": birth.isoformat()}}


def _submitted(session: Session, settings, count: int, *, status: str = "submitted",  # type: ignore[no-untyped-def]
               ages: list[int] | None = None, first: int = 0) -> list[Registration]:
    """``count`` registrations of different people (from the ``first``-th); ``ages`` (minutes
    ago each was submitted) sets the queue's order apart from the order they were made in."""
    made = [make_registration(session, settings, status=status, email=f"p{i}@example.com",
                              **_person(i)) for i in range(first, first + count)]
    now = utcnow()
    for registration, minutes in zip(made, ages or [], strict=False):
        registration.submitted_at = now - timedelta(minutes=minutes)
        session.add(registration)
    session.commit()
    return made


def _status(session: Session, number: str) -> str:
    """The registration's status as committed (not as the test's session last loaded it)."""
    session.rollback()
    return session.exec(select(Registration.status).where(Registration.number == number)).one()


def _soup(response) -> BeautifulSoup:  # type: ignore[no-untyped-def]
    return BeautifulSoup(response.text, "html.parser")


def _status_text(response) -> str:  # type: ignore[no-untyped-def]
    """What the page says of the decision just made (nothing when it says none)."""
    notice = _soup(response).select_one(".notice--decided")
    if notice is None:
        return ""
    assert notice.select_one("[role=status]").get_text(strip=True) == \
        "Your decision has been recorded."
    return notice.get_text(" ", strip=True)


@pytest.fixture
def reviewer(app, session):  # type: ignore[no-untyped-def]
    return staff_client(app, session, "reviewer@example.com", role="moderator")


# --- Next in queue ---------------------------------------------------------------------------


def test_next_in_queue_follows_the_queue_and_comes_round_again(session, settings) -> None:  # type: ignore[no-untyped-def]
    # Made a, b, c; submitted b first, then a, then c: the queue goes by submission.
    a, b, c = _submitted(session, settings, 3, ages=[20, 30, 10])
    make_registration(session, settings, status="approved", email="done@example.com",
                      **_person(9))
    rows, _total = review.queue(session)
    assert [r.number for r in rows] == [b.number, a.number, c.number]
    assert review.next_in_queue(session) == b
    assert review.next_in_queue(session, after=b) == a
    assert review.next_in_queue(session, after=a) == c
    # After the last one, the first one passed over comes round again.
    assert review.next_in_queue(session, after=c) == b


def test_next_in_queue_is_none_when_no_other_is_waiting(session, settings) -> None:  # type: ignore[no-untyped-def]
    (only,) = _submitted(session, settings, 1)
    assert review.next_in_queue(session, after=only) is None
    assert review.next_in_queue(session) == only


@pytest.mark.parametrize(("action", "data", "said"), [
    ("approve", {}, "You approved"),
    ("request-changes", {"steps": "roles", "message_roles": "Add the room address"},
     "You asked for changes to"),
    ("reject", {"reason_code": "other", "message": "Not a livestream seller"}, "You rejected"),
])
def test_a_decision_lands_on_the_next_registration_and_says_it_once(
        reviewer, session, settings, action, data, said) -> None:  # type: ignore[no-untyped-def]
    first, second = _submitted(session, settings, 2, ages=[20, 10])
    page = f"/review/{first.number}"
    decided = post(reviewer, f"{page}/{action}",
                   {"version": version_of(reviewer, first.number), **data}, page=page)
    assert decided.status_code == 303
    assert decided.headers["location"] == f"/review/{second.number}"
    landed = shown_after(reviewer, decided)
    status = _status_text(landed)
    assert f"{said} {first.number}." in status
    assert "This is the next registration in the queue." in status
    assert _soup(landed).find("a", href=page) is not None  # back to the one decided
    again = reviewer.get(f"/review/{second.number}")  # a refresh: said once
    assert said not in _status_text(again)
    assert _status(session, first.number) != "submitted"


def test_the_last_decision_lands_on_the_queue_saying_it_is_empty(reviewer, session,
                                                                  settings) -> None:  # type: ignore[no-untyped-def]
    (only,) = _submitted(session, settings, 1)
    page = f"/review/{only.number}"
    decided = post(reviewer, f"{page}/approve",
                   {"version": version_of(reviewer, only.number)}, page=page)
    assert decided.status_code == 303 and decided.headers["location"] == "/review"
    status = _status_text(shown_after(reviewer, decided))
    assert f"You approved {only.number}." in status
    assert "No other registration is waiting: the queue is empty." in status
    assert "You approved" not in _status_text(reviewer.get("/review"))


def test_the_registration_page_links_to_the_next_in_queue(reviewer, session, settings) -> None:  # type: ignore[no-untyped-def]
    a, b = _submitted(session, settings, 2, ages=[10, 20])
    soup = _soup(reviewer.get(f"/review/{b.number}"))
    following = soup.find("a", href=f"/review/{a.number}")
    assert following is not None and "Next in queue" in following.get_text()
    soup = _soup(reviewer.get(f"/review/{a.number}"))  # the last: round to the first again
    assert "Next in queue" in soup.find("a", href=f"/review/{b.number}").get_text()


def test_a_refused_decision_stays_on_its_registration(reviewer, session, settings) -> None:  # type: ignore[no-untyped-def]
    first, _second = _submitted(session, settings, 2, ages=[20, 10])
    page = f"/review/{first.number}"
    refused = post(reviewer, f"{page}/reject", {
        "version": version_of(reviewer, first.number), "reason_code": "", "message": "",
        "internal_note": TYPED}, page=page)
    assert refused.headers["location"] == page
    shown = shown_after(reviewer, refused)
    note = _soup(shown).find(id="decide-reject-internal_note")
    assert note is not None and note.get_text() == TYPED  # in the form it was typed in
    assert _soup(shown).find(id="decide-approve-internal_note").get_text() == ""
    assert "reason_code" in field_errors(shown.text)


# --- Changes after approval ------------------------------------------------------------------


def _waiting_change(session: Session, registration: Registration, minutes_ago: int,
                    handle: str) -> Amendment:
    """A change submitted ``minutes_ago``: the first channel's handle changed."""
    answers = {**registration.answers}
    roles = {**answers["roles"]}
    roles["channels"] = [{**roles["channels"][0], "handle": handle}]
    answers["roles"] = roles
    change = Amendment(registration_id=registration.id, pending_for=registration.id,  # type: ignore[arg-type]
                       answers=answers, subject_kind=registration.subject_kind,
                       roles=registration.roles, region=registration.region,
                       identity_index=registration.identity_index, status="submitted",
                       version=1, signed_name="张三",
                       submitted_at=utcnow() - timedelta(minutes=minutes_ago))
    session.add(change)
    session.commit()
    return change


def _change_version(reviewer, change_id: int) -> str:  # type: ignore[no-untyped-def]
    page = _soup(reviewer.get(f"/review/changes/{change_id}"))
    return page.find("input", attrs={"name": "version"})["value"]


def test_a_decision_on_a_change_lands_on_the_next_change_then_on_the_list(
        reviewer, session, settings) -> None:  # type: ignore[no-untyped-def]
    one, two = _submitted(session, settings, 2, status="approved")
    older = _waiting_change(session, two, 30, "two_new")
    newer = _waiting_change(session, one, 10, "one_new")
    page = f"/review/changes/{older.id}"
    refused = post(reviewer, f"{page}/refuse", {
        "version": _change_version(reviewer, older.id), "message": "Keep the old handle"},
        page=page)
    assert refused.status_code == 303
    assert refused.headers["location"] == f"/review/changes/{newer.id}"
    status = _status_text(shown_after(reviewer, refused))
    assert f"You refused the change to {two.number}." in status
    assert "This is the next change waiting." in status
    assert "You refused" not in _status_text(reviewer.get(f"/review/changes/{newer.id}"))

    page = f"/review/changes/{newer.id}"
    asked = post(reviewer, f"{page}/request-changes", {
        "version": _change_version(reviewer, newer.id), "steps": "roles",
        "message_roles": "Give the room address too"}, page=page)
    assert asked.status_code == 303 and asked.headers["location"] == "/review/changes"
    status = _status_text(shown_after(reviewer, asked))
    assert f"You asked for corrections to the change to {one.number}." in status
    assert "No other change is waiting." in status
    assert "You asked" not in _status_text(reviewer.get("/review/changes"))


def test_refused_and_late_decisions_on_a_change_redirect_and_show_it_once(
        reviewer, session, settings) -> None:  # type: ignore[no-untyped-def]
    (approved,) = _submitted(session, settings, 1, status="approved")
    change = _waiting_change(session, approved, 5, "new_handle")
    page = f"/review/changes/{change.id}"
    version = _change_version(reviewer, change.id)
    refused = post(reviewer, f"{page}/refuse",
                   {"version": version, "message": "", "internal_note": TYPED}, page=page)
    assert refused.status_code == 303 and refused.headers["location"] == page
    shown = shown_after(reviewer, refused)
    assert "tells the applicant why" in field_errors(shown.text)["message"]
    assert _soup(shown).find(id="decide-refuse-internal_note").get_text() == TYPED
    again = reviewer.get(page)
    assert not field_errors(again.text) and TYPED not in again.text  # once

    late = post(reviewer, f"{page}/approve", {"version": str(int(version) + 5)}, page=page)
    assert late.status_code == 303 and late.headers["location"] == page
    assert "withdrawn while you were looking at it" in shown_after(reviewer, late).text
    assert "withdrawn while you were looking at it" not in reviewer.get(page).text
    session.rollback()
    assert session.exec(select(Amendment.status).where(Amendment.id == change.id)).one() == \
        "submitted"


# --- The other review forms: post/redirect/get -------------------------------------------------


def test_a_refused_clearing_of_a_hold_redirects_and_keeps_what_was_typed(
        app, reviewer, session, settings) -> None:  # type: ignore[no-untyped-def]
    staff = make_moderator(session)
    first = make_registration(session, settings, email="a@example.com", moderator=staff)
    enforcement.apply_sanction(session, registration=first, actor=staff, kind="blacklist",
                               version=first.version, settings=settings, **SANCTION_TEXT)
    session.commit()
    again = make_registration(session, settings, status="submitted", email="b@example.com",
                              identity={"id_type": "passport", "id_number": "E12345678",
                                        "nationality": "CN"},
                              security={"signature": "张三"})
    hold = screening.open_holds(session, again.id)[0]
    page = f"/review/{again.number}/holds/{hold.id}"
    refused = post(reviewer, f"{page}/clear", {"clear_reason": "  "}, page=page)
    assert refused.status_code == 303 and refused.headers["location"] == page
    assert "Say why" in field_errors(shown_after(reviewer, refused).text)["clear_reason"]
    assert not field_errors(reviewer.get(page).text)  # once

    # Rejected meanwhile: the hold can no longer be cleared, and the reason typed comes back.
    review.reject(session, settings, registration=again, moderator=staff,
                  version=again.version, reason_code="other", message="Same person")
    session.commit()
    late = post(reviewer, f"{page}/clear", {"clear_reason": TYPED}, page=page)
    assert late.status_code == 303 and late.headers["location"] == page
    shown = shown_after(reviewer, late)
    assert "Only the hold of a submission waiting for a decision" in shown.text
    assert _soup(shown).find(id="clear_reason").get_text() == TYPED
    assert TYPED not in reviewer.get(page).text  # once
    assert screening.open_holds(session, again.id)


def test_the_blocklist_forms_redirect_refused_or_not(app, reviewer, session, settings) -> None:  # type: ignore[no-untyped-def]
    refused = post(reviewer, "/blocklist", {"legal_name": TYPED, "id_type": "cn_resident_id",
                                             "id_number": "110105198503128790", "reason": ""},
                   page="/blocklist")
    assert refused.status_code == 303 and refused.headers["location"] == "/blocklist"
    shown = shown_after(reviewer, refused)
    errors = field_errors(shown.text)
    assert "reason" in errors and "id_number" in errors
    assert _soup(shown).find(id="legal_name")["value"] == TYPED
    assert not field_errors(reviewer.get("/blocklist").text)  # once

    added = post(reviewer, "/blocklist", {"legal_name": "王小二", "id_type": "cn_resident_id",
                                           "id_number": ADULT_ID, "reason": TYPED},
                 page="/blocklist")
    assert added.status_code == 303 and added.headers["location"] == "/blocklist?done=added"
    entry = fresh(session, BlocklistEntry)[0]
    lift = f"/blocklist/{entry.id}/lift"
    asked = post(reviewer, f"{lift}/request", {}, page="/blocklist")
    assert asked.headers["location"] == "/blocklist?done=request"
    alone = post(reviewer, f"{lift}/confirm", {}, page="/blocklist")  # the same person
    assert alone.status_code == 303 and alone.headers["location"] == "/blocklist"
    assert "A second staff member must confirm" in shown_after(reviewer, alone).text
    assert "A second staff member must confirm" not in reviewer.get("/blocklist").text
    session.rollback()
    assert session.exec(select(BlocklistEntry.lift_requested_by)).one() is not None
    assert session.exec(select(BlocklistEntry.lifted_at)).one() is None


# --- The registration's page -------------------------------------------------------------------


def test_ids_are_unique_on_the_moderators_pages(reviewer, session, settings) -> None:  # type: ignore[no-untyped-def]
    (submitted,) = _submitted(session, settings, 1)
    (approved,) = _submitted(session, settings, 1, status="approved", first=1)
    change = _waiting_change(session, approved, 5, "new_handle")
    for path in (f"/review/{submitted.number}", f"/review/changes/{change.id}"):
        soup = _soup(reviewer.get(path))
        ids = Counter(node["id"] for node in soup.find_all(id=True))
        assert [i for i, n in ids.items() if n > 1] == [], path
        notes = soup.select("textarea[name=internal_note]")
        assert len(notes) == 3, path
        for note in notes:  # each labelled by its own label
            assert soup.find("label", attrs={"for": note["id"]}) is not None


def test_an_error_in_an_internal_note_links_to_that_note(reviewer, session, settings) -> None:  # type: ignore[no-untyped-def]
    (submitted,) = _submitted(session, settings, 1)
    page = f"/review/{submitted.number}"
    refused = post(reviewer, f"{page}/request-changes", {
        "version": version_of(reviewer, submitted.number), "steps": "roles",
        "message_roles": "Add the room", "internal_note": "备" * 4100}, page=page)
    shown = _soup(refused if refused.status_code == 422 else shown_after(reviewer, refused))
    link = shown.select_one(".error-summary a[href='#decide-request_changes-internal_note']")
    assert link is not None
    assert shown.find(id="decide-request_changes-internal_note-error") is not None


def test_each_document_is_beside_the_answers_it_proves(reviewer, session, settings) -> None:  # type: ignore[no-untyped-def]
    (submitted,) = _submitted(session, settings, 1)
    soup = _soup(reviewer.get(f"/review/{submitted.number}"))
    section = soup.find(id="answers-identity").find_parent("section")
    documents = section.select(".proved__documents a")
    hrefs = {a["href"] for a in documents}
    ids = submitted.answers["identity"]
    assert hrefs == {f"/documents/{ids['id_front']}", f"/documents/{ids['id_back']}"}
    assert all(a["target"] == "_blank" and "noopener" in a["rel"] for a in documents)
    assert "Front of your ID document" in documents[0].get_text()
    # Beside the answers they prove (the name, the ID number), not among them.
    answers = section.select_one(".proved__answers").get_text(" ", strip=True)
    assert "Full legal name" in answers and "ID number" in answers
    assert "Front of your ID document" not in answers
    # The auditor's record keeps the answers as they were (the shared partial, unchanged).
    auditor = staff_client(reviewer.app, session, "inspector@example.com")
    record = _soup(auditor.get(f"/audit/registrations/{submitted.number}"))
    assert record.select(".proved__documents") == []
