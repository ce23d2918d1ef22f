from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from sqlalchemy import update
from sqlalchemy.orm import Session

from modelyard.core.db import utcnow
from modelyard.core.jobs import Priority, job
from modelyard.core.runtime import get_runtime
from modelyard.core.settings import Settings
from modelyard.mail.models import EmailStatus, OutgoingEmail

log = logging.getLogger("modelyard.mail")


@job("mail.deliver", priority=Priority.HIGH, max_attempts=8)
def deliver(session: Session, *, email_id: int) -> None:
    """Send one queued e-mail by SMTP, or log it when no SMTP server is configured."""
    runtime = get_runtime()
    # Read apart from the job's own (writing) session: on SQLite that one holds the write lock from its first
    # statement, and the SMTP conversation must not keep every other writer waiting.
    with runtime.db.session() as reader:
        email = reader.get(OutgoingEmail, email_id)
        if email is None or email.status != EmailStatus.pending:
            return  # delivered by an earlier attempt whose completion was lost
        reader.expunge(email)
    settings = runtime.settings
    if settings.smtp_host is None:
        log.warning(
            "e-mail not sent (no SMTP server configured); admins can read it on /admin/emails",
            extra={"to": email.to, "subject": email.subject, "body": email.body},
        )
        status = EmailStatus.logged
    else:
        _send_smtp(settings, email)
        status = EmailStatus.sent
    session.execute(
        update(OutgoingEmail)
        .where(OutgoingEmail.id == email_id, OutgoingEmail.status == EmailStatus.pending)
        .values(status=status, sent_at=utcnow())
    )


def _send_smtp(settings: Settings, email: OutgoingEmail) -> None:
    message = EmailMessage()
    message["From"] = settings.email_from
    message["To"] = email.to
    message["Subject"] = email.subject
    # Stable per e-mail: a retried send after a lost completion is recognisable as the same message.
    host = settings.public_base_url.split("//")[-1].split("/")[0]
    message["Message-ID"] = f"<modelyard-email-{email.id}@{host}>"
    message.set_content(email.body)
    assert settings.smtp_host is not None
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=20) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username and settings.smtp_password:
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        smtp.send_message(message)
