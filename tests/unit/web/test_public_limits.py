"""Flood limits per network address on the public pages: /verify (page and report form), a
report's page (/complaints) and the transparency log's endpoints."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from portal import app as portal_app
from portal.app import create_app


@pytest.fixture
def small_limits(settings, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(portal_app, "PUBLIC_LIMITS", tuple(
        (prefix, "3/minute") for prefix, _rules in portal_app.PUBLIC_LIMITS))
    app = create_app(settings)
    yield app
    app.state.engine.dispose()


@pytest.mark.parametrize(("path", "api"), [
    ("/verify", False),
    ("/verify/LR-2026-000001", False),
    ("/complaints", False),
    ("/api/v1/log/checkpoint", True),
    ("/log/checkpoint", False),
])
def test_a_flood_from_one_address_is_refused_and_others_go_on(small_limits, path, api) -> None:
    flood = TestClient(small_limits, follow_redirects=False, client=("203.0.113.9", 1))
    for _ in range(3):
        assert flood.get(path).status_code != 429
    refused = flood.get(path)
    assert refused.status_code == 429 and refused.headers["retry-after"] == "60"
    if api:
        assert refused.headers["content-type"].startswith("application/problem+json")
    else:
        assert "Too many requests" in refused.text
    other = TestClient(small_limits, follow_redirects=False, client=("198.51.100.1", 1))
    assert other.get(path).status_code != 429


def test_the_report_form_shares_the_verify_pages_limit(small_limits) -> None:
    flood = TestClient(small_limits, follow_redirects=False, client=("203.0.113.9", 1))
    for _ in range(3):
        flood.get("/verify/LR-2026-000001")
    assert flood.post("/verify/LR-2026-000001/report", data={}).status_code == 429


def test_the_default_limits_are_generous() -> None:
    limits = dict(portal_app.PUBLIC_LIMITS)
    assert set(limits) == {"/verify", "/complaints", "/api/v1/log/", "/log/"}
    assert limits["/verify"].startswith("120/minute")
    assert limits["/complaints"] == limits["/verify"]
    assert limits["/api/v1/log/"].startswith("1200/minute")
    assert limits["/log/"].startswith("1200/minute")
