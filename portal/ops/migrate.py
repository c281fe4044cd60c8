"""Run Alembic from code, against the database in settings."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import select, update

from portal.base.db import make_engine, session_scope
from portal.base.resources import alembic_ini, migrations_dir
from portal.base.settings import Settings
from portal.records import registry
from portal.registration import linking
from portal.registration.blocklist import BlocklistEntry
from portal.registration.models import Registration


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
    command.upgrade(alembic_config(url), revision)
    if revision == "head":
        fill_keys(settings)
        fill_registry(url)


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
