"""`portal retention purge`: personal data of registrations that ended 3 years ago is erased;
log entries, certificates and every other registration stay exactly as they were."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select as sa_select
from sqlalchemy import text, update
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, select
from starlette.testclient import TestClient

from portal import cli
from portal.accounts import User
from portal.base.db import utcnow
from portal.ledger import tlog
from portal.ledger.events import HistoryEntry
from portal.lifecycle import transitions
from portal.ops import jobs
from portal.oversight import auditing, review
from portal.privacy import retention
from portal.registration import models
from portal.registration.attestations import Attestation, Declaration, canonical_sha256
from portal.registration.models import Document, Registration, Submission
from tests.unit.conftest import Auth, make_user
from tests.unit.http_wizard import ADULT_ID, Wizard, verify_email

NOW = datetime(2031, 6, 15, 12, 0, tzinfo=utcnow().tzinfo)
YEAR = timedelta(days=365)


def registration_of(session, email: str) -> Registration:  # type: ignore[no-untyped-def]
    session.rollback()
    return session.exec(select(Registration).join(User, User.id == Registration.user_id)
                        .where(User.email == email)).one()


@pytest.fixture
def people(app, session, settings) -> dict[str, Registration]:  # type: ignore[no-untyped-def]
    """Five applicants, each submitted through the real pages, then decided by the services:
    ``old`` deregistered, ``recent`` deregistered, ``active`` approved, ``rejected`` and
    ``expired``."""
    moderator = make_user(session, email="mod@example.com", role="moderator")
    out = {}
    for name in ("old", "recent", "active", "rejected", "expired"):
        email = f"{name}@example.com"
        with TestClient(app, follow_redirects=False) as browser:
            Auth(browser).sign_up(email)
            verify_email(session, email)
            wizard = Wizard(browser)
            wizard.complete_adult()
            assert wizard.submit().status_code == 303
        registration = registration_of(session, email)
        if name == "rejected":
            review.reject(session, settings, registration=registration, moderator=moderator,
                          version=registration.version, reason_code=next(iter(
                              review.REJECTION_REASONS)), message="Not this time")
            session.commit()
        else:
            review.approve(session, settings, registration=registration, moderator=moderator,
                           version=registration.version)
            session.commit()
        registration = registration_of(session, email)
        if name in ("old", "recent"):
            user = session.get(User, registration.user_id)
            transitions.deregister(session, settings, registration=registration, user=user)
            session.commit()
        if name == "expired":
            registration.valid_until = utcnow() - timedelta(seconds=1)
            session.add(registration)
            session.commit()
            assert jobs.expire_due(session, settings, now=utcnow()) == [registration.number]
        out[name] = registration_of(session, email)
    ended = {"old": NOW - 3 * YEAR - timedelta(days=2), "recent": NOW - 2 * YEAR,
             "active": NOW - 10 * YEAR, "rejected": NOW - 4 * YEAR,
             "expired": NOW - 3 * YEAR - timedelta(days=2)}
    for name, at in ended.items():
        session.execute(update(Registration).where(Registration.id == out[name].id)  # type: ignore[arg-type]
                        .values(updated_at=at))
    session.commit()
    assert {k: r.status for k, r in out.items()} == {
        "old": "deregistered", "recent": "deregistered", "active": "approved",
        "rejected": "rejected", "expired": "expired"}
    return {name: registration_of(session, f"{name}@example.com") for name in out}


def snapshot(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    out = {}
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            keys = list(table.primary_key.columns) or list(table.columns)
            out[table.name] = [dict(row) for row in
                               conn.execute(sa_select(table).order_by(*keys)).mappings()]
    return out


def rows_of(snap: dict[str, list[dict[str, Any]]], registration_id: int) -> dict[str, Any]:
    """Every row that belongs to one registration, by table."""
    out = {}
    for table, rows in snap.items():
        column = "id" if table == "registrations" else "registration_id"
        out[table] = [r for r in rows if r.get(column) == registration_id]
    return out


def test_cutoff_is_in_calendar_years() -> None:
    assert retention.cutoff(NOW, 3) == datetime(2028, 6, 15, 12, 0, tzinfo=NOW.tzinfo)
    leap = datetime(2028, 2, 29, tzinfo=NOW.tzinfo)
    assert retention.cutoff(leap, 3) == datetime(2025, 2, 28, tzinfo=NOW.tzinfo)


def test_purge_erases_what_ended_more_than_three_years_ago_and_nothing_else(
        people, engine, session, settings) -> None:
    old, expired = people["old"], people["expired"]
    size = tlog.size(session)
    root = tlog.root_hash(session, size)
    before = snapshot(engine)
    attestation_hash = session.exec(select(Attestation.sha256).where(
        Attestation.registration_id == old.id)).one()

    report = retention.purge(engine, settings, now=NOW, batch_size=2)

    assert sorted(report.registrations) == sorted(
        [old.number, people["rejected"].number, expired.number])
    assert report.documents == 6 and report.submissions == 3 and report.attestations == 3
    after = snapshot(engine)
    # The transparency log and every certificate are exactly as they were.
    session.rollback()
    assert tlog.size(session) == size and tlog.root_hash(session, size) == root
    for table in ("tlog_entries", "tlog_nodes", "tlog_checkpoints", "certificates", "outbox",
                  "decisions", "sanctions", "pii_access_log", "users", "notifications"):
        assert after[table] == before[table], table
    # A registration deregistered 2 years ago and an approved one are untouched.
    for name in ("recent", "active"):
        assert rows_of(after, people[name].id) == rows_of(before, people[name].id), name

    registration = registration_of(session, "old@example.com")
    assert registration.status == "deregistered"
    assert registration.answers[retention.PURGED] == NOW.isoformat()
    assert registration.identity_index is None
    identity = registration.answers["identity"]
    for name in ("legal_name", "date_of_birth", "id_number_enc", "id_number_masked",
                 "phone_enc", "phone_masked", "residence_city"):
        assert name not in identity
    assert identity["subject_kind"] == "person" and identity["id_type"] == "cn_resident_id"
    assert "reference" not in identity["verification"]
    assert identity["verification"]["status"] == "verified"
    for name in ("signature", "security_contact", "security_contact_enc", "staff_list",
                 "staff_list_enc"):
        assert name not in registration.answers["security"]
    assert registration.answers["security"]["two_factor"] is True
    assert "complaint_contact" not in registration.answers["commitments"]
    assert registration.answers["roles"]["channels"][0]["handle"] == "zhangsan_live"
    assert registration.updated_at == before["registrations"][[
        r["id"] for r in before["registrations"]].index(old.id)]["updated_at"]

    submission = session.exec(select(Submission).where(
        Submission.registration_id == old.id)).one()
    assert submission.signed_name == "" and submission.ip == "" and submission.user_agent == ""
    assert "legal_name" not in submission.answers["identity"]
    attestation = session.exec(select(Attestation).where(
        Attestation.registration_id == old.id)).one()
    assert attestation.sha256 == attestation_hash and attestation.signed_name == ""
    assert "signature" not in attestation.data and "security_contact" not in attestation.data
    declaration = session.exec(select(Declaration).where(
        Declaration.registration_id == old.id)).one()
    assert canonical_sha256(declaration.data) == declaration.sha256
    documents = session.exec(select(Document).where(Document.registration_id == old.id)).all()
    assert documents and all(d.ciphertext == b"" and d.sha256 and d.size for d in documents)
    assert {d.filename for d in documents} == {"id_front.png", "id_back.jpg"}
    history = session.exec(select(HistoryEntry).where(
        HistoryEntry.registration_id == old.id,
        HistoryEntry.action == "retention_purged")).one()
    assert history.actor_role == "system" and history.at == NOW

    # No personal value of the purged registrations is left in any of their rows but their
    # certificates' masked ones (a certificate is never changed; the registry row embeds it).
    for name in ("old", "rejected", "expired"):
        rows = rows_of(after, people[name].id)
        rows.pop("certificates")
        rows["registry"] = [{k: r[k] for k in ("display_name", "search_text")}
                            for r in rows["registry"]]
        stored = json.dumps(rows, default=str, ensure_ascii=False)
        for secret in ("张三", ADULT_ID, "1101**********8794", "13812345678", "138****5678",
                       "13912345678", "13987654321", "李四", "1985-03-12"):
            assert secret not in stored, (name, secret)


def test_dry_run_changes_nothing_and_a_second_run_finds_nothing(people, engine,
                                                                settings) -> None:
    before = snapshot(engine)
    report = retention.purge(engine, settings, now=NOW, dry_run=True)
    assert report.dry_run and len(report.registrations) == 3 and report.documents == 6
    assert snapshot(engine) == before
    assert len(retention.purge(engine, settings, now=NOW).registrations) == 3
    purged = snapshot(engine)
    assert retention.purge(engine, settings, now=NOW).registrations == []
    assert snapshot(engine) == purged


def test_a_renewal_started_since_keeps_the_record(people, engine, session, settings) -> None:
    # An expired registration edited a year ago started its three years again.
    session.execute(update(Registration).where(Registration.id == people["expired"].id)  # type: ignore[arg-type]
                    .values(updated_at=NOW - YEAR))
    session.commit()
    report = retention.purge(engine, settings, now=NOW)
    assert people["expired"].number not in report.registrations
    assert report.registrations


def test_integrity_says_erased_by_retention_not_altered(people, engine, session, settings,
                                                        app) -> None:
    retention.purge(engine, settings, now=NOW)
    registration = registration_of(session, "old@example.com")
    result = auditing.integrity(session, registration)
    assert result.ok, result.first_problem
    erased = [c for c in result.checks if "Erased by retention" in c.reason]
    assert len(erased) == 1 and NOW.date().isoformat() in erased[0].reason
    # The declaration still verifies, so altering it is still caught.
    declaration = session.exec(select(Declaration).where(
        Declaration.registration_id == registration.id)).one()
    session.execute(update(Declaration).where(Declaration.id == declaration.id)  # type: ignore[arg-type]
                    .values(data={**declaration.data, "audience": "adults_only"}))
    session.commit()
    result = auditing.integrity(session, registration_of(session, "old@example.com"))
    assert not result.ok and "declaration" in result.first_problem

    make_user(session, email="auditor@example.com", role="auditor")
    with TestClient(app, follow_redirects=False) as browser:
        assert Auth(browser).log_in("auditor@example.com").status_code == 303
        page = browser.get(f"/audit/registrations/{registration.number}?check=integrity")
        assert page.status_code == 200 and "Erased by retention" in page.text
        assert browser.get(f"/audit/registrations/{people['rejected'].number}"
                           "?check=integrity").status_code == 200


def test_the_owner_of_a_purged_registration_can_start_again(people, engine, session, settings,
                                                            app) -> None:
    retention.purge(engine, settings, now=NOW)
    expired = registration_of(session, "expired@example.com")
    user = session.get(User, expired.user_id)
    # A purged expired registration has ended for good: no renewal, a new one may start.
    assert models.current_registration(session, user) is None
    with pytest.raises(models.NotFound):
        transitions.start_renewal(session, registration=expired, user=user)
    document = session.exec(select(Document).where(
        Document.registration_id == expired.id)).first()
    with TestClient(app, follow_redirects=False) as browser:
        assert Auth(browser).log_in("expired@example.com").status_code == 303
        assert browser.get("/me").status_code == 200
        assert browser.get(f"/documents/{document.id}").status_code == 404
        mine = browser.get("/me/data.json").json()["registrations"][0]
        assert mine["personal_data_erased_at"] == NOW.isoformat()
        assert all(d["erased"] and d["url"] is None for d in mine["documents"])
        assert "id_number" not in mine["answers"]["identity"]


def test_cli_purge_dry_run_lists_and_changes_nothing(people, engine, settings, monkeypatch,
                                                     capsys) -> None:
    # The CLI runs on the real clock: make "old" end more than three years before it.
    with engine.begin() as conn:
        conn.execute(update(Registration).where(Registration.id == people["old"].id)  # type: ignore[arg-type]
                     .values(updated_at=utcnow() - 3 * YEAR - timedelta(days=2)))
    monkeypatch.setenv("PORTAL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PORTAL_DATABASE_URL", settings.resolved_database_url)
    before = snapshot(engine)
    assert cli.main(["retention", "purge", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"would purge {people['old'].number}" in out and "Dry run, nothing changed" in out
    assert snapshot(engine) == before
    assert cli.main(["retention", "purge"]) == 0
    assert f"purged {people['old'].number}" in capsys.readouterr().out
    with engine.connect() as conn:
        answers = conn.execute(text("SELECT answers FROM registrations WHERE id = :id"),
                               {"id": people["old"].id}).scalar_one()
    assert retention.PURGED in (answers if isinstance(answers, dict) else json.loads(answers))
