"""Changes after approval, through the wizard's real forms: the change waits apart while the
approved registration keeps answering, the moderator compares and decides, approval applies it
and issues a new certificate with an event for the platforms."""

from __future__ import annotations

import re

from bs4 import BeautifulSoup
from sqlmodel import select

from portal.ledger.events import HistoryEntry, OutboxEvent
from portal.records import certificates
from portal.registration.models import Amendment, Registration
from tests.unit.conftest import Platform
from tests.unit.http_wizard import Wizard, fresh, identity_form, post, roles_form
from tests.unit.prg import shown_after

SECOND_CHANNEL = {
    "channel-1-platform": "kuaishou",
    "channel-1-handle": "zhangsan_ks",
    "channel-1-room_url": "https://live.kuaishou.com/u/zhangsan",
    "channel-1-bio": "周末下午直播",
    "channel-1-followers": "800",
}


def _start_change(client) -> None:  # type: ignore[no-untyped-def]
    started = post(client, "/apply/change", {}, page="/apply/change")
    assert started.status_code == 303
    assert started.headers["location"] == "/apply"


def _registration(session, number: str) -> Registration:  # type: ignore[no-untyped-def]
    return fresh(session, Registration, number=number)[0]


def _handles(registration: Registration) -> list[str]:
    return [c["handle"] for c in registration.answers["roles"]["channels"]]


def _change_id(session, number: str) -> int:  # type: ignore[no-untyped-def]
    registration = _registration(session, number)
    amendment = session.exec(select(Amendment).where(
        Amendment.registration_id == registration.id).order_by(Amendment.id.desc())).first()  # type: ignore[union-attr]
    return amendment.id


def _decide(moderator, change_id: int, action: str, data: dict):  # type: ignore[no-untyped-def]
    page = moderator.get(f"/review/changes/{change_id}")
    soup = BeautifulSoup(page.text, "html.parser")
    version = soup.find("input", attrs={"name": "version"})["value"]
    return post(moderator, f"/review/changes/{change_id}/{action}",
                {"version": version, **data}, page=f"/review/changes/{change_id}")


def test_approved_change_replaces_the_answers_and_issues_a_new_certificate(
        client, approved, session, app) -> None:  # type: ignore[no-untyped-def]
    number, moderator = approved
    platform = Platform(app, session, "Example Live")
    before = _registration(session, number)
    old_certificate = certificates.current_certificate(session, before.id)
    assert "Change your registration" in client.get("/me").text

    _start_change(client)
    assert "Until a moderator approves it" in client.get("/apply").text
    wizard = Wizard(client)
    assert wizard.post("roles", roles_form(**SECOND_CHANNEL)).status_code == 303
    assert wizard.post("identity", identity_form(phone="13900001111")).status_code == 303
    review = client.get("/apply/review")
    assert "Check your change and submit it" in review.text
    assert wizard.submit("张三").headers["location"] == "/apply/change"
    waiting = client.get("/apply/change").text
    assert "Your change is waiting for a moderator" in waiting
    assert "zhangsan_ks" in waiting

    # Pending: the registration, its certificate and the API still state the approved answers.
    pending = _registration(session, number)
    assert _handles(pending) == ["zhangsan_live"]
    assert certificates.current_certificate(session, pending.id).serial == old_certificate.serial
    api = platform.get(f"/registrations/{number}").json()
    assert [c["handle"] for c in api["channels"]] == ["zhangsan_live"]
    assert api["valid"] is True

    queue = moderator.get("/review/changes").text
    assert number in queue
    change_id = _change_id(session, number)
    compared = BeautifulSoup(moderator.get(f"/review/changes/{change_id}").text, "html.parser")
    changed_rows = [" | ".join(c.get_text(" ", strip=True) for c in row.find_all(["th", "td"]))
                    for row in compared.select("tr.comparison__changed")]
    assert any("138****5678" in r and "139****1111" in r for r in changed_rows), changed_rows
    assert any("zhangsan_ks" in r for r in changed_rows), changed_rows

    assert _decide(moderator, change_id, "approve", {}).status_code == 303
    after = _registration(session, number)
    assert _handles(after) == ["zhangsan_live", "zhangsan_ks"]
    assert after.status == "approved" and after.valid_until == before.valid_until
    new_certificate = certificates.current_certificate(session, after.id)
    assert new_certificate.serial != old_certificate.serial
    events = session.exec(select(OutboxEvent).where(OutboxEvent.number == number,
                                                    OutboxEvent.type == "registration.updated"))
    event = events.one()
    assert set(event.data["steps"]) == {"identity", "roles"}
    api = platform.get(f"/registrations/{number}").json()
    assert [c["handle"] for c in api["channels"]] == ["zhangsan_live", "zhangsan_ks"]
    fed = platform.get("/events?after=0&limit=1000").json()["events"]
    assert "registration.updated" in [e["type"] for e in fed]
    assert "was approved" in client.get("/apply/change").text
    assert "The change to your registration" in client.get("/me").text


def test_one_change_at_a_time_and_the_applicant_can_withdraw_it(
        client, approved, session) -> None:  # type: ignore[no-untyped-def]
    number, _moderator = approved
    _start_change(client)
    assert Wizard(client).post("roles", roles_form(**SECOND_CHANNEL)).status_code == 303
    assert Wizard(client).submit("张三").status_code == 303
    # Under review: the wizard is closed and starting another change is refused.
    assert client.get("/apply/roles").headers["location"] == "/apply/change"
    again = post(client, "/apply/change", {}, page="/apply/change")
    assert again.headers["location"] == "/apply/change"
    registration = _registration(session, number)
    assert len(session.exec(select(Amendment).where(
        Amendment.registration_id == registration.id)).all()) == 1

    assert post(client, "/apply/change/withdraw", {}, page="/apply/change").status_code == 303
    assert "You withdrew your last change." in client.get("/apply/change").text
    assert _handles(_registration(session, number)) == ["zhangsan_live"]
    assert fresh(session, Amendment, id=_change_id(session, number))[0].status == "withdrawn"
    _start_change(client)  # a new one may start now


def test_a_change_is_screened_as_a_submission(client, approved, session) -> None:  # type: ignore[no-untyped-def]
    number, moderator = approved
    _start_change(client)
    banned = {**SECOND_CHANNEL, "channel-1-bio": "高仿名牌包 现在下单"}
    assert Wizard(client).post("roles", roles_form(**banned)).status_code == 303
    assert Wizard(client).submit("张三").status_code == 303
    change_id = _change_id(session, number)
    flags = fresh(session, Amendment, id=change_id)[0].flags
    assert "banned_terms" in [f["code"] for f in flags]
    assert "Banned terms in channels or avatar" in moderator.get(
        f"/review/changes/{change_id}").text


def test_nothing_changed_is_not_submitted(client, approved, session) -> None:  # type: ignore[no-untyped-def]
    number, _moderator = approved
    _start_change(client)
    refused = Wizard(client).submit("张三")
    assert refused.status_code == 422
    assert "You have not changed any answer yet" in refused.text
    assert fresh(session, Amendment, id=_change_id(session, number))[0].status == "open"


def test_moderator_asks_for_corrections_then_refuses(client, approved, session) -> None:  # type: ignore[no-untyped-def]
    number, moderator = approved
    _start_change(client)
    wizard = Wizard(client)
    assert wizard.post("roles", roles_form(**SECOND_CHANNEL)).status_code == 303
    assert wizard.submit("张三").status_code == 303
    change_id = _change_id(session, number)

    asked = _decide(moderator, change_id, "request-changes",
                    {"steps": "roles", "message_roles": "The Kuaishou room address is wrong"})
    assert asked.status_code == 303
    page = client.get("/apply/change").text
    assert "The Kuaishou room address is wrong" in page
    assert "The Kuaishou room address is wrong" in client.get("/apply/roles").text
    fixed = {**SECOND_CHANNEL, "channel-1-room_url": "https://live.kuaishou.com/u/zs2"}
    assert wizard.post("roles", roles_form(**fixed)).status_code == 303
    assert wizard.submit("张三").status_code == 303

    refused = _decide(moderator, change_id, "refuse",
                      {"message": "This channel belongs to someone else"})
    assert refused.status_code == 303
    assert "This channel belongs to someone else" in client.get("/apply/change").text
    registration = _registration(session, number)
    assert _handles(registration) == ["zhangsan_live"]
    actions = [h.action for h in session.exec(select(HistoryEntry).where(
        HistoryEntry.registration_id == registration.id))]
    assert actions[-4:] == ["amendment_submitted", "amendment_corrections",
                            "amendment_submitted", "amendment_refused"]


def test_a_stale_decision_is_refused(client, approved, session) -> None:  # type: ignore[no-untyped-def]
    number, moderator = approved
    _start_change(client)
    assert Wizard(client).post("roles", roles_form(**SECOND_CHANNEL)).status_code == 303
    assert Wizard(client).submit("张三").status_code == 303
    change_id = _change_id(session, number)
    page = moderator.get(f"/review/changes/{change_id}")
    version = BeautifulSoup(page.text, "html.parser").find(
        "input", attrs={"name": "version"})["value"]
    assert post(client, "/apply/change/withdraw", {}, page="/apply/change").status_code == 303
    late = post(moderator, f"/review/changes/{change_id}/approve", {"version": version},
                page=f"/review/changes/{change_id}")
    # Refused, and shown on the change's page after a redirect (post/redirect/get).
    assert late.headers["location"] == f"/review/changes/{change_id}"
    assert re.search(r"withdrawn", shown_after(moderator, late).text)
    assert _handles(_registration(session, number)) == ["zhangsan_live"]
