"""Risk levels from declarations and history, the moderator's override, and renewal."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from portal.ledger import tlog
from portal.ops import jobs
from portal.records.certificates import Certificate
from portal.registration import risk
from portal.registration.models import Registration
from tests.unit.http_wizard import Wizard, field_errors, fresh, post, version_of
from tests.unit.oversight.test_sanctions import sanction
from tests.unit.prg import shown_after


def registration_with(followers: int, sales: str, products=(), audience="all_ages"
                      ) -> Registration:
    return Registration(user_id=1, answers={
        "roles": {"channels": [{"followers": followers}], "monthly_sales": sales},
        "content": {"restricted_products": list(products), "audience": audience},
    })


@pytest.mark.parametrize(
    ("followers", "sales", "products", "audience", "history", "level"),
    [
        (1000, "under_10k", (), "all_ages", 0, "low"),
        (60_000, "under_10k", (), "all_ages", 0, "medium"),
        (600_000, "under_10k", (), "all_ages", 0, "high"),
        (6_000_000, "under_10k", (), "all_ages", 0, "key"),
        (1000, "over_10m", (), "all_ages", 0, "key"),
        (1000, "1m_10m", (), "all_ages", 0, "high"),
        (1000, "under_10k", ("alcohol",), "adults_only", 0, "medium"),
        (1000, "under_10k", ("medicines",), "all_ages", 0, "high"),
        (1000, "under_10k", (), "all_ages", 1, "medium"),
        (1000, "under_10k", (), "all_ages", 2, "high"),
        (6_000_000, "under_10k", (), "all_ages", 1, "key"),
    ],
)
def test_computed_levels(settings, followers, sales, products, audience, history, level):
    registration = registration_with(followers, sales, products, audience)
    assert risk.compute(settings, registration, sanctions_in_force=history) == level


def test_thresholds_come_from_settings(settings) -> None:
    settings.risk_medium_followers = 10
    assert risk.compute(settings, registration_with(20, "under_10k")) == "medium"


def test_sanction_raises_the_level(approved, session) -> None:
    number, moderator = approved
    assert fresh(session, Registration)[0].risk_level == "low"
    until = "2099-01-01"
    sanction(moderator, number, "suspend", until=until)
    assert fresh(session, Registration)[0].risk_level == "medium"


def test_moderator_overrides_with_a_reason(approved, session) -> None:
    number, moderator = approved
    missing = post(moderator, f"/review/{number}/risk", {"risk_level": "key", "risk_reason": ""},
                   page=f"/review/{number}")
    assert "reason" in field_errors(shown_after(moderator, missing).text)["risk_reason"]
    ok = post(moderator, f"/review/{number}/risk",
              {"risk_level": "key", "risk_reason": "Top seller on three platforms"},
              page=f"/review/{number}")
    assert ok.status_code == 303
    registration = fresh(session, Registration)[0]
    assert registration.risk_level == "key" and registration.risk_overridden
    sanction(moderator, number, "warning")
    assert fresh(session, Registration)[0].risk_level == "key"  # the override sticks


def test_renewal_after_expiry_goes_through_review(approved, client, app, settings,
                                                  session) -> None:
    number, moderator = approved
    first_until = fresh(session, Registration)[0].valid_until
    jobs.run(app.state.engine, settings, now=first_until + timedelta(seconds=1))
    assert fresh(session, Registration)[0].status == "expired"
    me = client.get("/me").text
    assert "Renew your registration" in me
    wizard = Wizard(client)
    token = wizard.token("/me")
    assert client.post("/me/renew", data={"csrf_token": token}).headers["location"] == "/apply"
    assert "Needs attention" in client.get("/apply").text
    assert wizard.submit().status_code == 422  # every step must be confirmed again
    from tests.unit.http_wizard import (
        commitments_form,
        content_form,
        identity_form,
        roles_form,
        security_form,
    )

    for step, form in (("identity", identity_form()), ("roles", roles_form()),
                       ("security", security_form()), ("content", content_form()),
                       ("commitments", commitments_form())):
        assert wizard.post(step, form).status_code == 303, step
    assert wizard.submit().status_code == 303
    renewed = fresh(session, Registration)[0]
    assert renewed.status == "submitted" and renewed.number == number
    post(moderator, f"/review/{number}/approve", {"version": version_of(moderator, number)},
         page=f"/review/{number}")
    again = fresh(session, Registration)[0]
    assert again.status == "approved" and again.valid_until > first_until


def certificates(session) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(c.document) for c in fresh(session, Certificate)]


def test_a_new_level_is_stated_in_a_new_certificate(approved, session) -> None:
    number, moderator = approved
    reason = {"risk_reason": "Top seller on three platforms"}
    post(moderator, f"/review/{number}/risk", {"risk_level": "key", **reason},
         page=f"/review/{number}")
    issued = certificates(session)
    assert [c["risk_level"] for c in issued] == ["low", "key"]
    assert issued[1]["status"] == "approved" and issued[1]["serial"] != issued[0]["serial"]
    logged = [e["entry"] for e in tlog.entries(session, 0, tlog.size(session))]
    assert logged[-1]["certificate_sha256"] == fresh(session, Certificate)[-1].sha256
    # Setting the level it already has states nothing new: no new certificate.
    post(moderator, f"/review/{number}/risk", {"risk_level": "key", **reason},
         page=f"/review/{number}")
    assert len(certificates(session)) == 2


def test_a_sanction_that_raises_the_level_reissues_once(approved, session) -> None:
    number, moderator = approved
    sanction(moderator, number, "order_correction", until="2099-01-01")
    issued = certificates(session)
    assert [(c["status"], c["risk_level"]) for c in issued] == [
        ("approved", "low"), ("approved", "medium")]
    # A suspension moves the status and raises the level again: one certificate states both.
    sanction(moderator, number, "suspend", until="2099-01-01")
    issued = certificates(session)
    assert [(c["status"], c["risk_level"]) for c in issued][2:] == [("suspended", "high")]
    # A warning changes neither status nor level; the certificate states it (DESIGN §5).
    sanction(moderator, number, "warning")
    issued = certificates(session)
    assert [(c["status"], c["risk_level"]) for c in issued][3:] == [("suspended", "high")]
    assert [s["kind"] for s in issued[-1]["sanctions"]] == ["order_correction", "suspend",
                                                            "warning"]
