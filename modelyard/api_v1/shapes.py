"""Civitai's v1 JSON objects, field for field (reference §1.4-1.6), from rows loaded by `api_v1.loading`.

Keys are camelCase; hashes upper-case; `sizeKB` is bytes / 1024 unrounded; download URLs are absolute on the
configured public base URL; file `name` is the name a download is saved under. Legacy fields old clients still
read (`favoriteCount`, `rating`, `ratingCount`) are kept, as 0 until reviews exist.

Objects are left holding datetimes and string enums: `common.public_json` writes datetimes as Civitai does
(ISO 8601 in UTC with a `Z`) and the enums as their strings, faster than converting each value here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from modelyard.api_v1.loading import Loaded, model_level
from modelyard.catalog.enums import ModelType
from modelyard.catalog.files.downloads import download_filename
from modelyard.catalog.files.scanning import virus_scan_message, virus_scanner_configured
from modelyard.catalog.models import Model
from modelyard.images import blurhash

AIR_TYPES = {
    ModelType.Checkpoint: "checkpoint", ModelType.LORA: "lora", ModelType.LoCon: "lycoris", ModelType.DoRA: "dora",
    ModelType.TextualInversion: "embedding", ModelType.Hypernetwork: "hypernet", ModelType.AestheticGradient: "ag",
    ModelType.VAE: "vae", ModelType.Controlnet: "controlnet", ModelType.Upscaler: "upscaler",
    ModelType.MotionModule: "motion", ModelType.TextEncoder: "text_encoders", ModelType.UNet: "unet",
    ModelType.CLIPVision: "clipvision", ModelType.CLIP: "clip", ModelType.VisionLanguage: "visionlanguage",
}  # fmt: skip
_FILE_AIR_TYPES = {"Diffusion Model": "diffusionmodel", "UNet": "unet"}


def air(model: Any, version: Any, ecosystem: str, primary: Any) -> str:
    kind = AIR_TYPES.get(model.type, "unknown")
    if primary is not None and primary.type in _FILE_AIR_TYPES:
        kind = _FILE_AIR_TYPES[primary.type]
    return f"urn:air:{ecosystem}:{kind}:civitai:{model.id}@{version.id}"


def download_url(base: str, version: Any, file: Any = None, *, primary: bool = True) -> str:
    url = f"{base}/api/download/models/{version.id}"
    if file is None or primary:
        return url
    metadata = file.metadata_ or {}
    query = {"type": file.type}
    for key in ("format", "size", "fp", "quantType"):
        if metadata.get(key) and not (key == "format" and file.type == "Training Data"):
            query[key] = str(metadata[key])
    return f"{url}?{urlencode(query)}"


def file_json(
    base: str, loaded: Loaded, model: Any, version: Any, file: Any, primary: bool, *, listing: bool
) -> dict[str, Any]:
    """`file` is a row of `loading.FILE_COLUMNS`."""
    metadata = file.metadata_ or {}
    scanner = virus_scanner_configured()
    shown = {"format": metadata.get("format"), "size": metadata.get("size"), "fp": metadata.get("fp")}
    if listing:
        shown["quantType"] = metadata.get("quantType")
    body: dict[str, Any] = {
        "id": file.id,
        "sizeKB": file.size_kb,
        "name": download_filename(model, version, file),
        "type": file.type,
        "pickleScanResult": file.pickle_scan_result,
        "pickleScanMessage": file.pickle_scan_message,
        "virusScanResult": file.virus_scan_result,
        "virusScanMessage": virus_scan_message(file.virus_scan_result, file.virus_scan_message, scanner=scanner),
        "scannedAt": file.scanned_at,
        "metadata": shown,
        "hashes": loaded.hashes.get(file.id, {}),
        "downloadUrl": download_url(base, version, file, primary=primary),
    }
    if primary or not listing:
        body["primary"] = primary
    return body


def image_json(base: str, loaded: Loaded, image: Any, *, with_meta: bool) -> dict[str, Any]:
    """`image` is a row of `loading.IMAGE_COLUMNS`. `hash` is its BlurHash, which Civitai always sends: an image
    stored before BlurHashes were computed has the neutral one until the backfill reaches it (`images.upkeep`)."""
    meta = image.meta
    placeholder = image.blurhash or blurhash.NEUTRAL
    body: dict[str, Any] = {
        "id": image.id,
        "url": loaded.image_url(image, base),
        "nsfwLevel": image.nsfw_level,
        "width": image.width,
        "height": image.height,
        "hash": placeholder,
        "type": "image",
        "metadata": {"hash": placeholder, "width": image.width, "height": image.height},
        "minor": False,
        "poi": False,
        "hasMeta": bool(meta),
        "hasPositivePrompt": bool((meta or {}).get("prompt")),
        "onSite": False,
        "remixOfId": None,
    }
    if with_meta:
        body["meta"] = meta
    return body


def version_in_model(base: str, loaded: Loaded, model: Any, version: Any, *, listing: bool) -> dict[str, Any]:
    """A version as the model object nests it; `version` is a row of `loading.VERSION_COLUMNS`."""
    files, primary = loaded.files_of(version)
    ends = version.early_access_ends_at
    return {
        "id": version.id,
        "index": version.index,
        "name": version.name,
        "description": version.description_html,
        "baseModel": version.base_model,
        "baseModelType": version.base_model_type,
        "trainedWords": version.trained_words or [],
        "nsfwLevel": loaded.version_level(version),
        "availability": version.availability,
        "publishedAt": version.published_at,
        "supportsGeneration": False,
        "earlyAccessDeadline": ends,
        "paidAccess": {"permanent": False, "endsAt": ends} if ends else None,
        "stats": {
            "downloadCount": version.download_count,
            "ratingCount": 0,
            "rating": 0,
            "thumbsUpCount": 0,
            "thumbsDownCount": 0,
        },
        "files": [file_json(base, loaded, model, version, f, f is primary, listing=listing) for f in files],
        "images": [image_json(base, loaded, image, with_meta=False) for image in loaded.images_of(version)],
        "downloadUrl": f"{base}/api/download/models/{version.id}",
    }


def model_json(base: str, loaded: Loaded, model: Any, *, primary_only: bool = False) -> dict[str, Any]:
    """`model` is a Model or a row of `loading.MODEL_COLUMNS`."""
    versions = []
    for version in loaded.versions_of(model):
        nested = version_in_model(base, loaded, model, version, listing=True)
        if primary_only:
            nested["files"] = [f for f in nested["files"] if f.get("primary")]
        versions.append(nested)
    body: dict[str, Any] = {
        "id": model.id,
        "name": model.name,
        "description": model.description_html,
        "type": model.type,
        "poi": model.poi,
        "minor": model.minor,
        "sfwOnly": model.sfw_only,
        "nsfw": model.nsfw,
        "nsfwLevel": model_level(model),
        "allowNoCredit": model.allow_no_credit,
        "allowCommercialUse": model.allow_commercial_use or [],
        "allowDerivatives": model.allow_derivatives,
        "allowDifferentLicense": model.allow_different_license,
        "availability": model.availability,
        "cosmetic": None,
        "supportsGeneration": False,
        "stats": {
            "downloadCount": model.download_count,
            "favoriteCount": 0,
            "thumbsUpCount": 0,
            "thumbsDownCount": 0,
            "commentCount": 0,
            "ratingCount": 0,
            "rating": 0,
            "tippedAmountCount": 0,
        },
        "creator": loaded.creators[model.user_id],
        "tags": loaded.tags.get(model.id, []),
        "modelVersions": versions,
    }
    if model.mode is not None:
        body["mode"] = model.mode
    return body


def version_body(base: str, loaded: Loaded, model: Model, version: Any) -> dict[str, Any]:
    """`GET /api/v1/model-versions/{id}` and by-hash: the version with its model's summary."""
    _, primary = loaded.files_of(version)
    body = version_in_model(base, loaded, model, version, listing=False)
    body.pop("index")
    body.update(
        {
            "modelId": model.id,
            "status": version.status,
            "createdAt": version.created_at,
            "updatedAt": version.updated_at,
            "trainingStatus": version.training_status,
            "trainingDetails": version.training_details,
            "uploadType": version.upload_type,
            "usageControl": version.usage_control,
            "licensingFee": None,
            "air": air(model, version, loaded.ecosystem(version.base_model), primary),
            "model": {"name": model.name, "type": model.type, "nsfw": model.nsfw, "poi": model.poi},
            "images": [image_json(base, loaded, image, with_meta=True) for image in loaded.images_of(version)[:10]],
        }
    )
    body["stats"] = {"downloadCount": body["stats"]["downloadCount"], "thumbsUpCount": 0, "ratingCount": 0, "rating": 0}
    if model.mode is not None:
        body["model"]["mode"] = model.mode
    shown = {key: value for key, value in body.items() if value is not None}
    shown["earlyAccessConfig"] = early_access_config(version)  # sent as null too, as Civitai does
    return shown


def early_access_config(version: Any) -> dict[str, Any] | None:
    """Civitai's `earlyAccessConfig` (its `modelVersionEarlyAccessConfigSchema`) for a version with an early-access
    window, else None. Only download access is sold here; generation is not, nor are donation goals."""
    if not version.early_access_days:
        return None
    config: dict[str, Any] = {
        "timeframe": version.early_access_days,
        "chargeForDownload": bool(version.early_access_price),
        "chargeForGeneration": False,
        "generationTrialLimit": 0,
        "donationGoalEnabled": False,
    }
    if version.early_access_price:
        config["downloadPrice"] = version.early_access_price
    if version.published_at is not None:
        config["originalPublishedAt"] = version.published_at
    return config
