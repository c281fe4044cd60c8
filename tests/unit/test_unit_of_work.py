"""The page wrapper owns the transaction: one commit after a success, nothing kept after an error
answer or an exception, and mail only once the change it announces is committed."""

from __future__ import annotations

from sqlmodel import func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from portal.platforms import notify
from portal.platforms.notify import MailboxMessage
from portal.web.core import page, send_after_commit


def _mount(app, status: int, *, fail: bool = False) -> None:  # type: ignore[no-untyped-def]
    @page(writes=True)
    def handler(request: Request) -> Response:
        db = request.state.db
        db.add(MailboxMessage(to="row@example.com", subject="written by the handler", body=""))
        send_after_commit(request, [notify.Message(
            to="mail@example.com", subject="announced", body="")])
        if fail:
            raise RuntimeError("the handler failed after writing")
        return Response("answer", status_code=status)

    app.router.routes.insert(0, Route("/unit-of-work", handler))


def _rows(session, to: str) -> int:  # type: ignore[no-untyped-def]
    session.rollback()
    return int(session.exec(select(func.count()).select_from(MailboxMessage)
                            .where(MailboxMessage.to == to)).one())


def test_a_success_commits_the_change_then_sends_its_mail(app, session) -> None:  # type: ignore[no-untyped-def]
    _mount(app, 200)
    assert TestClient(app).get("/unit-of-work").status_code == 200
    assert _rows(session, "row@example.com") == 1
    assert _rows(session, "mail@example.com") == 1  # the development mailbox


def test_an_error_answer_keeps_nothing_and_sends_nothing(app, session) -> None:  # type: ignore[no-untyped-def]
    _mount(app, 422)
    assert TestClient(app).get("/unit-of-work").status_code == 422
    assert _rows(session, "row@example.com") == 0
    assert _rows(session, "mail@example.com") == 0


def test_an_exception_keeps_nothing_and_sends_nothing(app, session) -> None:  # type: ignore[no-untyped-def]
    _mount(app, 200, fail=True)
    answer = TestClient(app, raise_server_exceptions=False).get("/unit-of-work")
    assert answer.status_code == 500
    assert _rows(session, "row@example.com") == 0
    assert _rows(session, "mail@example.com") == 0
