"""A revoked API key stops at once in every process that shares the database (DESIGN §9)."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import col
from starlette.testclient import TestClient

from portal.app import create_app
from portal.base.db import utcnow
from portal.platforms import clients
from portal.platforms.clients import ApiKey

PATH = "/api/v1/registrations/LR-2026-000001"


def test_a_key_revoked_by_another_process_stops_at_once_everywhere(settings, session) -> None:
    client = clients.create_client(session, name="Platform A")
    key = clients.issue_key(session, client)
    session.commit()
    first, second = create_app(settings), create_app(settings)
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(first, headers=headers) as a, TestClient(second, headers=headers) as b:
        # Known to both (404: no such registration, but the key was accepted), twice each.
        assert [a.get(PATH).status_code, b.get(PATH).status_code] * 2 == [404, 404] * 2
        # Revoked by another process: nothing of it is in these two processes' memory.
        session.exec(update(ApiKey).where(col(ApiKey.id).is_not(None))
                     .values(revoked_at=utcnow()))
        session.commit()
        assert a.get(PATH).status_code == 401
        assert b.get(PATH).status_code == 401
    for app in (first, second):
        app.state.engine.dispose()


def test_revoking_a_client_stops_its_keys_at_once(settings, session) -> None:
    client = clients.create_client(session, name="Platform B")
    key = clients.issue_key(session, client)
    session.commit()
    app = create_app(settings)
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as http:
        assert http.get(PATH).status_code == 404
        clients.revoke_client(session, session.get(clients.ApiClient, client.id))
        session.commit()
        assert http.get(PATH).status_code == 401
    app.state.engine.dispose()
