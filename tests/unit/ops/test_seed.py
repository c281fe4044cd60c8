"""portal seed: synthetic registrations made through the real services."""

from __future__ import annotations

import json
from collections import Counter

from sqlalchemy import text
from sqlmodel import col, func, select

from portal import cli
from portal.accounts import User
from portal.base import crypto
from portal.base.identity import china_today
from portal.ledger import tlog
from portal.ledger.events import HistoryEntry
from portal.ops import seed
from portal.records import certificates
from portal.registration.blocklist import BlocklistEntry
from portal.registration.models import Registration

SEED = 7
COUNT = 40


def test_seeded_registrations_are_real_ones(engine, settings, session) -> None:
    # One seeding for every check (seeding is the slow part); small batches, so that several
    # transactions and the expiry job's runs are exercised.
    seeded = seed.seed(engine, settings, registrations=COUNT, seed=SEED, batch_size=15)
    _check_mix_of_states(seeded, session)
    _check_certificates_verify_and_are_logged(session)
    _check_log_holds_one_entry_per_change(session)
    _check_accounts_have_no_password(session)
    _check_id_numbers_stored_only_encrypted(session)


def _statuses(session) -> Counter[str]:  # type: ignore[no-untyped-def]
    session.rollback()  # see what the seeding transactions committed
    return Counter(session.exec(select(Registration.status)).all())


def _check_mix_of_states(seeded: seed.Report, session) -> None:  # type: ignore[no-untyped-def]
    statuses = _statuses(session)
    assert sum(statuses.values()) == COUNT
    assert statuses == seeded.statuses
    assert statuses["approved"] > COUNT // 2
    assert len(statuses) >= 3, statuses
    assert set(statuses) <= set(seed.STATES)


def _check_certificates_verify_and_are_logged(session) -> None:  # type: ignore[no-untyped-def]
    session.rollback()
    keys = certificates.public_keys(session)
    approved = session.exec(select(Registration).where(Registration.status == "approved")).all()
    assert approved
    for registration in approved:
        certificate = certificates.current_certificate(session, registration.id)
        assert certificate is not None, registration.number
        document = certificates.certificate_json(certificate)
        assert certificates.verify_signature(document, keys)
        assert document["status"] == "approved" and document["number"] == registration.number
        assert certificate.log_index is not None
        (logged,) = tlog.entries(session, certificate.log_index, certificate.log_index + 1)
        assert logged["entry"]["certificate_sha256"] == certificate.sha256
        assert logged["entry"]["number"] == registration.number


def _check_log_holds_one_entry_per_change(session) -> None:  # type: ignore[no-untyped-def]
    session.rollback()
    size = tlog.size(session)
    indexes = sorted(
        h.data["log_index"] for h in session.exec(select(HistoryEntry)) if "log_index" in h.data
    )
    assert indexes == list(range(size))  # one entry per recorded change, no gap, no stray
    types = Counter(e["entry"]["type"] for start in range(0, size, tlog.MAX_ENTRIES)
                    for e in tlog.entries(session, start, min(size, start + tlog.MAX_ENTRIES)))
    issued = session.exec(select(func.count()).select_from(certificates.Certificate)).one()
    assert types["certificate.issued"] == issued
    statuses = _statuses(session)
    for status in ("suspended", "revoked", "expired"):
        assert types[f"registration.{status}"] == statuses[status], status
    ever_approved = session.exec(select(func.count()).select_from(Registration).where(
        Registration.status == "deregistered", col(Registration.valid_from).is_not(None))).one()
    assert types["registration.deregistered"] == ever_approved
    blocked = session.exec(select(func.count()).select_from(BlocklistEntry)).one()
    assert types["blocklist.person_added"] == blocked
    assert size == sum(types.values())


def _check_accounts_have_no_password(session) -> None:  # type: ignore[no-untyped-def]
    session.rollback()
    users = session.exec(select(User)).all()
    assert len(users) == COUNT + 1  # the applicants and the seed moderator
    assert all(user.password_hash is None for user in users)
    assert {u.role for u in users} == {"applicant", "moderator"}
    assert all(u.email.endswith("@example.invalid") for u in users)


def _check_id_numbers_stored_only_encrypted(session) -> None:  # type: ignore[no-untyped-def]
    session.rollback()
    today = china_today()
    people = [seed.applicant(SEED, n, today) for n in range(1, COUNT + 1)]
    secrets = []
    for person in people:
        for step, form, _uploads in person.steps:
            for name in ("id_number", "guardian_id_number"):
                if name in form:
                    secrets.append(form[name])
            if step == "identity" and form["id_type"] == "cn_resident_id":
                assert len(form["id_number"]) == 18
    stored = "\n".join(
        str(row)
        for table in ("registrations", "submissions")
        for row in session.execute(text(f"SELECT answers FROM {table}")).scalars()  # noqa: S608
    )
    assert "id_number_enc" in stored and "guardian_id_number_enc" in stored
    leaked = [s for s in secrets if s in stored]
    assert not leaked
    # The masks the screens show are made from the same people.
    answers = [r if isinstance(r, dict) else json.loads(r)
               for r in session.execute(text("SELECT answers FROM registrations")).scalars()]
    assert Counter(a["identity"]["id_number_masked"] for a in answers) == Counter(
        crypto.mask_id_number(p.steps[0][1]["id_number"]) for p in people)


def test_same_seed_gives_the_same_mix(engine, settings, session) -> None:
    first = seed.seed(engine, settings, registrations=10, seed=11)
    after_first = _statuses(session)
    second = seed.seed(engine, settings, registrations=10, seed=11)
    assert first.statuses == second.statuses == after_first
    assert _statuses(session) == after_first + second.statuses
    # The second run adds new accounts after the first run's.
    assert session.exec(select(User).where(User.email == "seed-000020@example.invalid")).one()
    assert seed.plan(500, 11) == seed.plan(500, 11) != seed.plan(500, 12)


def test_cli_seed(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path / "cli"))
    monkeypatch.delenv("PORTAL_DATABASE_URL", raising=False)
    monkeypatch.delenv("PORTAL_ENV", raising=False)
    assert cli.main(["seed", "--registrations", "5", "--seed", "3"]) == 0
    out, err = capsys.readouterr()
    assert "Seeded 5 registrations" in out and "--seed 3" in out
    assert "5/5" in err  # the progress bar
    assert (tmp_path / "cli" / "portal.db").exists()
