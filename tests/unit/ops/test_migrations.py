from __future__ import annotations

import json
import sqlite3
from datetime import timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import SQLModel, select

import portal.ops.schema  # noqa: F401
from portal.accounts import User
from portal.base.crypto import fold
from portal.base.db import make_engine, session_scope, utcnow
from portal.ops.migrate import alembic_config, fill_contacts, fill_keys, include_object
from portal.oversight import enforcement
from portal.registration.blocklist import BlocklistEntry
from portal.registration.models import Registration, Submission
from tests.unit.conftest import make_user
from tests.unit.factories import SANCTION_TEXT, make_moderator, make_registration


def test_migrated_schema_matches_models(engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_database_is_at_head(engine, settings) -> None:
    config = alembic_config(settings.resolved_database_url)
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head


def test_every_model_table_exists(engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert {t.name for t in SQLModel.metadata.sorted_tables} <= tables


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
    engine.dispose()


def test_write_session_takes_the_sqlite_write_lock_at_begin(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    with session_scope(engine, write=True) as first:
        first.exec(text("SELECT 1"))  # type: ignore[call-overload]
        other = sqlite3.connect(tmp_path / "lock.db", timeout=0)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()
    engine.dispose()


def test_timestamps_come_back_in_utc(session) -> None:
    user = make_user(session, email="tz@example.com")
    session.expunge_all()
    again = session.get(User, user.id)
    assert again.created_at.tzinfo is not None
    assert again.created_at.utcoffset() == timedelta(0)
    assert abs(again.created_at - utcnow()) < timedelta(minutes=1)


@pytest.mark.postgres
def test_postgres_stores_timestamps_with_time_zone(engine) -> None:
    columns = {c["name"]: c for c in inspect(engine).get_columns("users")}
    assert columns["created_at"]["type"].timezone is True


def test_blocklist_name_keys_are_folded_by_the_upgrade(tmp_path) -> None:
    """Revision 0015 recomputes the keys of names stored before screening removed invisible
    characters, so a folded name matches them."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = alembic_config(url)
    command.upgrade(config, "0014")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO person_blocklist (id_type, identity_index, legal_name, "
                          "name_key, reason_code, reason, created_at) VALUES (NULL, NULL, "
                          ":name, :name, 'manual', 'x', :at)"),
                     {"name": "李\u200b四", "at": utcnow().replace(tzinfo=None)})
    command.upgrade(config, "head")
    with engine.connect() as conn:
        key = conn.execute(text("SELECT name_key FROM person_blocklist")).scalar_one()
    engine.dispose()
    assert key == fold("李四") == "李四"


def test_keys_are_filled_for_registrations_made_before_them(session, settings) -> None:
    """Revision 0016 adds the person, birth and organisation keys; ``fill_keys`` computes those
    of earlier registrations and of their blocklist entries once."""
    moderator = make_moderator(session)
    registration = make_registration(session, settings, moderator=moderator)
    enforcement.apply_sanction(session, registration=registration, actor=moderator,
                               kind="blacklist", version=registration.version, settings=settings,
                               **SANCTION_TEXT)
    session.commit()
    expected = (registration.person_key, registration.birth_key)
    assert all(expected)
    for statement in ("UPDATE registrations SET person_key = NULL, birth_key = NULL, "
                      "org_key = NULL",
                      "UPDATE person_blocklist SET person_key = NULL, birth_key = NULL, "
                      "org_key = NULL"):
        session.execute(text(statement))
    session.commit()

    assert fill_keys(settings) == 2
    session.expire_all()
    again = session.get(Registration, registration.id)
    entry = session.exec(select(BlocklistEntry)).one()
    assert (again.person_key, again.birth_key) == expected == (entry.person_key, entry.birth_key)
    assert again.org_key == entry.org_key == ""  # a person: no organisation
    assert fill_keys(settings) == 0


def test_contacts_typed_before_are_encrypted_once(session, settings) -> None:
    """``fill_contacts`` keeps the free-text contacts saved before revision 0016 encrypted, with
    the phone numbers masked in the copy screens show, in the answers and each version."""
    registration = make_registration(session, settings, status="submitted",
                                     security={"security_contact": "李四 13912345678"})
    typed = {**registration.answers["security"], "security_contact": "李四 13912345678"}
    typed.pop("security_contact_enc")
    old = {**registration.answers, "security": typed}
    for table in ("registrations", "submissions"):
        column = "id" if table == "registrations" else "registration_id"
        session.execute(text(f"UPDATE {table} SET answers = :a WHERE {column} = :id"),  # noqa: S608
                        {"a": json.dumps(old), "id": registration.id})
    session.commit()

    assert fill_contacts(settings) == 2
    session.expire_all()
    for answers in (session.get(Registration, registration.id).answers,
                    session.exec(select(Submission)).one().answers):
        assert answers["security"]["security_contact"] == "李四 139****5678"
        assert answers["security"]["security_contact_enc"]
    assert fill_contacts(settings) == 0
