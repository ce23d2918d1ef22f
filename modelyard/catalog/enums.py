"""The catalog's vocabularies, spelled exactly as Civitai spells them (clients compare these strings)."""

from __future__ import annotations

import enum


class ModelType(enum.StrEnum):
    Checkpoint = "Checkpoint"
    TextualInversion = "TextualInversion"
    Hypernetwork = "Hypernetwork"
    AestheticGradient = "AestheticGradient"
    LORA = "LORA"
    LoCon = "LoCon"
    DoRA = "DoRA"
    Controlnet = "Controlnet"
    Upscaler = "Upscaler"
    MotionModule = "MotionModule"
    VAE = "VAE"
    TextEncoder = "TextEncoder"
    UNet = "UNet"
    CLIPVision = "CLIPVision"
    Poses = "Poses"
    Wildcards = "Wildcards"
    Workflows = "Workflows"
    ComfyWorkflows = "ComfyWorkflows"
    Detection = "Detection"
    VisionLanguage = "VisionLanguage"
    CLIP = "CLIP"
    LLM = "LLM"
    Other = "Other"

    @property
    def display_name(self) -> str:
        """The name people read ("LoRA", "Textual Inversion"), as Civitai's site shows it."""
        return MODEL_TYPE_NAMES.get(self, self.value)


MODEL_TYPE_NAMES: dict[ModelType, str] = {
    ModelType.TextualInversion: "Textual Inversion",
    ModelType.AestheticGradient: "Aesthetic Gradient",
    ModelType.LORA: "LoRA",
    ModelType.LoCon: "LyCORIS",
    ModelType.Controlnet: "ControlNet",
    ModelType.MotionModule: "Motion",
    ModelType.TextEncoder: "Text Encoder",
    ModelType.CLIPVision: "CLIP Vision",
    ModelType.ComfyWorkflows: "Comfy Workflows",
    ModelType.VisionLanguage: "Vision Language",
}  # the others read as they are spelled


class ModelStatus(enum.StrEnum):
    Draft = "Draft"
    Training = "Training"
    Published = "Published"
    Scheduled = "Scheduled"
    Unpublished = "Unpublished"
    UnpublishedViolation = "UnpublishedViolation"
    GatherInterest = "GatherInterest"
    Deleted = "Deleted"


class CheckpointType(enum.StrEnum):
    Trained = "Trained"
    Merge = "Merge"


class CommercialUse(enum.StrEnum):
    none = "None"
    Image = "Image"
    RentCivit = "RentCivit"
    Rent = "Rent"
    Sell = "Sell"


class Availability(enum.StrEnum):
    Public = "Public"
    Unsearchable = "Unsearchable"
    Private = "Private"
    EarlyAccess = "EarlyAccess"


class ModelModifier(enum.StrEnum):
    Archived = "Archived"
    TakenDown = "TakenDown"


class BaseModelType(enum.StrEnum):
    Standard = "Standard"
    Inpainting = "Inpainting"
    Refiner = "Refiner"
    Pix2Pix = "Pix2Pix"


class UploadType(enum.StrEnum):
    Created = "Created"
    Trained = "Trained"


class UsageControl(enum.StrEnum):
    Download = "Download"
    Generation = "Generation"
    InternalGeneration = "InternalGeneration"
    ExternalGeneration = "ExternalGeneration"


class TrainingStatus(enum.StrEnum):
    Pending = "Pending"
    Submitted = "Submitted"
    Paused = "Paused"
    Denied = "Denied"
    Processing = "Processing"
    InReview = "InReview"
    Failed = "Failed"
    Approved = "Approved"
    Expired = "Expired"


class ScanResult(enum.StrEnum):
    Pending = "Pending"
    Success = "Success"
    Danger = "Danger"
    Error = "Error"


class UploadStatus(enum.StrEnum):
    """A resumable upload: parts arrive while Uploading; Verifying joins, hashes and inspects them."""

    Uploading = "Uploading"
    Verifying = "Verifying"
    Complete = "Complete"
    Failed = "Failed"
    Aborted = "Aborted"


class FileVisibility(enum.StrEnum):
    Sensitive = "Sensitive"
    Private = "Private"
    Public = "Public"


class HashType(enum.StrEnum):
    AutoV1 = "AutoV1"
    AutoV2 = "AutoV2"
    AutoV3 = "AutoV3"
    SHA256 = "SHA256"
    CRC32 = "CRC32"
    BLAKE3 = "BLAKE3"


class UnpublishKind(enum.StrEnum):
    """Why content went down: decides the status it lands in and who may do it."""

    voluntary = "voluntary"  # the owner hides it (Unpublished)
    violation = "violation"  # a moderator, for a policy violation (UnpublishedViolation, reason required)
    legal = "legal"  # a moderator, for a DMCA / legal request (UnpublishedViolation, reason and message)
    scan = "scan"  # a file failed its scan (UnpublishedViolation, set by the system)
    ban = "ban"  # the owner was banned (Unpublished, so an unban can restore it)


# File types in Civitai's display order (ModelFileType); the index is the sort key.
FILE_TYPES: tuple[str, ...] = (
    "Model",
    "Pruned Model",
    "Training Data",
    "Config",
    "Text Encoder",
    "VAE",
    "Negative",
    "Archive",
    "UNet",
    "Diffusion Model",
    "CLIPVision",
    "ControlNet",
    "Workflow",
    "Upscaler",
    "Enhancement LoRA",
    "Other",
    "Vision Encoder",
)
FILE_TYPE_ORDER = {name: index for index, name in enumerate(FILE_TYPES)}
MODEL_FILE_TYPES = frozenset({"Model", "Pruned Model", "Diffusion Model", "UNet"})
FILE_FORMATS: tuple[str, ...] = ("SafeTensor", "PickleTensor", "GGUF", "Diffusers", "Core ML", "ONNX", "Other")
FILE_SIZES: tuple[str, ...] = ("full", "pruned")
FILE_FP: tuple[str, ...] = (
    "fp32",
    "fp16",
    "bf16",
    "mxfp8",
    "fp8_mixed",
    "fp8_scaled",
    "fp8",
    "int8",
    "nf4",
    "nvfp4",
    "int4",
)


class TagType(enum.StrEnum):
    user = "UserGenerated"
    label = "Label"  # a scanner's label
    moderation = "Moderation"  # rates content: its level raises the level of what it is on
