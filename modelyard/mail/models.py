from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from modelyard.core.db import Base, UTCDateTime, utcnow


class EmailStatus(enum.StrEnum):
    pending = "pending"
    sent = "sent"
    logged = "logged"  # no SMTP server configured: written to the log and shown to admins instead


class OutgoingEmail(Base):
    __tablename__ = "outgoing_email"

    id: Mapped[int] = mapped_column(primary_key=True)
    to: Mapped[str] = mapped_column(String(254), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[EmailStatus] = mapped_column(
        Enum(EmailStatus, native_enum=False, length=16, validate_strings=True), default=EmailStatus.pending
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
