"""The verification read's fast path (portal/api/core.py, ``hot_read``): one statement reads the
key and the answer, on the event loop, and every rule of the common path still holds."""

from __future__ import annotations

from starlette.testclient import TestClient

from portal.app import create_app
from portal.platforms import clients
from tests.unit.conftest import Platform

PROBLEM = "application/problem+json"


def test_a_revoked_key_stops_at_once_in_every_process(approved, app, session, settings) -> None:
    number, _moderator = approved
    platform = Platform(app, session, "Platform A")
    other_process = create_app(settings)
    headers = {"Authorization": f"Bearer {platform.key}"}
    try:
        with TestClient(other_process, headers=headers) as other:
            assert other.get(f"/api/v1/registrations/{number}").status_code == 200
            key = clients.keys_of(session, platform.row)[0]
            clients.revoke_key(session, client=platform.row, key_id=key.id or 0)
            session.commit()
            again = other.get(f"/api/v1/registrations/{number}")
            assert again.status_code == 401
            assert again.headers["content-type"].startswith(PROBLEM)
            assert again.headers["www-authenticate"].startswith("Bearer")
            assert platform.get(f"/registrations/{number}").status_code == 401
    finally:
        other_process.state.engine.dispose()


def test_the_same_answer_as_the_batch_check(approved, platform) -> None:
    number, _moderator = approved
    with platform.http as http:  # one event loop for several reads, as a server has
        bodies = [http.get(f"/api/v1/registrations/{number}").json() for _ in range(3)]
    assert bodies[0] == bodies[1] == bodies[2]
    batch = platform.post("/registrations/verify", {"numbers": [number]}).json()["results"][0]
    assert (bodies[0]["status"], bodies[0]["valid"]) == (batch["status"], batch["valid"])


def test_control_characters_are_refused_before_any_read(approved, platform) -> None:
    number, _moderator = approved
    for path in (f"/registrations/{number}%00", f"/registrations/{number}%01",
                 f"/registrations/{number}?x=%00"):
        response = platform.get(path)
        assert response.status_code == 400, path
        assert response.headers["content-type"].startswith(PROBLEM)
    assert platform.get(f"/registrations/{number}").status_code == 200


def test_malformed_keys_answer_as_unknown_ones(approved, client, platform) -> None:
    number, _moderator = approved
    for key in ("lrp_", "lrp_" + "x" * 300, "nope", platform.key[:12]):
        response = client.get(f"/api/v1/registrations/{number}",
                              headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 401, key
    unknown_number = platform.get("/registrations/LS-NOPE")
    assert unknown_number.status_code == 404 and "RateLimit" in unknown_number.headers


def test_the_read_holds_no_connection_of_the_engine(approved, app, platform) -> None:
    number, _moderator = approved
    engine = app.state.engine
    with platform.http as http:  # one event loop (and thread) for every read below
        assert http.get(f"/api/v1/registrations/{number}").status_code == 200
        # Every connection of the engine's pool taken (its size and its overflow): the hot read
        # still answers, through a connection of its own, and takes none of the pool's.
        held = [engine.connect() for _ in range(engine.pool.size() + 10)]
        try:
            answers = [http.get(f"/api/v1/registrations/{number}").status_code
                       for _ in range(3)]
            taken = engine.pool.checkedout()
        finally:
            for conn in held:
                conn.close()
    assert answers == [200, 200, 200] and taken == len(held)


def test_with_a_read_engine_the_answer_comes_from_it_and_the_key_from_the_primary(
        approved, app, platform, session) -> None:
    from portal.base.db import make_engine

    number, _moderator = approved
    primary = app.state.engine
    reader = make_engine(primary.url.render_as_string(hide_password=False))
    app.state.read_engine = reader
    try:
        with platform.http as http:
            answer = http.get(f"/api/v1/registrations/{number}")
            assert answer.status_code == 200 and answer.json()["number"] == number
            assert reader.pool.checkedout() == 0  # given back once read
            missing = http.get("/api/v1/registrations/LS-NOPE")
            assert missing.status_code == 404
            clients.revoke_client(session, platform.row)
            session.commit()
            assert http.get(f"/api/v1/registrations/{number}").status_code == 401
    finally:
        app.state.read_engine = primary
        reader.dispose()
