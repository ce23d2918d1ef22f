"""Models, versions, files and hashes, tags, base models, and the status-transition log."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from modelyard.catalog.enums import (
    Availability,
    BaseModelType,
    CheckpointType,
    FileVisibility,
    HashType,
    ModelModifier,
    ModelStatus,
    ModelType,
    ScanResult,
    TagType,
    TrainingStatus,
    UploadStatus,
    UploadType,
    UsageControl,
)
from modelyard.core.db import Base, UTCDateTime, utcnow


def _enum(cls: type[enum.Enum], length: int = 24) -> Enum:
    return Enum(cls, native_enum=False, length=length, validate_strings=True)


class Model(Base):
    __tablename__ = "model"
    __table_args__ = (
        # The public lists: published models by recency, by type, and a creator's models by status.
        Index("ix_model_status_published", "status", "published_at"),
        Index("ix_model_status_last_version", "status", "last_version_at"),
        Index("ix_model_type_status_published", "type", "status", "published_at"),
        Index("ix_model_user_status", "user_id", "status", "updated_at"),
        Index("ix_model_scheduled", "status", "scheduled_for"),
        Index("ix_model_deleted", "status", "deleted_at"),
        Index("ix_model_status_downloads", "status", "download_count", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    name: Mapped[str] = mapped_column(String(255))
    # Markdown as written, and the sanitized HTML made from it on every write (what pages and the API show).
    description: Mapped[str | None] = mapped_column(Text)
    description_html: Mapped[str | None] = mapped_column(Text)
    type: Mapped[ModelType] = mapped_column(_enum(ModelType))
    status: Mapped[ModelStatus] = mapped_column(_enum(ModelStatus), default=ModelStatus.Draft)
    checkpoint_type: Mapped[CheckpointType | None] = mapped_column(_enum(CheckpointType, 12))
    upload_type: Mapped[UploadType] = mapped_column(_enum(UploadType, 12), default=UploadType.Created)
    availability: Mapped[Availability] = mapped_column(_enum(Availability, 16), default=Availability.Public)
    mode: Mapped[ModelModifier | None] = mapped_column(_enum(ModelModifier, 12))
    nsfw: Mapped[bool] = mapped_column(Boolean, default=False)
    nsfw_level: Mapped[int] = mapped_column(Integer, default=0)
    poi: Mapped[bool] = mapped_column(Boolean, default=False)
    minor: Mapped[bool] = mapped_column(Boolean, default=False)
    sfw_only: Mapped[bool] = mapped_column(Boolean, default=False)
    allow_no_credit: Mapped[bool] = mapped_column(Boolean, default=True)
    allow_commercial_use: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["Sell"])
    allow_derivatives: Mapped[bool] = mapped_column(Boolean, default=True)
    allow_different_license: Mapped[bool] = mapped_column(Boolean, default=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Downloads over all its versions (catalog.stats keeps it): what lists sort by.
    download_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # First publication; kept through unpublishing and republishing (the specification's rule).
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_version_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    versions: Mapped[list[ModelVersion]] = relationship(
        back_populates="model", order_by="ModelVersion.index", cascade="all, delete-orphan"
    )


class ModelVersion(Base):
    __tablename__ = "model_version"
    __table_args__ = (
        Index("ix_model_version_model_index", "model_id", "index"),
        Index("ix_model_version_status_published", "status", "published_at"),
        Index("ix_model_version_base_model", "base_model", "status"),
        Index("ix_model_version_scheduled", "status", "scheduled_for"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("model.id", ondelete="CASCADE"))
    # 0 is the newest version: shown first, as on Civitai.
    index: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    description_html: Mapped[str | None] = mapped_column(Text)
    base_model: Mapped[str] = mapped_column(String(60))
    base_model_type: Mapped[BaseModelType] = mapped_column(_enum(BaseModelType, 12), default=BaseModelType.Standard)
    trained_words: Mapped[list[str]] = mapped_column(JSON, default=list)
    steps: Mapped[int | None] = mapped_column(Integer)
    epochs: Mapped[int | None] = mapped_column(Integer)
    clip_skip: Mapped[int | None] = mapped_column(Integer)
    training_status: Mapped[TrainingStatus | None] = mapped_column(_enum(TrainingStatus, 12))
    training_details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    require_auth: Mapped[bool] = mapped_column(Boolean, default=False)
    upload_type: Mapped[UploadType] = mapped_column(_enum(UploadType, 12), default=UploadType.Created)
    usage_control: Mapped[UsageControl] = mapped_column(_enum(UsageControl, 20), default=UsageControl.Download)
    availability: Mapped[Availability] = mapped_column(_enum(Availability, 16), default=Availability.Public)
    # Early access: the window in days after publication, and its price in Buzz (0 = free to wait out).
    early_access_days: Mapped[int | None] = mapped_column(Integer)
    early_access_price: Mapped[int | None] = mapped_column(Integer)
    early_access_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    download_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    nsfw_level: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[ModelStatus] = mapped_column(_enum(ModelStatus), default=ModelStatus.Draft)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    model: Mapped[Model] = relationship(back_populates="versions")
    files: Mapped[list[ModelFile]] = relationship(back_populates="version", cascade="all, delete-orphan")


class ModelFile(Base):
    __tablename__ = "model_file"
    __table_args__ = (Index("ix_model_file_version", "model_version_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    override_name: Mapped[str | None] = mapped_column(String(255))
    storage_key: Mapped[str] = mapped_column(String(500))
    size_kb: Mapped[float] = mapped_column(Float)
    type: Mapped[str] = mapped_column(String(32), default="Model")
    # {format, size, fp, quantType}: what the primary-file rule and download filters compare.
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    visibility: Mapped[FileVisibility] = mapped_column(_enum(FileVisibility, 12), default=FileVisibility.Public)
    pickle_scan_result: Mapped[ScanResult] = mapped_column(_enum(ScanResult, 12), default=ScanResult.Pending)
    pickle_scan_message: Mapped[str | None] = mapped_column(Text)
    virus_scan_result: Mapped[ScanResult] = mapped_column(_enum(ScanResult, 12), default=ScanResult.Pending)
    virus_scan_message: Mapped[str | None] = mapped_column(Text)
    scan_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    scanned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    raw_scan_result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    header_data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # A pickle's conversion to safetensors: {status: Pending|Complete|Failed, error?, fileId?} (see `convert`).
    conversion: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    replaced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    data_purged: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    version: Mapped[ModelVersion] = relationship(back_populates="files")
    hashes: Mapped[list[ModelFileHash]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def size_bytes(self) -> int:
        return round(self.size_kb * 1024)

    def hash_of(self, kind: HashType) -> str | None:
        return next((row.hash for row in self.hashes if row.type == kind), None)


class ModelFileHash(Base):
    __tablename__ = "model_file_hash"
    __table_args__ = (Index("ix_model_file_hash_hash", "hash"),)

    file_id: Mapped[int] = mapped_column(ForeignKey("model_file.id", ondelete="CASCADE"), primary_key=True)
    type: Mapped[HashType] = mapped_column(_enum(HashType, 8), primary_key=True)
    # Upper-case hex: lookups upper-case their input, so one index serves every hash type.
    hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Tag(Base):
    __tablename__ = "tag"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Stored lower-case, trimmed: "Anime" and "anime " are one tag.
    name: Mapped[str] = mapped_column(String(60), unique=True)
    # What a tag is for: most are people's words; Moderation tags exist to rate content (set by moderators).
    type: Mapped[TagType] = mapped_column(_enum(TagType, 16), default=TagType.user)
    # The level content with this tag is at least (images take the highest of their tags': `images.levels`).
    nsfw_level: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TagOnModel(Base):
    __tablename__ = "tag_on_model"
    __table_args__ = (Index("ix_tag_on_model_tag", "tag_id", "model_id"),)

    model_id: Mapped[int] = mapped_column(ForeignKey("model.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True)


class BaseModel(Base):
    __tablename__ = "base_model"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    ecosystem: Mapped[str] = mapped_column(String(30))
    media: Mapped[str] = mapped_column(String(10), default="image")
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)


class StatusTransition(Base):
    """Who moved what from which status to which, when and why: the moderators' history."""

    __tablename__ = "status_transition"
    __table_args__ = (
        Index("ix_status_transition_entity", "entity_type", "entity_id", "id"),
        Index("ix_status_transition_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(20))  # "Model" or "ModelVersion"
    entity_id: Mapped[int] = mapped_column(Integer)
    # The model, for both kinds: one query gives a model's whole history, versions included.
    model_id: Mapped[int] = mapped_column(Integer, index=True)
    from_status: Mapped[ModelStatus] = mapped_column(_enum(ModelStatus))
    to_status: Mapped[ModelStatus] = mapped_column(_enum(ModelStatus))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    trigger: Mapped[str] = mapped_column(String(20))  # manual, schedule, ban, scan, violation, legal, system
    reason: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FileUpload(Base):
    """A resumable upload of one file to a version: its parts go to a storage multipart upload (the local
    directory or an S3 bucket, straight from the client), and it becomes a ModelFile once joined and verified."""

    __tablename__ = "model_file_upload"
    __table_args__ = (
        # One active upload per file name and version: `active_name` is the name while Uploading or Verifying
        # and NULL after, and NULLs never collide, so two racing uploads of the same name cannot both start.
        UniqueConstraint("model_version_id", "active_name", name="uq_model_file_upload_active_name"),
        Index("ix_model_file_upload_status", "status", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    active_name: Mapped[str | None] = mapped_column(String(255))
    file_type: Mapped[str] = mapped_column(String(32))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    size: Mapped[int] = mapped_column(BigInteger)
    part_size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))  # the client's, checked once the parts are joined
    storage_key: Mapped[str] = mapped_column(String(500))
    multipart_id: Mapped[str] = mapped_column(String(1024))
    status: Mapped[UploadStatus] = mapped_column(_enum(UploadStatus, 12), default=UploadStatus.Uploading)
    error: Mapped[str | None] = mapped_column(Text)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("model_file.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    @property
    def part_count(self) -> int:
        return -(-self.size // self.part_size)

    def expected_part_size(self, number: int) -> int:
        return self.part_size if number < self.part_count else self.size - self.part_size * (self.part_count - 1)
