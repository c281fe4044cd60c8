"""Run Alembic from code, against the database in settings."""

from __future__ import annotations

import base64

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import select, update

from portal.base import crypto
from portal.base.db import make_engine, session_scope
from portal.base.resources import alembic_ini, migrations_dir
from portal.base.settings import Settings
from portal.records import registry
from portal.registration import linking, steps
from portal.registration.blocklist import BlocklistEntry
from portal.registration.models import Registration, Submission, secret_context


def alembic_config(database_url: str) -> Config:
    config = Config(str(alembic_ini()))
    config.set_main_option("script_location", str(migrations_dir()))
    # ConfigParser would read "%" in a password as interpolation.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the database schema up to ``revision``."""
    url = settings.resolved_database_url
    if url.startswith("sqlite:///"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    before = current_revision(url)
    command.upgrade(alembic_config(url), revision)
    if revision == "head":
        if before is not None and int(before) < 16:
            # Data written before revision 0016 gets what that revision's code writes: once.
            fill_keys(settings)
            fill_contacts(settings)
        fill_registry(url)


def current_revision(url: str) -> str | None:
    """The database's Alembic revision, or None for an empty database."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


# Indexes made by hand in a migration for one database, which the models do not describe.
DATABASE_ONLY_INDEXES = frozenset({"ix_registry_number_c"})


def include_object(obj: object, name: str | None, kind: str, reflected: bool,
                   compare_to: object) -> bool:
    """Alembic's filter: what autogenerate compares between the models and the database."""
    return not (kind == "index" and name in DATABASE_ONLY_INDEXES)


def fill_registry(url: str) -> None:
    """Build the registry's rows once, for registrations made before it existed."""
    from sqlalchemy import inspect, text

    engine = make_engine(url)
    try:
        if not inspect(engine).has_table("registry"):
            return  # an older revision was asked for
        with session_scope(engine, write=True) as session:
            if session.execute(text("SELECT 1 FROM registry LIMIT 1")).first() is None and \
                    session.execute(text("SELECT 1 FROM registrations WHERE number IS NOT NULL "
                                         "LIMIT 1")).first() is not None:
                registry.rebuild_all(session)
                session.commit()
            elif session.execute(text("SELECT 1 FROM registry_terms LIMIT 1")).first() is None \
                    and session.execute(text("SELECT 1 FROM registry LIMIT 1")).first() is not None:
                registry.rebuild_all(session)  # rows from before their terms
                session.commit()
    finally:
        engine.dispose()


def fill_keys(settings: Settings) -> int:
    """Give the registrations submitted and the blocklist entries made before the person and
    organisation keys (revision 0016) theirs; returns how many rows were looked at.

    Written as plain UPDATEs (no registry rebuild: the keys are in no public answer). A row
    whose answers hold no date of birth (erased by retention) gets empty keys, so it is looked
    at once."""
    engine = make_engine(settings.resolved_database_url)
    registrations = Registration.__table__  # type: ignore[attr-defined]
    entries = BlocklistEntry.__table__  # type: ignore[attr-defined]
    done = 0
    try:
        with session_scope(engine, write=True) as session:
            rows = session.execute(select(registrations.c.id, registrations.c.answers,
                                          registrations.c.identity_index).where(
                registrations.c.number.is_not(None), registrations.c.birth_key.is_(None))).all()
            keys = {}
            for row in rows:
                found = linking.keys_of(settings, row.answers or {})
                keys[row.id] = (row.identity_index, found)
                session.execute(update(registrations).where(registrations.c.id == row.id).values(
                    person_key=found.person_key or "", birth_key=found.birth_key or "",
                    org_key=found.org_key or "",
                    representative_key=found.representative_key or ""))
                done += 1
            for entry in session.execute(select(entries.c.id, entries.c.registration_id,
                                                entries.c.identity_index).where(
                    entries.c.birth_key.is_(None), entries.c.registration_id.is_not(None))).all():
                index, found = keys.get(entry.registration_id, (None, linking.Keys()))
                if index != entry.identity_index:
                    found = linking.Keys()
                session.execute(update(entries).where(entries.c.id == entry.id).values(
                    person_key=found.person_key or "", birth_key=found.birth_key or "",
                    org_key=found.org_key or ""))
                done += 1
            session.commit()
    finally:
        engine.dispose()
    return done


def fill_contacts(settings: Settings) -> int:
    """Encrypt the free-text contacts (security contact, staff list) saved before phone numbers
    typed in them were kept encrypted, in the current answers and in each submitted version,
    leaving a copy with the numbers masked; returns how many answers were changed. (The signed
    attestations keep the text they were signed with: their hash binds it.)"""
    engine = make_engine(settings.resolved_database_url)
    cipher = crypto.cipher_for(settings)
    contacts = steps.DEFINITIONS["security"].contacts
    done = 0
    try:
        with session_scope(engine, write=True) as session:
            for table, owner in ((Registration.__table__, "id"),  # type: ignore[attr-defined]
                                 (Submission.__table__, "registration_id")):  # type: ignore[attr-defined]
                for row in session.execute(select(table.c.id, table.c[owner],
                                                  table.c.answers)).all():
                    answers = row.answers or {}
                    security = answers.get("security")
                    if not isinstance(security, dict) or not any(
                            security.get(n) and not security.get(f"{n}_enc") for n in contacts):
                        continue
                    security = dict(security)
                    for name in contacts:
                        text = security.get(name)
                        if not text or security.get(f"{name}_enc"):
                            continue
                        blob = cipher.encrypt_text(text, context=secret_context(
                            row[1], "security", name))
                        security[f"{name}_enc"] = base64.b64encode(blob).decode()
                        security[name] = crypto.mask_phones_in_text(text)
                    session.execute(update(table).where(table.c.id == row.id).values(
                        answers={**answers, "security": security}))
                    done += 1
            session.commit()
    finally:
        engine.dispose()
    return done
