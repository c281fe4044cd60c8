"""The registry row and the certificate state the sanctions in force."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from portal.base.settings import Settings
from portal.oversight import enforcement
from portal.records import certificates
from tests.unit.factories import SANCTION_TEXT, make_moderator, make_registration


def test_a_sanction_written_alone_rebuilds_the_answer(session: Session, settings: Settings,
                                                      platform: Any) -> None:
    registration = make_registration(session, settings)
    sanction, _mail = enforcement.apply_sanction(
        session, registration=registration, actor=make_moderator(session), kind="warning",
        version=registration.version, settings=settings, **SANCTION_TEXT)
    session.commit()
    answer = platform.get(f"/registrations/{registration.number}").json()
    assert [s["kind"] for s in answer["sanctions"]] == ["warning"]
    assert answer["certificate"]["sanctions"] == answer["sanctions"]
    sanction.state = "overturned"  # nothing else written: the row follows the sanction
    session.add(sanction)
    session.commit()
    assert platform.get(f"/registrations/{registration.number}").json()["sanctions"] == []


def test_the_statement_of_answers_leaves_sanctions_out(session: Session,
                                                      settings: Settings) -> None:
    """The integrity check compares what the answers state: a certificate issued before
    certificates stated sanctions still matches."""
    registration = make_registration(session, settings)
    current = certificates.current_certificate(session, registration.id or 0)
    assert current is not None
    body = certificates.certificate_json(current)
    assert body["sanctions"] == []
    stated = certificates.statement(registration)
    assert "sanctions" not in stated
    assert {k: body.get(k) for k in stated} == stated
