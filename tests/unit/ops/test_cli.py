from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlmodel import select

from portal import cli
from portal.accounts import User, authenticate
from tests.unit.conftest import STRONG_PASSWORD

PORTAL = shutil.which("portal") or str(Path(__file__).resolve().parents[3] / ".venv/bin/portal")


def run_portal(args: list[str], *, data_dir: Path, stdin: str = "", cwd: Path | None = None,
               extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update({"PORTAL_DATA_DIR": str(data_dir), **(extra_env or {})})
    return subprocess.run([PORTAL, *args], input=stdin, env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_create_user_from_any_directory(tmp_path, engine, settings, session) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_portal(
        ["create-user", "--email", "Mod@Example.com", "--role", "moderator"],
        data_dir=settings.data_dir, stdin=STRONG_PASSWORD + "\n", cwd=elsewhere,
        extra_env={"PORTAL_DATABASE_URL": settings.resolved_database_url},
    )
    assert result.returncode == 0, result.stderr
    assert "Created moderator mod@example.com" in result.stdout
    user = session.exec(select(User).where(User.email == "mod@example.com")).one()
    assert user.role == "moderator"
    assert authenticate(session, email="mod@example.com", password=STRONG_PASSWORD)
    assert not (elsewhere / "var").exists()


def test_create_user_refuses_weak_password(settings, monkeypatch, capsys, session) -> None:
    monkeypatch.setenv("PORTAL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PORTAL_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setattr("sys.stdin", _Stdin("password1234\n"))
    code = cli.main(["create-user", "--email", "a@example.com", "--role", "auditor"])
    assert code == 2
    assert "too common" in capsys.readouterr().err
    assert session.exec(select(User)).all() == []


def test_create_user_role_must_be_staff() -> None:
    with pytest.raises(SystemExit):
        cli.main(["create-user", "--email", "a@example.com", "--role", "applicant"])


def test_migrate_creates_database_in_data_dir(tmp_path) -> None:
    result = run_portal(["migrate"], data_dir=tmp_path / "d", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "d" / "portal.db").exists()


def test_production_without_secrets_refuses_to_start(tmp_path) -> None:
    result = run_portal(["migrate"], data_dir=tmp_path, extra_env={"PORTAL_ENV": "production"})
    assert result.returncode == 2
    assert "PORTAL_SECRET_KEY must be set in production" in result.stderr


def test_demo_staff_keep_their_passwords_across_runs(settings, session) -> None:
    first = cli.seed_demo_staff(settings)
    second = cli.seed_demo_staff(settings)
    assert first == second
    assert {role for role, _, _ in first} == {"moderator", "auditor", "admin"}
    for _role, email, password in first:
        assert authenticate(session, email=email, password=password)


class _Stdin:
    def __init__(self, text: str) -> None:
        self.text = text

    def readline(self) -> str:
        return self.text


def test_keys_list_and_rotate(tmp_path) -> None:
    listed = run_portal(["keys", "list"], data_dir=tmp_path)
    assert listed.returncode == 0, listed.stderr
    first = listed.stdout.split()[0]
    assert "active" in listed.stdout
    rotated = run_portal(["keys", "rotate"], data_dir=tmp_path)
    assert rotated.returncode == 0, rotated.stderr
    assert "New signing key" in rotated.stdout
    again = run_portal(["keys", "list"], data_dir=tmp_path).stdout.splitlines()
    states = {line.split()[0]: line.split()[1] for line in again}
    assert states[first] == "retired" and list(states.values()).count("active") == 1
