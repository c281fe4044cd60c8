"""The applicant wizard: the server time of each step's POST, p95 ≤ 20 ms per step.

In process (Starlette's TestClient, the whole ASGI stack: middleware, session, CSRF, forms,
services, templates, the database) against this run's copy of the seeded database, so the
screening at submission searches N registrations. Every iteration signs up a fresh applicant
(every other one 16 or 17 years old, so the guardian step is timed too), confirms the email in
the database, and posts each step's valid form the way a browser does.

Left out of the step timings, as they are not the steps' own work: sign-up (it hashes a
password with argon2id; reported on its own row, and the hash alone by the ``passwords``
suite) and file uploads. A step's files are posted first with an incomplete form, which keeps
them (the wizard keeps files that pass their checks whatever else is wrong with the page), and
then the step's form alone is posted and timed.
"""

from __future__ import annotations

import os
import re
import time
from datetime import date
from io import BytesIO
from typing import Any

from bench.common import Result, median, p95
from bench.context import Context, log

APPLICANTS = int(os.environ.get("BENCH_WIZARD_APPLICANTS", "40"))
TARGET_MS = 20.0
PASSWORD = "violet kettle harbour 42 moss"
STEPS = ("identity", "guardian", "roles", "security", "content", "commitments", "review")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _image(fmt: str) -> bytes:
    from PIL import Image

    out = BytesIO()
    Image.new("RGB", (64, 48), (200, 180, 160)).save(out, fmt)
    return out.getvalue()


PDF = b"%PDF-1.7\n" + b"0" * 64


def _born(years: int, days_later: int = 0) -> date:
    from portal.base import identity

    birth = identity.years_before(identity.china_today(), years)
    return date.fromordinal(birth.toordinal() + days_later)


def forms(k: int) -> dict[str, dict[str, Any]]:
    """Valid answers for applicant ``k``: its own ID number; odd ones are 16 or 17."""
    from portal.base import identity
    from portal.registration.attestations import PROHIBITED_CONDUCT

    minor = k % 2 == 1
    birth = _born(17, days_later=1 + k % 300) if minor else _born(25 + k % 40, days_later=k % 97)
    return {
        "identity": {
            "subject_kind": "person", "legal_name": "张三", "id_type": "cn_resident_id",
            "id_number": identity.make_resident_id("110101", birth, 100 + k % 800),
            "date_of_birth": birth.isoformat(), "nationality": "CN",
            "residence_province": "11", "residence_city": "1101", "phone": "13812345678",
            "consent": "yes",
        },
        "guardian": {
            "guardian_name": "张大山", "guardian_id_type": "cn_resident_id",
            "guardian_id_number": "310101199211302427", "guardian_date_of_birth": "1992-11-30",
            "relationship": "father", "consent_name": "张大山",
        } if minor else {},
        "roles": {
            "roles": "streamer", "channel-0-platform": "douyin",
            "channel-0-handle": f"bench_live_{k}", "channel-0-room_url":
                f"https://live.douyin.com/{100000 + k}",
            "channel-0-bio": "每天晚上八点直播", "channel-0-followers": "12000",
            "monthly_sales": "10k_100k", "uses_avatar": "no", "roster": "",
        },
        "security": {
            "two_factor": "yes", "named_staff": "yes", "staff_list": "李四 场控",
            "buyer_data_on_platform": "yes", "approved_checkout": "yes",
            "devices_protected": "yes", "incident_procedure": "yes", "incident_details": "",
            "security_contact": "李四 13912345678", "own_site": "no", "signature": "张三",
        },
        "content": {"categories": ["apparel", "beauty"], "audience": "all_ages",
                    "minors_on_stream": "no"},
        "commitments": {
            "return_policy": "seven_day", "complaint_channel": "phone",
            "complaint_contact": "13987654321", "response_hours": "24",
            "paid_promotion_disclosure": "yes",
            **{f"prohibited_{code}": "yes" for code in PROHIBITED_CONDUCT},
        },
        "review": {"signature": "张三"},
    }


# A step's files, and a field whose absence makes the page incomplete (so they are only kept).
UPLOADS = {
    "identity": ("consent", lambda: {"id_front": ("front.png", _image("PNG"), "image/png"),
                                      "id_back": ("back.jpg", _image("JPEG"), "image/jpeg")}),
    "guardian": ("consent_name", lambda: {"consent_letter": ("letter.pdf", PDF,
                                                             "application/pdf")}),
}


class Applicant:
    def __init__(self, client: Any) -> None:
        self.client = client
        self.token = ""

    def refresh_token(self, path: str = "/me") -> None:
        page = self.client.get(path)
        match = CSRF.search(page.text)
        if match is None:
            raise RuntimeError(f"no CSRF field on {path} ({page.status_code})")
        self.token = match.group(1)

    def post(self, path: str, data: dict[str, Any], files: dict[str, Any] | None = None,
             expect: int = 303) -> float:
        began = time.perf_counter()
        answer = self.client.post(path, data={**data, "csrf_token": self.token},
                                  files=files or {})
        elapsed = (time.perf_counter() - began) * 1000
        if answer.status_code != expect:
            problems = re.findall(r'<li><a href="#[^"]*">([^<]*)</a></li>', answer.text)
            raise RuntimeError(f"POST {path} answered {answer.status_code}, not {expect}: "
                               f"{'; '.join(problems) or answer.text[:300]}")
        return elapsed


def run(ctx: Context) -> list[Result]:
    from sqlmodel import Session, select
    from starlette.testclient import TestClient

    from portal.accounts import User
    from portal.app import create_app
    from portal.base.db import utcnow

    app = create_app(ctx.settings())
    engine = app.state.engine
    timings: dict[str, list[float]] = {step: [] for step in (*STEPS, "sign-up", "uploads")}
    stamp = int(time.time())
    log(f"wizard: {APPLICANTS} applicants, in process, against {ctx.registrations:,} "
        "registrations")
    try:
        with TestClient(app, follow_redirects=False) as client:
            for k in range(-2, APPLICANTS):  # the first two warm up
                client.cookies.clear()
                applicant = Applicant(client)
                email = f"bench-{stamp}-{k + 2}@example.com"
                applicant.refresh_token("/signup")
                signup = applicant.post("/signup", {"email": email, "password": PASSWORD,
                                                    "password_confirm": PASSWORD})
                with Session(engine) as session:  # as the emailed link would
                    user = session.exec(select(User).where(User.email == email)).one()
                    user.email_verified_at = utcnow()
                    session.add(user)
                    session.commit()
                applicant.refresh_token("/login")  # sign-up does not log in
                applicant.post("/login", {"email": email, "password": PASSWORD})
                applicant.refresh_token()
                applicant.post("/apply/start", {})
                answers = forms(k + 2)
                current = {step: 0.0 for step in (*STEPS, "uploads")}
                for step in STEPS:
                    data = answers[step]
                    if step == "guardian" and not data:
                        continue
                    if step in UPLOADS:
                        leave_out, files = UPLOADS[step]
                        partial = {k2: v for k2, v in data.items() if k2 != leave_out}
                        current["uploads"] += applicant.post(f"/apply/{step}", partial,
                                                             files(), expect=422)
                    path = "/apply/review" if step == "review" else f"/apply/{step}"
                    current[step] = applicant.post(path, data)
                if k >= 0:
                    timings["sign-up"].append(signup)
                    for step, elapsed in current.items():
                        if elapsed:
                            timings[step].append(elapsed)
    finally:
        engine.dispose()
    results = []
    for step in STEPS:
        samples = timings[step]
        label = "review (submit)" if step == "review" else step
        results.append(Result(f"Wizard POST {label}, p95", p95(samples), "ms", TARGET_MS,
                              note=f"{len(samples)} applicants, median {median(samples):.1f} ms"))
    results.append(Result("Wizard uploads (identity, guardian), p95", p95(timings["uploads"]),
                          "ms", note="files posted before each step, not in its time"))
    results.append(Result("Sign-up POST (argon2id hash included), p50",
                          median(timings["sign-up"]), "ms",
                          note="password hashing: not in any step's time"))
    return results
