"""Model downloads, as Civitai serves them (reference civitai.md §1.7): the same checks in the same order, the same
file choice and download file names, and a 307 to a short-lived signed URL of the stored object.

`resolve_download` decides; the route turns its refusals into JSON for API clients and redirects for browsers.
`record_download` is the whole of counting that happens in the request: an event in memory, counted later
(catalog.stats).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from modelyard.accounts import policy
from modelyard.accounts.models import User
from modelyard.catalog import stats, stats_buffer
from modelyard.catalog.enums import (
    FILE_FORMATS,
    FILE_SIZES,
    FILE_TYPES,
    BaseModelType,
    FileVisibility,
    ModelModifier,
    ModelType,
    UsageControl,
)
from modelyard.catalog.files import quarantine
from modelyard.catalog.files.service import primary_file
from modelyard.catalog.lifecycle import visibility
from modelyard.catalog.models import Model, ModelFile, ModelVersion
from modelyard.core.db import utcnow
from modelyard.core.runtime import Runtime

FILTER_KEYS = ("format", "size", "fp", "quantType")


@dataclass(frozen=True)
class Refusal:
    """Why a download is refused: the status, Civitai's body, and where a browser goes instead (if anywhere)."""

    status: int
    body: dict[str, object]
    browser_redirect: str | None = None


@dataclass(frozen=True)
class Granted:
    version: ModelVersion
    file: ModelFile
    filename: str


def parse_filters(query: Mapping[str, str]) -> dict[str, str] | Refusal:
    """The file filters of the query string, checked: unknown values are a 400, as in Civitai."""
    chosen: dict[str, str] = {}
    allowed = {"type": FILE_TYPES, "format": FILE_FORMATS, "size": FILE_SIZES}
    for key in ("type", *FILTER_KEYS):
        value = query.get(key)
        if value in (None, ""):
            continue
        assert value is not None
        if key in allowed and value not in allowed[key]:
            return Refusal(400, {"error": f"Invalid {key} {value!r}; expected one of: {', '.join(allowed[key])}"})
        if len(value) > 64:
            return Refusal(400, {"error": f"{key} is at most 64 characters"})
        chosen[key] = value
    return chosen


def resolve_download(
    session: Session,
    viewer: User | None,
    version_id: int,
    *,
    filters: Mapping[str, str],
    file_id: int | None,
    preferences: Mapping[str, str] | None = None,
    anonymous_downloads: bool = True,
    now: datetime | None = None,
) -> Granted | Refusal:
    """Civitai's order of checks after the rate limit: existence and visibility (404), archived (410), taken down
    (410, but for moderators), usage control (401), log-in required (401), early access (403), then the file
    choice (404 when nothing fits)."""
    not_found = Refusal(404, {"error": "File not found"})
    version = session.get(ModelVersion, version_id) if 0 < version_id < 2**31 else None
    if version is None or not visibility.can_view_version(viewer, version):
        return not_found
    model: Model = version.model
    privileged = policy.is_owner_or_moderator(viewer, model.user_id)
    if model.poi and not privileged:
        return not_found
    if model.mode == ModelModifier.Archived:
        return Refusal(410, {"error": "Model archived, not available for download"})
    if model.mode == ModelModifier.TakenDown and not policy.is_moderator(viewer):
        # Worded as Civitai words Archived; moderators keep access to review the take-down.
        return Refusal(410, {"error": "Model taken down, not available for download"})
    if version.usage_control != UsageControl.Download and not privileged:
        message = "The creator of this asset has disabled downloads on this file"
        return Refusal(401, {"error": "Unauthorized", "message": message})
    page = f"/models/{model.id}?modelVersionId={version.id}"
    if viewer is None and (version.require_auth or not anonymous_downloads):
        message = "The creator of this asset requires you to be logged in to download it"
        return Refusal(
            401,
            {"error": "Unauthorized", "message": message},
            browser_redirect=f"/login?reason=download-auth&next={page}",
        )
    deadline = version.early_access_ends_at
    if deadline is not None and deadline > (now or utcnow()) and not privileged:
        # Buying early access (Buzz) grants it; until that exists, early access means waiting for the deadline.
        body: dict[str, object] = {
            "error": "Early Access",
            "deadline": deadline.isoformat(),
            "message": "This asset is in Early Access. You can use Buzz to access it now!",
        }
        return Refusal(403, body, browser_redirect=page)
    file = choose_file(version, filters=filters, file_id=file_id, preferences=preferences)
    if file is None:
        return not_found
    return Granted(version=version, file=file, filename=download_filename(model, version, file))


def choose_file(
    version: ModelVersion,
    *,
    filters: Mapping[str, str],
    file_id: int | None,
    preferences: Mapping[str, str] | None = None,
) -> ModelFile | None:
    """`fileId` exactly; otherwise the files of the asked type (default: any), scored by the primary-file rule
    with the request's format/size/fp/quantType over the user's preferences. A request naming metadata the chosen
    file does not have gets nothing (Civitai answers 404 there too)."""
    live = [
        file
        for file in version.files
        if file.replaced_at is None
        and not file.data_purged
        and file.visibility == FileVisibility.Public
        and not quarantine.is_held(file)
    ]
    if file_id is not None:
        return next((file for file in live if file.id == file_id), None)
    if "type" in filters:
        live = [file for file in live if file.type == filters["type"]]
    asked = {key: filters[key] for key in FILTER_KEYS if key in filters}
    chosen = primary_file(live, {**(preferences or {}), **asked})
    if chosen is None:
        return None
    metadata = chosen.metadata_ or {}
    if any(metadata.get(key) != value for key, value in asked.items()):
        return None
    return chosen


def record_download(runtime: Runtime, version_id: int, downloader: str) -> None:
    """Note a granted download of a published version by `downloader` ("user:<id>", or a keyed hash of an address).
    It joins this process's buffer of events, written to the database within a second; the aggregation job counts
    it within a minute, once per downloader per version per UTC day. Never raises, never waits."""
    stats_buffer.buffered(runtime).add(stats.VERSION_DOWNLOADS, entity_id=version_id, actor=downloader)


# --- file names ---------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)  # a list page names each model's files once per version
def filenamize(text: str, *, limit: int = 20) -> str:
    """Civitai's name sanitizer: apostrophes dropped, anything else not alphanumeric a word break, cut at a word
    boundary near `limit` characters, then camelCased ("Realistic Vision" → "realisticVision")."""
    words = [word for word in re.split(r"[^A-Za-z0-9]+", text.replace("'", "")) if word]
    kept: list[str] = []
    length = 0
    for word in words:
        if kept and length + 1 + len(word) > limit:
            break
        kept.append(word)
        length += len(word) + (1 if length else 0)
    if not kept:
        return ""
    return kept[0].lower() + "".join(word.capitalize() for word in kept[1:])


def _without(text: str, part: str) -> str:
    """`text` with every occurrence of `part` removed, ignoring case. (A regular expression per model name would
    be compiled again for nearly every name in a long list: the pattern cache holds 512.)"""
    if not part:
        return text
    lowered, wanted = text.lower(), part.lower()
    if len(lowered) != len(text) or len(wanted) != len(part):  # a letter whose lower case is longer ("İ")
        return re.sub(re.escape(part), "", text, flags=re.IGNORECASE)
    kept, start = [], 0
    while (found := lowered.find(wanted, start)) != -1:
        kept.append(text[start:found])
        start = found + len(part)
    kept.append(text[start:])
    return "".join(kept)


def download_filename(model: Model, version: ModelVersion, file: ModelFile) -> str:
    """The name a download is saved under (Civitai's `getDownloadFilename`)."""
    if file.override_name:
        return file.override_name
    model_name = filenamize(model.name)
    if not model_name or model.type in (ModelType.LORA, ModelType.LoCon):
        return file.name
    version_name = filenamize(_without(version.name, model.name))
    extension = file.name.rsplit(".", 1)[-1] if "." in file.name else ""
    if file.type == "Training Data":
        return f"{model_name}_{version_name}_trainingData.zip"
    if model.type == ModelType.TextualInversion and version.trained_words:
        suffix = "-neg" if file.type == "Negative" else ""
        word = re.sub(r"[^\w.-]+", "_", version.trained_words[0]).strip("_") or model_name
        return f"{word}{suffix}.{extension}" if extension else f"{word}{suffix}"
    if model.type == ModelType.VAE:
        return file.name
    suffix = ""
    if version.base_model_type == BaseModelType.Inpainting:
        suffix = "-inpainting"
    elif version.base_model_type == BaseModelType.Pix2Pix:
        suffix = ".instruct-pix2pix"
    elif file.type == "Text Encoder":
        suffix = "_txt"
    stem = f"{model_name}_{version_name}" if version_name else model_name
    return f"{stem}{suffix}.{extension}" if extension else f"{stem}{suffix}"
