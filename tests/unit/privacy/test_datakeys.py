"""`portal keys rotate --data`: every ciphertext moves to the new data key, nothing else moves."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, select

from portal import accounts, cli
from portal.accounts import User
from portal.base.crypto import DataCipher, DecryptionError
from portal.base.settings import Settings
from portal.platforms import clients, webhooks
from portal.privacy import data_keys
from portal.registration.models import (
    Document,
    Registration,
    Submission,
    document_context,
    secret_context,
)
from tests.unit.conftest import make_user
from tests.unit.http_wizard import ADULT_ID, PNG

KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
KEY_C = bytes(range(200, 232))


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """The app runs with key A (what the data is written under)."""
    return Settings(data_dir=tmp_path / "data", database_url=database_url,
                    base_url="http://testserver", data_key=b64(KEY_A),
                    _env_file=None)  # type: ignore[call-arg]


def rotated_settings(settings: Settings, *old: bytes) -> Settings:
    """Key B is now current, the keys given are retired."""
    return settings.model_copy(update={"data_key": b64(KEY_B),
                                       "old_data_keys": ",".join(b64(k) for k in old)})


@pytest.fixture
def populated(approved, session, settings) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """An approved registration (answers, a submission, documents, certificates, log entries),
    a platform with a webhook secret and a staff member with a TOTP secret, all under key A."""
    session.rollback()
    cipher = DataCipher(KEY_A)
    client = clients.create_client(session, name="Platform A", kind="platform")
    session.flush()
    webhook_secret = webhooks.store_secret(settings, client)
    client.webhook_url = "https://platform.example/hooks"
    session.commit()
    staff = make_user(session, email="admin2@example.com", role="admin")
    totp = accounts.start_totp(session, staff, cipher)
    session.commit()
    return {"webhook_secret": webhook_secret, "totp": totp, "client_id": client.id,
            "user_id": staff.id}


# Where ciphertext lives; everything else in the database must come out of a rotation as it was.
CIPHER_COLUMNS = {("registrations", "answers"), ("submissions", "answers"),
                  ("documents", "ciphertext"), ("api_clients", "webhook_secret"),
                  ("users", "totp_secret")}


def snapshot(engine: Engine, *, skip: set[tuple[str, str]] = CIPHER_COLUMNS
             ) -> dict[str, list[dict[str, Any]]]:
    out = {}
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            keys = list(table.primary_key.columns) or list(table.columns)
            rows = conn.execute(sa_select(table).order_by(*keys)).mappings().all()
            out[table.name] = [{k: v for k, v in row.items() if (table.name, k) not in skip}
                               for row in rows]
    return out


def strip_enc(answers: dict[str, Any]) -> dict[str, Any]:
    return {step: {k: v for k, v in data.items() if not k.endswith("_enc")}
            if isinstance(data, dict) else data for step, data in answers.items()}


def clear_values(session, cipher: DataCipher) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Every encrypted value in clear, decrypted with ``cipher`` alone (raises if it cannot)."""
    session.rollback()
    out: dict[str, Any] = {}
    for model in (Registration, Submission):
        for row in session.exec(select(model)):
            rid = row.id if model is Registration else row.registration_id
            for step, data in row.answers.items():
                if not isinstance(data, dict):
                    continue
                for key, value in data.items():
                    if key.endswith("_enc"):
                        out[f"{model.__tablename__} {row.id} {step}.{key}"] = cipher.decrypt_text(
                            base64.b64decode(value),
                            context=secret_context(rid, step, key[:-4]))
    for document in session.exec(select(Document)):
        out[f"document {document.id}"] = cipher.decrypt(
            document.ciphertext, context=document_context(document.registration_id,
                                                          document.kind))
    for client in session.exec(select(clients.ApiClient)):
        if client.webhook_secret is not None:
            out[f"client {client.id}"] = cipher.decrypt_text(
                client.webhook_secret, context=webhooks.secret_context(client.id))
    for user in session.exec(select(User)):
        if user.totp_secret is not None:
            out[f"user {user.id}"] = accounts.totp_secret(user, cipher)
    return out


def test_rotation_moves_every_ciphertext_to_the_new_key_and_nothing_else(
        populated, engine, session, settings) -> None:
    before_clear = clear_values(session, DataCipher(KEY_A))
    assert ADULT_ID in before_clear.values() and PNG in before_clear.values()
    assert populated["webhook_secret"] in before_clear.values()
    assert populated["totp"] in before_clear.values()
    # Answers (ID and phone numbers, the security contact and staff list), the frozen
    # submission, two documents, the webhook and the TOTP secrets.
    assert sum(k.startswith("registrations") for k in before_clear) == 4
    assert sum(k.startswith("submissions") for k in before_clear) == 4
    answers_before = {r.id: strip_enc(r.answers) for r in session.exec(select(Registration))}
    before = snapshot(engine)

    lines: list[str] = []
    report = data_keys.rotate(engine, rotated_settings(settings, KEY_A), batch_size=1,
                              progress=lines.append)

    assert report.failures == []
    counts = {t.name: t.values for t in report.tables}
    assert counts == {"registrations.answers": 4, "submissions.answers": 4,
                      "documents.ciphertext": 2, "api_clients.webhook_secret": 1,
                      "users.totp_secret": 1, "inspection_files.ciphertext": 0,
                      "platform_documents.ciphertext": 0}
    assert report.values == 12 and report.rows_changed == 6
    assert lines and any("documents.ciphertext" in line for line in lines)
    # A cipher that knows only key B opens everything, and every value is what it was.
    assert clear_values(session, DataCipher(KEY_B)) == before_clear
    with pytest.raises(DecryptionError):
        clear_values(session, DataCipher(KEY_A))
    # Nothing else changed: not a version, a timestamp, a certificate or a log entry.
    assert snapshot(engine) == before
    assert {r.id: strip_enc(r.answers) for r in session.exec(select(Registration))} == \
        answers_before

    # A second run finds nothing to do and changes nothing at all.
    whole = snapshot(engine, skip=set())
    again = data_keys.rotate(engine, rotated_settings(settings, KEY_A))
    assert again.values == 0 and again.rows_changed == 0 and again.failures == []
    assert snapshot(engine, skip=set()) == whole


def test_dry_run_counts_and_changes_nothing(populated, engine, session, settings) -> None:
    whole = snapshot(engine, skip=set())
    report = data_keys.rotate(engine, rotated_settings(settings, KEY_A), dry_run=True)
    assert report.dry_run and report.values == 12 and report.rows_changed == 6
    assert snapshot(engine, skip=set()) == whole
    assert clear_values(session, DataCipher(KEY_A))


def test_a_stopped_rotation_resumes_where_it_left_off(populated, engine, session,
                                                      settings) -> None:
    new = rotated_settings(settings, KEY_A)
    cipher = data_keys.cipher_for(new)
    documents = next(t for t in data_keys.TARGETS if t.name == "documents.ciphertext")
    first = data_keys.rotate_target(engine, cipher, documents, dry_run=False)
    assert first.values == 2
    rest = data_keys.rotate(engine, new)
    assert {t.name: t.values for t in rest.tables}["documents.ciphertext"] == 0
    assert rest.values == 10
    assert clear_values(session, DataCipher(KEY_B))


def test_values_under_an_unknown_key_are_reported_and_left_alone(populated, engine, session,
                                                                 settings) -> None:
    session.rollback()
    staff = session.get(User, populated["user_id"])
    staff.totp_secret = DataCipher(KEY_C).encrypt_text(
        "JBSWY3DPEHPK3PXP", context=f"user:{staff.id}:totp".encode())
    session.add(staff)
    session.commit()
    report = data_keys.rotate(engine, rotated_settings(settings, KEY_A))
    assert report.failures == [f"users.totp_secret id {staff.id}: unknown data key id "
                               f"{DataCipher(KEY_C).current_kid}"]
    assert report.values == 11
    session.refresh(staff)
    assert DataCipher(KEY_C).decrypt_text(
        staff.totp_secret, context=f"user:{staff.id}:totp".encode()) == "JBSWY3DPEHPK3PXP"


def test_totp_context_matches_the_accounts_module(session) -> None:
    user = make_user(session, email="admin3@example.com", role="admin")
    assert data_keys.totp_row_context(user) == accounts.totp_context(user)


def test_cli_rotates_prints_progress_and_a_final_count(populated, settings, monkeypatch,
                                                       capsys, session) -> None:
    monkeypatch.setenv("PORTAL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PORTAL_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("PORTAL_DATA_KEY", b64(KEY_B))
    monkeypatch.setenv("PORTAL_OLD_DATA_KEYS", b64(KEY_A))

    assert cli.main(["keys", "rotate", "--data", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "registrations.answers: 1 rows read, 4 values to re-encrypt" in out
    assert "Dry run: 12 values in 6 rows would be re-encrypted" in out

    assert cli.main(["keys", "rotate", "--data", "--batch-size", "1"]) == 0
    out = capsys.readouterr().out
    assert "Re-encrypted 12 values in 6 rows under the current data key." in out
    assert clear_values(session, DataCipher(KEY_B))

    assert cli.main(["keys", "rotate", "--data"]) == 0
    assert "Re-encrypted 0 values in 0 rows" in capsys.readouterr().out


def test_cli_new_data_key_prints_a_usable_key(capsys) -> None:
    assert cli.main(["keys", "new-data-key"]) == 0
    key = capsys.readouterr().out.strip()
    assert len(base64.b64decode(key, validate=True)) == 32
    DataCipher(base64.b64decode(key))


def test_cli_refuses_dry_run_without_data(capsys) -> None:
    assert cli.main(["keys", "rotate", "--dry-run"]) == 2
    assert "--data" in capsys.readouterr().err
