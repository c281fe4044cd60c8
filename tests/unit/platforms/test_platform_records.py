"""A platform's record (REGULATION R2): the ICP filing number checked for its format, the security
assessment as a document, licences with a reminder before they expire, and the history of every
change, kept by admins and read by auditors; the auditors' compliance view."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlmodel import select

from portal.base.identity import CHINA_TZ, china_today
from portal.ops import jobs
from portal.platforms import filings
from portal.platforms.clients import ApiClient
from portal.platforms.notify import Notification
from tests.unit.conftest import Platform, csrf_from, staff_client
from tests.unit.http_wizard import GIF, PNG
from tests.unit.platforms.test_admin_clients import error_of, post, soup


def _platform(app, session) -> tuple[Platform, str]:  # type: ignore[no-untyped-def]
    platform = Platform(app, session, "Douyin")
    return platform, f"/admin/clients/{platform.id}"


def test_a_filing_number_in_the_wrong_format_is_refused_beside_the_field(
        app, session) -> None:
    platform, page = _platform(app, session)
    admin = staff_client(app, session, "admin@example.com", role="admin")
    bad = post(admin, f"{page}/details", {"filing_number": "ICP 12345"}, page)
    assert bad.status_code == 422
    assert error_of(bad, "filing_number") == (
        "Error: Enter the ICP filing number as shown on the site, like 京ICP备12345678号")
    good = post(admin, f"{page}/details", {"filing_number": "京icp备12345678号-2"}, page)
    assert good.status_code == 303
    session.rollback()
    saved = session.get(ApiClient, platform.id, populate_existing=True)
    assert saved is not None and saved.filing_number == "京ICP备12345678号-2"


def test_every_change_of_the_record_is_kept_with_who_and_what_and_auditors_read_it(
        app, session) -> None:
    page = _platform(app, session)[1]
    admin = staff_client(app, session, "admin@example.com", role="admin")
    details = {"filing_number": "京ICP备12345678号", "moderators_employed": "40"}
    assert post(admin, f"{page}/details", details, page).status_code == 303
    assert post(admin, f"{page}/details", {**details, "moderators_employed": "55"},
                page).status_code == 303
    assert post(admin, f"{page}/licences", {
        "licence_name": "网络文化经营许可证", "licence_number": "京网文〔2026〕1号",
        "licence_expires_on": "2027-06-30"}, page).status_code == 303

    auditor = staff_client(app, session, "auditor@example.com")
    shown = auditor.get(page)
    assert shown.status_code == 200
    history = soup(shown).find("table", attrs={"aria-labelledby": "history-title"})
    assert history is not None
    rows = [[td.get_text(" ", strip=True) for td in tr.find_all("td")]
            for tr in history.find("tbody").find_all("tr")]
    # Newest first: the licence, the staffing changed 40 → 55, then the first declaration.
    assert [r[1:4] for r in rows[:2]] == [
        ["Licence", "—", "网络文化经营许可证 京网文〔2026〕1号 (2027-06-30)"],
        ["Content moderators employed", "40", "55"]]
    assert ["Filing number", "—", "京ICP备12345678号"] in [r[1:4] for r in rows]
    assert {r[4] for r in rows} == {"a*****@example.com"}
    # Read-only for auditors: no form, and their POSTs are refused.
    assert soup(shown).find(id="licence_name") is None
    assert post(auditor, f"{page}/details", {"filing_number": "京ICP备1234号"},
                page).status_code == 403


def test_a_licence_is_reminded_to_admins_once_before_it_expires(
        app, session, engine, settings) -> None:
    platform, _page = _platform(app, session)
    admin = staff_client(app, session, "admin@example.com", role="admin")
    client = session.get(ApiClient, platform.id)
    assert client is not None
    soon = filings.add_licence(session, client, name="ICP licence", number="",
                               expires_on=(china_today() + timedelta(days=40)).isoformat(),
                               actor_id=None)
    later = filings.add_licence(session, client, name="Culture licence", number="",
                                expires_on=(china_today() + timedelta(days=90)).isoformat(),
                                actor_id=None)
    session.commit()
    noon = datetime.combine(china_today(), time(12), tzinfo=CHINA_TZ)
    assert jobs.run(engine, settings, now=noon).licences == []
    in_fifteen_days = noon + timedelta(days=15)
    assert jobs.run(engine, settings, now=in_fifteen_days).licences == [soon.id]
    assert jobs.run(engine, settings, now=in_fifteen_days + timedelta(days=1)).licences == []
    session.rollback()
    told = session.exec(select(Notification).where(
        Notification.subject == "A platform's licence expires soon")).all()
    assert len(told) == 1 and "ICP licence of Douyin" in told[0].body
    assert later.id not in jobs.run(engine, settings, now=in_fifteen_days).licences
    assert admin.get(_page).status_code == 200


def test_the_security_assessment_is_a_document_with_the_wizards_rules(app, session) -> None:
    page = _platform(app, session)[1]
    admin = staff_client(app, session, "admin@example.com", role="admin")
    token = csrf_from(admin.get(page).text)
    refused = admin.post(f"{page}/assessment", data={"csrf_token": token},
                         files={"assessment_file": ("report.gif", GIF, "image/gif")})
    assert refused.status_code == 422
    assert error_of(refused, "assessment_file") == (
        "Error: The selected file must be a JPG, PNG or PDF")
    saved = admin.post(f"{page}/assessment", data={"csrf_token": token},
                       files={"assessment_file": ("report.png", PNG, "image/png")})
    assert saved.status_code == 303

    auditor = staff_client(app, session, "auditor@example.com")
    link = soup(auditor.get(page)).find("a", string="report.png")
    assert link is not None
    document = auditor.get(link["href"])
    assert document.status_code == 200 and document.content.startswith(b"\x89PNG")
