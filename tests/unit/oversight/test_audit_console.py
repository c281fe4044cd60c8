"""The auditor's console: search, the read-only record, reveals, integrity, exports, and what an
auditor may not do."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import update
from sqlmodel import select
from starlette.testclient import TestClient

from portal import cli
from portal.accounts import User
from portal.base.db import utcnow
from portal.base.identity import china_today
from portal.ledger.pii_access import PiiAccess
from portal.ledger.tlog import rfc3339
from portal.oversight import auditing
from portal.oversight.inspections import ExportRecord
from portal.records import registry
from portal.registration.attestations import Attestation
from portal.registration.models import Document, Registration
from portal.web.audit import EXPORT_COLUMNS
from tests.unit.conftest import Auth, csrf_from, make_user
from tests.unit.http_wizard import ADULT_ID, fresh
from tests.unit.prg import shown_after

Staff = Callable[..., TestClient]


@pytest.fixture
def staff(app, session) -> Iterator[Staff]:  # type: ignore[no-untyped-def]
    """Log in a new staff account (an auditor of the given jurisdiction by default)."""
    clients: list[TestClient] = []

    def log_in(jurisdiction: str = "national", *, role: str = "auditor",
               email: str | None = None) -> TestClient:
        email = email or f"{role}-{len(clients)}@example.com"
        user = make_user(session, email=email, role=role)
        user.jurisdiction = jurisdiction
        session.add(user)
        session.commit()
        client = TestClient(app, follow_redirects=False)
        client.__enter__()
        clients.append(client)
        assert Auth(client).log_in(email).status_code == 303
        return client

    yield log_in
    for client in clients:
        client.__exit__(None, None, None)


def soup(response) -> BeautifulSoup:  # type: ignore[no-untyped-def]
    return BeautifulSoup(response.text, "html.parser")


def numbers_listed(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [a.get_text() for a in soup(response).select("#results tbody th a")]


def read_csv(response) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))


# --- jurisdiction -----------------------------------------------------------------------------


def test_provincial_auditor_sees_nothing_outside_the_jurisdiction(approved, staff,
                                                                  session) -> None:
    number, _moderator = approved  # a Beijing (11) resident
    zhejiang = staff("33")
    page = zhejiang.get("/audit")
    assert page.status_code == 200
    assert numbers_listed(page) == [] and "0 registrations found" in page.text
    assert numbers_listed(zhejiang.get(f"/audit?q={number}")) == []
    assert zhejiang.get(f"/audit/registrations/{number}").status_code == 404
    assert zhejiang.get(f"/audit/registrations/{number}?check=integrity").status_code == 404
    assert read_csv(zhejiang.get("/audit/export.csv")) == [list(EXPORT_COLUMNS)]
    assert json.loads(zhejiang.get("/audit/export.json").text) == []
    document = fresh(session, Document)[0]
    assert zhejiang.get(f"/documents/{document.id}").status_code == 404
    # Nor through the moderators' pages, which auditors may use to sanction.
    assert zhejiang.get(f"/review/{number}").status_code == 404
    # Only the jurisdiction's provinces are offered.
    offered = [o["value"] for o in soup(page).select("#region option") if o["value"]]
    assert offered[:3] == ["33", "3301", "3302"] and {o[:2] for o in offered} == {"33"}

    national = staff("national")
    assert numbers_listed(national.get("/audit")) == [number]
    assert national.get(f"/audit/registrations/{number}").status_code == 200
    assert national.get(f"/documents/{document.id}").status_code == 200
    assert numbers_listed(staff("11").get("/audit")) == [number]


# --- search -----------------------------------------------------------------------------------


def test_search_lists_masked_rows_that_link_to_the_record(approved, staff) -> None:
    number, _moderator = approved
    page = staff().get("/audit")
    row = soup(page).select_one("#results tbody tr")
    assert row is not None
    assert row.th.a["href"] == f"/audit/registrations/{number}"
    text = row.get_text(" ", strip=True)
    assert "张*" in text and "张三" not in page.text
    assert "Beijing" in text and "Approved" in text and "Person" in text
    assert soup(page).select_one("#results caption") is not None
    assert "1 registration found" in page.text


def test_search_says_more_than_the_cap_without_counting_on(approved, staff, monkeypatch) -> None:
    monkeypatch.setattr(auditing, "COUNT_CAP", 0)
    page = staff().get("/audit")
    assert "More than 0 registrations found" in page.text and len(numbers_listed(page)) == 1


def test_filters_are_echoed_and_carried_to_the_exports(approved, staff) -> None:
    number, _moderator = approved
    auditor = staff()
    today = china_today().isoformat()
    page = auditor.get(f"/audit?q=zhangsan&status=approved&role=streamer&risk_level=low"
                       f"&subject_kind=person&region=11&submitted_from=2020-01-01"
                       f"&submitted_to={today}")
    assert numbers_listed(page) == [number]
    html = soup(page)
    assert html.select_one("#q")["value"] == "zhangsan"
    assert html.select_one("#status option[selected]")["value"] == "approved"
    assert html.select_one("#region option[selected]")["value"] == "11"
    assert html.select_one("#submitted_from")["value"] == "2020-01-01"
    export = html.find("a", string=re.compile("CSV"))["href"]
    assert export.startswith("/audit/export.csv?") and "status=approved" in export
    assert "region=11" in export and "q=zhangsan" in export
    assert numbers_listed(auditor.get("/audit?status=revoked")) == []
    assert numbers_listed(auditor.get("/audit?flagged=yes")) == []
    assert numbers_listed(auditor.get("/audit?submitted_to=2020-01-01")) == []


def test_a_wrong_date_is_shown_in_an_error_summary(approved, staff) -> None:
    page = staff().get("/audit?submitted_from=2026-13-45")
    assert page.status_code == 422
    summary = soup(page).select_one(".error-summary")
    assert summary is not None and summary.a["href"] == "#submitted_from"
    assert soup(page).select_one("#submitted_from")["aria-invalid"] == "true"


def test_search_terms_with_sql_or_html_are_harmless(approved, staff) -> None:
    number, _moderator = approved
    auditor = staff()
    for term in ("' OR 1=1 --", "'; DROP TABLE registry; --", "%", "<script>alert(1)</script>"):
        page = auditor.get("/audit", params={"q": term})
        assert page.status_code == 200
        assert numbers_listed(page) == []
    assert "<script>alert(1)" not in page.text
    assert soup(page).select_one("#q")["value"] == "<script>alert(1)</script>"
    assert numbers_listed(auditor.get("/audit")) == [number]  # the table is still there


def test_next_page_continues_after_the_last_number(approved, staff, session) -> None:
    number, _moderator = approved
    owner = make_user(session, email="many@example.com")
    for i in range(55):
        session.add(Registration(user_id=owner.id, number=f"LR-2000-{i:07d}",
                                 status="submitted", region="11",
                                 submitted_at=utcnow() - timedelta(days=1)))
    session.flush()
    registry.rebuild_all(session)
    session.commit()
    auditor = staff()
    first = auditor.get("/audit?status=submitted")
    assert "55 registrations found" in first.text
    listed = numbers_listed(first)
    assert len(listed) == 50 and listed[0] == "LR-2000-0000054"
    following = soup(first).find("a", string="Next page")["href"]
    assert "after=LR-2000-0000005" in following and "status=submitted" in following
    second = auditor.get(following)
    assert numbers_listed(second) == [f"LR-2000-{i:07d}" for i in range(4, -1, -1)]
    assert soup(second).find("a", string="Next page") is None
    assert number not in listed  # the approved one was filtered out


# --- the record -------------------------------------------------------------------------------


def test_record_shows_every_part_read_only_and_masked(approved, staff, session) -> None:
    number, _moderator = approved
    page = staff().get(f"/audit/registrations/{number}")
    assert page.status_code == 200
    html = soup(page)
    assert "1101**********8794" in page.text and ADULT_ID not in page.text
    assert "138****5678" in page.text and "张三" not in page.text
    assert html.find(id="submission-1") is not None  # the answers as submitted
    for title in ("Documents", "Decisions", "Sanctions", "Cases", "Certificates", "History",
                  "Reveals of personal data", "Integrity"):
        assert html.find("h2", string=title) is not None, title
    assert "mod@example.com" in html.select_one("#decisions-title").find_parent().get_text()
    document = fresh(session, Document)[0]
    assert html.find("a", href=f"/documents/{document.id}") is not None
    certificate_row = html.select_one("#certificates-title ~ .table-wrap tbody tr")
    serial = certificate_row.th.get_text(" ", strip=True).split()[0]
    download = certificate_row.find("a")["href"]
    assert download == f"/audit/registrations/{number}/certificates/{serial}"
    # Nothing on the page changes the registration: its only forms reveal or check.
    actions = {form.get("action") for form in html.select("main form")}
    assert actions == {f"/audit/registrations/{number}/reveal",
                       f"/audit/registrations/{number}"}


def test_certificate_download_is_the_signed_document(approved, staff) -> None:
    number, _moderator = approved
    auditor = staff()
    html = soup(auditor.get(f"/audit/registrations/{number}"))
    link = html.select_one("#certificates-title ~ .table-wrap tbody a")["href"]
    response = auditor.get(link)
    assert response.status_code == 200 and "attachment" in response.headers[
        "content-disposition"]
    assert json.loads(response.text)["number"] == number
    assert auditor.get(f"/audit/registrations/{number}/certificates/nope").status_code == 404


def test_reveal_needs_a_reason_and_is_logged_on_the_page(approved, staff, session) -> None:
    number, _moderator = approved
    auditor = staff(email="inspector@example.com")
    path = f"/audit/registrations/{number}"
    token = csrf_from(auditor.get(path).text)
    refused = auditor.post(f"{path}/reveal", data={"field": "id_number", "reason_id_number": "",
                                                   "csrf_token": token})
    assert refused.headers["location"] == f"{path}#reveal-title"
    refused = shown_after(auditor, refused)
    assert soup(refused).select_one(".error-summary a")["href"] == "#reason_id_number"
    assert ADULT_ID not in refused.text and fresh(session, PiiAccess) == []

    shown = auditor.post(f"{path}/reveal", data={
        "field": "id_number", "reason_id_number": "Inspection 2026-17 <b>x</b>",
        "csrf_token": token})
    assert shown.headers["cache-control"] == "no-store"
    shown = shown_after(auditor, shown)
    assert ADULT_ID in shown.text and shown.headers["cache-control"] == "no-store"
    logged = fresh(session, PiiAccess)
    auditor_id = fresh(session, User, email="inspector@example.com")[0].id
    assert [(e.actor_id, e.actor_role, e.field) for e in logged] == [
        (auditor_id, "auditor", "id_number")]

    again = auditor.get(path)
    assert ADULT_ID not in again.text  # shown once
    log = soup(again).select_one("#access-title").find_parent()
    assert "Inspection 2026-17 <b>x</b>" in log.get_text()  # as text, escaped
    assert "inspector@example.com" in log.get_text()
    assert "<b>x</b>" not in again.text


def test_integrity_green_then_red_after_tampering(approved, staff, session) -> None:
    number, _moderator = approved
    auditor = staff()
    path = f"/audit/registrations/{number}?check=integrity"
    green = soup(auditor.get(path))
    panel = green.select_one("#integrity .panel")
    assert "All checks passed" in panel.get_text() and panel["role"] == "status"
    assert "Failed" not in green.select_one("#integrity").get_text()

    attestation = fresh(session, Attestation)[0]
    tampered = {**attestation.data, "site_security": "tampered"}
    session.execute(update(Attestation).where(Attestation.id == attestation.id)  # type: ignore[arg-type]
                    .values(data=tampered))
    session.commit()
    red = soup(auditor.get(path))
    section = red.select_one("#integrity").get_text(" ", strip=True)
    assert "Integrity check failed" in section and "All checks passed" not in section
    assert "attestation" in section and "altered" in section and "Failed" in section


# --- exports ----------------------------------------------------------------------------------


def test_csv_export_is_masked_named_and_recorded(approved, staff, session) -> None:
    number, _moderator = approved
    auditor = staff(email="exporter@example.com")
    response = auditor.get("/audit/export.csv?status=approved")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert re.fullmatch(r'attachment; filename="registrations_status-approved_'
                        r'\d{8}T\d{4}Z\.csv"', response.headers["content-disposition"])
    rows = read_csv(response)
    assert rows[0] == list(EXPORT_COLUMNS) and len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["number"] == number and row["display_name"] == "张*"
    assert row["id_number_masked"] == "1101**********8794"
    assert "张三" not in response.text and ADULT_ID not in response.text
    entry = fresh(session, registry.RegistryEntry)[0]  # moments as the API writes them
    assert row["submitted_at"] == rfc3339(entry.submitted_at)  # type: ignore[arg-type]
    assert row["valid_until"] == rfc3339(entry.valid_until)  # type: ignore[arg-type]
    assert row["roles"] == "streamer" and row["flag_count"] == str(entry.flag_count)
    record = fresh(session, ExportRecord)
    exporter = fresh(session, User, email="exporter@example.com")[0]
    assert [(r.user_id, r.format, r.rows, r.filters["status"]) for r in record] == [
        (exporter.id, "csv", 1, "approved")]


def test_json_export_is_a_parsable_array_and_recorded(approved, staff, session) -> None:
    number, _moderator = approved
    response = staff().get("/audit/export.json?q=zhangsan")
    assert response.headers["content-type"].startswith("application/json")
    assert 'filename="registrations_q-zhangsan_' in response.headers["content-disposition"]
    rows = json.loads(response.text)
    assert [r["number"] for r in rows] == [number]
    assert rows[0]["roles"] == ["streamer"] and rows[0]["display_name"] == "张*"
    entry = fresh(session, registry.RegistryEntry)[0]
    assert rows[0]["valid_until"] == rfc3339(entry.valid_until)  # type: ignore[arg-type]
    assert rows[0]["submitted_at"] == rfc3339(entry.submitted_at)  # type: ignore[arg-type]
    assert [(r.format, r.rows) for r in fresh(session, ExportRecord)] == [("json", 1)]


def test_search_page_links_to_both_exports(approved, staff) -> None:
    html = soup(staff().get("/audit"))
    hrefs = [a["href"] for a in html.select("#results a[download]")]
    assert hrefs == ["/audit/export.csv", "/audit/export.json"]


# --- who may use the console ------------------------------------------------------------------


def test_applicants_and_moderators_get_403(approved, client, staff) -> None:
    number, moderator = approved
    for who in (client, moderator):
        for path in ("/audit", f"/audit/registrations/{number}", "/audit/export.csv",
                     "/audit/export.json"):
            assert who.get(path).status_code == 403, path
    assert staff(role="admin").get("/audit").status_code == 200


def test_visitors_are_sent_to_log_in(app) -> None:
    with TestClient(app, follow_redirects=False) as visitor:
        response = visitor.get("/audit")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_auditor_cannot_decide_administer_or_apply(approved, staff, session) -> None:
    number, _moderator = approved
    auditor = staff()
    token = csrf_from(auditor.get("/audit").text)
    for path in (f"/review/{number}/approve", f"/review/{number}/request-changes",
                 f"/review/{number}/reject", f"/review/{number}/risk",
                 "/review/appeals/1/decide", f"/review/{number}/cases", "/blocklist",
                 "/admin/clients", "/admin/clients/1/details", "/admin/clients/1/keys",
                 "/admin/deliveries/1/retry", "/apply/identity"):
        response = auditor.post(path, data={"csrf_token": token, "version": "1"})
        assert response.status_code == 403, path
    for path in ("/admin", "/admin/deliveries", "/review", "/cases"):
        assert auditor.get(path).status_code == 403, path
    assert fresh(session, Registration)[0].status == "approved"


# --- the command line -------------------------------------------------------------------------


class _Stdin:
    def __init__(self, text: str) -> None:
        self.text = text

    def readline(self) -> str:
        return self.text


def test_create_user_with_a_jurisdiction(settings, monkeypatch, capsys, session) -> None:
    from tests.unit.conftest import STRONG_PASSWORD

    monkeypatch.setenv("PORTAL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PORTAL_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setattr("sys.stdin", _Stdin(STRONG_PASSWORD + "\n"))
    assert cli.main(["create-user", "--email", "zj@example.com", "--role", "auditor",
                     "--jurisdiction", "3301, 33"]) == 0
    assert "jurisdiction: 33,3301" in capsys.readouterr().out
    assert cli.main(["create-user", "--email", "bad@example.com", "--role", "auditor",
                     "--jurisdiction", "33;DROP"]) == 2
    assert "national" in capsys.readouterr().err
    assert cli.main(["create-user", "--email", "all@example.com", "--role", "auditor"]) == 0
    users = {u.email: u.jurisdiction for u in session.exec(select(User))}
    assert users == {"zj@example.com": "33,3301", "all@example.com": "national"}
