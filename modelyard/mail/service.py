from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.core.jobs import enqueue
from modelyard.mail.models import OutgoingEmail


def send_email(session: Session, *, to: str, subject: str, body: str) -> OutgoingEmail:
    """Queue an e-mail in the caller's transaction; the `mail.deliver` job sends it once that commits."""
    email = OutgoingEmail(to=to, subject=subject[:200], body=body)
    session.add(email)
    session.flush()
    enqueue(session, "mail.deliver", email_id=email.id)
    return email


def recent_emails(session: Session, *, limit: int = 100, to: str | None = None) -> list[OutgoingEmail]:
    query = select(OutgoingEmail).order_by(OutgoingEmail.id.desc()).limit(limit)
    if to:
        query = query.where(OutgoingEmail.to == to.strip().lower())
    return list(session.scalars(query))
