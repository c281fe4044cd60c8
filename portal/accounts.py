"""People who log in: applicants (self sign-up) and staff (moderators, auditors, admins)."""

from __future__ import annotations

import enum
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from passlib.context import CryptContext
from sqlalchemy import func
from sqlmodel import Field, Session, SQLModel, select
from zxcvbn import zxcvbn

from portal.db import UTCDateTime, utcnow
from portal.errors import FormErrors
from portal.i18n import gettext as _


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
    # Bumped to end every session of the account at once ("log out everywhere").
    session_epoch: int = Field(default=0)
    is_active: bool = Field(default=True)
    # Auditors: "national" or comma-separated GB/T 2260 region codes (DESIGN §3).
    jurisdiction: str = Field(default="national", max_length=500)

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


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


def create_user(
    session: Session, *, email: str, password: str | None, role: Role = Role.applicant
) -> User:
    """Create an account after checking its email and password; commit."""
    errors: dict[str, str] = {}
    try:
        email = normalize_email(email)
    except ValueError as exc:
        errors["email"] = str(exc)
    if password is not None and (problem := password_problem(password, email=email)):
        errors["password"] = problem
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
    session.commit()
    return user


def authenticate(session: Session, *, email: str, password: str) -> User | None:
    """Return the user for a correct email and password; the same cost and answer otherwise."""
    try:
        email = normalize_email(email)
    except ValueError:
        email = ""
    user = find_user_by_email(session, email) if email else None
    if user is None or not user.password_hash or not user.is_active:
        pwd_context.verify(password[:PASSWORD_MAX], _DUMMY_HASH)
        return None
    ok, new_hash = pwd_context.verify_and_update(password[:PASSWORD_MAX], user.password_hash)
    if not ok:
        return None
    if new_hash:
        # Parameters changed since this hash was made: keep the stronger one.
        user.password_hash = new_hash
        session.add(user)
        session.commit()
    return user


def set_password(session: Session, user: User, password: str) -> None:
    """Replace a user's password after checking it; commit."""
    if problem := password_problem(password, email=user.email):
        raise FormErrors({"password": problem})
    user.password_hash = hash_password(password)
    session.add(user)
    session.commit()


# --- email verification -----------------------------------------------------------------------

_EMAIL_SALT = "portal.email-verification"


def email_token(secret_key: str, user: User) -> str:
    """A signed token proving control of the user's current email address."""
    return URLSafeTimedSerializer(secret_key, salt=_EMAIL_SALT).dumps(
        {"uid": user.id, "email": user.email}
    )


def verify_email_token(session: Session, secret_key: str, token: str, max_age: int) -> User:
    """Mark the address in a valid token as verified; commit. Raises ValueError otherwise."""
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
        session.commit()
    return user
