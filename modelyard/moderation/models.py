"""Reports and cases, review queues, appeals, strikes, and the moderation log.

A *case* (`Report`) is one reported thing while it is open: everyone who reports it joins the case with their own
`ReportEntry` (Civitai's `alsoReportedBy`), so a moderator decides once. A *review item* is a thing some rule put
in front of a moderator without anyone reporting it (a new user's first upload, an image the classifier was unsure
of, a look-alike of a blocked image, an owner's appeal). Both are claimed, then closed, and every decision is a row
of `ModerationLog`.

Things are named by `(entity_type, entity_id)`, the types a domain registered with `moderation.reportables`, so
comments, articles and bounties join without a table of their own.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from modelyard.core.db import Base, UTCDateTime, utcnow


def _enum(cls: type[enum.Enum], length: int = 16) -> Enum:
    return Enum(cls, native_enum=False, length=length, validate_strings=True)


class ReportReason(enum.StrEnum):
    """Civitai's report reasons."""

    TOSViolation = "TOSViolation"
    NSFW = "NSFW"  # mis-rated: more explicit than its level says
    Ownership = "Ownership"  # someone else's work
    AdminAttention = "AdminAttention"
    Claim = "Claim"  # the reporter says it is theirs
    CSAM = "CSAM"
    Spam = "Spam"
    Automated = "Automated"  # filed by the system, not by a person


# What people may choose; `Automated` is the system's alone.
PEOPLE_REASONS = tuple(reason for reason in ReportReason if reason != ReportReason.Automated)


class ReportStatus(enum.StrEnum):
    Pending = "Pending"  # waiting for a moderator
    Processing = "Processing"  # a moderator claimed it
    Actioned = "Actioned"  # something was done about it
    Unactioned = "Unactioned"  # dismissed: nothing wrong was found


OPEN_STATUSES = (ReportStatus.Pending, ReportStatus.Processing)


class ReviewQueue(enum.StrEnum):
    newUser = "newUser"  # a new account's first uploads
    uncertain = "uncertain"  # the classifier could not tell the level
    reported = "reported"  # reports (their cases are the queue: `Report`)
    appeal = "appeal"  # an owner contests a block or a take-down
    lookalike = "lookalike"  # an upload close to an image blocked before


class ReviewStatus(enum.StrEnum):
    Pending = "Pending"
    Processing = "Processing"
    Done = "Done"


class AppealStatus(enum.StrEnum):
    Pending = "Pending"
    Upheld = "Upheld"  # the decision stands
    Reversed = "Reversed"  # the decision is undone


class Report(Base):
    """A case: one reported thing and everyone who reported it while it was open."""

    __tablename__ = "report"
    __table_args__ = (
        # One open case per thing: a second reporter joins it (`reports.file_report`), even when two file at once.
        Index(
            "uq_report_open_entity",
            "entity_type",
            "entity_id",
            unique=True,
            postgresql_where=text("status IN ('Pending', 'Processing')"),
            sqlite_where=text("status IN ('Pending', 'Processing')"),
        ),
        Index("ix_report_status", "status", "id"),
        Index("ix_report_entity", "entity_type", "entity_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(24))
    entity_id: Mapped[int] = mapped_column(Integer)
    # Whose thing it is (when the case opened): the person told of the outcome, and the one a strike goes to.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    reason: Mapped[ReportReason] = mapped_column(_enum(ReportReason))  # the first reporter's
    status: Mapped[ReportStatus] = mapped_column(_enum(ReportStatus), default=ReportStatus.Pending)
    report_count: Mapped[int] = mapped_column(Integer, default=1)
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution: Mapped[str | None] = mapped_column(String(24))  # the action taken (`actions.Action`)
    resolution_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReportEntry(Base):
    """One person's report of a thing: joined to the thing's open case. One per reporter and case."""

    __tablename__ = "report_entry"
    __table_args__ = (
        Index("uq_report_entry_reporter", "report_id", "reporter_id", unique=True),
        # The flood limit counts a reporter's reports of the last hour.
        Index("ix_report_entry_reporter_time", "reporter_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("report.id", ondelete="CASCADE"))
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    reason: Mapped[ReportReason] = mapped_column(_enum(ReportReason))
    details: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReviewItem(Base):
    """A thing put in front of moderators by a rule; one open item per queue and thing."""

    __tablename__ = "review_item"
    __table_args__ = (
        Index(
            "uq_review_item_open",
            "queue",
            "entity_type",
            "entity_id",
            unique=True,
            postgresql_where=text("status <> 'Done'"),
            sqlite_where=text("status <> 'Done'"),
        ),
        Index("ix_review_item_queue", "queue", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue: Mapped[ReviewQueue] = mapped_column(_enum(ReviewQueue))
    entity_type: Mapped[str] = mapped_column(String(24))
    entity_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[ReviewStatus] = mapped_column(_enum(ReviewStatus), default=ReviewStatus.Pending)
    # What the rule saw (the classifier's score, the blocked image it resembles, the appeal).
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution: Mapped[str | None] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Appeal(Base):
    """An owner contests a block or a take-down, once per thing, with a message; a moderator upholds or reverses."""

    __tablename__ = "appeal"
    __table_args__ = (Index("uq_appeal_entity_user", "entity_type", "entity_id", "user_id", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(24))
    entity_id: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[AppealStatus] = mapped_column(_enum(AppealStatus), default=AppealStatus.Pending)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Strike(Base):
    """Points against a user, for a while. Active strikes (not expired, not voided) add up to restrictions."""

    __tablename__ = "strike"
    __table_args__ = (Index("ix_strike_user_expiry", "user_id", "expires_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    points: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    report_id: Mapped[int | None] = mapped_column(ForeignKey("report.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ModerationLog(Base):
    """Every moderation decision: who, on what, what, why, and the case or review item it closed."""

    __tablename__ = "moderation_log"
    __table_args__ = (
        Index("ix_moderation_log_entity", "entity_type", "entity_id", "id"),
        Index("ix_moderation_log_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    entity_type: Mapped[str] = mapped_column(String(24))
    entity_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("report.id", ondelete="SET NULL"), index=True)
    review_item_id: Mapped[int | None] = mapped_column(ForeignKey("review_item.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
