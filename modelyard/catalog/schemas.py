"""Request and response bodies of the catalog's JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelyard.catalog.enums import (
    Availability,
    BaseModelType,
    CheckpointType,
    CommercialUse,
    FileVisibility,
    ModelModifier,
    ModelStatus,
    ModelType,
    ScanResult,
    UnpublishKind,
    UsageControl,
)
from modelyard.core.params import Id

Name = Field(min_length=1, max_length=255)
Description = Field(default=None, max_length=200_000)
Reason = Field(default=None, max_length=2000)


class ModelFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = Description
    tags: list[str] | None = Field(default=None, max_length=20)
    checkpoint_type: CheckpointType | None = None
    allow_no_credit: bool | None = None
    allow_commercial_use: list[CommercialUse] | None = None
    allow_derivatives: bool | None = None
    allow_different_license: bool | None = None
    nsfw: bool | None = None
    poi: bool | None = None
    minor: bool | None = None
    availability: Availability | None = None
    meta: dict[str, Any] | None = None


class ModelCreate(ModelFields):
    name: str = Name
    type: ModelType


class ModelUpdate(ModelFields):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    type: ModelType | None = None
    mode: ModelModifier | None = None
    clear_mode: bool = False


class VersionFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = Description
    base_model_type: BaseModelType | None = None
    trained_words: list[str] | None = Field(default=None, max_length=100)
    steps: int | None = Field(default=None, ge=0, le=10_000_000)
    epochs: int | None = Field(default=None, ge=0, le=100_000)
    clip_skip: int | None = Field(default=None, ge=1, le=12)
    training_details: dict[str, Any] | None = None
    require_auth: bool | None = None
    usage_control: UsageControl | None = None
    availability: Availability | None = None
    early_access_days: int | None = Field(default=None, ge=0, le=30)
    early_access_price: int | None = Field(default=None, ge=0, le=1_000_000)
    meta: dict[str, Any] | None = None


class VersionCreate(VersionFields):
    name: str = Name
    base_model: str = Field(min_length=1, max_length=60)


class VersionUpdate(VersionFields):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    base_model: str | None = Field(default=None, min_length=1, max_length=60)


class PublishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version_ids: list[Id] | None = Field(default=None, max_length=200)
    scheduled_for: datetime | None = Field(default=None, description="Publish later, at this time (with a zone)")


class VersionPublishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scheduled_for: datetime | None = None


class UnpublishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: UnpublishKind = Field(
        default=UnpublishKind.voluntary, description="voluntary (owner), violation or legal (moderators)"
    )
    reason: str | None = Reason
    custom_message: str | None = Reason


class FileOut(BaseModel):
    id: int
    name: str
    type: str
    size_kb: float
    metadata: dict[str, Any]
    visibility: FileVisibility
    primary: bool
    pickle_scan_result: ScanResult
    virus_scan_result: ScanResult
    scanned_at: datetime | None
    hashes: dict[str, str]
    # From the file's own bytes: tensor and parameter counts, dtypes, the safetensors __metadata__ block.
    inspection: dict[str, Any] | None = None
    # A pickle's conversion to safetensors, once asked for: {status, error?, fileId?}.
    conversion: dict[str, Any] | None = None


class VersionOut(BaseModel):
    id: int
    model_id: int
    index: int
    name: str
    description: str | None
    description_html: str | None
    base_model: str
    base_model_type: BaseModelType
    trained_words: list[str]
    clip_skip: int | None
    steps: int | None
    epochs: int | None
    require_auth: bool
    usage_control: UsageControl
    availability: Availability
    early_access_days: int | None
    early_access_price: int | None
    early_access_ends_at: datetime | None
    status: ModelStatus
    published_at: datetime | None
    scheduled_for: datetime | None
    meta: dict[str, Any]
    files: list[FileOut]
    created_at: datetime
    updated_at: datetime


class ModelOut(BaseModel):
    id: int
    name: str
    description: str | None
    description_html: str | None
    type: ModelType
    status: ModelStatus
    checkpoint_type: CheckpointType | None
    availability: Availability
    mode: ModelModifier | None
    nsfw: bool
    poi: bool
    minor: bool
    allow_no_credit: bool
    allow_commercial_use: list[str]
    allow_derivatives: bool
    allow_different_license: bool
    tags: list[str]
    meta: dict[str, Any]
    user: dict[str, Any]
    published_at: datetime | None
    scheduled_for: datetime | None
    last_version_at: datetime | None
    created_at: datetime
    updated_at: datetime
    versions: list[VersionOut]


class ModelSummary(BaseModel):
    id: int
    name: str
    type: ModelType
    status: ModelStatus
    availability: Availability
    published_at: datetime | None
    scheduled_for: datetime | None
    last_version_at: datetime | None
    updated_at: datetime
    version_count: int


class TransitionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    entity_type: str
    entity_id: int
    model_id: int
    from_status: ModelStatus
    to_status: ModelStatus
    actor_id: int | None
    actor: str | None = None
    trigger: str
    reason: str | None
    message: str | None
    created_at: datetime


class PictureOut(BaseModel):
    """A model's cover picture (`catalog.showcase.Picture`)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    width: int
    height: int
    blurhash: str | None
    nsfw_level: int


class ModelCardOut(BaseModel):
    """A model in a listing (`catalog.browsing.ModelCard`)."""

    id: int
    name: str
    type: ModelType
    creator: str
    base_model: str | None
    published_at: datetime | None
    download_count: int
    cover: PictureOut | None


class ModelListOut(BaseModel):
    """One page of a listing. `next_cursor`: pass it as `cursor` for the next page (set while more follow, unless
    the page was asked for by number)."""

    items: list[ModelCardOut]
    has_next: bool
    next_cursor: str | None
    page: int | None
