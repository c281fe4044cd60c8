"""Pages that write on a GET keep working while API clients write at the same time.

On SQLite a transaction that reads first and writes later cannot take the write lock once
another writer has committed since it began ("database is locked" at once, whatever the busy
timeout). The request's unit of work therefore takes the write lock up front for every request
that may write, GETs included (DESIGN §1).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import col, select
from starlette.testclient import TestClient

from portal import accounts
from portal.accounts import User
from portal.base.db import session_scope
from portal.platforms import notify
from tests.unit.conftest import Auth, Platform, make_user

ROUNDS = 20
WRITERS = 4


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    settings.rate_limit = "100000/minute"
    return settings


def _in_threads(work: list[Callable[[], list[str]]]) -> list[str]:
    errors: list[str] = []
    lock = threading.Lock()

    def run(job: Callable[[], list[str]]) -> None:
        try:
            found = job()
        except Exception as exc:  # a crash in a thread must fail the test, not vanish
            found = [repr(exc)]
        with lock:
            errors.extend(found)

    threads = [threading.Thread(target=run, args=(job,)) for job in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return errors


def test_writing_gets_answer_while_four_api_clients_write(app, session, settings) -> None:
    platforms = [Platform(app, session, f"Platform {n}") for n in range(WRITERS)]
    make_user(session, email="applicant@example.com")
    people = [accounts.create_user(session, email=f"new{n}@example.com", password=None)
              for n in range(ROUNDS)]
    session.commit()
    links = [accounts.email_token(settings.secret("secret_key"), user) for user in people]
    reader = TestClient(app, follow_redirects=False)
    assert Auth(reader).log_in("applicant@example.com").status_code == 303
    applicant = session.exec(
        select(User).where(User.email == "applicant@example.com")).one()

    def api_writer(platform: Platform) -> Callable[[], list[str]]:
        def job() -> list[str]:
            bad = []
            for n in range(ROUNDS * 2):
                answer = platform.post("/blocklist/buyers",
                                       json={"buyer_ref": f"b-{platform.id}-{n}",
                                             "reason": "Chargeback fraud"})
                if answer.status_code != 201:
                    bad.append(f"API writer: {answer.status_code} {answer.text[:200]}")
            return bad
        return job

    def pages() -> list[str]:
        bad = []
        for n, link in enumerate(links):
            verified = reader.get("/verify-email", params={"token": link},
                                  follow_redirects=True)
            if verified.status_code != 200 or f"new{n}@example.com" not in verified.text:
                bad.append(f"/verify-email: {verified.status_code} {verified.text[:200]}")
            # A message to read, so that /me marks it read.
            with session_scope(app.state.engine, write=True) as db:
                notify.notify_user(db, user_id=applicant.id, email=applicant.email,
                                   subject=f"Message {n}", body="Body")
                db.commit()
            me = reader.get("/me")
            if me.status_code != 200 or f"Message {n}" not in me.text:
                bad.append(f"/me: {me.status_code} {me.text[:200]}")
            data = reader.get("/me/data.json")
            if data.status_code != 200:
                bad.append(f"/me/data.json: {data.status_code} {data.text[:200]}")
        return bad

    errors = _in_threads([*(api_writer(p) for p in platforms), pages])
    assert errors == []
    session.rollback()
    verified = session.exec(select(User).where(
        col(User.email).like("new%"), col(User.email_verified_at).is_not(None))).all()
    assert len(verified) == ROUNDS


def test_a_failed_write_shows_the_error_page_to_a_signed_in_person(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def locked(db, user_id):  # type: ignore[no-untyped-def]
        db.rollback()  # what a failed flush leaves: every loaded row expired
        raise OperationalError("UPDATE notifications", {}, Exception("database is locked"))

    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as browser:
        Auth(browser).sign_up("applicant@example.com")
        browser.get("/me")  # the welcome message, if any, is read now
        with session_scope(app.state.engine, write=True) as db:
            user = db.exec(select(User).where(User.email == "applicant@example.com")).one()
            notify.notify_user(db, user_id=user.id, email=user.email, subject="Hello", body="")
            db.commit()
        monkeypatch.setattr(notify, "mark_read", locked)
        page = browser.get("/me")
    assert page.status_code == 500
    assert page.headers["content-type"].startswith("text/html")
    assert "Sorry, there is a problem with the service" in page.text
