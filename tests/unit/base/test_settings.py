from __future__ import annotations

import base64
import subprocess
import sys

import pytest

from portal.base.settings import Settings, SettingsError


def test_development_generates_secrets_once_and_shares_them(tmp_path) -> None:
    first = Settings(data_dir=tmp_path)
    key = first.secret("secret_key")
    data_key = first.secret("data_key")
    assert len(base64.b64decode(data_key)) == 32
    assert (tmp_path / "secret_key.txt").stat().st_mode & 0o777 == 0o600
    second = Settings(data_dir=tmp_path)
    assert second.secret("secret_key") == key
    assert second.secret("data_key") == data_key


def test_another_process_reuses_the_generated_secret(tmp_path) -> None:
    key = Settings(data_dir=tmp_path).secret("index_key")
    out = subprocess.run(
        [sys.executable, "-c",
         "from portal.base.settings import Settings; print(Settings().secret('index_key'))"],
        env={"PORTAL_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=True,
    )
    assert out.stdout.strip() == key


def test_production_refuses_missing_secrets(tmp_path) -> None:
    settings = Settings(env="production", data_dir=tmp_path)
    with pytest.raises(SettingsError, match="PORTAL_SECRET_KEY must be set"):
        settings.check_production()
    assert not (tmp_path / "secret_key.txt").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"secret_key": "change-me"}, "default value"),
        ({"secret_key": "short-but-real"}, "at least 32"),
        ({"data_key": base64.b64encode(b"x" * 16).decode()}, "32 bytes"),
        ({"data_key": "not base64!"}, "32 bytes"),
    ],
)
def test_production_refuses_weak_secrets(tmp_path, overrides, message) -> None:
    good = {
        "secret_key": "s" * 48,
        "data_key": base64.b64encode(b"d" * 32).decode(),
        "index_key": base64.b64encode(b"i" * 32).decode(),
    }
    settings = Settings(env="production", data_dir=tmp_path, **{**good, **overrides})
    with pytest.raises(SettingsError, match=message):
        settings.check_production()


def test_production_accepts_real_secrets(tmp_path) -> None:
    settings = Settings(
        env="production",
        data_dir=tmp_path,
        secret_key="s" * 48,
        data_key=base64.b64encode(b"d" * 32).decode(),
        index_key=base64.b64encode(b"i" * 32).decode(),
    )
    settings.check_production()


def test_settings_read_the_portal_prefix(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PORTAL_CERT_VALID_DAYS", "30")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.cert_valid_days == 30
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'portal.db'}"
