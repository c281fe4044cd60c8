"""A national, a province (33) and a city (3301) authority each see exactly their registrations,
on every page and call that reads them: the auditor's search, record, CSV export and dashboard,
and the authority API's list and record."""

from __future__ import annotations

import csv
import io

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import update
from sqlmodel import select

from portal.records.registry import RegistryEntry
from portal.registration.models import Registration
from tests.unit.conftest import Platform, staff_client
from tests.unit.factories import make_registration
from tests.unit.http_wizard import born_years_ago, resident_id_for

# name: (identity answers, roles answers)
PEOPLE = {
    "hangzhou": ({"residence_province": "33", "residence_city": "3301"}, {}),
    "ningbo": ({"residence_province": "33", "residence_city": "3302"}, {}),
    "hangzhou_company": (  # its representative lives in Beijing; the company is in Hangzhou
        {"subject_kind": "organization"},
        {"roles": "merchant", "org_name": "杭州星光商贸有限公司", "uscc": "91110000MA01ABCD1M",
         "legal_representative": "张三", "org_province": "33", "org_city": "3301"}),
    "beijing": ({}, {}),
    "zhejiang_before_cities": ({"residence_province": "33", "residence_city": "3301"}, {}),
}

SEES = [
    ("national", set(PEOPLE)),
    ("33", {"hangzhou", "ningbo", "hangzhou_company", "zhejiang_before_cities"}),
    ("3301", {"hangzhou", "hangzhou_company"}),
    ("3302,11", {"ningbo", "beijing"}),
]


@pytest.fixture
def numbers(session, settings) -> dict[str, str]:  # type: ignore[no-untyped-def]
    birth = born_years_ago(30)
    made = {}
    for seq, (name, (identity, roles)) in enumerate(PEOPLE.items(), start=101):
        files = {"business_licence": ("licence.pdf", b"%PDF-1.7\n" + b"0" * 64,
                                      "application/pdf")} if roles else {}
        registration = make_registration(
            session, settings, status="approved", email=f"{name}@example.com",
            identity={"id_number": resident_id_for(birth, seq),
                      "date_of_birth": birth.isoformat(), **identity},
            roles=roles, roles_files=files)
        made[name] = str(registration.number)
    # A registration saved before cities were asked keeps its province as its region.
    old = made["zhejiang_before_cities"]
    session.execute(update(Registration).where(Registration.number == old).values(region="33"))
    session.execute(update(RegistryEntry).where(RegistryEntry.number == old).values(region="33"))
    session.commit()
    return made


def test_the_city_is_each_registrations_region(numbers, session) -> None:
    session.rollback()
    regions = {name: session.exec(select(Registration.region).where(
        Registration.number == number)).one() for name, number in numbers.items()}
    assert regions == {"hangzhou": "3301", "ningbo": "3302", "hangzhou_company": "3301",
                       "beijing": "1101", "zhejiang_before_cities": "33"}


@pytest.mark.parametrize(("jurisdiction", "expected"), SEES)
def test_each_jurisdiction_sees_exactly_its_registrations(numbers, app, session, jurisdiction,
                                                          expected) -> None:
    inside = {numbers[name] for name in expected}
    outside = set(numbers.values()) - inside
    auditor = staff_client(app, session, f"auditor-{jurisdiction[:4]}@example.com",
                           jurisdiction=jurisdiction)

    search = BeautifulSoup(auditor.get("/audit").text, "html.parser")
    listed = {a.get_text(strip=True) for a in search.select("a[href^='/audit/registrations/']")}
    assert listed == inside

    for number in inside:
        assert auditor.get(f"/audit/registrations/{number}").status_code == 200
    for number in outside:
        assert auditor.get(f"/audit/registrations/{number}").status_code == 404

    export = auditor.get("/audit/export.csv")
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(export.text.lstrip("\ufeff"))))
    assert {row["number"] for row in rows} == inside

    dashboard = BeautifulSoup(auditor.get("/audit/dashboard").text, "html.parser")
    approved = [int(row.td.get_text(strip=True)) for row in dashboard.select(
        "table#table-states tbody tr") if row.th.get_text(strip=True) == "Approved"]
    assert approved == [len(inside)]

    authority = Platform(app, session, f"Bureau {jurisdiction}", kind="authority",
                         jurisdiction=jurisdiction)
    answer = authority.get("/audit/registrations", params={"per_page": 100})
    assert answer.status_code == 200
    assert {item["number"] for item in answer.json()["items"]} == inside
    for number in inside:
        assert authority.get(f"/audit/registrations/{number}").status_code == 200
    for number in outside:
        assert authority.get(f"/audit/registrations/{number}").status_code == 404


def test_a_city_is_named_with_its_province(numbers, app, session) -> None:
    auditor = staff_client(app, session, "hz@example.com", jurisdiction="3301")
    record = auditor.get(f"/audit/registrations/{numbers['hangzhou']}").text
    assert "Zhejiang · Hangzhou" in record
    results = auditor.get("/audit").text
    assert "Zhejiang · Hangzhou" in results
    assert "Zhejiang · Hangzhou" in auditor.get("/audit/dashboard").text
