"""Posts (a showcase of images, usually for a model version) and their images."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from modelyard.core.db import Base, UTCDateTime, utcnow


class Post(Base):
    __tablename__ = "post"
    __table_args__ = (
        Index("ix_post_version_published", "model_version_id", "published_at"),
        Index("ix_post_user", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_version.id", ondelete="SET NULL"))
    title: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[str | None] = mapped_column(Text)
    # NULL while hidden; unpublishing a model keeps the previous value in metadata.prevPublishedAt.
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    nsfw_level: Mapped[int] = mapped_column(Integer, default=0)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    images: Mapped[list[Image]] = relationship(back_populates="post", order_by="Image.index")


class Image(Base):
    __tablename__ = "image"
    __table_args__ = (
        Index("ix_image_post_index", "post_id", "index"),
        # The stable public address of a picture is its content address (`images.media`): looked up by key.
        Index("ix_image_storage_key", "storage_key"),
        # The BlurHash backfill finds what it has left in constant time (`images.upkeep`).
        Index(
            "ix_image_blurhash_missing",
            "id",
            postgresql_where=text("blurhash IS NULL"),
            sqlite_where=text("blurhash IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    post_id: Mapped[int | None] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer, default=0)
    storage_key: Mapped[str] = mapped_column(String(500))
    name: Mapped[str | None] = mapped_column(String(255))
    mime_type: Mapped[str] = mapped_column(String(40), default="image/webp")
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_kb: Mapped[float] = mapped_column(default=0.0)
    # Always set at ingestion; NULL only for images stored before that, until `images.fill_blurhashes` runs.
    blurhash: Mapped[str | None] = mapped_column(String(100))
    nsfw_level: Mapped[int] = mapped_column(Integer, default=1)
    # Generation parameters (prompt, sampler, seed…), as parsed from the file or given by the uploader.
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    post: Mapped[Post | None] = relationship(back_populates="images")
