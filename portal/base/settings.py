"""Settings from the environment (prefix ``PORTAL_``); development secrets live in the data dir."""

from __future__ import annotations

import base64
import ipaddress
import os
import secrets
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(RuntimeError):
    """A setting is missing or unsafe for the environment it runs in."""


# Values that ship in examples or docs; production refuses them.
KNOWN_WEAK = {"", "change-me", "changeme", "secret", "dev", "development", "test"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PORTAL_", extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("./var")
    # Empty means "portal.db in the data dir" so that PORTAL_DATA_DIR alone moves everything.
    database_url: str = ""
    # A streaming replica of a PostgreSQL primary for the reads that may lag (DESIGN §9): the
    # verification API, the auditors' search and exports, the log's tiles, entries and proofs.
    # Empty: everything reads from the primary. Beyond read_max_lag_seconds of replay lag, or
    # when it cannot be reached within read_connect_timeout seconds, reads go to the primary,
    # which is tried again after read_retry_seconds (docs/deploy.md, "Read replicas").
    read_database_url: str = ""
    read_max_lag_seconds: float = 5.0
    read_connect_timeout: int = 2
    read_retry_seconds: float = 5.0
    secret_key: str = ""
    data_key: str = ""
    index_key: str = ""
    signing_key: str = ""
    # The issuer named in certificates and checkpoints, and the log's origin; never to change
    # once certificates exist. Development: the address `portal serve` serves (else
    # DEVELOPMENT_ISSUER); production: required, and not a loopback address.
    issuer: str = ""
    base_url: str = ""
    # How often the server signs a new checkpoint of the log when it grew (DESIGN §6); 0 leaves
    # it to whatever else publishes (another process).
    log_publish_seconds: float = 1.0
    # Witnesses (C2SP tlog-witness, DESIGN §6): entries separated by ";" or new lines, each the
    # witness's submission URL and its verifier key ("https://w.example/ w.example/w1+ab12…+BA…").
    witnesses: str = ""
    # How many of them must cosign a checkpoint before it is published (at most their number).
    witness_quorum: int = 1
    witness_timeout_seconds: float = 5.0
    cert_valid_days: int = 365
    refresh_days: int = 183
    # Days after a sanction within which the person may appeal against it (DESIGN §5).
    appeal_days: int = 15
    redis_url: str = ""
    smtp_url: str = ""
    mail_from: str = "Livestream Registration Portal <no-reply@localhost>"
    # Per API key (the `limits` notation), counted across processes when PORTAL_REDIS_URL is set.
    rate_limit: str = "600/minute"
    # The largest API request body, in bytes.
    api_max_body_bytes: int = 1_048_576
    # Buyers' "report a problem" form on /verify/<number>, per network address.
    report_rate_limit: str = "5/hour"
    outbound_allow: str = ""
    session_idle_minutes: int = 120
    session_max_hours: int = 12
    email_token_max_age_hours: int = 72
    # How long a password-reset link works.
    password_reset_max_age_minutes: int = 60
    # Comma-separated base64 data keys that are retired but may still decrypt old records.
    old_data_keys: str = ""
    # Years after a registration ends before `portal retention purge` erases its personal data.
    retention_years: int = 3
    identity_provider_url: str = ""
    identity_provider_token: str = ""
    identity_provider_timeout: float = 5.0
    # The whole probe of a declared shop site, in seconds.
    probe_timeout: float = 8.0
    # How often the server runs the scheduled jobs itself; 0 leaves it to `portal jobs run`.
    jobs_interval_seconds: int = 300
    # Webhooks (DESIGN §7): how often the server sends due deliveries (0 leaves it to
    # `portal webhooks run`), the time limit of one request in seconds, and the attempts after
    # which a delivery is given up (40 attempts under a one-hour backoff cap: about a day).
    webhook_interval_seconds: float = 2.0
    webhook_timeout_seconds: float = 10.0
    webhook_max_attempts: int = 40
    # Screening: Jaro–Winkler similarity from which a name counts as close to a blacklisted one.
    name_match_threshold: float = 0.9
    # Risk levels: total declared followers from which a registration is medium, high, key.
    risk_medium_followers: int = 50_000
    risk_high_followers: int = 500_000
    risk_key_followers: int = 5_000_000
    # Comma-separated terms that channel handles, bios and avatar names must not contain.
    banned_terms: str = (
        "赌博,博彩,色情,代开发票,刷单,假货,高仿,裸聊,gambling,casino,counterfeit,replica"
    )

    @field_validator("issuer")
    @classmethod
    def _issuer_default(cls, value: str) -> str:
        return value.strip()

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def log_origin(self) -> str:
        """The C2SP origin of the log (and its note key name): ``<issuer host>/log``."""
        parts = urlsplit(self.issuer)
        return f"{parts.netloc}{parts.path.rstrip('/')}/log"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'portal.db'}"

    def secret(self, name: str) -> str:
        """Return a secret setting, generating and keeping it in the data dir in development."""
        value: str = getattr(self, name)
        if value:
            if self.is_production and value.strip().lower() in KNOWN_WEAK:
                raise SettingsError(f"PORTAL_{name.upper()} is a default value; set a real secret")
            return value
        if self.is_production:
            raise SettingsError(f"PORTAL_{name.upper()} must be set in production")
        value = _read_or_create(self.data_dir / f"{name}.txt", _GENERATORS[name])
        object.__setattr__(self, name, value)
        return value

    def check_production(self) -> None:
        """Refuse to start production with generated or default secrets."""
        if not self.is_production:
            return
        for name in ("secret_key", "data_key", "index_key"):
            self.secret(name)
        if len(self.secret_key) < 32:
            raise SettingsError("PORTAL_SECRET_KEY must be at least 32 characters")
        try:
            if len(base64.b64decode(self.data_key, validate=True)) != 32:
                raise ValueError
        except ValueError as exc:
            raise SettingsError("PORTAL_DATA_KEY must be 32 bytes, base64-encoded") from exc
        for name in ("issuer", "base_url"):
            problem = public_url_problem(getattr(self, name))
            if problem:
                raise SettingsError(f"PORTAL_{name.upper()} {problem} (production needs the "
                                    "public https address the portal is reached at)")

    def model_post_init(self, _context: object) -> None:
        if not self.issuer and not self.is_production:
            object.__setattr__(self, "issuer", DEVELOPMENT_ISSUER)


# The issuer of development without PORTAL_ISSUER: `portal serve`'s default address.
DEVELOPMENT_ISSUER = "http://localhost:8000"
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def is_loopback_host(host: str) -> bool:
    """Whether a host name or address is this machine (or unspecified, as 0.0.0.0 is)."""
    host = host.strip("[]").lower().rstrip(".")
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def public_url_problem(value: str) -> str | None:
    """Why ``value`` cannot be a production issuer or base URL, or None when it can."""
    if not value:
        return "must be set in production"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"is {value!r}, not an http(s) URL"
    if is_loopback_host(parts.hostname):
        return f"is {value!r}, a loopback address"
    return None


def served_address(host: str, port: int) -> str:
    """The address `portal serve --host --port` answers at, as development's issuer."""
    shown = "localhost" if not host or is_loopback_host(host) else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def _random_b64() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


_GENERATORS = {
    "secret_key": lambda: secrets.token_urlsafe(48),
    "data_key": _random_b64,
    "index_key": _random_b64,
}


def _read_or_create(path: Path, make: object) -> str:
    """Read a generated secret, or create it so that every later process shares it."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()  # type: ignore[operator]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    try:
        # link() fails if another process won the race: then its value is the one to use.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()


def get_settings() -> Settings:
    return Settings()
