"""Civitai's v1 objects as a strict client models them (reference §1.4-1.5): Pydantic models whose required keys
must be present (a nullable one as null), with Civitai's types and enum values. Published clients validate our
answers with models like these and reject what they would reject; tests validate with them.

Unknown keys are allowed (clients ignore what they do not model); everything Civitai always sends is required.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ScanResult = Literal["Pending", "Success", "Danger", "Error"]
HEX = r"^[0-9A-F]+$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="allow", strict=False)


class Hashes(Strict):
    """Every file has all six (AutoV1 too, for a small file: the SHA-256 of what it has at 1 MiB)."""

    AutoV1: str = Field(min_length=8, max_length=8, pattern=HEX)
    AutoV2: str = Field(min_length=10, max_length=10, pattern=HEX)
    AutoV3: str = Field(min_length=12, max_length=12, pattern=HEX)
    SHA256: str = Field(min_length=64, max_length=64, pattern=HEX)
    CRC32: str = Field(min_length=8, max_length=8, pattern=HEX)
    BLAKE3: str = Field(min_length=64, max_length=64, pattern=HEX)


class FileMetadata(Strict):
    format: str | None = None
    size: str | None = None
    fp: str | None = None


class File(Strict):
    id: int
    sizeKB: float
    name: str
    type: str
    pickleScanResult: ScanResult
    pickleScanMessage: str | None
    virusScanResult: ScanResult
    virusScanMessage: str | None
    scannedAt: datetime | None
    metadata: FileMetadata
    hashes: Hashes
    primary: bool
    downloadUrl: str


class Image(Strict):
    id: int
    url: str
    nsfwLevel: int
    width: int
    height: int
    hash: str  # the blurhash: Civitai always sends a string
    type: Literal["image", "video", "audio"]
    metadata: dict[str, Any]


class EarlyAccessConfig(Strict):
    """Civitai's `modelVersionEarlyAccessConfigSchema`."""

    timeframe: int
    chargeForDownload: bool
    downloadPrice: int | None = None
    chargeForGeneration: bool
    generationPrice: int | None = None
    generationTrialLimit: int
    donationGoalEnabled: bool
    donationGoal: int | None = None
    originalPublishedAt: datetime | None = None


class VersionStats(Strict):
    downloadCount: int | None
    thumbsUpCount: int


class VersionModel(Strict):
    name: str
    type: str
    nsfw: bool
    poi: bool


class ModelVersion(Strict):
    """`GET /api/v1/model-versions/{id}` and the by-hash answers."""

    id: int
    modelId: int
    name: str
    baseModel: str
    baseModelType: str
    nsfwLevel: int
    status: str
    publishedAt: datetime
    createdAt: datetime
    updatedAt: datetime
    trainedWords: list[str]
    uploadType: str
    usageControl: Literal["Download", "Generation", "InternalGeneration", "ExternalGeneration"]
    air: str
    stats: VersionStats
    model: VersionModel
    files: list[File]
    images: list[Image]
    downloadUrl: str
    earlyAccessConfig: EarlyAccessConfig | None  # required: null when there is none
