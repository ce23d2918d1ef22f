"""Creating and editing models and versions. Status changes live in `lifecycle`; files in `files`."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from modelyard.accounts import policy
from modelyard.accounts.models import User
from modelyard.catalog import access, basemodels
from modelyard.catalog.enums import CommercialUse, ModelModifier, ModelStatus, ModelType, UploadType
from modelyard.catalog.files import placement
from modelyard.catalog.lifecycle import effects
from modelyard.catalog.lifecycle import transitions as lifecycle
from modelyard.catalog.models import Model, ModelVersion, Tag, TagOnModel
from modelyard.catalog.schemas import ModelCreate, ModelUpdate, VersionCreate, VersionFields, VersionUpdate
from modelyard.core import markdown
from modelyard.core.errors import Conflict, Forbidden, ValidationFailed
from modelyard.core.runtime import get_runtime
from modelyard.search import outbox

MAX_TAGS = 20
MAX_TRAINED_WORDS = 100
MAX_META_BYTES = 20_000
# Fields an owner may neither set nor clear: the moderation flags are for moderators (`_apply_staff_fields`).
_STAFF_FIELDS = frozenset({"poi", "minor"})


def _text(value: str, what: str) -> str:
    value = unicodedata.normalize("NFC", value).strip()
    if not value:
        raise ValidationFailed(f"The {what} cannot be blank")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ValidationFailed(f"The {what} cannot contain control characters")
    return value


def _meta(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value)) > MAX_META_BYTES:
        raise ValidationFailed(f"meta is at most {MAX_META_BYTES} bytes of JSON")
    return value


def tag_key(raw: str) -> str:
    """A tag as it is stored and looked up: NFKC, single spaces, lower case ("Anime " and "anime" are one tag)."""
    return " ".join(unicodedata.normalize("NFKC", raw).split()).lower()


def _normalise_tags(names: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for raw in names:
        name = tag_key(raw)
        if not name:
            continue
        if len(name) > 60:
            raise ValidationFailed(f"Tag {name[:20]!r}… is longer than 60 characters")
        seen.setdefault(name, None)
    if len(seen) > MAX_TAGS:
        raise ValidationFailed(f"A model has at most {MAX_TAGS} tags")
    return list(seen)


def set_tags(session: Session, model: Model, names: Iterable[str]) -> list[str]:
    wanted = _normalise_tags(names)
    existing = {tag.name: tag for tag in session.scalars(select(Tag).where(Tag.name.in_(wanted)))} if wanted else {}
    for name in wanted:
        if name not in existing:
            existing[name] = Tag(name=name)
            session.add(existing[name])
    session.flush()
    removed = session.execute(
        delete(TagOnModel).where(TagOnModel.model_id == model.id).returning(TagOnModel.tag_id)
    ).scalars()
    outbox.queue(session, "tags", [*removed, *(tag.id for tag in existing.values())], "update")  # their uses moved
    session.add_all(TagOnModel(model_id=model.id, tag_id=existing[name].id) for name in wanted)
    session.flush()
    return wanted


def tags_of(session: Session, model_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {model_id: [] for model_id in model_ids}
    if not model_ids:
        return found
    rows = session.execute(
        select(TagOnModel.model_id, Tag.name)
        .join(Tag, Tag.id == TagOnModel.tag_id)
        .where(TagOnModel.model_id.in_(model_ids))
        .order_by(Tag.name)
    )
    for model_id, name in rows:
        found[model_id].append(name)
    return found


def _apply_model_fields(session: Session, actor: User, model: Model, data: ModelCreate | ModelUpdate) -> None:
    given = data.model_dump(exclude_unset=True)
    _apply_staff_fields(actor, model, given)
    if "name" in given and data.name is not None:
        model.name = _text(data.name, "name")
    if "type" in given and data.type is not None:
        model.type = data.type
    if "description" in given:
        model.description = data.description
        model.description_html = markdown.render(data.description)
    if data.allow_commercial_use is not None:
        model.allow_commercial_use = _commercial_use(data.allow_commercial_use)
    for field in ("allow_no_credit", "allow_derivatives", "allow_different_license", "nsfw"):
        value = getattr(data, field)
        if field in given and value is not None:
            setattr(model, field, value)
    if "availability" in given and data.availability is not None:
        model.availability = data.availability
    if "checkpoint_type" in given:
        model.checkpoint_type = data.checkpoint_type
    if model.type != ModelType.Checkpoint:
        model.checkpoint_type = None
    if data.meta is not None:
        model.meta = _owner_meta(data.meta, model.meta)
    if data.tags is not None:
        session.flush()
        set_tags(session, model, data.tags)


def _apply_staff_fields(actor: User, model: Model, given: dict[str, Any]) -> None:
    """The moderation flags (POI, minor) are the moderators': they close downloads and listings, so an owner may
    neither set nor clear them. Sending the value a flag already has changes nothing and is accepted (clients
    send back the model they read)."""
    wanted = {field: given[field] for field in _STAFF_FIELDS & given.keys() if given[field] is not None}
    if not policy.is_moderator(actor):
        if any(bool(getattr(model, field)) != value for field, value in wanted.items()):
            raise Forbidden("Only moderators mark a model as depicting a real person or a minor, or lift the mark")
        return
    for field, value in wanted.items():
        setattr(model, field, value)


def _owner_meta(sent: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    """`meta` as an owner (or a moderator) sets it: what they sent, with the server's keys (unpublishing details,
    what went down with the model, the early-access purchase mark) exactly as they are, whatever the body says:
    not erased, not changed, not added. Clients send back the meta they read, so the keys are dropped from the
    body, not refused."""
    own = {key: value for key, value in _meta(sent).items() if key not in lifecycle.SERVER_META_KEYS}
    kept = {key: value for key, value in (current or {}).items() if key in lifecycle.SERVER_META_KEYS}
    return {**own, **kept}


def _commercial_use(values: list[CommercialUse]) -> list[str]:
    chosen = list(dict.fromkeys(value.value for value in values))
    if CommercialUse.none.value in chosen and len(chosen) > 1:
        raise ValidationFailed("allow_commercial_use: 'None' cannot be combined with other uses")
    return chosen or [CommercialUse.none.value]


def create_model(session: Session, owner: User, data: ModelCreate) -> Model:
    """A new model, in Draft."""
    if not policy.can_post(owner):
        raise Forbidden("Your account is muted: you cannot create models for now")
    policy.require_can_upload(owner)  # strikes may pause uploads
    model = Model(user_id=owner.id, name=_text(data.name, "name"), type=data.type, status=ModelStatus.Draft, meta={})
    session.add(model)
    _apply_model_fields(session, owner, model, data)
    session.flush()
    get_runtime().cache.invalidate_after_commit(session, effects.content_tag(owner.id))
    return model


def update_model(session: Session, actor: User, model: Model, data: ModelUpdate) -> Model:
    access.require_writer(actor, model)
    _apply_model_fields(session, actor, model, data)
    if data.clear_mode:
        _set_mode(actor, model, None)
    elif data.mode is not None:
        _set_mode(actor, model, data.mode)
    if data.clear_mode or data.mode is not None:  # a take-down sets the files' objects aside, or brings them back
        placement.place_after_commit(session, [version.id for version in model.versions])
    session.flush()
    effects.invalidate_model(session, model.id, effects.content_tag(model.user_id))
    if model.status == ModelStatus.Published:
        from modelyard.search import outbox

        outbox.queue(session, "models", [model.id], "update")
    return model


def _set_mode(actor: User, model: Model, mode: ModelModifier | None) -> None:
    # Owners archive their own models (no more downloads); taking down, and undoing it, is for moderators.
    if ModelModifier.TakenDown in (mode, model.mode) and not policy.is_moderator(actor):
        raise Forbidden("Only moderators take a model down or lift a take-down")
    model.mode = mode


# --- versions --------------------------------------------------------------------------------------------------


def _unique_version_name(session: Session, model: Model, name: str, *, exclude: int | None = None) -> None:
    query = select(ModelVersion.id).where(
        ModelVersion.model_id == model.id,
        func.lower(ModelVersion.name) == name.lower(),
        ModelVersion.status != ModelStatus.Deleted,
    )
    if exclude is not None:
        query = query.where(ModelVersion.id != exclude)
    if session.scalar(query) is not None:
        raise Conflict(f"Model {model.id} has a version named {name!r} already")


def _apply_version_fields(session: Session, version: ModelVersion, data: VersionFields) -> None:
    given = data.model_dump(exclude_unset=True)
    if "description" in given:
        version.description = data.description
        version.description_html = markdown.render(data.description)
    if data.trained_words is not None:
        words = [" ".join(word.split()) for word in data.trained_words]
        version.trained_words = list(dict.fromkeys(word for word in words if word))
        if any(len(word) > 500 for word in version.trained_words):
            raise ValidationFailed("A trigger word is at most 500 characters")
    for field in (
        "base_model_type",
        "steps",
        "epochs",
        "clip_skip",
        "training_details",
        "require_auth",
        "usage_control",
        "availability",
        "early_access_days",
        "early_access_price",
    ):
        if field in given:
            value = getattr(data, field)
            if value is None and field in ("base_model_type", "require_auth", "usage_control", "availability"):
                continue
            setattr(version, field, value)
    if data.meta is not None:
        version.meta = _owner_meta(data.meta, version.meta)
    if version.early_access_price and not version.early_access_days:
        raise ValidationFailed("An early-access price needs an early-access window (early_access_days)")


def create_version(session: Session, actor: User, model: Model, data: VersionCreate) -> ModelVersion:
    """A new Draft version, placed first (index 0) as the newest."""
    access.require_writer(actor, model)
    name = _text(data.name, "version name")
    _unique_version_name(session, model, name)
    for existing in model.versions:
        existing.index += 1
    version = ModelVersion(
        model=model,
        index=0,
        name=name,
        base_model=basemodels.require_known(session, data.base_model),
        status=ModelStatus.Draft,
        upload_type=model.upload_type if model.upload_type else UploadType.Created,
        trained_words=[],
        meta={},
    )
    session.add(version)
    _apply_version_fields(session, version, data)
    session.flush()
    effects.invalidate_model(session, model.id)
    return version


def update_version(session: Session, actor: User, version: ModelVersion, data: VersionUpdate) -> ModelVersion:
    model = version.model
    access.require_writer(actor, model)
    if version.status == ModelStatus.Deleted:
        raise Conflict(f"Version {version.id} is Deleted")
    if data.name is not None:
        name = _text(data.name, "version name")
        _unique_version_name(session, model, name, exclude=version.id)
        version.name = name
    if data.base_model is not None:
        version.base_model = basemodels.require_known(session, data.base_model)
    _apply_version_fields(session, version, data)
    session.flush()
    effects.invalidate_model(session, model.id)
    return version


def reorder_versions(session: Session, actor: User, model: Model, version_ids: list[int]) -> None:
    """Set the display order: `version_ids` lists every version of the model, first shown first."""
    access.require_writer(actor, model)
    current = {version.id: version for version in model.versions}
    if sorted(version_ids) != sorted(current):
        raise ValidationFailed("List every version of the model exactly once")
    for index, version_id in enumerate(version_ids):
        current[version_id].index = index
    session.flush()
