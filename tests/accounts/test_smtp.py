"""E-mail goes out through a real SMTP server process (aiosmtpd) when one is configured."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from modelyard.core.runtime import Runtime
from modelyard.mail.models import EmailStatus, OutgoingEmail
from modelyard.mail.service import send_email
from modelyard.mail.tasks import deliver
from tests.support.services import free_port


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp_inbox(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setattr(
        runtime,
        "settings",
        runtime.settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_starttls": False}),
    )
    yield inbox
    controller.stop()


def test_email_is_sent_over_smtp_once(runtime: Runtime, smtp_inbox: Inbox) -> None:
    with runtime.db.transaction() as session:
        email_id = send_email(session, to="reader@example.com", subject="Hello", body="Line one\n").id
    with runtime.db.transaction() as session:
        deliver(session, email_id=email_id)
    with runtime.db.transaction() as session:
        deliver(session, email_id=email_id)  # a repeated delivery (lost completion) sends nothing more
    assert len(smtp_inbox.messages) == 1
    message = message_from_bytes(smtp_inbox.messages[0])
    assert message["To"] == "reader@example.com" and message["Subject"] == "Hello"
    with runtime.db.session() as session:
        assert session.scalar(select(OutgoingEmail.status)) == EmailStatus.sent
