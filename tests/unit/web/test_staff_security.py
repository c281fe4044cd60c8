"""Staff sign-in: TOTP enrolment and codes, recovery codes, production enforcement, throttled
logins, "log out everywhere"."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator

import pyotp
import pytest
from bs4 import BeautifulSoup
from limits import storage, strategies
from sqlmodel import select
from starlette.testclient import TestClient

from portal import accounts
from portal.accounts import RecoveryCode, User
from portal.app import create_app
from portal.base import crypto
from portal.base.settings import Settings
from portal.web import accounts as web_accounts
from tests.unit.conftest import STRONG_PASSWORD, Auth, csrf_from, make_user
from tests.unit.records.test_certificate_page import decode

MOD = "mod@example.com"


class Clock:
    """The time TOTP codes are checked against, moved by the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = float(int(time.time()) // 30 * 30 + 5)  # 5 s into a step
        monkeypatch.setattr(accounts, "_clock", lambda: self.now)

    def code(self, secret: str, steps: int = 0) -> str:
        return pyotp.TOTP(secret).at(self.now + steps * 30)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


def user_row(session, email: str = MOD) -> User:  # type: ignore[no-untyped-def]
    session.rollback()
    user = session.exec(select(User).where(User.email == email)).one()
    session.refresh(user)
    return user


def post(client: TestClient, path: str, data: dict[str, str], *, page: str):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get(page).text)
    return client.post(path, data={**data, "csrf_token": token})


def text_of(html: str) -> str:
    return BeautifulSoup(html, "html.parser").get_text(" ", strip=True)


def error_text(html: str, name: str) -> str:
    node = BeautifulSoup(html, "html.parser").find(id=f"{name}-error")
    return node.get_text(" ", strip=True) if node else ""


def summary_text(html: str) -> str:
    box = BeautifulSoup(html, "html.parser").select_one(".error-summary")
    return box.get_text(" ", strip=True) if box else ""


def start_enrolment(client: TestClient) -> tuple[str, str]:
    """Open the set-up page; return its HTML and the key it shows."""
    page = post(client, "/account/security/totp", {}, page="/account/security")
    assert page.status_code == 200
    key = BeautifulSoup(page.text, "html.parser").find(id="totp-key").get_text()
    return page.text, key.replace(" ", "")


def enrol(client: TestClient, clock: Clock) -> tuple[str, list[str]]:
    """Set up TOTP through the pages; return the secret and the recovery codes."""
    _html, secret = start_enrolment(client)
    done = post(client, "/account/security/totp/confirm", {"code": clock.code(secret)},
                page="/account/security")
    assert done.status_code == 200, summary_text(done.text)
    codes = [c.get_text() for c in BeautifulSoup(done.text, "html.parser").select("ol code")]
    return secret, codes


def qr_modules(svg: str) -> list[list[bool]]:
    """The dark modules of the served QR code (segno's path of horizontal runs, scaled)."""
    root = BeautifulSoup(svg, "html.parser").find("svg")
    scale = int(re.search(r"scale\((\d+)\)", str(root)).group(1))
    size = int(root["width"]) // scale
    grid = [[False] * size for _ in range(size)]
    x = y = 0.0
    path = root.find("path", attrs={"stroke": True})
    for command, a, b in re.findall(r"([A-Za-z])\s*(-?[\d.]+)(?:\s+(-?[\d.]+))?", path["d"]):
        if command == "M":
            x, y = float(a), float(b)
        elif command == "m":
            x, y = x + float(a), y + float(b)
        else:
            for column in range(int(x), int(x + float(a))):
                grid[int(y)][column] = True
            x += float(a)
    return grid


@pytest.fixture
def mod(client: TestClient, session) -> TestClient:  # type: ignore[no-untyped-def]
    make_user(session, email=MOD, role="moderator")
    assert Auth(client).log_in(MOD).headers["location"] == "/review"
    return client


# --- enrolment -----------------------------------------------------------------------------


def test_development_staff_are_not_forced_and_see_it_off(mod: TestClient) -> None:
    assert mod.get("/review").status_code == 200
    page = mod.get("/account/security")
    assert page.status_code == 200
    assert "Off" in text_of(page.text) and "Set up an authenticator app" in page.text
    assert "need a code from an authenticator app" not in page.text


def test_applicants_have_no_staff_security_page(client, auth) -> None:
    auth.sign_up("applicant@example.com")
    assert client.get("/account/security").status_code == 403


def test_enrolment_shows_qr_and_key_then_stores_the_secret_encrypted(
    mod: TestClient, session, settings, clock: Clock
) -> None:
    html, secret = start_enrolment(mod)
    soup = BeautifulSoup(html, "html.parser")
    svg = soup.find("svg")
    assert svg["role"] == "img" and svg["aria-label"]
    uri = decode(qr_modules(str(svg)))
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
    assert "mod%40example.com" in uri and "issuer=Livestream" in uri
    code = soup.find("input", id="code")
    assert code["autocomplete"] == "one-time-code" and code["inputmode"] == "numeric"
    assert soup.find("label", attrs={"for": "code"})
    user = user_row(session)
    assert user.totp_secret and secret.encode() not in user.totp_secret
    assert user.totp_enrolled_at is None  # waiting for the first code
    cipher = crypto.cipher_for(settings)
    assert cipher.decrypt_text(user.totp_secret, context=f"user:{user.id}:totp".encode()) == secret
    with pytest.raises(crypto.DecryptionError):
        cipher.decrypt_text(user.totp_secret, context=b"user:999:totp")

    wrong = post(mod, "/account/security/totp/confirm", {"code": "000000"},
                 page="/account/security")
    assert wrong.status_code == 422 and "not right" in error_text(wrong.text, "code")
    # The same key is shown again to scan or type.
    assert BeautifulSoup(wrong.text, "html.parser").find(id="totp-key").get_text().replace(
        " ", "") == secret

    done = post(mod, "/account/security/totp/confirm", {"code": clock.code(secret)},
                page="/account/security")
    assert done.status_code == 200
    assert done.headers["cache-control"] == "no-store"
    codes = [c.get_text() for c in BeautifulSoup(done.text, "html.parser").select("ol code")]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[0-9a-f]{5}(-[0-9a-f]{5}){3}", c) for c in codes)
    user = user_row(session)
    assert user.has_totp and user.totp_last_step == int(clock.now // 30)
    rows = session.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all()
    assert len(rows) == 10 and all(len(r.code_hash) == 64 for r in rows)
    assert not {c.replace("-", "") for c in codes} & {r.code_hash for r in rows}
    # The session that enrolled goes on.
    page = mod.get("/account/security")
    assert page.status_code == 200 and "Recovery codes left" in page.text
    assert "totp-key" not in page.text  # the key is never shown again


def test_enrolment_ends_other_password_only_sessions(app, mod: TestClient, clock: Clock) -> None:
    with TestClient(app, follow_redirects=False) as other:
        Auth(other).log_in(MOD)
        assert other.get("/review").status_code == 200
        enrol(mod, clock)
        assert other.get("/review").status_code == 303
    assert mod.get("/review").status_code == 200


# --- logging in with a code ------------------------------------------------------------------


def log_in_password(client: TestClient, email: str = MOD):  # type: ignore[no-untyped-def]
    client.cookies.clear()
    return Auth(client).log_in(email)


def send_code(client: TestClient, code: str, field: str = "code"):  # type: ignore[no-untyped-def]
    return post(client, "/login/code", {field: code}, page="/login/code")


def test_login_asks_for_a_code_and_gives_nothing_before_it(mod, clock) -> None:
    secret, _codes = enrol(mod, clock)
    response = log_in_password(mod)
    assert response.headers["location"] == "/login/code"
    # Half logged in: no page of the account opens.
    assert mod.get("/review").status_code == 303
    assert mod.get("/account/security").status_code == 303
    page = mod.get("/login/code")
    soup = BeautifulSoup(page.text, "html.parser")
    field = soup.find("input", id="code")
    assert field["autocomplete"] == "one-time-code" and field["inputmode"] == "numeric"
    assert soup.find("label", attrs={"for": "code"}).get_text(strip=True) == "6-digit code"
    assert soup.find("label", attrs={"for": "recovery_code"})

    wrong = send_code(mod, "123456" if clock.code(secret, 1) != "123456" else "654321")
    assert wrong.status_code == 422 and "not right" in error_text(wrong.text, "code")
    clock.now += 30
    ok = send_code(mod, clock.code(secret))
    assert ok.status_code == 303 and ok.headers["location"] == "/review"
    assert mod.get("/review").status_code == 200


def test_a_code_is_accepted_once_and_within_one_step(mod, clock) -> None:
    secret, _codes = enrol(mod, clock)
    # The code used to enrol cannot log in (same step).
    log_in_password(mod)
    assert send_code(mod, clock.code(secret)).status_code == 422
    # One step late still works (valid_window=1)...
    clock.now += 60
    assert send_code(mod, clock.code(secret, -1)).status_code == 303
    # ...but not twice, nor two steps away (four failures: under the throttle's five).
    log_in_password(mod)
    assert send_code(mod, clock.code(secret, -1)).status_code == 422
    clock.now += 120
    assert send_code(mod, clock.code(secret, -2)).status_code == 422
    assert send_code(mod, clock.code(secret, 2)).status_code == 422
    assert send_code(mod, clock.code(secret)).status_code == 303


def test_a_recovery_code_logs_in_once(mod, session, clock) -> None:
    _secret, codes = enrol(mod, clock)
    log_in_password(mod)
    # Typed in capitals, without the hyphens: still the code.
    used = send_code(mod, codes[0].replace("-", " ").upper(), field="recovery_code")
    assert used.status_code == 303
    assert used.headers["location"] == "/account/security?recovery_used=1"
    page = mod.get(used.headers["location"])
    assert "You have 9 left" in page.text
    log_in_password(mod)
    again = send_code(mod, codes[0], field="recovery_code")
    assert again.status_code == 422
    assert "has been used already" in error_text(again.text, "recovery_code")
    assert BeautifulSoup(again.text, "html.parser").find("details").has_attr("open")
    assert send_code(mod, codes[1], field="recovery_code").status_code == 303


def test_the_code_step_expires(mod, clock, monkeypatch) -> None:
    secret, _codes = enrol(mod, clock)
    log_in_password(mod)
    token = csrf_from(mod.get("/login/code").text)
    monkeypatch.setattr(web_accounts, "PENDING_SECONDS", -1)
    clock.now += 30
    late = mod.post("/login/code", data={"code": clock.code(secret), "csrf_token": token})
    assert late.headers["location"] == "/login?done=expired"
    assert "took too long" in mod.get(late.headers["location"]).text
    assert mod.get("/review").status_code == 303


def test_the_code_step_ends_with_log_out_everywhere(app, mod, clock) -> None:
    secret, _codes = enrol(mod, clock)
    log_in_password(mod)  # password given, code not yet
    token = csrf_from(mod.get("/login/code").text)
    with TestClient(app, follow_redirects=False) as other:
        Auth(other).log_in(MOD)
        clock.now += 30
        assert send_code(other, clock.code(secret)).status_code == 303
        post(other, "/logout/everywhere", {}, page="/account/security")
    clock.now += 30
    late = mod.post("/login/code", data={"code": clock.code(secret), "csrf_token": token})
    assert late.headers["location"] == "/login?done=expired"


def test_new_recovery_codes_and_removing_the_app_need_a_code(mod, session, clock) -> None:
    secret, old = enrol(mod, clock)
    refused = post(mod, "/account/security/recovery-codes", {"code": "000000"},
                   page="/account/security")
    assert refused.status_code == 422 and "not right" in error_text(refused.text, "code")
    clock.now += 30
    fresh = post(mod, "/account/security/recovery-codes", {"code": clock.code(secret)},
                 page="/account/security")
    assert fresh.status_code == 200 and fresh.headers["cache-control"] == "no-store"
    new = [c.get_text() for c in BeautifulSoup(fresh.text, "html.parser").select("ol code")]
    assert len(new) == 10 and not set(new) & set(old)
    user = user_row(session)
    assert not accounts.use_recovery_code(session, user, old[2])
    session.rollback()  # end the transaction the attempt opened: the app writes next

    refused = post(mod, "/account/security/totp/remove", {"remove_code": "000000"},
                   page="/account/security")
    assert refused.status_code == 422 and error_text(refused.text, "remove_code")
    removed = post(mod, "/account/security/totp/remove", {"remove_code": new[0]},
                   page="/account/security")
    assert removed.headers["location"] == "/account/security?removed=1"
    user = user_row(session)
    assert not user.has_totp and user.totp_secret is None
    assert not session.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all()
    assert log_in_password(mod).headers["location"] == "/review"


# --- production: staff must enrol -------------------------------------------------------------


@pytest.fixture
def production(settings: Settings) -> Iterator[TestClient]:
    key = base64.b64encode(b"d" * 32).decode()
    prod = settings.model_copy(update={
        "env": "production", "secret_key": "p" * 48, "data_key": key,
        "index_key": base64.b64encode(b"i" * 32).decode(),
        # Production names its public address: never a loopback one.
        "issuer": "https://testserver", "base_url": "https://testserver",
    })
    app = create_app(prod)
    # Secure cookies: the client must speak https.
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client
    app.state.engine.dispose()


def test_production_staff_enrol_before_anything_else(production, session, clock) -> None:
    make_user(session, email=MOD, role="moderator")
    assert Auth(production).log_in(MOD).headers["location"] == "/account/security"
    for path in ("/review", "/", "/me", "/audit"):
        assert production.get(path).headers["location"] == "/account/security"
    refused = post(production, "/review/XX/approve", {}, page="/account/security")
    assert refused.headers["location"] == "/account/security"
    page = production.get("/account/security")
    assert page.status_code == 200
    assert "need a code from an authenticator app at every login" in page.text
    secret, _codes = enrol(production, clock)
    assert production.get("/review").status_code == 200
    # From now on the password alone is not enough.
    production.cookies.clear()
    assert Auth(production).log_in(MOD).headers["location"] == "/login/code"
    clock.now += 30
    assert send_code(production, clock.code(secret)).headers["location"] == "/review"


def test_production_staff_may_log_out_before_enrolling(production, session) -> None:
    make_user(session, email=MOD, role="moderator")
    Auth(production).log_in(MOD)
    out = post(production, "/logout", {}, page="/account/security")
    assert out.headers["location"] == "/?logged_out=1"
    assert production.get("/account/security").headers["location"].startswith("/login")


def test_production_applicants_are_not_asked_for_totp(production, session) -> None:
    make_user(session, email="applicant@example.com")
    assert Auth(production).log_in("applicant@example.com").headers["location"] == "/me"
    assert production.get("/me").status_code == 200


# --- throttling --------------------------------------------------------------------------------


WRONG = "not the right password"


def attempt(client: TestClient, email: str, password: str = WRONG):  # type: ignore[no-untyped-def]
    return Auth(client).log_in(email, password)


def test_failed_logins_make_the_account_wait_known_or_not(client, session) -> None:
    make_user(session, email="known@example.com")
    for email in ("known@example.com", "nobody@example.com"):
        for _ in range(5):
            assert attempt(client, email).status_code == 422
        # Even the right password now waits, with the same words for an unknown address.
        blocked = attempt(client, email, STRONG_PASSWORD)
        assert blocked.status_code == 429
        assert "Too many attempts: try again in 5 minutes" in summary_text(blocked.text)
    assert attempt(client, "Known@Example.com", STRONG_PASSWORD).status_code == 429
    # Another account from the same address is not held up by them.
    make_user(session, email="other@example.com")
    assert attempt(client, "other@example.com", STRONG_PASSWORD).status_code == 303


def test_a_success_does_not_reset_the_counts(client, session) -> None:
    make_user(session, email="a@example.com")
    for _ in range(4):
        attempt(client, "a@example.com")
    assert attempt(client, "a@example.com", STRONG_PASSWORD).status_code == 303
    client.cookies.clear()
    assert attempt(client, "a@example.com").status_code == 422
    assert attempt(client, "a@example.com", STRONG_PASSWORD).status_code == 429


def test_failed_logins_make_the_network_address_wait(client, session) -> None:
    make_user(session, email="victim@example.com")
    for n in range(20):
        assert attempt(client, f"guess{n}@example.com").status_code == 422
    blocked = attempt(client, "victim@example.com", STRONG_PASSWORD)
    assert blocked.status_code == 429 and "Too many attempts" in summary_text(blocked.text)


def test_an_unknown_browser_waits_minutes_never_a_day(monkeypatch) -> None:
    now = [1_000_000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
    rules = web_accounts.ACCOUNT_LIMITS
    key = ("login-account", "x@example.com")

    def fail(times: int) -> None:
        for _ in range(times):
            assert not web_accounts.wait_seconds(limiter, rules, *key)
            web_accounts.count_failure(limiter, rules, *key)

    fail(5)
    assert web_accounts.wait_seconds(limiter, rules, *key) == pytest.approx(5 * 60)
    longest = 0.0
    for _ in range(30):  # a guesser who comes back as soon as it may, for hours
        now[0] += web_accounts.wait_seconds(limiter, rules, *key) + 1
        fail(5 if web_accounts.wait_seconds(limiter, rules, *key) == 0 else 0)
        longest = max(longest, web_accounts.wait_seconds(limiter, rules, *key))
    assert 5 * 60 < longest <= 3600
    assert web_accounts.try_again_in(longest).endswith(("minutes", "1 hour"))


def _browser(app, address: str) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(app, follow_redirects=False, client=(address, 50000))


def test_guessers_elsewhere_do_not_hold_up_the_owner_s_known_browser(app, session) -> None:
    make_user(session, email="owner@example.com")
    owner = _browser(app, "198.51.100.7")
    assert attempt(owner, "owner@example.com", STRONG_PASSWORD).status_code == 303
    assert "portal_device" in owner.cookies
    Auth(owner).log_out()
    # Five wrong passwords from five addresses.
    for n in range(5):
        assert attempt(_browser(app, f"203.0.113.{n}"), "owner@example.com").status_code == 422
    # The owner's right password, from the browser that logged in before: in at once.
    assert attempt(owner, "owner@example.com", STRONG_PASSWORD).status_code == 303
    assert owner.get("/me").status_code == 200
    # A browser never used before, even at the owner's address, is slowed for minutes, not
    # locked out for a day; once the wait is over the right password opens the account.
    new = _browser(app, "198.51.100.7")
    blocked = attempt(new, "owner@example.com", STRONG_PASSWORD)
    assert blocked.status_code == 429
    assert "Too many attempts: try again in 5 minutes" in summary_text(blocked.text)


def test_a_known_browser_counts_its_own_failures_and_only_for_its_account(app, session):
    make_user(session, email="owner@example.com")
    make_user(session, email="other@example.com")
    owner = _browser(app, "198.51.100.7")
    assert attempt(owner, "owner@example.com", STRONG_PASSWORD).status_code == 303
    Auth(owner).log_out()
    for _ in range(5):
        assert attempt(owner, "owner@example.com").status_code == 422
    assert attempt(owner, "owner@example.com", STRONG_PASSWORD).status_code == 429
    # Its cookie exempts nothing for another account, nor does a cookie it did not get.
    for _ in range(5):
        assert attempt(owner, "other@example.com").status_code == 422
    assert attempt(owner, "other@example.com", STRONG_PASSWORD).status_code == 429
    forged = _browser(app, "192.0.2.1")
    forged.cookies.set("portal_device", "eyJhIjoiIiwiZCI6IngifQ.forged")
    assert attempt(forged, "other@example.com", STRONG_PASSWORD).status_code == 429


def test_second_factor_codes_are_throttled_per_account(mod, clock) -> None:
    secret, _codes = enrol(mod, clock)
    log_in_password(mod)
    bad = "000000" if clock.code(secret, 1) != "000000" else "111111"
    for _ in range(5):
        assert send_code(mod, bad).status_code == 422
    clock.now += 30
    blocked = send_code(mod, clock.code(secret))
    assert blocked.status_code == 429 and "Too many attempts" in summary_text(blocked.text)


# --- log out everywhere ------------------------------------------------------------------------


def test_staff_log_out_everywhere(app, mod: TestClient, session) -> None:
    with TestClient(app, follow_redirects=False) as other:
        Auth(other).log_in(MOD)
        done = post(mod, "/logout/everywhere", {}, page="/account/security")
        assert done.headers["location"] == "/login?done=everywhere"
        assert "logged out on every device" in mod.get(done.headers["location"]).text
        assert mod.get("/review").status_code == 303
        assert other.get("/review").status_code == 303
    assert accounts.live_sessions(session, user_row(session)) == []


def test_applicant_log_out_everywhere_from_me(app, client, auth, session) -> None:
    auth.sign_up("applicant@example.com")
    with TestClient(app, follow_redirects=False) as other:
        Auth(other).log_in("applicant@example.com")
        page = client.get("/me").text
        assert 'action="/logout/everywhere"' in page
        done = post(client, "/logout/everywhere", {}, page="/me")
        assert done.headers["location"] == "/login?done=everywhere"
        assert client.get("/me").status_code == 303
        assert other.get("/me").status_code == 303
    assert Auth(client).log_in("applicant@example.com").headers["location"] == "/me"
