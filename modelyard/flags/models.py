from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from modelyard.core.db import Base, UTCDateTime, utcnow


class FeatureFlag(Base):
    """A flag defined on the admin page. A flag of the same name in `settings.feature_flags` is overridden."""

    __tablename__ = "feature_flag"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    everyone: Mapped[bool] = mapped_column(Boolean, default=False)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    user_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    percentage: Mapped[int] = mapped_column(Integer, default=0)
    # [{"name": "control", "weight": 50}, ...]; None or [] is a plain on/off flag.
    variants: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))


class FlagExposure(Base):
    """How many times a flag was served to someone it was on for, per variant and UTC day.

    Keyed by flag name, not id: flags defined in settings have no row, and counts outlive a deleted flag.
    `variant` is "" for plain on/off flags (not NULL, so the unique key also holds for them).
    """

    __tablename__ = "flag_exposure"
    __table_args__ = (UniqueConstraint("flag_name", "variant", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    flag_name: Mapped[str] = mapped_column(String(64))
    variant: Mapped[str] = mapped_column(String(40), default="")
    day: Mapped[date] = mapped_column(Date)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
