"""The platform API's remaining endpoints (DESIGN §7): identity match, blocklist check, buyers'
blocklist, violation reports and the events feed, with their errors and the isolation between
platforms."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlalchemy import select as core_select
from sqlmodel import SQLModel

from portal.base import crypto
from portal.base.db import utcnow
from portal.ledger.events import OutboxEvent
from portal.ledger.pii_access import PiiAccess
from portal.ledger.tlog import rfc3339
from portal.oversight import enforcement
from portal.oversight.buyers import BuyerBlock
from portal.oversight.cases import Case
from portal.registration.models import Registration
from tests.unit.conftest import Platform, make_user
from tests.unit.http_wizard import (
    ADULT_ID,
    GUARDIAN_ID,
    Wizard,
    fresh,
    identity_files,
    identity_form,
    post,
    verify_email,
)

PROBLEM = "application/problem+json"
BUYER_ID = "310101199211302427"  # a valid resident ID, used for a buyer here
OTHER_ID = "11010519491231002X"


def errors_of(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    return {e["field"]: e["message"] for e in response.json()["errors"]}


def violation(number: str, **overrides):  # type: ignore[no-untyped-def]
    return {"number": number, "category": "counterfeit",
            "description": "Sold fake handbags during the 3 November stream",
            "occurred_at": "2025-11-03T12:30:00Z",
            "evidence": ["https://platform.example/clips/123", "http://x.example/a?b=c"],
            **overrides}


def buyer(**overrides):  # type: ignore[no-untyped-def]
    return {"buyer_ref": "buyer-881", "reason": "Chargeback fraud", **overrides}


def event_types(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    return [e["type"] for e in response.json()["events"]]


def database_text(session) -> str:  # type: ignore[no-untyped-def]
    """Every stored row of every table, as text."""
    session.rollback()
    rows = []
    for table in SQLModel.metadata.sorted_tables:
        rows.extend(repr(tuple(row)) for row in session.execute(core_select(table)))
    return "\n".join(rows)


_staff = itertools.count(1)


def blocklist_person(session, settings, id_number: str = OTHER_ID,  # type: ignore[no-untyped-def]
                     **extra):
    """Add a person to the person blocklist, as a moderator would."""
    staff = make_user(session, email=f"staff{next(_staff)}@example.com", role="moderator")
    entry = enforcement.add_to_blocklist(
        session, settings, registration=None, actor=staff, reason_code="fraud",
        reason="Fraud ring",
        identity_index=crypto.identity_index(settings, "cn_resident_id", id_number),
        legal_name="王五", id_type="cn_resident_id")
    session.commit()
    for key, value in extra.items():
        setattr(entry, key, value)
    session.add(entry)
    session.commit()
    return entry


@pytest.fixture
def authority(app, session) -> Platform:  # type: ignore[no-untyped-def]
    return Platform(app, session, "Regulator", kind="authority")


# --- POST /registrations/match ----------------------------------------------------------------


def test_match_needs_both_identity_and_name(approved, platform, session) -> None:
    number, _moderator = approved
    registration = fresh(session, Registration)[0]
    # Spacing and case of the number, and the name's width, do not matter.
    spaced = ADULT_ID[:6] + " " + ADULT_ID[6:-1] + ADULT_ID[-1].lower()
    found = platform.post("/registrations/match", {
        "id_type": "cn_resident_id", "id_number": spaced, "legal_name": " 张三 "})
    assert found.status_code == 200
    assert found.json() == {"match": True, "number": number, "status": "approved"}
    assert ADULT_ID not in found.text and found.headers["cache-control"] == "no-store"

    wrong_name = platform.post("/registrations/match", {
        "id_type": "cn_resident_id", "id_number": ADULT_ID, "legal_name": "李四"})
    assert wrong_name.json() == {"match": False, "number": None, "status": None}
    wrong_type = platform.post("/registrations/match", {
        "id_type": "passport", "id_number": ADULT_ID, "legal_name": "张三"})
    assert wrong_type.json()["match"] is False
    unknown = platform.post("/registrations/match", {
        "id_type": "cn_resident_id", "id_number": OTHER_ID, "legal_name": "张三"})
    assert unknown.json() == {"match": False, "number": None, "status": None}

    log = sorted(fresh(session, PiiAccess), key=lambda a: a.id)
    assert len(log) == 4  # every call, match or not
    assert {a.client_id for a in log} == {platform.id}
    assert {a.field for a in log} == {"identity_match"}
    assert all("Platform A" in a.reason for a in log)
    assert [a.registration_id for a in log] == [registration.id, registration.id, None, None]
    assert log[0].actor_id is None and log[0].actor_role == "platform"


def test_match_finds_submitted_registrations_but_not_drafts(client, auth, session, platform
                                                           ) -> None:
    auth.sign_up("applicant@example.com")
    verify_email(session, "applicant@example.com")
    wizard = Wizard(client)
    wizard.start()
    assert wizard.post("identity", identity_form(), identity_files()).status_code == 303
    draft = fresh(session, Registration)[0]
    assert draft.status == "draft" and draft.identity_index
    ask = {"id_type": "cn_resident_id", "id_number": ADULT_ID, "legal_name": "张三"}
    assert platform.post("/registrations/match", ask).json()["match"] is False
    assert fresh(session, PiiAccess)[0].registration_id is None
    wizard.complete_adult()
    assert wizard.submit().status_code == 303
    submitted = fresh(session, Registration)[0]
    answer = platform.post("/registrations/match", ask).json()
    assert answer == {"match": True, "number": submitted.number, "status": "submitted"}


def test_match_errors(platform, authority, client) -> None:
    ask = {"id_type": "cn_resident_id", "id_number": ADULT_ID, "legal_name": "张三"}
    assert client.post("/api/v1/registrations/match", json=ask).status_code == 401
    assert authority.post("/registrations/match", ask).status_code == 403
    assert "id_type" in errors_of(platform.post("/registrations/match",
                                                {**ask, "id_type": "library_card"}))
    for blank in ("", "   "):
        assert "legal_name" in errors_of(platform.post("/registrations/match",
                                                       {**ask, "legal_name": blank}))
        assert "id_number" in errors_of(platform.post("/registrations/match",
                                                      {**ask, "id_number": blank}))
    missing = platform.post("/registrations/match", {"id_type": "passport"})
    assert {"id_number", "legal_name"} <= set(errors_of(missing))
    extra = platform.post("/registrations/match", {**ask, "date_of_birth": "1985-03-12"})
    assert "date_of_birth" in errors_of(extra)
    not_json = platform.http.post("/api/v1/registrations/match", content=b"{",
                                  headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    assert not_json.headers["content-type"].startswith(PROBLEM)
    # A refused request echoes no ID number.
    too_long = platform.post("/registrations/match", {**ask, "id_number": ADULT_ID * 3})
    assert "id_number" in errors_of(too_long) and ADULT_ID not in too_long.text


# --- POST /blocklist/check --------------------------------------------------------------------


def test_check_people_and_own_buyers_in_order(platform, other_platform, session, settings
                                               ) -> None:
    person = blocklist_person(session, settings)
    until = utcnow() + timedelta(days=30)
    ours = platform.post("/blocklist/buyers", buyer(until=rfc3339(until))).json()["id"]
    theirs = other_platform.post("/blocklist/buyers", buyer(buyer_ref="buyer-999")).json()["id"]
    asked = [
        {"kind": "buyer", "buyer_ref": "buyer-999"},  # another platform's buyer
        {"kind": "person", "id_type": "cn_resident_id", "id_number": OTHER_ID.lower()},
        {"kind": "buyer", "buyer_ref": "buyer-881"},
        {"kind": "person", "id_type": "cn_resident_id", "id_number": ADULT_ID},
        {"kind": "person", "id_type": "passport", "id_number": OTHER_ID},
    ]
    response = platform.post("/blocklist/check", {"entries": asked})
    assert response.status_code == 200
    results = response.json()["results"]
    unblocked = {"blocked": False, "entry_id": None, "reason_code": None, "until": None}
    assert results[0] == unblocked
    assert results[1] == {"blocked": True, "entry_id": person.id, "reason_code": "fraud",
                          "until": None}
    assert results[2] == {"blocked": True, "entry_id": ours, "reason_code": None,
                          "until": rfc3339(until)}
    assert results[3] == unblocked and results[4] == unblocked
    # The other platform sees its own buyer and the shared person blocklist, not ours.
    theirs_view = other_platform.post("/blocklist/check", {"entries": asked}).json()["results"]
    assert theirs_view[0]["entry_id"] == theirs and theirs_view[1]["entry_id"] == person.id
    assert theirs_view[2] == unblocked
    assert OTHER_ID not in response.text


def test_check_only_active_entries(platform, session, settings) -> None:
    lifted = blocklist_person(session, settings, lifted_at=utcnow())
    ended = blocklist_person(session, settings, id_number=ADULT_ID,
                             until=utcnow() - timedelta(days=1))
    assert lifted.id and ended.id
    removed = platform.post("/blocklist/buyers", buyer()).json()["id"]
    assert platform.delete(f"/blocklist/buyers/{removed}").status_code == 204
    platform.post("/blocklist/buyers", buyer(buyer_ref="b-2", until=rfc3339(
        utcnow() + timedelta(seconds=2))))
    expired = fresh(session, BuyerBlock, buyer_ref="b-2")[0]
    expired.until = utcnow() - timedelta(seconds=1)
    session.add(expired)
    session.commit()
    asked = [{"kind": "person", "id_type": "cn_resident_id", "id_number": OTHER_ID},
             {"kind": "person", "id_type": "cn_resident_id", "id_number": ADULT_ID},
             {"kind": "buyer", "buyer_ref": "buyer-881"},
             {"kind": "buyer", "buyer_ref": "b-2"}]
    results = platform.post("/blocklist/check", {"entries": asked}).json()["results"]
    assert [r["blocked"] for r in results] == [False, False, False, False]


def test_check_errors(platform, authority, client) -> None:
    one = {"entries": [{"kind": "buyer", "buyer_ref": "x"}]}
    assert client.post("/api/v1/blocklist/check", json=one).status_code == 401
    assert authority.post("/blocklist/check", one).status_code == 403
    assert "entries" in errors_of(platform.post("/blocklist/check", {"entries": []}))
    too_many = platform.post("/blocklist/check",
                             {"entries": [{"kind": "buyer", "buyer_ref": "x"}] * 1001})
    assert "entries" in errors_of(too_many)
    assert platform.post("/blocklist/check",
                         {"entries": [{"kind": "buyer", "buyer_ref": "x"}] * 1000}
                         ).status_code == 200
    unknown_kind = platform.post("/blocklist/check", {"entries": [{"kind": "cat"}]})
    assert any(f.startswith("entries.0") for f in errors_of(unknown_kind))
    no_number = platform.post("/blocklist/check",
                              {"entries": [{"kind": "person", "id_type": "passport"}]})
    assert any(f.endswith("id_number") for f in errors_of(no_number))
    mixed = platform.post("/blocklist/check", {"entries": [
        {"kind": "buyer", "buyer_ref": "x", "id_number": ADULT_ID}]})
    assert any(f.endswith("id_number") for f in errors_of(mixed))
    assert platform.http.post("/api/v1/blocklist/check", content=b"[",
                              headers={"Content-Type": "application/json"}).status_code == 400


# --- POST and DELETE /blocklist/buyers --------------------------------------------------------


def test_add_and_remove_a_buyer(platform, session, settings) -> None:
    until = utcnow() + timedelta(days=90)
    added = platform.post("/blocklist/buyers", buyer(
        until=rfc3339(until), id_type="cn_resident_id", id_number=BUYER_ID.lower()))
    assert added.status_code == 201
    entry_id = added.json()["id"]
    assert added.json() == {"id": entry_id} and BUYER_ID not in added.text
    entry = fresh(session, BuyerBlock)[0]
    assert (entry.id, entry.client_id, entry.buyer_ref) == (entry_id, platform.id, "buyer-881")
    assert entry.identity_index == crypto.identity_index(settings, "cn_resident_id", BUYER_ID)
    assert entry.id_type == "cn_resident_id" and entry.removed_at is None
    assert rfc3339(entry.until) == rfc3339(until)
    event = fresh(session, OutboxEvent, type="blocklist.buyer_added")[0]
    assert event.client_id == platform.id and event.data["entry_id"] == entry_id

    removed = platform.delete(f"/blocklist/buyers/{entry_id}")
    assert removed.status_code == 204 and removed.content == b""
    assert fresh(session, BuyerBlock)[0].removed_at is not None
    event = fresh(session, OutboxEvent, type="blocklist.buyer_removed")[0]
    assert event.client_id == platform.id and event.data["entry_id"] == entry_id
    again = platform.delete(f"/blocklist/buyers/{entry_id}")
    assert again.status_code == 404 and again.headers["content-type"].startswith(PROBLEM)
    assert len(fresh(session, OutboxEvent, type="blocklist.buyer_removed")) == 1
    assert BUYER_ID not in database_text(session)


def test_a_buyer_without_an_id_lasts_for_ever(platform, session) -> None:
    assert platform.post("/blocklist/buyers", buyer()).status_code == 201
    entry = fresh(session, BuyerBlock)[0]
    assert entry.until is None and entry.identity_index is None and entry.id_type is None


def test_buyer_rules(platform, authority, client) -> None:
    assert client.post("/api/v1/blocklist/buyers", json=buyer()).status_code == 401
    assert authority.post("/blocklist/buyers", buyer()).status_code == 403
    past = platform.post("/blocklist/buyers", buyer(until="2020-01-01T00:00:00Z"))
    assert "until" in errors_of(past)
    for not_rfc3339 in ("2099-01-01", "2099-01-01T00:00:00", 4102444800, "tomorrow"):
        assert "until" in errors_of(platform.post("/blocklist/buyers",
                                                  buyer(until=not_rfc3339))), not_rfc3339
    assert platform.post("/blocklist/buyers",
                         buyer(until="2099-01-01t08:00:00+08:00")).status_code == 201
    assert "id_number" in errors_of(platform.post("/blocklist/buyers",
                                                  buyer(id_type="cn_resident_id")))
    assert "id_type" in errors_of(platform.post("/blocklist/buyers", buyer(id_number=BUYER_ID)))
    bad = platform.post("/blocklist/buyers",
                        buyer(id_type="cn_resident_id", id_number=BUYER_ID[:-1] + "0"))
    assert "id_number" in errors_of(bad) and BUYER_ID[:-1] not in bad.text
    assert "reason" in errors_of(platform.post("/blocklist/buyers", buyer(reason="  ")))
    assert "buyer_ref" in errors_of(platform.post("/blocklist/buyers", buyer(buyer_ref="")))
    assert "buyer_ref" in errors_of(platform.post("/blocklist/buyers",
                                                  buyer(buyer_ref="x" * 201)))
    assert "note" in errors_of(platform.post("/blocklist/buyers", buyer(note="hi")))
    assert platform.http.post("/api/v1/blocklist/buyers", content=b"buyer",
                              headers={"Content-Type": "application/json"}).status_code == 400


def test_a_platform_cannot_remove_another_platforms_buyer(platform, other_platform, authority,
                                                          client, session) -> None:
    entry_id = platform.post("/blocklist/buyers", buyer()).json()["id"]
    assert other_platform.delete(f"/blocklist/buyers/{entry_id}").status_code == 404
    assert client.delete(f"/api/v1/blocklist/buyers/{entry_id}").status_code == 401
    assert authority.delete(f"/blocklist/buyers/{entry_id}").status_code == 403
    for nonsense in ("999999", "abc", "-1", "1.5", "9" * 40):
        assert platform.delete(f"/blocklist/buyers/{nonsense}").status_code == 404, nonsense
    assert fresh(session, BuyerBlock)[0].removed_at is None
    assert platform.delete(f"/blocklist/buyers/{entry_id}").status_code == 204


def test_adding_a_buyer_is_idempotent(platform, other_platform, session) -> None:
    key = {"Idempotency-Key": "add-buyer-881"}
    body = buyer(id_type="cn_resident_id", id_number=BUYER_ID)
    first = platform.post("/blocklist/buyers", body, headers=key)
    second = platform.post("/blocklist/buyers", body, headers=key)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers.get("idempotent-replayed") == "true"
    assert len(fresh(session, BuyerBlock)) == 1
    assert len(fresh(session, OutboxEvent, type="blocklist.buyer_added")) == 1
    other = platform.post("/blocklist/buyers", buyer(buyer_ref="someone-else"), headers=key)
    assert "Idempotency-Key" in errors_of(other)
    assert len(fresh(session, BuyerBlock)) == 1
    # Keys are per client: the same key from another platform is a new request.
    assert other_platform.post("/blocklist/buyers", body, headers=key).status_code == 201
    assert len(fresh(session, BuyerBlock)) == 2
    assert BUYER_ID not in database_text(session)


# --- POST /violations -------------------------------------------------------------------------


def test_report_a_violation(approved, platform, session) -> None:
    number, moderator = approved
    response = platform.post("/violations", violation(number))
    assert response.status_code == 201
    case = fresh(session, Case)[0]
    assert response.json() == {"id": case.id, "status": "open"}
    assert (case.source, case.category, case.client_id) == (
        "violation_report", "counterfeit", platform.id)
    assert case.registration_id == fresh(session, Registration)[0].id
    assert rfc3339(case.occurred_at) == "2025-11-03T12:30:00Z"
    assert case.evidence == ["https://platform.example/clips/123", "http://x.example/a?b=c"]
    assert case.description.startswith("Sold fake handbags")
    event = fresh(session, OutboxEvent, type="case.opened")[0]
    assert event.client_id == platform.id and event.number == number
    assert event.data["case_id"] == case.id and event.data["source"] == "violation_report"
    # The case is in the moderators' queue.
    assert number in moderator.get("/cases").text
    page = moderator.get(f"/cases/{case.id}").text
    assert "Sold fake handbags" in page and "Platform A" in page
    assert 'href="https://platform.example/clips/123"' in page


def test_violation_rules(approved, platform, authority, client) -> None:
    number, _moderator = approved
    assert client.post("/api/v1/violations", json=violation(number)).status_code == 401
    assert authority.post("/violations", violation(number)).status_code == 403
    assert "number" in errors_of(platform.post("/violations", violation("LR-2000-0000000")))
    assert "number" in errors_of(platform.post("/violations", violation("no spaces here")))
    category = errors_of(platform.post("/violations", violation(number, category="rude")))
    assert "counterfeit" in category["category"] and "other" in category["category"]
    future = rfc3339(utcnow() + timedelta(hours=1))
    assert "occurred_at" in errors_of(platform.post("/violations",
                                                    violation(number, occurred_at=future)))
    for not_rfc3339 in ("2025-11-03", "2025-11-03T12:30:00", 1762173000, "yesterday",
                        "2025-11-03T12:30:00Z\n", "２０２５-11-03T12:30:00Z"):
        assert "occurred_at" in errors_of(platform.post(
            "/violations", violation(number, occurred_at=not_rfc3339))), not_rfc3339
    assert platform.post("/violations", violation(
        number, occurred_at="2025-11-03T20:30:00.250+08:00", evidence=[])).status_code == 201
    too_many = violation(number, evidence=[f"https://e.example/{i}" for i in range(11)])
    assert "evidence" in errors_of(platform.post("/violations", too_many))
    for bad_url in ("ftp://e.example/a", "javascript:alert(1)", "https://", "not a url",
                    "https://e.example/" + "a" * 500, "https://e.example/a b"):
        fields = errors_of(platform.post("/violations", violation(number, evidence=[bad_url])))
        assert "evidence.0" in fields, bad_url
    assert platform.post("/violations", violation(
        number, evidence=["https://e.example/" + "a" * 482])).status_code == 201
    assert "description" in errors_of(platform.post("/violations",
                                                    violation(number, description="")))
    assert "description" in errors_of(platform.post("/violations",
                                                    violation(number, description="   ")))
    assert "description" in errors_of(platform.post("/violations",
                                                    violation(number, description="x" * 5001)))
    assert platform.post("/violations",
                         violation(number, description="x" * 5000)).status_code == 201
    missing = {k: v for k, v in violation(number).items() if k != "evidence"}
    assert "evidence" in errors_of(platform.post("/violations", missing))
    assert platform.http.post("/api/v1/violations", content=b"\xff",
                              headers={"Content-Type": "application/json"}).status_code == 400


def test_violations_only_about_registrations_ever_approved(submitted, platform,
                                                           session) -> None:
    refused = errors_of(platform.post("/violations", violation(submitted)))
    assert "registrations that have been approved" in refused["number"]
    assert fresh(session, Case) == []
    assert fresh(session, OutboxEvent, type="case.opened") == []


def test_reporting_is_idempotent(approved, platform, session) -> None:
    number, _moderator = approved
    key = {"Idempotency-Key": "report-42"}
    first = platform.post("/violations", violation(number), headers=key)
    second = platform.post("/violations", violation(number), headers=key)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert len(fresh(session, Case)) == 1
    assert len(fresh(session, OutboxEvent, type="case.opened")) == 1
    changed = platform.post("/violations", violation(number, category="other"), headers=key)
    assert "Idempotency-Key" in errors_of(changed)
    assert len(fresh(session, Case)) == 1


# --- GET /events ------------------------------------------------------------------------------


def test_each_platform_gets_shared_events_and_only_its_own(approved, platform, other_platform,
                                                           session, settings) -> None:
    number, moderator = approved
    blocklist_person(session, settings)
    platform.post("/blocklist/buyers", buyer())
    case_id = platform.post("/violations", violation(number)).json()["id"]
    closed = post(moderator, f"/cases/{case_id}/close",
                  {"outcome": "dismissed", "closing_note": "Not a breach"},
                  page=f"/cases/{case_id}")
    assert closed.status_code == 303
    closing = fresh(session, OutboxEvent, type="case.closed")[0]
    assert closing.client_id == platform.id

    ours = event_types(platform.get("/events"))
    theirs = event_types(other_platform.get("/events"))
    for shared in ("registration.submitted", "registration.approved", "certificate.issued",
                   "blocklist.person_added"):
        assert shared in ours and shared in theirs
    for own in ("blocklist.buyer_added", "case.opened", "case.closed"):
        assert own in ours and own not in theirs
    # A moderator's own case is nobody's.
    opened = post(moderator, f"/review/{number}/cases",
                  {"category": "other", "description": "Found it myself"},
                  page=f"/review/{number}")
    assert opened.status_code == 303
    assert event_types(platform.get("/events")).count("case.opened") == 1
    assert "case.opened" not in event_types(other_platform.get("/events"))
    # Each event as DESIGN §7 shows it.
    first = platform.get("/events").json()["events"][0]
    assert set(first) == {"id", "type", "number", "created_at", "data"}
    assert first["number"] == number and first["created_at"].endswith("Z")


def test_events_page_with_after_and_next(approved, platform) -> None:
    everything = platform.get("/events?limit=1000").json()
    ids = [e["id"] for e in everything["events"]]
    assert ids == sorted(ids) and len(ids) >= 3 and everything["next"] == ids[-1]
    page = platform.get("/events", params={"limit": 2}).json()
    assert [e["id"] for e in page["events"]] == ids[:2] and page["next"] == ids[1]
    rest = platform.get("/events", params={"after": page["next"], "limit": 1000}).json()
    assert [e["id"] for e in rest["events"]] == ids[2:]
    empty = platform.get("/events", params={"after": rest["next"]}).json()
    assert empty == {"events": [], "next": rest["next"]}
    # New events arrive after the cursor.
    platform.post("/blocklist/buyers", buyer())
    newer = platform.get("/events", params={"after": rest["next"]}).json()
    assert [e["type"] for e in newer["events"]] == ["blocklist.buyer_added"]
    assert newer["next"] == newer["events"][0]["id"] > rest["next"]
    assert platform.get("/events", params={"after": 10**9}).json() == {
        "events": [], "next": 10**9}


def test_events_errors(platform, authority, client) -> None:
    assert client.get("/api/v1/events").status_code == 401
    assert authority.get("/events").status_code == 403
    for query, field in (({"limit": 0}, "limit"), ({"limit": 1001}, "limit"),
                         ({"after": -1}, "after"), ({"after": "abc"}, "after"),
                         ({"since": 3}, "since")):
        assert field in errors_of(platform.get("/events", params=query)), query


# --- Personal data ----------------------------------------------------------------------------


def test_no_clear_id_number_is_stored(approved, platform, session) -> None:
    number, _moderator = approved
    for id_number in (ADULT_ID, BUYER_ID, OTHER_ID, GUARDIAN_ID):
        platform.post("/registrations/match", {
            "id_type": "cn_resident_id", "id_number": id_number, "legal_name": "张三"})
    platform.post("/blocklist/check", {"entries": [
        {"kind": "person", "id_type": "cn_resident_id", "id_number": OTHER_ID}]},
        headers={"Idempotency-Key": "check-1"})
    platform.post("/blocklist/buyers", buyer(id_type="cn_resident_id", id_number=BUYER_ID),
                  headers={"Idempotency-Key": "buyer-1"})
    platform.post("/violations", violation(number), headers={"Idempotency-Key": "report-1"})
    stored = database_text(session)
    assert len(fresh(session, PiiAccess)) == 4
    for id_number in (ADULT_ID, BUYER_ID, OTHER_ID, GUARDIAN_ID):
        assert id_number not in stored and id_number.lower() not in stored
    events = platform.get("/events?limit=1000").text
    assert not any(n in events for n in (ADULT_ID, BUYER_ID, OTHER_ID))
