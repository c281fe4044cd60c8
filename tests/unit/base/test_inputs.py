"""The one input rule (DESIGN §8): control characters, deep JSON, numbers out of range and
bodies of the wrong type answer 400/415/422, never 500, on both databases. Each case of the
report that found them (a NUL on PostgreSQL; 100,000 nested ``[``) is here; run this file with
PORTAL_TEST_DATABASE_URL set for PostgreSQL too (the ``postgres`` test below needs it)."""

from __future__ import annotations

import os

import pytest
from starlette.testclient import TestClient

from portal.base import inputs
from tests.unit.conftest import make_user, staff_client

NUL = "\x00"


def _problem(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()


def test_load_json_refuses_what_breaks_the_rule() -> None:
    assert inputs.load_json(b'{"a": [1, "x\\ny"]}') == {"a": [1, "x\ny"]}
    for raw in (b"[" * 100_000, b"[" * 100 + b"]" * 100, b"NaN", b'{"a": Infinity}',
                b"1e400", b"9" * 5000, b"\xff", b"{"):
        with pytest.raises(inputs.InputRefused) as refused:
            inputs.load_json(raw)
        assert refused.value.field == "body"
    with pytest.raises(inputs.InputRefused) as refused:
        inputs.load_json(b'{"a": [{"b": "x\\u0000"}]}')
    assert refused.value.field == "a.0.b"
    assert not inputs.json_too_deep(b'["[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["]')


def test_a_nul_in_a_path_or_query_answers_400_on_the_web(client, approved) -> None:
    number, moderator = approved
    assert client.get(f"/verify/{number}%00").status_code == 400
    assert client.get("/verify/LR-2026-%00").status_code == 400
    # A search box's query is stripped of them: the page answers for what remains.
    page = moderator.get("/blocklist", params={"q": f"张{NUL}三"})
    assert page.status_code == 200
    assert NUL not in page.text


def test_the_auditor_search_and_export_strip_control_characters(app, session, approved) -> None:
    number, _moderator = approved
    auditor = staff_client(app, session, "auditor@example.com")
    page = auditor.get("/audit", params={"q": f"{number}{NUL}"})
    assert page.status_code == 200
    assert number in page.text
    export = auditor.get("/audit/export.csv", params={"q": f"x{NUL}", "status": f"{NUL}"})
    assert export.status_code == 200
    assert export.text.count("\n") >= 1  # the header line at least: not cut off


def test_the_api_refuses_control_characters_with_a_problem(platform, approved) -> None:
    number, _moderator = approved
    problem = _problem(platform.get(f"/registrations/{number}%00"), 400)
    assert problem["errors"][0]["field"] in {"number", "path"}
    problem = _problem(platform.post("/registrations/verify", {"numbers": [f"{number}{NUL}"]}),
                       422)
    assert problem["errors"][0]["field"] == "numbers.0"
    problem = _problem(platform.post("/blocklist/buyers", {"buyer_ref": f"b{NUL}",
                                                           "reason": "fraud"}), 422)
    assert problem["errors"][0]["field"] == "buyer_ref"
    problem = _problem(platform.post("/blocklist/check", {"entries": [
        {"kind": "buyer", "buyer_ref": NUL}]}), 422)
    assert problem["errors"][0]["field"] == "entries.0.buyer_ref"
    _problem(platform.get("/events", params={"after": f"1{NUL}"}), 400)
    assert platform.post("/registrations/verify", {"numbers": [number]}).status_code == 200


def test_the_api_refuses_json_sent_as_another_type_with_415(platform) -> None:
    body = b'{"buyer_ref": "buyer-1", "reason": "fraud"}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "text/json"):
        response = platform.post("/blocklist/buyers", content=body,
                                 headers={"Content-Type": content_type})
        assert _problem(response, 415)["status"] == 415
    nul = platform.post("/blocklist/buyers", content=b'{"buyer_ref": "\\u0000"}',
                        headers={"Content-Type": "text/plain"})
    assert nul.status_code == 415
    sent = platform.post("/blocklist/buyers", content=body,
                         headers={"Content-Type": "application/json; charset=utf-8"})
    assert sent.status_code == 201


def test_deep_json_answers_400_never_a_recursion_error(platform, caplog) -> None:
    for depth in (100, 100_000):
        response = platform.post("/registrations/verify", content=b"[" * depth,
                                 headers={"Content-Type": "application/json"})
        assert "nest" in _problem(response, 400)["detail"]
    huge = platform.post("/registrations/verify", content=b'{"numbers": [' + b"9" * 5000
                         + b"]}", headers={"Content-Type": "application/json"})
    _problem(huge, 400)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_idempotency_compares_the_canonical_json(platform) -> None:
    headers = {"Idempotency-Key": "same-request", "Content-Type": "application/json"}
    first = platform.post("/blocklist/buyers", content=b'{"buyer_ref":"b-7","reason":"fraud"}',
                          headers=headers)
    assert first.status_code == 201
    again = platform.post("/blocklist/buyers",
                          content=b'{ "reason": "fraud",\n  "buyer_ref": "b-7" }',
                          headers=headers)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    other = platform.post("/blocklist/buyers", json={"buyer_ref": "b-8", "reason": "fraud"},
                          headers=headers)
    assert other.status_code == 422


def test_the_database_guard_refuses_nul_in_any_statement(engine) -> None:
    from sqlalchemy import text

    with engine.connect() as connection, pytest.raises(inputs.InputRefused):
        connection.execute(text("SELECT :value"), {"value": f"a{NUL}b"})
    # A number beyond the column (PostgreSQL) or beyond 64 bits (SQLite) is refused the same.
    with engine.connect() as connection, pytest.raises(inputs.InputRefused):
        connection.execute(text("SELECT CAST(:value AS INTEGER)"), {"value": 2**70})
    with engine.connect() as connection:
        assert connection.execute(text("SELECT CAST(:value AS INTEGER)"), {"value": 7}
                                  ).scalar() == 7


def test_a_form_field_with_nul_answers_400_not_500(app, session, approved) -> None:
    """A form field that no validator checks still never reaches the database with a NUL."""
    number, moderator = approved
    token = moderator.get("/blocklist").text.split('name="csrf_token" value="')[1].split('"')[0]
    response = moderator.post(f"/verify/{number}/report",
                              data={"csrf_token": token, "details": NUL, "email": f"a{NUL}@b"})
    assert response.status_code < 500
    login = TestClient(app, follow_redirects=False)
    page = login.get("/login").text
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    make_user(session, email="nul@example.com")
    answer = login.post("/login", data={"csrf_token": token, "email": f"nul@example.com{NUL}",
                                        "password": "x"})
    assert answer.status_code < 500


@pytest.mark.postgres
def test_every_case_answers_without_500_on_postgresql(client, platform, app, session,
                                                      approved) -> None:
    """PostgreSQL refuses NUL in text: each case of the report, on it."""
    assert os.environ.get("PORTAL_TEST_DATABASE_URL", "").startswith("postgresql")
    number, moderator = approved
    assert client.get("/verify/LR-2026-%00").status_code == 400
    assert client.get("/verify", params={"number": f"LR{NUL}"}).status_code < 500
    assert moderator.get("/blocklist", params={"q": NUL}).status_code == 200
    auditor = staff_client(app, session, "pg-auditor@example.com")
    assert auditor.get("/audit", params={"q": NUL}).status_code == 200
    assert auditor.get("/audit/export.csv", params={"q": NUL}).status_code == 200
    _problem(platform.post("/registrations/verify", {"numbers": [NUL]}), 422)
    _problem(platform.post("/blocklist/buyers", {"buyer_ref": NUL, "reason": "x"}), 422)
    _problem(platform.post("/blocklist/check", {"entries": [{"kind": "buyer",
                                                             "buyer_ref": NUL}]}), 422)
    _problem(platform.post("/blocklist/buyers", content=b'{"buyer_ref":"\\u0000"}',
                           headers={"Content-Type": "text/plain"}), 415)
    _problem(platform.get(f"/registrations/{number}%00"), 400)
    _problem(platform.post("/registrations/verify", content=b"[" * 100_000,
                           headers={"Content-Type": "application/json"}), 400)
