"""Inspection requests over the API (DESIGN §7): an authority asks, the platform alone hears of
it, lists it and answers with text and files; the authority reads the answer and its files."""

from __future__ import annotations

from datetime import timedelta

from portal.base.db import utcnow
from portal.base.uploads import MAX_UPLOAD_BYTES
from portal.ledger.tlog import rfc3339
from tests.unit.conftest import Platform
from tests.unit.http_wizard import GIF, PDF, PNG

PROBLEM = "application/problem+json"


def deadline(days: int = 7) -> str:
    return rfc3339(utcnow() + timedelta(days=days))


def ask(authority: Platform, **body: object):  # type: ignore[no-untyped-def]
    return authority.post("/audit/inspection-requests", json={
        "request": "The live room's sales records for May", "deadline": deadline(), **body})


def events_of(platform: Platform, kind: str) -> list[dict]:  # type: ignore[type-arg]
    response = platform.get("/events?limit=1000")
    assert response.status_code == 200
    return [e for e in response.json()["events"] if e["type"] == kind]


def test_a_request_reaches_its_platform_alone_which_answers_with_text_and_a_file(
        app, session, approved, platform, other_platform) -> None:
    number, _moderator = approved
    authority = Platform(app, session, "Market regulator", kind="authority")
    sent = ask(authority, platform=platform.row.name, number=number)
    assert sent.status_code == 201, sent.text
    request_id = sent.json()["id"]
    assert sent.json() == {"id": request_id, "status": "open"}

    requested = events_of(platform, "inspection.requested")
    assert [(e["number"], e["data"]["inspection_request_id"]) for e in requested] == [
        (number, request_id)]
    assert events_of(other_platform, "inspection.requested") == []

    listed = platform.get("/inspection-requests?status=open")
    assert listed.status_code == 200
    assert listed.json() == {"items": [{
        "id": request_id, "number": number, "request": "The live room's sales records for May",
        "deadline": listed.json()["items"][0]["deadline"], "status": "open"}]}
    assert other_platform.get("/inspection-requests").json() == {"items": []}

    answered = platform.post(f"/inspection-requests/{request_id}/answer", data={
        "text": "Sales records attached"}, files=[
        ("files", ("may.png", PNG, "image/png")), ("files", ("ledger.pdf", PDF,
                                                             "application/pdf"))])
    assert answered.status_code == 201, answered.text
    assert answered.json()["status"] == "answered" and answered.json()["late"] is False
    assert platform.get("/inspection-requests?status=open").json() == {"items": []}
    assert len(events_of(platform, "inspection.answered")) == 1
    assert events_of(other_platform, "inspection.answered") == []

    shown = authority.get(f"/audit/inspection-requests/{request_id}")
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["status"] == "answered" and body["number"] == number
    assert body["platform"] == "Platform A"
    [answer] = body["answers"]
    assert answer["text"] == "Sales records attached"
    assert [f["filename"] for f in answer["files"]] == ["may.png", "ledger.pdf"]
    pdf = authority.http.get(answer["files"][1]["url"])
    assert pdf.status_code == 200 and pdf.content == PDF
    assert pdf.headers["content-type"] == "application/pdf"
    assert "ledger.pdf" in pdf.headers["content-disposition"]


def test_another_platforms_request_is_not_found_and_an_answered_one_is_a_conflict(
        app, session, platform, other_platform) -> None:
    authority = Platform(app, session, "Market regulator", kind="authority")
    request_id = ask(authority, platform=str(platform.id)).json()["id"]
    path = f"/inspection-requests/{request_id}/answer"

    stolen = other_platform.post(path, data={"text": "Not ours"})
    assert stolen.status_code == 404 and stolen.headers["content-type"] == PROBLEM
    assert platform.post("/inspection-requests/999999/answer",
                         data={"text": "x"}).status_code == 404

    assert platform.post(path, data={"text": "Here it is"}).status_code == 201
    again = platform.post(path, data={"text": "And again"})
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM


def test_a_file_that_breaks_the_upload_rules_gets_the_wizards_message(
        app, session, platform) -> None:
    authority = Platform(app, session, "Market regulator", kind="authority")
    request_id = ask(authority, platform=str(platform.id)).json()["id"]
    path = f"/inspection-requests/{request_id}/answer"

    wrong = platform.post(path, data={"text": "Attached"},
                          files=[("files", ("ok.png", PNG, "image/png")),
                                 ("files", ("anim.gif", GIF, "image/gif"))])
    assert wrong.status_code == 422 and wrong.headers["content-type"] == PROBLEM
    assert wrong.json()["errors"] == [{"field": "files[1]",
                                       "message": "The selected file must be a JPG, PNG or PDF"}]
    big = platform.post(path, data={"text": "Attached"}, files=[
        ("files", ("big.pdf", b"%PDF-1.7\n" + b"0" * MAX_UPLOAD_BYTES, "application/pdf"))])
    assert big.status_code == 422
    assert big.json()["errors"][0]["message"] == "The selected file must be smaller than 5 MB"
    no_text = platform.post(path, data={"text": " "})
    assert no_text.status_code == 422 and no_text.json()["errors"][0]["field"] == "text"
    not_a_form = platform.post(path, json={"text": "JSON is not a form"})
    assert not_a_form.status_code == 422

    # Nothing was written: the request still waits for its answer.
    assert [i["status"] for i in platform.get("/inspection-requests").json()["items"]] == [
        "open"]


def test_an_authority_asks_only_within_its_jurisdiction(app, session, approved,
                                                        platform) -> None:
    number, _moderator = approved  # a registration of Beijing (11)
    far = Platform(app, session, "Guangdong regulator", kind="authority", jurisdiction="44")
    refused = ask(far, platform=str(platform.id), number=number)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "number"

    near = Platform(app, session, "Beijing regulator", kind="authority", jurisdiction="11")
    request_id = ask(near, platform=str(platform.id), number=number).json()["id"]
    assert far.get(f"/audit/inspection-requests/{request_id}").status_code == 404
    assert near.get(f"/audit/inspection-requests/{request_id}").status_code == 200


def test_a_request_needs_a_platform_and_a_future_deadline(app, session, platform) -> None:
    authority = Platform(app, session, "Market regulator", kind="authority")
    past = ask(authority, platform=str(platform.id), deadline=rfc3339(utcnow()
                                                                      - timedelta(hours=1)))
    assert past.status_code == 422 and past.json()["errors"][0]["field"] == "deadline"
    nobody = ask(authority, platform="No such platform")
    assert nobody.status_code == 422 and nobody.json()["errors"][0]["field"] == "platform"
    not_a_platform = ask(authority, platform=str(authority.id))
    assert not_a_platform.status_code == 422
