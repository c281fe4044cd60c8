from __future__ import annotations

import base64
import re
import subprocess
import sys

import pytest

from portal.base.settings import DEVELOPMENT_ISSUER, Settings, SettingsError, served_address


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
        issuer="https://registry.example.gov.cn",
        base_url="https://registry.example.gov.cn",
    )
    settings.check_production()
    assert settings.log_origin == "registry.example.gov.cn/log"


PUBLIC = "https://registry.example.gov.cn"


@pytest.mark.parametrize(
    ("issuer", "base_url", "message"),
    [
        ("", PUBLIC, "PORTAL_ISSUER must be set in production"),
        (PUBLIC, "", "PORTAL_BASE_URL must be set in production"),
        ("http://localhost:8000", PUBLIC, "PORTAL_ISSUER is 'http://localhost:8000', a loopback"),
        ("http://127.0.0.1:8000", PUBLIC, "PORTAL_ISSUER is 'http://127.0.0.1:8000', a loopback"),
        (PUBLIC, "http://[::1]:8000", "PORTAL_BASE_URL is 'http://[::1]:8000', a loopback"),
        (PUBLIC, "http://0.0.0.0", "PORTAL_BASE_URL is 'http://0.0.0.0', a loopback"),
        ("registry.example.gov.cn", PUBLIC, "PORTAL_ISSUER is 'registry.example.gov.cn', not an"),
    ],
)
def test_production_refuses_an_unset_or_loopback_issuer_or_base_url(
        tmp_path, issuer, base_url, message) -> None:
    settings = Settings(
        env="production", data_dir=tmp_path, secret_key="s" * 48,
        data_key=base64.b64encode(b"d" * 32).decode(),
        index_key=base64.b64encode(b"i" * 32).decode(), issuer=issuer, base_url=base_url,
    )
    with pytest.raises(SettingsError, match=re.escape(message)):
        settings.check_production()


def test_development_takes_the_issuer_from_the_address_served(tmp_path) -> None:
    assert Settings(data_dir=tmp_path).issuer == DEVELOPMENT_ISSUER
    assert Settings(data_dir=tmp_path, issuer="http://10.0.0.5:9000").issuer == \
        "http://10.0.0.5:9000"
    assert served_address("127.0.0.1", 8000) == DEVELOPMENT_ISSUER == "http://localhost:8000"
    assert served_address("0.0.0.0", 8080) == "http://localhost:8080"  # noqa: S104
    assert served_address("10.0.0.5", 9000) == "http://10.0.0.5:9000"


def test_settings_read_the_portal_prefix(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PORTAL_CERT_VALID_DAYS", "30")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.cert_valid_days == 30
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'portal.db'}"
