"""The platform API's conventions (keys, problems, limits, sizes, idempotency) and its
registration look-ups (DESIGN §7)."""

from __future__ import annotations

import json

from portal.platforms import clients
from portal.records import certificates
from portal.registration.models import Registration
from tests.unit.conftest import Platform
from tests.unit.http_wizard import fresh
from tests.unit.oversight.test_sanctions import sanction

PROBLEM = "application/problem+json"


def test_a_registration_by_number(approved, platform, session) -> None:
    number, _moderator = approved
    response = platform.get(f"/registrations/{number}")
    assert response.status_code == 200
    body = response.json()
    assert body["number"] == number and body["status"] == "approved" and body["valid"] is True
    assert body["roles"] == ["streamer"] and body["risk_level"] == "low"
    assert body["subject"]["display_name"] == "张*"
    assert body["subject"]["id_number_masked"] == "1101**********8794"
    assert body["channels"] == [{"platform": "douyin", "handle": "zhangsan_live"}]
    certificate = body["certificate"]
    keys = certificates.public_keys(session)
    assert certificate["number"] == number and certificates.verify_signature(certificate, keys)
    current = certificates.current_certificate(session, fresh(session, Registration)[0].id)
    assert current is not None and body["log_index"] == current.log_index
    assert body["valid_until"] == certificate["valid_until"]
    assert "张三" not in response.text and response.headers["cache-control"] == "no-store"
    assert "RateLimit" in response.headers and "RateLimit-Policy" in response.headers


def test_the_answer_follows_every_change(approved, platform, session) -> None:
    number, moderator = approved
    assert sanction(moderator, number, "suspend", until="2099-01-01").status_code == 303
    body = platform.get(f"/registrations/{number}").json()
    assert body["status"] == "suspended" and body["valid"] is False
    assert body["certificate"]["status"] == "suspended" and body["risk_level"] == "medium"
    session.rollback()
    current = certificates.current_certificate(session, fresh(session, Registration)[0].id)
    assert current is not None and body["log_index"] == current.log_index


def test_a_submitted_registration_has_no_certificate(submitted, platform) -> None:
    body = platform.get(f"/registrations/{submitted}").json()
    assert body["status"] == "submitted" and body["valid"] is False
    assert body["certificate"] is None and body["log_index"] is None
    assert body["subject"]["display_name"] == "张*"


def test_unknown_numbers_and_drafts_are_not_found(platform, client, auth, session) -> None:
    response = platform.get("/registrations/LS-NOPE")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["status"] == 404


def test_keys_are_required_and_checked(approved, client, platform, session) -> None:
    number, _moderator = approved
    missing = client.get(f"/api/v1/registrations/{number}")
    assert missing.status_code == 401 and missing.headers["content-type"].startswith(PROBLEM)
    assert missing.headers["www-authenticate"].startswith("Bearer")
    forged = client.get(f"/api/v1/registrations/{number}",
                        headers={"Authorization": f"Bearer {platform.key[:-2]}xx"})
    assert forged.status_code == 401
    clients.revoke_client(session, platform.row)
    session.commit()
    assert platform.get(f"/registrations/{number}").status_code == 401


def test_an_authority_key_is_the_wrong_kind(approved, app, session) -> None:
    number, _moderator = approved
    authority = Platform(app, session, "Market regulator", kind="authority")
    response = authority.get(f"/registrations/{number}")
    assert response.status_code == 403 and response.json()["status"] == 403


def test_batch_verify_keeps_the_order(approved, platform) -> None:
    number, _moderator = approved
    asked = ["LS-NOPE", number, "LS-ALSO-NOPE", number]
    response = platform.post("/registrations/verify", {"numbers": asked})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["number"] for r in results] == asked
    assert results[0] == {"number": "LS-NOPE", "found": False, "status": None, "valid": False}
    assert results[1] == {"number": number, "found": True, "status": "approved", "valid": True}
    assert results[2]["found"] is False and results[3] == results[1]


def test_batch_verify_validates_its_body(platform) -> None:
    too_many = platform.post("/registrations/verify", {"numbers": ["X"] * 1001})
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["field"] == "numbers"
    empty = platform.post("/registrations/verify", {"numbers": []})
    assert empty.status_code == 422
    extra = platform.post("/registrations/verify", {"numbers": ["X"], "nums": 1})
    assert extra.status_code == 422 and extra.json()["errors"][0]["field"] == "nums"
    not_json = platform.http.post("/api/v1/registrations/verify", content=b"{numbers",
                                  headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    assert not_json.headers["content-type"].startswith(PROBLEM)


def test_bodies_over_the_limit_are_refused(platform, settings) -> None:
    settings.api_max_body_bytes = 100
    response = platform.post("/registrations/verify", {"numbers": ["A" * 20] * 10})
    assert response.status_code == 413 and response.json()["status"] == 413


def test_rate_limit_per_key(app, session, approved) -> None:
    number, _moderator = approved
    from portal.api.core import Limits

    app.state.settings.rate_limit = "3/minute"
    app.state.api_limits = Limits(app.state.settings)
    first, second = Platform(app, session, "First"), Platform(app, session, "Second")
    answers = [first.get(f"/registrations/{number}") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[2].headers["RateLimit"].startswith('"default";r=0;')
    assert answers[3].headers["content-type"].startswith(PROBLEM)
    assert int(answers[3].headers["Retry-After"]) >= 1
    # Another key has its own allowance.
    assert second.get(f"/registrations/{number}").status_code == 200


def test_keys_are_stored_hashed_and_shown_once(platform, session) -> None:
    stored = clients.keys_of(session, platform.row)
    assert len(stored) == 1 and stored[0].prefix == platform.key[:12]
    assert platform.key not in json.dumps([k.model_dump(mode="json") for k in stored])
    assert stored[0].key_hash == clients.hash_key(platform.key)
