"""Small factories for the moderation tests: pictures, models and reports through the real services."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from PIL import Image as PILImage
from sqlalchemy import select

from modelyard.accounts.models import User
from modelyard.core.db import utcnow
from modelyard.core.runtime import Runtime
from modelyard.images.models import Image, Ingestion, Post
from modelyard.mail.models import OutgoingEmail
from modelyard.moderation.models import ModerationLog, Report, ReportReason
from modelyard.moderation.reports import file_report
from tests.support.factories import UserFixture


def configure(monkeypatch: pytest.MonkeyPatch, runtime: Runtime, **changes: Any) -> None:
    """Settings for one test (the runtime's settings are read at each use)."""
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update=changes))


def webp(color: str = "red") -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (40, 30), color).save(out, format="WEBP")
    return out.getvalue()


def picture(runtime: Runtime, owner: UserFixture, *, level: int = 1, published: bool = True) -> int:
    """A scanned picture in a post of `owner` (published unless told)."""
    key = f"images/moderation/{uuid.uuid4().hex}.webp"
    runtime.storage.save(key, webp(), content_type="image/webp")
    with runtime.db.transaction() as session:
        post = Post(user_id=owner.id, published_at=utcnow() if published else None, nsfw_level=level)
        session.add(post)
        session.flush()
        image = Image(
            user_id=owner.id,
            post_id=post.id,
            storage_key=key,
            mime_type="image/webp",
            width=40,
            height=30,
            ingestion=Ingestion.Scanned,
            nsfw_level=level,
            nsfw_score=0.05,  # rated, as ingestion leaves it
            phash=uuid.uuid4().int % 2**62,
        )
        session.add(image)
        session.flush()
        return image.id


def post_of(runtime: Runtime, image_id: int) -> int:
    with runtime.db.session() as session:
        image = session.get(Image, image_id)
        assert image is not None and image.post_id is not None
        return image.post_id


def report(
    runtime: Runtime,
    reporter: UserFixture,
    entity_type: str,
    entity_id: int,
    reason: ReportReason = ReportReason.TOSViolation,
    details: str | None = None,
) -> int:
    """File a report through the service; the case's id."""
    with runtime.db.transaction() as session:
        user = session.get(User, reporter.id)
        assert user is not None
        return file_report(session, user, entity_type, entity_id, reason, details).id


def case(runtime: Runtime, case_id: int) -> Report:
    with runtime.db.session() as session:
        found = session.get(Report, case_id)
        assert found is not None
        session.expunge(found)
        return found


def mails_to(runtime: Runtime, user: UserFixture) -> list[OutgoingEmail]:
    with runtime.db.session() as session:
        found = list(session.scalars(select(OutgoingEmail).where(OutgoingEmail.to == user.email)))
        for mail in found:
            session.expunge(mail)
        return found


def log_actions(runtime: Runtime, entity_type: str, entity_id: int) -> list[str]:
    with runtime.db.session() as session:
        query = (
            select(ModerationLog.action)
            .where(ModerationLog.entity_type == entity_type, ModerationLog.entity_id == entity_id)
            .order_by(ModerationLog.id)
        )
        return list(session.scalars(query))
