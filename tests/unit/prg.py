"""Post/redirect/get in tests: the page a browser shows after a staff form's POST."""

from __future__ import annotations

from starlette.testclient import TestClient


def shown_after(client: TestClient, response):  # type: ignore[no-untyped-def]
    """Follow the POST's 303 as a browser would; the page it lands on (shown once)."""
    assert response.status_code == 303, (response.status_code, response.text[:300])
    landed = client.get(response.headers["location"])
    assert landed.status_code == 200, landed.status_code
    return landed
