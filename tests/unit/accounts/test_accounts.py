from __future__ import annotations

from datetime import timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer
from passlib.context import CryptContext
from sqlalchemy import func
from sqlmodel import select

from portal import accounts
from portal.accounts import Role, User
from portal.base.errors import FormErrors
from tests.unit.conftest import STRONG_PASSWORD, make_user


def count_users(session) -> int:
    return session.exec(select(func.count()).select_from(User)).one()


def test_create_user_stores_argon2id_hash_and_normalised_email(session) -> None:
    user = make_user(session, email="  Streamer@Example.COM ", confirmed=False)
    assert user.email == "streamer@example.com"
    assert user.password_hash.startswith("$argon2id$")
    assert "m=19456" in user.password_hash and "t=2" in user.password_hash
    assert user.role == Role.applicant
    assert not user.email_verified


@pytest.mark.parametrize(
    ("email", "password", "field", "message"),
    [
        ("not-an-email", STRONG_PASSWORD, "email", "correct format"),
        ("", STRONG_PASSWORD, "email", "Enter your email address"),
        ("a@example.com", "short pw 1", "password", "at least 12 characters"),
        ("a@example.com", "password1234", "password", "too common"),
        ("a@example.com", "qwertyuiop12", "password", "too common"),
        ("a@example.com", "", "password", "Enter a password"),
        ("a@example.com", "x" * 300, "password", "256 characters or fewer"),
    ],
)
def test_create_user_with_bad_input_names_the_field(session, email, password, field, message):
    with pytest.raises(FormErrors) as info:
        accounts.create_user(session, email=email, password=password)
    assert message in info.value.errors[field]
    assert count_users(session) == 0


def test_create_user_refuses_second_account_for_same_email(session) -> None:
    make_user(session, email="dup@example.com")
    with pytest.raises(FormErrors) as info:
        make_user(session, email="DUP@example.com")
    assert "already exists" in info.value.errors["email"]
    assert count_users(session) == 1


def test_staff_accounts_need_no_email_link(session) -> None:
    user = make_user(session, email="mod@example.com", role="moderator")
    assert user.is_staff and user.email_verified


def test_authenticate_right_wrong_and_unknown(session) -> None:
    make_user(session, email="a@example.com")
    assert accounts.authenticate(session, email="A@example.com", password=STRONG_PASSWORD)
    assert accounts.authenticate(session, email="a@example.com", password="wrong " * 3) is None
    assert accounts.authenticate(session, email="b@example.com", password=STRONG_PASSWORD) is None
    assert accounts.authenticate(session, email="junk", password=STRONG_PASSWORD) is None


def test_authenticate_refuses_account_without_password(session) -> None:
    accounts.create_user(session, email="seeded@example.com", password=None)
    session.commit()
    assert accounts.authenticate(session, email="seeded@example.com", password="") is None


def test_authenticate_rehashes_when_parameters_change(session, monkeypatch) -> None:
    weak = CryptContext(schemes=["argon2"], argon2__type="ID", argon2__memory_cost=8192,
                        argon2__time_cost=1, argon2__parallelism=1)
    user = make_user(session, email="old@example.com")
    user.password_hash = weak.hash(STRONG_PASSWORD)
    session.add(user)
    session.commit()
    assert "m=8192" in user.password_hash
    assert accounts.authenticate(session, email="old@example.com", password=STRONG_PASSWORD)
    session.refresh(user)
    assert "m=19456" in user.password_hash and "t=2" in user.password_hash


def test_email_token_verifies_once_and_rejects_tampering(session) -> None:
    user = make_user(session, email="v@example.com")
    token = accounts.email_token("k" * 40, user)
    verified = accounts.verify_email_token(session, "k" * 40, token, max_age=3600)
    session.commit()
    assert verified.email_verified_at is not None
    with pytest.raises(ValueError, match="not valid"):
        accounts.verify_email_token(session, "k" * 40, token[:-2] + "xx", max_age=3600)
    with pytest.raises(ValueError, match="not valid"):
        accounts.verify_email_token(session, "other-key" * 5, token, max_age=3600)


def test_email_token_expires(session, monkeypatch) -> None:
    user = make_user(session, email="late@example.com")
    serializer = URLSafeTimedSerializer("k" * 40, salt="portal.email-verification")
    # A token signed four days ago.
    import time

    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now - timedelta(days=4).total_seconds())
    token = serializer.dumps({"uid": user.id, "email": user.email})
    monkeypatch.setattr(time, "time", lambda: now)
    with pytest.raises(ValueError, match="expired"):
        accounts.verify_email_token(session, "k" * 40, token, max_age=3 * 24 * 3600)


def test_email_token_for_an_old_address_is_refused(session) -> None:
    user = make_user(session, email="first@example.com", confirmed=False)
    token = accounts.email_token("k" * 40, user)
    user.email = "second@example.com"
    session.add(user)
    session.commit()
    with pytest.raises(ValueError, match="not valid"):
        accounts.verify_email_token(session, "k" * 40, token, max_age=3600)
    session.refresh(user)
    assert user.email_verified_at is None
