"""People who log in: applicants (self sign-up) and staff (moderators, auditors, admins)."""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
import time
from datetime import datetime, timedelta

import pyotp
from email_validator import EmailNotValidError, validate_email
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from passlib.context import CryptContext
from sqlalchemy import CursorResult, func, or_, update
from sqlmodel import Field, Session, SQLModel, col, delete, select
from zxcvbn import zxcvbn

from portal.base.crypto import DataCipher
from portal.base.db import UTCDateTime, utcnow
from portal.base.errors import FormErrors
from portal.base.i18n import DEFAULT_LANGUAGE, LANGUAGES, current_language
from portal.base.i18n import gettext as _


class Role(enum.StrEnum):
    applicant = "applicant"
    moderator = "moderator"
    auditor = "auditor"
    admin = "admin"


STAFF_ROLES = frozenset({Role.moderator, Role.auditor, Role.admin})

PASSWORD_MIN = 12
PASSWORD_MAX = 256  # long enough for any passphrase, short enough to hash cheaply
EMAIL_MAX = 254

# OWASP's minimum for argon2id: m=19 MiB, t=2, p=1.
pwd_context = CryptContext(
    schemes=["argon2"],
    argon2__type="ID",
    argon2__memory_cost=19456,
    argon2__time_cost=2,
    argon2__parallelism=1,
)
# Verified against when the email is unknown, so both paths cost one argon2 verification.
_DUMMY_HASH = pwd_context.hash("not-a-real-password-just-timing")


class UserBase(SQLModel):
    email: str = Field(max_length=EMAIL_MAX, unique=True, index=True)
    role: str = Field(default=Role.applicant, max_length=16)


class User(UserBase, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    password_hash: str | None = Field(default=None, max_length=255)
    email_verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    is_active: bool = Field(default=True)
    # Auditors: "national" or comma-separated GB/T 2260 region codes (DESIGN §3).
    jurisdiction: str = Field(default="national", max_length=500)
    # TOTP (staff): the base32 secret as AES-GCM ciphertext bound to "user:<id>:totp". Set but
    # not enrolled: an enrolment waiting for its first code.
    totp_secret: bytes | None = Field(default=None)
    totp_enrolled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The 30-second step of the last code accepted: no code is accepted twice (RFC 6238 §5.2).
    totp_last_step: int | None = Field(default=None)
    # The language of the messages sent to this person (emails, /me): the one in use at
    # sign-up, changeable on /me; never the language of the staff member who acts.
    language: str = Field(default_factory=current_language, max_length=16,
                          sa_column_kwargs={"server_default": DEFAULT_LANGUAGE})

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def has_totp(self) -> bool:
        return self.totp_enrolled_at is not None


class LoginSession(SQLModel, table=True):
    """One login, kept on the server: the cookie holds only its random id, and every request
    checks this row, so ending it (logout, "log out everywhere", a new password) ends the
    session for whoever holds the cookie. Stored as the SHA-256 of the id, so a copy of the
    table opens no session."""

    __tablename__ = "login_sessions"

    id: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="users.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Waiting for its second factor (staff with TOTP): opens nothing until the code is given.
    pending: bool = Field(default=False)
    user_agent: str = Field(default="", max_length=100)


class RecoveryCode(SQLModel, table=True):
    """A single-use code that stands in for a TOTP code (a lost phone); stored as SHA-256."""

    __tablename__ = "recovery_codes"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    code_hash: str = Field(max_length=64)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


def normalize_email(raw: str) -> str:
    """Check an email address's form and return it with a lower-case domain."""
    raw = (raw or "").strip()
    if not raw:
        raise ValueError(_("Enter your email address"))
    if len(raw) > EMAIL_MAX:
        raise ValueError(_("Email address must be %(max)d characters or fewer", max=EMAIL_MAX))
    try:
        info = validate_email(raw, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        raise ValueError(
            _("Enter an email address in the correct format, like name@example.com")
        ) from None
    return info.normalized.lower()


def password_problem(password: str, *, email: str = "") -> str | None:
    """Say what is wrong with a new password, or None when it is acceptable."""
    if not password:
        return _("Enter a password")
    if len(password) < PASSWORD_MIN:
        return _("Password must be at least %(min)d characters", min=PASSWORD_MIN)
    if len(password) > PASSWORD_MAX:
        return _("Password must be %(max)d characters or fewer", max=PASSWORD_MAX)
    # zxcvbn ships the lists of common passwords, names and words it scores against.
    result = zxcvbn(password[:100], user_inputs=[email, *email.split("@")])
    if result["score"] < 3:
        return _("This password is too common or too easy to guess. Try a longer phrase of "
                 "unrelated words")
    return None


def hash_password(password: str) -> str:
    return pwd_context.hash(password)


def find_user_by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(func.lower(User.email) == email.lower())).first()


def check_new_account(email: str, password: str | None) -> tuple[str, dict[str, str]]:
    """The normalised email and what is wrong with the email's form and the password.

    Whether the address is taken is not checked here: sign-up must not tell (no enumeration).
    """
    errors: dict[str, str] = {}
    try:
        email = normalize_email(email)
    except ValueError as exc:
        errors["email"] = str(exc)
    if password is not None and (problem := password_problem(password, email=email)):
        errors["password"] = problem
    return email, errors


def create_user(
    session: Session, *, email: str, password: str | None, role: Role = Role.applicant
) -> User:
    """Create an account after checking its email and password; the caller commits."""
    email, errors = check_new_account(email, password)
    if "email" not in errors and find_user_by_email(session, email):
        errors["email"] = _("An account with this email address already exists. Log in instead")
    if errors:
        raise FormErrors(errors)
    user = User(
        email=email,
        role=role,
        password_hash=hash_password(password) if password is not None else None,
    )
    if role in STAFF_ROLES:
        # Staff addresses are given by an admin; there is no link for them to follow.
        user.email_verified_at = utcnow()
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, *, email: str, password: str) -> User | None:
    """Return the user for a correct email and password of a confirmed address; the same cost
    and answer otherwise."""
    try:
        email = normalize_email(email)
    except ValueError:
        email = ""
    user = find_user_by_email(session, email) if email else None
    if user is None or not user.password_hash or not user.is_active:
        pwd_context.verify(password[:PASSWORD_MAX], _DUMMY_HASH)
        return None
    ok, new_hash = pwd_context.verify_and_update(password[:PASSWORD_MAX], user.password_hash)
    if not ok or not user.email_verified:
        # An account is usable once its address is confirmed: otherwise whoever signed up with
        # an address could tell, by logging in, whether it was free.
        return None
    if new_hash:
        # Parameters changed since this hash was made: keep the stronger one.
        user.password_hash = new_hash
        session.add(user)
        session.flush()
    return user


def set_password(session: Session, user: User, password: str) -> None:
    """Replace a user's password after checking it, ending every session of the account; the
    caller commits."""
    if problem := password_problem(password, email=user.email):
        raise FormErrors({"password": problem})
    user.password_hash = hash_password(password)
    session.add(user)
    session.flush()
    end_all_sessions(session, user)


# --- email verification -----------------------------------------------------------------------

_EMAIL_SALT = "portal.email-verification"


def email_token(secret_key: str, user: User) -> str:
    """A signed token proving control of the user's current email address."""
    return URLSafeTimedSerializer(secret_key, salt=_EMAIL_SALT).dumps(
        {"uid": user.id, "email": user.email}
    )


def verify_email_token(session: Session, secret_key: str, token: str, max_age: int) -> User:
    """Mark the address in a valid token as verified; the caller commits. Raises ValueError
    otherwise."""
    serializer = URLSafeTimedSerializer(secret_key, salt=_EMAIL_SALT)
    try:
        data = serializer.loads(token, max_age=max_age)
    except SignatureExpired:
        raise ValueError(_("This link has expired. Send yourself a new one")) from None
    except BadSignature:
        raise ValueError(_("This link is not valid. Check you copied all of it")) from None
    user = session.get(User, data.get("uid"))
    if user is None or user.email != data.get("email"):
        raise ValueError(_("This link is not valid. Check you copied all of it"))
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
        session.add(user)
        session.flush()
    return user


# --- sessions ---------------------------------------------------------------------------------

SESSION_TOKEN_MAX = 100
_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
             ("MicroMessenger/", "WeChat"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iOS"), ("Windows", "Windows"),
            ("Mac OS X", "macOS"), ("Linux", "Linux"))


def _session_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def user_agent_summary(header: str) -> str:
    """"Firefox, Linux": enough to recognise a session, not the whole fingerprint."""
    header = header or ""
    browser = next((name for mark, name in _BROWSERS if mark in header), "")
    system = next((name for mark, name in _SYSTEMS if mark in header), "")
    return ", ".join(part for part in (browser, system) if part) or header[:40]


def start_session(
    session: Session, user: User, *, lifetime: timedelta, user_agent: str = "",
    pending: bool = False,
) -> str:
    """Open a session for the user and return its id for the cookie; the caller commits.

    ``pending``: the password was right and the second factor is still to come.
    """
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(LoginSession(
        id=_session_key(token), user_id=user.id or 0, created_at=now, last_seen_at=now,
        expires_at=now + lifetime, pending=pending,
        user_agent=user_agent_summary(user_agent)[:100],
    ))
    session.flush()
    return token


def session_user(
    session: Session, token: str | None, *, idle: timedelta, pending: bool = False,
) -> tuple[LoginSession, User] | None:
    """The live session a cookie names and its user; None when it is unknown, ended, expired,
    idle for longer than ``idle`` or its account is deactivated."""
    if not isinstance(token, str) or not token or len(token) > SESSION_TOKEN_MAX:
        return None
    row = session.get(LoginSession, _session_key(token))
    now = utcnow()
    if (row is None or row.ended_at is not None or row.pending != pending
            or row.expires_at <= now or now - row.last_seen_at > idle):
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    return row, user


def touch_session(session: Session, token: str) -> None:
    """Note that the session was used now (its idle timer); the caller commits."""
    session.exec(update(LoginSession).where(col(LoginSession.id) == _session_key(token))
                 .values(last_seen_at=utcnow()))


def end_session(session: Session, token: str | None) -> None:
    """Log out: the session stops working for whoever holds its cookie; the caller commits."""
    if isinstance(token, str) and token and len(token) <= SESSION_TOKEN_MAX:
        session.exec(update(LoginSession)
                     .where(col(LoginSession.id) == _session_key(token))
                     .where(col(LoginSession.ended_at).is_(None))
                     .values(ended_at=utcnow()))
        session.flush()


def end_all_sessions(session: Session, user: User) -> None:
    """Log out everywhere: every session of the account ends, those waiting for a second
    factor included; the caller commits."""
    session.exec(update(LoginSession)
                 .where(col(LoginSession.user_id) == user.id)
                 .where(col(LoginSession.ended_at).is_(None))
                 .values(ended_at=utcnow()))
    session.flush()


def live_sessions(session: Session, user: User) -> list[LoginSession]:
    """The account's sessions that have not ended (some may have timed out), newest first."""
    return list(session.exec(
        select(LoginSession).where(col(LoginSession.user_id) == user.id)
        .where(col(LoginSession.ended_at).is_(None)).where(col(LoginSession.pending).is_(False))
        .where(col(LoginSession.expires_at) > utcnow())
        .order_by(col(LoginSession.created_at).desc())))


# --- password reset ---------------------------------------------------------------------------

_RESET_SALT = "portal.password-reset"


def _password_fingerprint(user: User) -> str:
    # Changes with every new password (the hash has a fresh salt), so a used link stops working.
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:32]


def user_for_password_reset(session: Session, email: str) -> User | None:
    """The account a reset link may be sent to: active, with a password, at that address."""
    try:
        email = normalize_email(email)
    except ValueError:
        return None
    user = find_user_by_email(session, email)
    if user is None or not user.is_active or not user.password_hash:
        return None
    return user


def password_reset_token(secret_key: str, user: User) -> str:
    """A signed token for setting a new password; it dies once the password changes."""
    return URLSafeTimedSerializer(secret_key, salt=_RESET_SALT).dumps(
        {"uid": user.id, "pw": _password_fingerprint(user)}
    )


def check_password_reset_token(session: Session, secret_key: str, token: str, max_age: int) -> User:
    """The user a valid, unused reset token is for. Raises ValueError otherwise."""
    serializer = URLSafeTimedSerializer(secret_key, salt=_RESET_SALT)
    try:
        data = serializer.loads(token, max_age=max_age)
    except SignatureExpired:
        raise ValueError(_("This link has expired. Ask for a new one")) from None
    except BadSignature:
        raise ValueError(_("This link is not valid. Check you copied all of it")) from None
    user = session.get(User, data.get("uid")) if isinstance(data, dict) else None
    if user is None or not user.is_active or not user.password_hash:
        raise ValueError(_("This link is not valid. Check you copied all of it"))
    if not hmac.compare_digest(str(data.get("pw", "")), _password_fingerprint(user)):
        raise ValueError(_("This link has already been used, or the password was changed since "
                           "it was sent. Ask for a new one"))
    return user


def reset_password(
    session: Session, secret_key: str, token: str, password: str, *, max_age: int
) -> User:
    """Set a new password with a reset token and end every session of the account; the caller
    commits.

    Raises ValueError for a bad token, FormErrors for a password that breaks the rules.
    """
    user = check_password_reset_token(session, secret_key, token, max_age)
    if problem := password_problem(password, email=user.email):
        raise FormErrors({"password": problem})
    user.password_hash = hash_password(password)
    # The link proved control of the address, as a confirmation link would.
    user.email_verified_at = user.email_verified_at or utcnow()
    session.add(user)
    session.flush()
    end_all_sessions(session, user)
    return user


# --- TOTP and recovery codes (staff) ----------------------------------------------------------

TOTP_ISSUER = "Livestream Registration Portal"
TOTP_STEP = 30
RECOVERY_CODE_COUNT = 10
_NOT_DIGITS = re.compile(r"[\s-]")
_NOT_HEX = re.compile(r"[^0-9a-f]")


def totp_context(user: User) -> bytes:
    return f"user:{user.id}:totp".encode()


def start_totp(session: Session, user: User, cipher: DataCipher) -> str:
    """Make a new secret, keep it encrypted until a first code confirms it; the caller commits.

    Returns the base32 secret to show once. Refused (ValueError) when TOTP is already on.
    """
    if user.has_totp:
        raise ValueError("TOTP is already set up")
    secret = pyotp.random_base32()
    user.totp_secret = cipher.encrypt_text(secret, context=totp_context(user))
    session.add(user)
    session.flush()
    return secret


def totp_secret(user: User, cipher: DataCipher) -> str | None:
    """The clear secret (pending or enrolled), or None."""
    if user.totp_secret is None:
        return None
    return cipher.decrypt_text(user.totp_secret, context=totp_context(user))


def totp_uri(secret: str, email: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, interval=TOTP_STEP).provisioning_uri(
        name=email, issuer_name=TOTP_ISSUER
    )


def _clock() -> float:
    """The time TOTP codes are checked against (tests move it)."""
    return time.time()


def _matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The step whose code this is, within one step either side (pyotp's valid_window=1)."""
    code = _NOT_DIGITS.sub("", code or "")
    if not re.fullmatch(r"\d{6}", code):
        return None
    totp = pyotp.TOTP(secret, interval=TOTP_STEP)
    current = int((_clock() if now is None else now) // TOTP_STEP)
    found = None
    for step in (current - 1, current, current + 1):
        # Compare all three so the time taken does not depend on which one matched.
        if pyotp.utils.strings_equal(totp.at(step * TOTP_STEP), code):
            found = step
    return found


def _claim_step(session: Session, user: User, step: int) -> bool:
    """Record ``step`` as used unless it (or a later one) already was; the caller commits.
    Atomic."""
    result = session.exec(
        update(User)
        .where(col(User.id) == user.id)
        .where(or_(col(User.totp_last_step).is_(None), col(User.totp_last_step) < step))
        .values(totp_last_step=step)
    )
    claimed = isinstance(result, CursorResult) and result.rowcount == 1
    session.flush()
    if claimed:
        user.totp_last_step = step
    return claimed


def _new_recovery_codes(session: Session, user: User) -> list[str]:
    session.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))
    codes = [secrets.token_hex(10) for _ in range(RECOVERY_CODE_COUNT)]  # 80 bits each
    for code in codes:
        session.add(RecoveryCode(user_id=user.id or 0, code_hash=_hash_recovery_code(code)))
    return ["-".join(code[i : i + 5] for i in range(0, 20, 5)) for code in codes]


def _hash_recovery_code(code: str) -> str:
    return hashlib.sha256(_NOT_HEX.sub("", code.lower()).encode()).hexdigest()


def confirm_totp(
    session: Session, user: User, cipher: DataCipher, code: str, *, now: float | None = None
) -> list[str]:
    """Turn TOTP on once a first code proves the app has the secret; the caller commits.

    Ends every session of the account (the caller starts a new one) and returns the recovery
    codes, to show once.
    Raises FormErrors when the code is not right.
    """
    secret = totp_secret(user, cipher)
    step = _matching_step(secret, code, now) if secret and not user.has_totp else None
    if step is None:
        raise FormErrors({"code": _("The code is not right. Enter the 6 digits the app shows "
                                    "now")})
    user.totp_enrolled_at = utcnow()
    user.totp_last_step = step
    session.add(user)
    codes = _new_recovery_codes(session, user)
    session.flush()
    end_all_sessions(session, user)
    return codes


def check_totp(
    session: Session, user: User, cipher: DataCipher, code: str, *, now: float | None = None
) -> bool:
    """Accept a current code of an enrolled user, once; the caller commits."""
    secret = totp_secret(user, cipher) if user.has_totp else None
    step = _matching_step(secret, code, now) if secret else None
    return step is not None and _claim_step(session, user, step)


def use_recovery_code(session: Session, user: User, code: str) -> bool:
    """Accept an unused recovery code of the user and spend it; the caller commits. Atomic."""
    if not user.has_totp or len(_NOT_HEX.sub("", (code or "").lower())) != 20:
        return False
    result = session.exec(
        update(RecoveryCode)
        .where(col(RecoveryCode.user_id) == user.id)
        .where(col(RecoveryCode.code_hash) == _hash_recovery_code(code))
        .where(col(RecoveryCode.used_at).is_(None))
        .values(used_at=utcnow())
    )
    used = isinstance(result, CursorResult) and result.rowcount == 1
    session.flush()
    return used


def check_second_factor(session: Session, user: User, cipher: DataCipher, code: str) -> bool:
    """A 6-digit TOTP code, or else a recovery code."""
    if re.fullmatch(r"\d{6}", _NOT_DIGITS.sub("", code or "")):
        return check_totp(session, user, cipher, code)
    return use_recovery_code(session, user, code)


def recovery_codes_left(session: Session, user: User) -> int:
    return session.exec(
        select(func.count()).select_from(RecoveryCode)
        .where(col(RecoveryCode.user_id) == user.id)
        .where(col(RecoveryCode.used_at).is_(None))
    ).one()


def replace_recovery_codes(session: Session, user: User) -> list[str]:
    """New recovery codes; the old ones stop working; the caller commits. Returns them, to show
    once."""
    codes = _new_recovery_codes(session, user)
    session.flush()
    return codes


def remove_totp(session: Session, user: User) -> None:
    """Turn TOTP off (a new phone: set it up again); the caller commits."""
    session.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))
    user.totp_secret = None
    user.totp_enrolled_at = None
    user.totp_last_step = None
    session.add(user)
    session.flush()


def set_message_language(session: Session, user: User, language: str) -> None:
    """Choose the language of the person's emails and messages; the caller commits."""
    if language not in LANGUAGES:
        raise FormErrors({"language": _("Choose a language")})
    user.language = language
    session.add(user)
    session.flush()


def set_active(session: Session, user: User, active: bool) -> None:
    """Let an account log in again, or stop it: a disabled account's sessions end at once;
    the caller commits."""
    user.is_active = active
    session.add(user)
    session.flush()
    if not active:
        end_all_sessions(session, user)


def reset_second_factor(session: Session, user: User) -> None:
    """A staff member lost their authenticator: TOTP and recovery codes go, every session
    ends, and the next login sets TOTP up again; the caller commits."""
    remove_totp(session, user)
    end_all_sessions(session, user)


def create_staff_account(session: Session, *, email: str, role: Role,
                         jurisdiction: str = "national") -> User:
    """A staff account made by an administrator: its address counts as confirmed, and its
    password is a random one nobody knows until the member chooses theirs with a reset link
    (which needs a password to fingerprint); the caller commits and sends the link."""
    if role not in STAFF_ROLES:
        raise FormErrors({"role": _("Choose the staff member's role")})
    user = create_user(session, email=email, password=None, role=role)
    user.password_hash = hash_password(secrets.token_urlsafe(32))
    user.jurisdiction = jurisdiction
    session.add(user)
    session.flush()
    return user
