"""The wizard asks the province, then the city from the GB/T 2260 list (identity and roles)."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from sqlmodel import select

from portal.registration.models import Registration
from tests.unit.http_wizard import (
    PDF,
    Wizard,
    field_errors,
    identity_files,
    identity_form,
    roles_form,
    verify_email,
)

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


@pytest.fixture
def wizard(client, auth, session) -> Wizard:
    auth.sign_up("applicant@example.com")
    verify_email(session, "applicant@example.com")
    wizard = Wizard(client)
    wizard.start()
    return wizard


def registration_of(session) -> Registration:  # type: ignore[no-untyped-def]
    session.rollback()  # leave the read snapshot: the app committed in between
    return session.exec(select(Registration)).one()


def city_options(html: str, name: str = "residence_city") -> list[str]:
    select_ = BeautifulSoup(html, "html.parser").find("select", id=name)
    return [o["value"] for o in select_.find_all("option") if o["value"]]


def test_the_city_chosen_is_the_registrations_region(wizard, client, session) -> None:
    saved = wizard.post("identity", identity_form(residence_province="33",
                                                  residence_city="3301"), identity_files())
    assert saved.status_code == 303, field_errors(saved.text)
    assert registration_of(session).region == "3301"
    answers = registration_of(session).answers["identity"]
    assert (answers["residence_province"], answers["residence_city"]) == ("33", "3301")
    assert "Zhejiang · Hangzhou" in client.get("/apply/review").text
    assert "浙江省 · 杭州市" in client.get("/apply/review", headers=ZH).text


def test_a_municipality_is_named_once(wizard, client) -> None:
    assert wizard.post("identity", identity_form(), identity_files()).status_code == 303
    review = client.get("/apply/review").text
    shown = [dd.get_text(" ", strip=True)
             for dd in BeautifulSoup(review, "html.parser").find_all("dd")]
    assert "Beijing" in shown and "Beijing · Beijing" not in review


@pytest.mark.parametrize(("headers", "message"), [
    ({}, "Beijing is not in Zhejiang: choose a city of Zhejiang"),
    (ZH, "北京市不在浙江省：请选择浙江省的城市"),
])
def test_a_city_of_another_province_is_refused_beside_the_city(wizard, client, session,
                                                               headers, message) -> None:
    client.headers.update(headers)
    response = wizard.post("identity", identity_form(residence_province="33",
                                                     residence_city="1101"), identity_files())
    assert response.status_code == 422
    assert field_errors(response.text)["residence_city"].endswith(message)
    assert "residence_province" not in field_errors(response.text)
    assert "identity" not in registration_of(session).answers
    # The list now holds the cities of the province chosen, to pick again without JavaScript.
    assert city_options(response.text)[:2] == ["3301", "3302"]
    assert all(code.startswith("33") for code in city_options(response.text))


@pytest.mark.parametrize(("city", "message"), [
    ("", "Choose the city where you live"),
    ("杭州", "Choose the city where you live"),  # free text, as saved before the list
    ("330100", "Choose the city where you live"),  # not a 4-digit city code
])
def test_the_city_must_be_one_of_the_list(wizard, city, message) -> None:
    response = wizard.post("identity", identity_form(residence_province="33",
                                                     residence_city=city), identity_files())
    assert response.status_code == 422
    assert message in field_errors(response.text)["residence_city"]


def test_a_province_without_cities_needs_none(wizard, session) -> None:
    response = wizard.post("identity", identity_form(residence_province="81",
                                                     residence_city=""), identity_files())
    assert response.status_code == 303, field_errors(response.text)
    assert registration_of(session).region == "81"


def test_without_javascript_the_list_is_grouped_by_province(wizard, client) -> None:
    page = BeautifulSoup(client.get("/apply/identity").text, "html.parser")
    select_ = page.find("select", id="residence_city")
    groups = {g["label"]: [o["value"] for o in g.find_all("option")]
              for g in select_.find_all("optgroup")}
    assert groups["Zhejiang"][:3] == ["3301", "3302", "3303"]
    assert groups["Beijing"] == ["1101"]
    assert page.find("label", attrs={"for": "residence_city"}).get_text(strip=True) == (
        "City where you live")
    # Once the province is saved, only its cities are listed.
    wizard.post("identity", identity_form(residence_province="44", residence_city="4403"),
                identity_files())
    page = BeautifulSoup(client.get("/apply/identity").text, "html.parser")
    select_ = page.find("select", id="residence_city")
    assert not select_.find_all("optgroup")
    assert select_.find("option", selected=True)["value"] == "4403"
    assert {o["value"][:2] for o in select_.find_all("option") if o["value"]} == {"44"}


def test_choosing_a_province_narrows_the_city_list_inline(wizard) -> None:
    form = identity_form(residence_province="32", residence_city="")
    response = wizard.check("identity", form, "residence_province")
    assert response.status_code == 200
    fragment = BeautifulSoup(response.text, "html.parser")
    # Both fields come back together, the city not yet blamed for being empty.
    assert fragment.find(id="place-residence_province")
    assert fragment.find("select", id="residence_province").find(
        "option", selected=True)["value"] == "32"
    assert city_options(response.text)[0] == "3201"
    assert {code[:2] for code in city_options(response.text)} == {"32"}
    assert not field_errors(response.text)
    # Checking the city alone answers with the city field and its message.
    wrong = wizard.check("identity", identity_form(residence_province="32",
                                                   residence_city="3301"), "residence_city")
    assert wrong.status_code == 200
    assert BeautifulSoup(wrong.text, "html.parser").find(id="field-residence_city")
    assert "Hangzhou is not in Jiangsu" in field_errors(wrong.text)["residence_city"]


def test_an_organisation_gives_the_city_of_its_registered_address(wizard, client,
                                                                  session) -> None:
    wizard.post("identity", identity_form(subject_kind="organization"), identity_files())
    org = roles_form(roles="merchant", uscc="91110000MA01ABCD1M", org_name="杭州星光商贸有限公司",
                     legal_representative="张三", org_province="33", org_city="3201")
    licence = {"business_licence": ("licence.pdf", PDF, "application/pdf")}
    wrong = wizard.post("roles", org, licence)
    assert wrong.status_code == 422
    assert "Nanjing is not in Zhejiang" in field_errors(wrong.text)["org_city"]
    assert city_options(wrong.text, "org_city")[0] == "3301"
    client.headers.update(ZH)
    wrong_zh = wizard.post("roles", org)
    assert "南京市不在浙江省" in field_errors(wrong_zh.text)["org_city"]
    client.headers.pop("Accept-Language")
    saved = wizard.post("roles", {**org, "org_city": "3301"})
    assert saved.status_code == 303, field_errors(saved.text)
    assert registration_of(session).region == "3301"
    assert "Zhejiang · Hangzhou" in client.get("/apply/review").text
