"""Answers that pass each wizard step, and a driver that posts them through the real forms."""

from __future__ import annotations

import re
from datetime import date

from bs4 import BeautifulSoup
from sqlmodel import Session, select
from starlette.testclient import TestClient

from portal.accounts import User
from portal.base import identity
from portal.base.db import utcnow
from tests.unit.conftest import csrf_from


def _image(fmt: str) -> bytes:
    """A real 8x8 image: uploads are decoded and encoded again (uploads.clean_upload)."""
    from io import BytesIO

    from PIL import Image

    out = BytesIO()
    Image.new("RGB", (8, 8), (200, 180, 160)).save(out, fmt)
    return out.getvalue()


PNG = _image("PNG")
JPEG = _image("JPEG")
PDF = b"%PDF-1.7\n" + b"0" * 64
GIF = b"GIF89a" + b"\x00" * 64

ADULT_ID = "110105198503128794"
ADULT_DOB = "1985-03-12"
GUARDIAN_ID = "310101199211302427"  # born 1992-11-30
GUARDIAN_DOB = "1992-11-30"


def born_years_ago(years: int, *, days_later: int = 0) -> date:
    """A birth date that makes someone ``years`` old today in China (``days_later`` younger)."""
    birth = identity.years_before(identity.china_today(), years)
    return date.fromordinal(birth.toordinal() + days_later)


def resident_id_for(birth: date, seq: int = 123) -> str:
    return identity.make_resident_id("110101", birth, seq)


def identity_form(**overrides: str) -> dict[str, str]:
    data = {
        "subject_kind": "person",
        "legal_name": "张三",
        "id_type": "cn_resident_id",
        "id_number": ADULT_ID,
        "date_of_birth": ADULT_DOB,
        "nationality": "CN",
        "residence_province": "11",
        "residence_city": "1101",
        "phone": "13812345678",
        "consent": "yes",
    }
    data.update(overrides)
    return data


def identity_files() -> dict[str, tuple[str, bytes, str]]:
    return {
        "id_front": ("front.png", PNG, "image/png"),
        "id_back": ("back.jpg", JPEG, "image/jpeg"),
    }


def guardian_form(**overrides: str) -> dict[str, str]:
    data = {
        "guardian_name": "张大山",
        "guardian_id_type": "cn_resident_id",
        "guardian_id_number": GUARDIAN_ID,
        "guardian_date_of_birth": GUARDIAN_DOB,
        "relationship": "father",
        "consent_name": "张大山",
    }
    data.update(overrides)
    return data


def roles_form(**overrides: str) -> dict[str, str]:
    data = {
        "roles": "streamer",
        "channel-0-platform": "douyin",
        "channel-0-handle": "zhangsan_live",
        "channel-0-room_url": "https://live.douyin.com/123456",
        "channel-0-bio": "每天晚上八点直播",
        "channel-0-followers": "12000",
        "monthly_sales": "10k_100k",
        "uses_avatar": "no",
        "roster": "",
        # Read only for an organisation, with its "org_province" (Beijing by default).
        "org_city": "1101",
    }
    data.update(overrides)
    return data


def security_form(**overrides: str) -> dict[str, str]:
    data = {
        "two_factor": "yes",
        "named_staff": "yes",
        "staff_list": "李四 场控",
        "buyer_data_on_platform": "yes",
        "approved_checkout": "yes",
        "devices_protected": "yes",
        "incident_procedure": "yes",
        "incident_details": "",
        "security_contact": "李四 13912345678",
        "own_site": "no",
        "signature": "张三",
    }
    data.update(overrides)
    return data


def content_form(**overrides: str | list[str]) -> dict[str, str | list[str]]:
    data: dict[str, str | list[str]] = {
        "categories": ["apparel", "beauty"],
        "audience": "all_ages",
        "minors_on_stream": "no",
    }
    data.update(overrides)
    return data


def commitments_form(**overrides: str) -> dict[str, str]:
    from portal.registration.attestations import PROHIBITED_CONDUCT

    data = {
        "return_policy": "seven_day",
        "complaint_channel": "phone",
        "complaint_contact": "13987654321",
        "response_hours": "24",
        "paid_promotion_disclosure": "yes",
        **{f"prohibited_{code}": "yes" for code in PROHIBITED_CONDUCT},
    }
    data.update(overrides)
    return data


class Wizard:
    """Post wizard steps as a browser would (multipart, with the page's CSRF token)."""

    def __init__(self, client) -> None:  # type: ignore[no-untyped-def]
        self.client = client

    def token(self, path: str) -> str:
        page = self.client.get(path)
        if page.status_code == 303:
            page = self.client.get(page.headers["location"])
        return csrf_from(page.text)

    def post(self, step: str, data: dict, files: dict | None = None):  # type: ignore[no-untyped-def]
        path = f"/apply/{step}"
        token = self.token("/me")
        return self.client.post(path, data={**data, "csrf_token": token}, files=files or {})

    def check(self, step: str, data: dict, field: str):  # type: ignore[no-untyped-def]
        token = self.token("/me")
        return self.client.post(
            f"/apply/{step}/check",
            data={**data, "_field": field, "csrf_token": token},
            headers={"HX-Request": "true"},
        )

    def start(self):  # type: ignore[no-untyped-def]
        return self.client.post("/apply/start", data={"csrf_token": self.token("/me")})

    def submit(self, signature: str = "张三"):  # type: ignore[no-untyped-def]
        return self.client.post(
            "/apply/review", data={"signature": signature, "csrf_token": self.token("/me")}
        )

    def complete_adult(self) -> None:
        self.start()
        for step, data, files in (
            ("identity", identity_form(), identity_files()),
            ("roles", roles_form(), None),
            ("security", security_form(), None),
            ("content", content_form(), None),
            ("commitments", commitments_form(), None),
        ):
            response = self.post(step, data, files)
            assert response.status_code == 303, (step, field_errors(response.text))


def field_errors(html: str) -> dict[str, str]:
    soup = BeautifulSoup(html, "html.parser")
    return {
        node["id"][: -len("-error")]: node.get_text(" ", strip=True).replace("Error: ", "")
        for node in soup.select(".field-error[id$='-error']")
    }


def summary_items(html: str) -> list[str]:
    soup = BeautifulSoup(html, "html.parser")
    box = soup.select_one(".error-summary")
    return [li.get_text(" ", strip=True) for li in box.select("li")] if box else []


def verify_email(session: Session, email: str) -> None:
    session.rollback()  # see the accounts the app has committed since
    user = session.exec(select(User).where(User.email == email)).one()
    user.email_verified_at = utcnow()
    session.add(user)
    session.commit()


NUMBER = re.compile(r"LR-\d{4}-\d{7}")


def fresh(session, model, **where):  # type: ignore[no-untyped-def]
    session.rollback()  # leave the read snapshot: the app committed in between
    query = select(model)
    for key, value in where.items():
        query = query.where(getattr(model, key) == value)
    return session.exec(query).all()


def post(client: TestClient, path: str, data: dict, *, page: str) -> object:
    token = csrf_from(client.get(page).text)
    return client.post(path, data={**data, "csrf_token": token})


def version_of(client: TestClient, number: str) -> str:
    soup = BeautifulSoup(client.get(f"/review/{number}").text, "html.parser")
    return soup.find("input", attrs={"name": "version"})["value"]
