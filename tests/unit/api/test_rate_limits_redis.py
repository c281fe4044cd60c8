"""API rate limits shared through Redis: the verification read counts on the event loop
(redis.asyncio), the other calls in the thread pool (the blocking client), in one window per key."""

from __future__ import annotations

import asyncio

import pytest
from limits import storage

from portal.api.core import Limits
from tests.conftest import REDIS_URL
from tests.unit.conftest import Platform

pytestmark = pytest.mark.redis

PROBLEM = "application/problem+json"


@pytest.fixture
def redis_settings(settings):  # type: ignore[no-untyped-def]
    storage.storage_from_string(REDIS_URL).reset()  # this worker's own database
    return settings.model_copy(update={"redis_url": REDIS_URL, "rate_limit": "3/minute"})


def test_both_clients_count_in_one_window(redis_settings) -> None:
    limits = Limits(redis_settings)
    assert limits.redis is not None and limits.memory is None

    async def on_loop(key_id: int) -> tuple[bool, dict[str, str]]:
        try:
            return await limits.hit_on_loop(key_id)
        finally:
            await limits.close_on_loop()

    first = asyncio.run(on_loop(41))
    second = limits.hit(41)
    # Another event loop opens its own connection and still counts in the same window.
    third = asyncio.run(on_loop(41))
    fourth = limits.hit(41)
    fifth = asyncio.run(on_loop(41))
    assert [x[0] for x in (first, second, third, fourth, fifth)] == [True, True, True, False, False]
    assert [h["RateLimit"].split(";")[1] for _ok, h in (first, second, third, fourth, fifth)] \
        == ["r=2", "r=1", "r=0", "r=0", "r=0"]
    for _ok, refused in (fourth, fifth):
        assert 1 <= int(refused["Retry-After"]) <= 60
    assert "Retry-After" not in third[1]
    # Another key has its own window.
    assert asyncio.run(on_loop(42))[0] is True


def test_the_verification_read_and_the_batch_share_the_key_s_allowance(
        app, session, approved, redis_settings) -> None:
    number, _moderator = approved
    app.state.settings.redis_url = redis_settings.redis_url
    app.state.settings.rate_limit = redis_settings.rate_limit
    app.state.api_limits = Limits(app.state.settings)
    platform = Platform(app, session, "Shared allowance")
    with platform.http as http:  # one event loop, as a server has; its shutdown closes Redis
        reads = [http.get(f"/api/v1/registrations/{number}") for _ in range(2)]
        batch = http.post("/api/v1/registrations/verify", json={"numbers": [number]})
        refused = http.get(f"/api/v1/registrations/{number}")
    assert [r.status_code for r in reads] == [200, 200]
    assert reads[1].headers["RateLimit"].startswith('"default";r=1;')
    assert batch.status_code == 200 and batch.headers["RateLimit"].startswith('"default";r=0;')
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith(PROBLEM)
    assert int(refused.headers["Retry-After"]) >= 1
