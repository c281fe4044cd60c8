from __future__ import annotations

import re
import socket
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select

from portal.platforms import notify
from portal.platforms.notify import MailboxMessage


class Sink:
    """An SMTP server on loopback that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_sink():
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield sink, controller.port
    controller.stop()


def test_smtp_backend_delivers_to_server(smtp_sink, settings, session) -> None:
    sink, port = smtp_sink
    settings.smtp_url = f"smtp://127.0.0.1:{port}"
    notify.send(settings, notify.Message("a@example.com", "Hello", "Body text"), session=session)
    assert len(sink.messages) == 1
    _sender, recipients, raw = sink.messages[0]
    assert recipients == ["a@example.com"]
    parsed = message_from_bytes(raw)
    assert parsed["Subject"] == "Hello"
    assert "Body text" in parsed.get_payload(decode=True).decode()
    assert session.exec(select(MailboxMessage)).all() == []


def test_sign_up_with_smtp_sends_the_verification_link(smtp_sink, settings, auth, client):
    sink, port = smtp_sink
    settings.smtp_url = f"smtp://127.0.0.1:{port}"
    auth.sign_up_only("mailer@example.com")
    assert len(sink.messages) == 1
    body = message_from_bytes(sink.messages[0][2]).get_payload(decode=True).decode()
    link = re.search(r"http://testserver(/verify-email\?token=\S+)", body).group(1)
    assert "Email address confirmed" in client.get(link, follow_redirects=True).text


def test_smtp_url_must_be_smtp() -> None:
    with pytest.raises(ValueError, match="smtp://"):
        notify.SMTPBackend("http://example.com", "x@example.com")


def test_smtp_url_parts() -> None:
    backend = notify.SMTPBackend("smtps://user%40x:p%3Ass@mail.example.com?timeout=3", "f@x.com")
    assert backend.implicit_tls and backend.port == 465
    assert backend.username == "user@x" and backend.password == "p:ss"
    assert backend.timeout == 3.0


def test_mailbox_page_shows_messages_with_links(client, settings, session) -> None:
    notify.send(settings, notify.Message("m@example.com", "Subject <b>", "See https://x.example/a?b=1&c=2"),
                session=session)
    page = client.get("/dev/mailbox")
    assert "Subject &lt;b&gt;" in page.text
    assert '<a href="https://x.example/a?b=1&amp;c=2">' in page.text


def test_mailbox_page_is_absent_in_production(client, settings) -> None:
    settings.env = "production"
    assert client.get("/dev/mailbox").status_code == 404
