"""Pages that show personal data are never kept by a browser or a proxy: every dynamic answer
says ``Cache-Control: no-store`` unless it says otherwise itself (published log tiles, keys),
and static files stay cacheable."""

from __future__ import annotations

from tests.unit.conftest import staff_client


def test_pages_with_personal_data_are_not_stored(app, session, client, approved) -> None:
    number, moderator = approved
    auditor = staff_client(app, session, "no-store-auditor@example.com")
    answers = [client.get("/me"), client.get(f"/verify/{number}"), moderator.get("/review"),
               moderator.get("/blocklist"), auditor.get("/audit", params={"q": number}),
               auditor.get(f"/audit/registrations/{number}"), client.get("/login"),
               client.get("/no-such-page")]
    for answer in answers:
        assert answer.status_code in (200, 303, 404), answer.request.url
        assert "no-store" in answer.headers["cache-control"], answer.request.url


def test_answers_that_may_be_cached_keep_their_own_header(client) -> None:
    keys = client.get("/.well-known/portal-keys.json")
    assert keys.status_code == 200 and "no-store" not in keys.headers["cache-control"]
    css = client.get("/static/css/portal.css")
    assert css.status_code == 200
    assert "no-store" not in css.headers.get("cache-control", "")
