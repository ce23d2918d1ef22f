"""Posts (a set of images, with a title and a description, draft or published, optionally of a model version),
their images, the tags on images (the catalog's `Tag`, shared with models), and the resources (model versions)
images were made with.

An image goes through ingestion (`images.ingest`): it is stored Pending with its private original, then
processed by jobs into a public copy, thumbnails, hashes, generation metadata and an NSFW level, and ends Scanned
(shown, when the rest of `images.visibility` allows), Blocked (never shown; its perceptual hash keeps re-uploads
out) or Error (kept for a rescan).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Enum, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from modelyard.core.db import Base, UTCDateTime, utcnow


def _enum(cls: type[enum.Enum], length: int = 16) -> Enum:
    return Enum(cls, native_enum=False, length=length, validate_strings=True)


class Ingestion(enum.StrEnum):
    """Where an image is in ingestion (Civitai's ImageIngestionStatus, the states a moderator meets)."""

    Pending = "Pending"  # stored, its jobs not yet done: shown to its owner only
    Scanned = "Scanned"  # processed and rated: public when the rest of the rule allows
    Blocked = "Blocked"  # refused (a moderator, a blocked look-alike, the rules): never public
    Error = "Error"  # a job failed for good: the owner sees why; a rescan tries again


class BlockedFor(enum.StrEnum):
    moderated = "moderated"  # a moderator blocked it
    tos = "tos"  # against the rules (a moderator's report decision, or the rating game's consensus)
    lookalike = "lookalike"  # its perceptual hash is close to an image blocked before
    owner = "owner"  # its owner withdrew it while under review


class TagSource(enum.StrEnum):
    user = "User"  # the uploader or another member
    classifier = "Classifier"  # a scanner's label
    moderator = "Moderator"


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
    # The bit-OR of its images' levels (`images.levels`); 0 while none is rated.
    nsfw_level: Mapped[int] = mapped_column(Integer, default=0)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

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
        # The feed: newest first at any depth, by keyset on id (`images.feed`).
        Index("ix_image_user", "user_id", "id"),
        # A period ("past day") with few images in it: the planner reads them by date instead of walking the ids.
        Index("ix_image_created_at", "created_at", "id"),
        Index("ix_image_ingestion", "ingestion", "id"),
        Index("ix_image_phash", "phash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    post_id: Mapped[int | None] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer, default=0)
    # The public copy (a WebP, re-encoded without private metadata; animated when the upload was); while Pending,
    # the original's key, until processing writes the copy.
    storage_key: Mapped[str] = mapped_column(String(500))
    # The upload as it came, kept privately (moderators, a rescan); never given out at a stable address.
    original_key: Mapped[str | None] = mapped_column(String(500))
    # An animated image's first frame, as a still WebP (the poster shown before it plays, and what is rated).
    poster_key: Mapped[str | None] = mapped_column(String(500))
    # Widths of the WebP thumbnails stored beside the public copy (`images.urls.thumbnail_key`).
    thumbnail_widths: Mapped[list[int] | None] = mapped_column(JSON)
    name: Mapped[str | None] = mapped_column(String(255))
    mime_type: Mapped[str] = mapped_column(String(40), default="image/webp")
    animated: Mapped[bool] = mapped_column(Boolean, default=False)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_kb: Mapped[float] = mapped_column(default=0.0)
    # Always set at ingestion; NULL only for images stored before that, until `images.fill_blurhashes` runs.
    blurhash: Mapped[str | None] = mapped_column(String(100))
    # A 64-bit perceptual hash (signed, as databases store 64 bits): close hashes are look-alikes.
    phash: Mapped[int | None] = mapped_column(BigInteger)
    ingestion: Mapped[Ingestion] = mapped_column(_enum(Ingestion), default=Ingestion.Scanned)
    blocked_for: Mapped[BlockedFor | None] = mapped_column(_enum(BlockedFor))
    # Why ingestion failed, for its owner and moderators (a rescan clears it).
    ingestion_error: Mapped[str | None] = mapped_column(String(500))
    scanned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # One bit of `images.nsfw.BrowsingLevel`; 0 while unrated (shown to no one but its owner and moderators).
    nsfw_level: Mapped[int] = mapped_column(Integer, default=1)
    # Set by a moderator's (or the rating game's) decision: the classifier and tags no longer change the level.
    nsfw_level_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    # The classifier's NSFW probability (0..1), kept for review queues and re-thresholding.
    nsfw_score: Mapped[float | None] = mapped_column(Float)
    # Generation parameters (prompt, sampler, seed…), as parsed from the file or given by the uploader.
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The owner chose to hide the generation data: only they and moderators read `meta`.
    hide_meta: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    post: Mapped[Post | None] = relationship(back_populates="images")


class TagOnImage(Base):
    __tablename__ = "tag_on_image"
    __table_args__ = (Index("ix_tag_on_image_tag", "tag_id", "image_id"),)

    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True)
    source: Mapped[TagSource] = mapped_column(_enum(TagSource), default=TagSource.user)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    confidence: Mapped[float | None] = mapped_column(Float)
    # A moderator turned it off: it no longer counts for the level, and is not shown.
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ImageResource(Base):
    """A resource an image names in its generation data (a checkpoint, a LoRA…), linked to the catalog's version
    when its hash or AIR is known here (`images.resources`)."""

    __tablename__ = "image_resource"
    __table_args__ = (
        Index("ix_image_resource_image", "image_id"),
        Index("ix_image_resource_version", "model_version_id", "image_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"))
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_version.id", ondelete="SET NULL"))
    kind: Mapped[str | None] = mapped_column(String(24))  # checkpoint, lora, embedding, vae…, as the file says
    name: Mapped[str | None] = mapped_column(String(255))
    hash: Mapped[str | None] = mapped_column(String(80))  # as found (AutoV2, AutoV3, SHA256…)
    air: Mapped[str | None] = mapped_column(String(300))
    strength: Mapped[float | None] = mapped_column(Float)


class BlockedImageHash(Base):
    """The perceptual hash of an image a moderator blocked: uploads within a few bits of it are blocked too."""

    __tablename__ = "blocked_image_hash"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phash: Mapped[int] = mapped_column(BigInteger, index=True)
    image_id: Mapped[int | None] = mapped_column(ForeignKey("image.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(String(500))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
