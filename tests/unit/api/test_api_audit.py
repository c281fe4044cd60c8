"""The authority API (DESIGN §7, /audit/...): jurisdiction, masking, reveals with a reason,
the access log and streamed exports."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from portal.base.db import utcnow
from portal.ledger.pii_access import PiiAccess
from portal.oversight import auditing
from portal.oversight.exports import EXPORT_COLUMNS
from portal.oversight.inspections import ExportRecord
from portal.platforms.clients import IdempotencyRecord
from portal.records import registry
from portal.registration.models import Registration
from tests.unit.conftest import Auth, Platform, make_user
from tests.unit.factories import make_registration
from tests.unit.http_wizard import ADULT_ID, fresh
from tests.unit.oversight.test_sanctions import sanction

PROBLEM = "application/problem+json"
REASON = "Inspection 2026-17: counterfeit goods complaint"


def authority(app, session, jurisdiction: str = "national",  # type: ignore[no-untyped-def]
              name: str = "National market regulator") -> Platform:
    session.rollback()  # a write from an old read snapshot would fail in WAL mode
    client = Platform(app, session, name, kind="authority")
    client.row.jurisdiction = jurisdiction
    session.add(client.row)
    session.commit()
    return client


@pytest.fixture
def national(app, session) -> Platform:  # type: ignore[no-untyped-def]
    return authority(app, session)


@pytest.fixture
def zhejiang(app, session) -> Platform:  # type: ignore[no-untyped-def]
    return authority(app, session, "33", "Zhejiang AMR")


def errors_of(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    return {e["field"]: e["message"] for e in response.json()["errors"]}


def read_csv(response) -> list[list[str]]:  # type: ignore[no-untyped-def]
    assert response.text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))


def numbers(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    return [item["number"] for item in response.json()["items"]]


def reveal(client: Platform, number: str, field: str = "id_number", reason: str = REASON,
           **kwargs):  # type: ignore[no-untyped-def]
    return client.post(f"/audit/registrations/{number}/reveal",
                       {"field": field, "reason": reason}, **kwargs)


@pytest.fixture
def auditor(app, session) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """A national auditor logged in to the console."""
    make_user(session, email="auditor@example.com", role="auditor")
    with TestClient(app, follow_redirects=False) as client:
        assert Auth(client).log_in("auditor@example.com").status_code == 303
        yield client


# --- jurisdiction -----------------------------------------------------------------------------


def test_a_provincial_authority_sees_nothing_outside_its_jurisdiction(
        approved, national, zhejiang, session) -> None:  # type: ignore[no-untyped-def]
    number, _moderator = approved  # a Beijing (11) resident
    assert reveal(national, number).status_code == 200  # in the national access log

    listed = zhejiang.get("/audit/registrations")
    assert numbers(listed) == [] and listed.json()["total"] == 0
    assert numbers(zhejiang.get("/audit/registrations", params={"q": number})) == []
    missing = zhejiang.get(f"/audit/registrations/{number}")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith(PROBLEM)
    assert reveal(zhejiang, number).status_code == 404
    assert read_csv(zhejiang.get("/audit/export.csv")) == [list(EXPORT_COLUMNS)]
    log = zhejiang.get("/audit/access-log").json()
    assert log["items"] == [] and log["total"] == 0
    # Its failed reveal logged nothing: only the national one is there.
    assert [(e.client_id, e.field) for e in fresh(session, PiiAccess)] == [
        (national.id, "id_number")]

    assert numbers(national.get("/audit/registrations")) == [number]
    assert national.get(f"/audit/registrations/{number}").status_code == 200
    assert [r[0] for r in read_csv(national.get("/audit/export.csv"))[1:]] == [number]
    assert national.get("/audit/access-log").json()["total"] == 1
    beijing = authority(national.http.app, session, "11,3301", "Beijing AMR")
    assert numbers(beijing.get("/audit/registrations")) == [number]


def test_drafts_and_unknown_numbers_are_not_found(submitted, national) -> None:
    assert national.get("/audit/registrations/LR-2000-0000000").status_code == 404
    assert national.get("/audit/registrations/%3Cscript%3E").status_code == 404
    assert national.get(f"/audit/registrations/{submitted}").status_code == 200


# --- keys -------------------------------------------------------------------------------------


ENDPOINTS = ("/audit/registrations", "/audit/registrations/{number}", "/audit/access-log",
             "/audit/export.csv")


def test_platform_keys_get_403_and_no_key_401(approved, platform, client) -> None:
    number, _moderator = approved
    for path in ENDPOINTS:
        path = path.format(number=number)
        refused = platform.get(path)
        assert refused.status_code == 403, path
        assert refused.headers["content-type"].startswith(PROBLEM)
        anonymous = client.get("/api/v1" + path)
        assert anonymous.status_code == 401, path
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert reveal(platform, number).status_code == 403
    assert client.post(f"/api/v1/audit/registrations/{number}/reveal",
                       json={"field": "id_number", "reason": REASON}).status_code == 401


# --- search -----------------------------------------------------------------------------------


def test_the_list_is_masked_filtered_and_paged(approved, national, session) -> None:
    number, _moderator = approved
    response = national.get("/audit/registrations")
    assert response.headers["cache-control"] == "no-store"
    assert "RateLimit" in response.headers and "RateLimit-Policy" in response.headers
    body = response.json()
    assert body["total"] == 1 and body["page"] == 1 and body["per_page"] == 50
    item = body["items"][0]
    assert set(item) == {"number", "status", "roles", "subject_kind", "id_type",
                         "display_name", "risk_level", "submitted_at", "region", "valid_until"}
    assert item["number"] == number and item["status"] == "approved"
    assert item["roles"] == ["streamer"] and item["subject_kind"] == "person"
    assert item["id_type"] == "cn_resident_id" and item["display_name"] == "张*"
    assert item["region"] == "1101" and item["risk_level"] == "low"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", item["submitted_at"])
    assert item["valid_until"] is not None and "张三" not in response.text

    for params in ({"status": "approved"}, {"role": "streamer"}, {"risk_level": "low"},
                   {"q": "zhangsan"}, {"q": number.lower()}, {"status": "", "role": ""}):
        assert numbers(national.get("/audit/registrations", params=params)) == [number], params
    for params in ({"status": "revoked"}, {"role": "merchant"}, {"risk_level": "key"},
                   {"q": "lisi"}):
        assert numbers(national.get("/audit/registrations", params=params)) == [], params

    owner = make_user(session, email="many@example.com")
    for i in range(55):
        session.add(Registration(user_id=owner.id, number=f"LR-2000-{i:07d}",
                                 status="submitted", region="33",
                                 submitted_at=utcnow() - timedelta(days=1)))
    session.flush()
    registry.rebuild_all(session)
    session.commit()
    first = national.get("/audit/registrations", params={"status": "submitted"}).json()
    assert first["total"] == 55 and len(first["items"]) == 50
    assert first["items"][0]["number"] == "LR-2000-0000054"
    second = national.get("/audit/registrations",
                          params={"status": "submitted", "page": 2}).json()
    assert [i["number"] for i in second["items"]] == [f"LR-2000-{i:07d}"
                                                      for i in range(4, -1, -1)]
    small = national.get("/audit/registrations", params={"page": 3, "per_page": 20}).json()
    assert small["total"] == 56 and len(small["items"]) == 16 and small["per_page"] == 20
    assert national.get("/audit/registrations", params={"page": 9}).json()["items"] == []


def test_query_parameters_are_validated(approved, national) -> None:
    path = "/audit/registrations"
    assert set(errors_of(national.get(path, params={"status": "draft"}))) == {"status"}
    assert set(errors_of(national.get(path, params={"role": "admin"}))) == {"role"}
    assert set(errors_of(national.get(path, params={"risk_level": "x"}))) == {"risk_level"}
    assert set(errors_of(national.get(path, params={"page": "0"}))) == {"page"}
    assert set(errors_of(national.get(path, params={"page": "two"}))) == {"page"}
    assert set(errors_of(national.get(path, params={"per_page": "101"}))) == {"per_page"}
    assert set(errors_of(national.get(path, params={"per_page": "0"}))) == {"per_page"}
    assert set(errors_of(national.get(path, params={"q": "x" * 101}))) == {"q"}
    assert set(errors_of(national.get(path, params={"sort": "name"}))) == {"sort"}
    assert set(errors_of(national.get("/audit/access-log", params={"per_page": "500"}))) == {
        "per_page"}
    assert set(errors_of(national.get("/audit/export.csv", params={"status": "nope"}))) == {
        "status"}


def test_search_terms_with_sql_or_html_are_harmless(approved, national) -> None:
    number, _moderator = approved
    for term in ("' OR 1=1 --", "'; DROP TABLE registry; --", "%", "x_y", "\\",
                 "<script>alert(1)</script>"):
        response = national.get("/audit/registrations", params={"q": term})
        assert numbers(response) == [], term
        assert response.json()["total"] == 0
        export = national.get("/audit/export.csv", params={"q": term})
        assert read_csv(export) == [list(EXPORT_COLUMNS)], term
        assert "<script>" not in export.headers["content-disposition"]
    assert numbers(national.get("/audit/registrations")) == [number]  # the table is still there


# --- the record -------------------------------------------------------------------------------


def test_the_record_is_whole_and_masked(approved, national, platform, session) -> None:
    number, moderator = approved
    assert sanction(moderator, number, "warning").status_code == 303
    case = platform.post("/violations", {
        "number": number, "category": "counterfeit", "description": "Sold fake handbags",
        "occurred_at": "2025-11-03T12:30:00Z", "evidence": ["https://platform.example/c/1"]})
    assert case.status_code == 201
    response = national.get(f"/audit/registrations/{number}")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    text = response.text
    assert ADULT_ID not in text and "张三" not in text and "13812345678" not in text
    assert "_enc" not in text  # not even the ciphertexts
    body = response.json()
    assert body["number"] == number and body["status"] == "approved"
    assert body["subject_kind"] == "person" and body["region"] == "1101"
    assert body["roles"] == ["streamer"] and body["risk_level"] == "low"
    identity = body["answers"]["identity"]
    assert identity["legal_name"] == "张*"
    assert identity["id_number_masked"] == "1101**********8794"
    assert identity["phone_masked"] == "138****5678"
    assert [s["version"] for s in body["submissions"]] == [1]
    assert body["submissions"][0]["answers"]["identity"]["legal_name"] == "张*"
    assert [d["kind"] for d in body["decisions"]] == ["approve"]
    actions = [h["action"] for h in body["history"]]
    assert actions[:3] == ["started", "submitted", "approve"], actions
    assert {"sanction_applied", "case_opened"} <= set(actions)
    assert {"at", "action", "actor_role", "from_status", "to_status", "reason"} == set(
        body["history"][0])
    [warning] = body["sanctions"]
    assert warning["kind"] == "warning" and warning["state"] == "active"
    assert warning["issued_role"] == "moderator" and warning["legal_basis"]
    assert body["appeals"] == []
    [violation] = body["violations"]
    assert violation["category"] == "counterfeit" and violation["source"] == "violation_report"
    assert violation["status"] == "open" and violation["evidence"] == [
        "https://platform.example/c/1"]
    assert violation["occurred_at"] == "2025-11-03T12:30:00Z"
    certificates = body["certificates"]
    assert certificates and all(c["certificate"]["number"] == number for c in certificates)
    assert certificates[0]["status"] == "approved"
    assert re.fullmatch(r"[0-9a-f]{64}", certificates[0]["sha256"])
    assert certificates[0]["log_index"] is not None
    assert certificates[0]["certificate"]["serial"] == certificates[0]["serial"]


# --- reveal -----------------------------------------------------------------------------------


def test_reveal_needs_a_reason(approved, national, session) -> None:
    number, _moderator = approved
    path = f"/audit/registrations/{number}/reveal"
    assert set(errors_of(national.post(path, {"field": "id_number"}))) == {"reason"}
    assert set(errors_of(reveal(national, number, reason="why"))) == {"reason"}
    assert set(errors_of(reveal(national, number, reason="     "))) == {"reason"}
    assert set(errors_of(reveal(national, number, reason="x" * 501))) == {"reason"}
    assert set(errors_of(reveal(national, number, field="password"))) == {"field"}
    assert set(errors_of(national.post(path, {"field": "phone", "reason": REASON,
                                              "extra": 1}))) == {"extra"}
    # A minor's guardian: this adult has none.
    assert set(errors_of(reveal(national, number, field="guardian_id_number"))) == {"field"}
    not_json = national.http.post(f"/api/v1{path}", content=b"{",
                                  headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    assert fresh(session, PiiAccess) == []
    assert ADULT_ID not in national.post(path, {"field": "id_number"}).text


def test_reveal_is_logged_with_the_client_and_shown_in_the_logs(
        approved, national, auditor, session) -> None:  # type: ignore[no-untyped-def]
    number, _moderator = approved
    shown = reveal(national, number)
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    assert shown.json() == {"field": "id_number", "value": ADULT_ID,
                            "id_type": "cn_resident_id"}
    assert reveal(national, number, "legal_name").json() == {"field": "legal_name",
                                                             "value": "张三"}
    assert reveal(national, number, "phone").json() == {"field": "phone",
                                                        "value": "13812345678"}
    # Never stored for replay: the same Idempotency-Key reveals (and logs) again.
    for _ in range(2):
        again = reveal(national, number, headers={"Idempotency-Key": "reveal-1"})
        assert again.status_code == 200 and "idempotent-replayed" not in again.headers
    assert fresh(session, IdempotencyRecord) == []

    logged = fresh(session, PiiAccess)
    assert [(e.actor_id, e.actor_role, e.client_id, e.field, e.reason) for e in logged] == [
        (None, "authority", national.id, field, REASON)
        for field in ("id_number", "legal_name", "phone", "id_number", "id_number")]
    registration = fresh(session, Registration)[0]
    assert {e.registration_id for e in logged} == {registration.id}

    log = national.get("/audit/access-log", params={"per_page": 2}).json()
    assert log["total"] == 5 and log["page"] == 1 and log["per_page"] == 2
    newest = log["items"][0]
    assert newest == {"at": newest["at"], "field": "id_number", "reason": REASON,
                      "actor_role": "authority", "client": "National market regulator",
                      "registration_number": number}
    assert [i["field"] for i in national.get(
        "/audit/access-log", params={"page": 2, "per_page": 2}).json()["items"]] == [
        "phone", "legal_name"]

    page = auditor.get(f"/audit/registrations/{number}")
    assert page.status_code == 200 and REASON in page.text
    assert ADULT_ID not in page.text and "张三" not in page.text


def test_the_access_log_holds_staff_reveals_and_identity_matches(
        approved, national, zhejiang, platform, auditor, session) -> None:  # type: ignore[no-untyped-def]
    number, _moderator = approved
    match = platform.post("/registrations/match", {
        "id_type": "cn_resident_id", "id_number": ADULT_ID, "legal_name": "张三"})
    assert match.json()["match"] is True
    unknown = platform.post("/registrations/match", {
        "id_type": "cn_resident_id", "id_number": "11010519491231002X", "legal_name": "李四"})
    assert unknown.json()["match"] is False
    from tests.unit.conftest import csrf_from

    path = f"/audit/registrations/{number}"
    token = csrf_from(auditor.get(path).text)
    assert auditor.post(f"{path}/reveal", data={
        "field": "phone", "reason_phone": "Console reveal reason", "csrf_token": token,
    }).status_code == 303  # to the record, which shows the value once
    items = national.get("/audit/access-log").json()["items"]
    assert [(i["field"], i["actor_role"], i["client"], i["registration_number"])
            for i in items] == [
        ("phone", "auditor", None, number),
        ("identity_match", "platform", "Platform A", None),
        ("identity_match", "platform", "Platform A", number)]
    assert zhejiang.get("/audit/access-log").json()["items"] == []


# --- export -----------------------------------------------------------------------------------


def test_the_csv_export_is_streamed_masked_named_and_recorded(
        approved, national, zhejiang, session) -> None:  # type: ignore[no-untyped-def]
    number, _moderator = approved
    response = national.get("/audit/export.csv", params={"status": "approved",
                                                         "q": "zhangsan"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["cache-control"] == "no-store"
    assert "RateLimit" in response.headers and "content-length" not in response.headers
    assert re.fullmatch(r'attachment; filename="registrations_q-zhangsan_status-approved_'
                        r'\d{8}T\d{4}Z\.csv"', response.headers["content-disposition"])
    rows = read_csv(response)
    assert rows[0] == list(EXPORT_COLUMNS) and len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["number"] == number and row["display_name"] == "张*"
    assert row["id_number_masked"] == "1101**********8794" and row["roles"] == "streamer"
    assert "张三" not in response.text and ADULT_ID not in response.text
    assert read_csv(zhejiang.get("/audit/export.csv")) == [list(EXPORT_COLUMNS)]

    logged = fresh(session, ExportRecord)
    assert [(r.user_id, r.client_id, r.format, r.rows) for r in logged] == [
        (None, national.id, "csv", 1), (None, zhejiang.id, "csv", 0)]
    assert logged[0].filters == {"q": "zhangsan", "status": "approved",
                                 "jurisdiction": "national"}
    assert logged[1].filters == {"jurisdiction": "33"}


def test_export_cells_that_look_like_formulas_stay_text(national, session) -> None:
    owner = make_user(session, email="formula@example.com")
    session.add(Registration(user_id=owner.id, number="LR-2000-0000001", status="submitted",
                             region="33", submitted_at=utcnow(),
                             answers={"identity": {"legal_name": "=HYPERLINK(1)"}}))
    session.flush()
    registry.rebuild_all(session)
    session.commit()
    rows = read_csv(national.get("/audit/export.csv", params={"status": "submitted"}))
    display = rows[1][EXPORT_COLUMNS.index("display_name")]
    assert display.startswith("'=")  # a leading quote: the spreadsheet keeps it as text
    assert "HYPERLINK" not in json.dumps(rows, ensure_ascii=False)  # masked anyway


# --- the document -----------------------------------------------------------------------------


def test_real_answers_match_the_openapi_document(approved, national, app, session) -> None:
    import schemathesis

    checks = [schemathesis.checks.not_a_server_error, schemathesis.checks.status_code_conformance,
              schemathesis.checks.content_type_conformance,
              schemathesis.checks.response_schema_conformance,
              schemathesis.checks.response_headers_conformance]
    number, _moderator = approved
    assert reveal(national, number).status_code == 200  # an access-log row to describe
    with TestClient(app):
        schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    calls = [
        ("GET", "/api/v1/audit/registrations", {"status": "approved"}, None),
        ("GET", "/api/v1/audit/registrations/{number}", {"number": number}, None),
        ("POST", "/api/v1/audit/registrations/{number}/reveal", {"number": number},
         {"field": "phone", "reason": REASON}),
        ("GET", "/api/v1/audit/access-log", {}, None),
        ("GET", "/api/v1/audit/export.csv", {}, None),
    ]
    for method, path, params, body in calls:
        path_params = {k: v for k, v in params.items() if "{" + k + "}" in path}
        query = {k: v for k, v in params.items() if k not in path_params}
        kwargs: dict[str, object] = {"path_parameters": path_params, "query": query or None}
        if body is not None:
            kwargs["body"] = body
        case = schema[path][method].Case(**kwargs)
        response = case.call_and_validate(headers={"Authorization": f"Bearer {national.key}"},
                                          checks=checks)
        assert response.status_code == 200, (path, response.text)


def test_deep_pages_by_cursor_and_an_estimated_total_past_the_cap(
        national, session, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Past ``COUNT_CAP`` matches the total is the database's estimate, flagged; the cursor in
    ``next`` walks every page once, newest number first."""
    numbers = sorted((make_registration(session, settings, status="submitted",
                                        email=f"seller{i}@example.com").number
                      for i in range(5)), reverse=True)
    first = national.get("/audit/registrations?per_page=2").json()
    assert first["total"] == 5 and first["total_is_estimate"] is False
    monkeypatch.setattr(auditing, "COUNT_CAP", 3)
    seen, cursor = [], None
    while True:
        answer = national.get("/audit/registrations?per_page=2"
                              + (f"&cursor={cursor}" if cursor else "")).json()
        assert answer["total_is_estimate"] is True and answer["total"] >= 4
        seen += [item["number"] for item in answer["items"]]
        cursor = answer["next"]
        if cursor is None:
            break
    assert seen == numbers
    by_page = national.get("/audit/registrations?per_page=2&page=3").json()
    assert [i["number"] for i in by_page["items"]] == numbers[4:] and by_page["next"] is None
    assert national.get("/audit/registrations?cursor=LR-1").status_code == 422
