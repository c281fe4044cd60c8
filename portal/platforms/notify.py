"""The notifier: one interface for every message to a person, by SMTP or the development mailbox."""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from sqlmodel import Field, Session, SQLModel, select

from portal.accounts import User
from portal.base import i18n
from portal.base.db import UTCDateTime, utcnow
from portal.base.i18n import gettext as _
from portal.base.settings import Settings

logger = logging.getLogger("portal.platforms.notify")


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    body: str


class MailboxMessage(SQLModel, table=True):
    """A message kept for the development mailbox instead of being sent."""

    __tablename__ = "dev_mailbox"

    id: int | None = Field(default=None, primary_key=True)
    to: str = Field(max_length=254, index=True)
    subject: str = Field(max_length=300)
    body: str
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Backend(Protocol):
    def send(self, message: Message, *, session: Session) -> None: ...


class MailboxBackend:
    """Keeps messages in the database, shown at /dev/mailbox."""

    def send(self, message: Message, *, session: Session) -> None:
        session.add(MailboxMessage(to=message.to, subject=message.subject, body=message.body))
        session.commit()


class SMTPBackend:
    """Sends through an SMTP server given as smtp://user:pass@host:port or smtps://..."""

    def __init__(self, url: str, sender: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("PORTAL_SMTP_URL must start with smtp:// or smtps://")
        self.implicit_tls = parts.scheme == "smtps"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.implicit_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        query = parse_qs(parts.query)
        self.starttls = query.get("starttls", ["false"])[0].lower() in ("1", "true", "yes")
        self.timeout = float(query.get("timeout", ["10"])[0])
        self.sender = sender

    def send(self, message: Message, *, session: Session) -> None:
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email["Message-ID"] = make_msgid(domain=self.host)
        email.set_content(message.body)
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if self.implicit_tls:
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            if self.starttls:
                client.starttls(context=context)
            if self.username:
                client.login(self.username, self.password or "")
            client.send_message(email)


def backend_for(settings: Settings) -> Backend:
    if settings.smtp_url:
        return SMTPBackend(settings.smtp_url, settings.mail_from)
    return MailboxBackend()


def send(settings: Settings, message: Message, *, session: Session) -> None:
    """Send one message to a person through the configured backend."""
    backend_for(settings).send(message, session=session)


def mailbox(session: Session, *, limit: int = 100) -> list[MailboxMessage]:
    query = select(MailboxMessage).order_by(MailboxMessage.id.desc()).limit(limit)  # type: ignore[union-attr]
    return list(session.exec(query))


class Notification(SQLModel, table=True):
    """A message to an applicant shown on /me (unread ones make the badge)."""

    __tablename__ = "notifications"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    registration_id: int | None = Field(default=None, foreign_key="registrations.id")
    subject: str = Field(max_length=300)
    body: str
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


@contextmanager
def in_language_of(user: User | None) -> Iterator[None]:
    """Write what is translated inside (a message's subject and body) in the language its
    reader chose on their account, whatever the language of the page that sends it."""
    token = i18n.set_language(user.language if user is not None else i18n.current_language())
    try:
        yield
    finally:
        i18n.reset_language(token)


def notify_user(
    session: Session, *, user_id: int, email: str, subject: str, body: str,
    registration_id: int | None = None,
) -> Message:
    """Add the in-app notification (in the caller's transaction); return the email to send.

    The email goes out after the caller commits (``send``), so a failed mail server never
    undoes a decision, and no mail is sent for a change that was rolled back.
    """
    session.add(Notification(user_id=user_id, registration_id=registration_id, subject=subject,
                             body=body))
    return Message(to=email, subject=subject, body=body)


def submission_receipt(
    session: Session, settings: Settings, *, user: User, number: str, registration_id: int | None,
    submitted_at: datetime,
) -> Message:
    """The receipt of a submission, in the applicant's language: the in-app message (in the
    caller's transaction) and the email to send after the commit."""
    with in_language_of(user):
        status_page = f"{(settings.base_url or settings.issuer or '').rstrip('/')}/me"
        subject = _("We received your registration %(number)s", number=number)
        body = _(
            "We received your registration %(number)s on %(when)s.\n\n"
            "What happens next:\n"
            "1. A moderator checks your answers and documents.\n"
            "2. We write to you when there is a decision: approved (your certificate is then on "
            "your status page), or a request for changes that says what to change.\n"
            "3. Until then you can follow it on your status page: %(link)s\n\n"
            "Keep this number: platforms and buyers use it to check your registration.",
            number=number, when=i18n.format_datetime(submitted_at), link=status_page)
        return notify_user(session, user_id=user.id or 0, email=user.email, subject=subject,
                           body=body, registration_id=registration_id)


def deliver(settings: Settings, messages: list[Message], *, session: Session) -> None:
    """Send emails after the change they announce is committed; a failure is logged, not raised."""
    for message in messages:
        try:
            send(settings, message, session=session)
        except Exception:  # the in-app notification already holds the news
            logger.exception("could not send a message")


def unread_count(session: Session, user_id: int) -> int:
    from sqlalchemy import func

    query = select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)  # type: ignore[union-attr]
    )
    return int(session.exec(query).one())


def notifications_of(session: Session, user_id: int, *, limit: int = 50) -> list[Notification]:
    query = (
        select(Notification).where(Notification.user_id == user_id)
        .order_by(Notification.id.desc()).limit(limit)  # type: ignore[union-attr]
    )
    return list(session.exec(query))


def mark_read(session: Session, user_id: int) -> None:
    """Mark every unread notification of the user as read; the caller commits."""
    for note in session.exec(select(Notification).where(
            Notification.user_id == user_id, Notification.read_at.is_(None))):  # type: ignore[union-attr]
        note.read_at = utcnow()
        session.add(note)
