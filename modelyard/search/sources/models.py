"""The models index: every published model, with the words, facets and metrics people search it by.

A published model everyone may list is public; one only its owner may list (Unsearchable, Private) is indexed
with `public=False` (the engine shows it to its owner and moderators); anything not published is not indexed."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.catalog import browsing
from modelyard.catalog.enums import Availability, ModelStatus
from modelyard.catalog.models import Model, ModelFile, ModelVersion, Tag, TagOnModel
from modelyard.core.db import utcnow
from modelyard.core.nsfw import BrowsingLevel
from modelyard.images.models import Image, Post
from modelyard.images.visibility import published_posts, ready_images
from modelyard.search.sources.base import latest, plain_text, words
from modelyard.search.types import Document

INDEX = "models"
# Listed by anyone: the availabilities the catalog's list rule keeps of a published model for a visitor.
PUBLIC_AVAILABILITY = (Availability.Public, Availability.EarlyAccess)
LICENSE_FLAGS = (
    ("allow_no_credit", "no_credit"),
    ("allow_derivatives", "derivatives"),
    ("allow_different_license", "different_license"),
)


def document_level(nsfw: bool, level: int) -> int:
    """The level a model's document carries: its rated level; a model flagged NSFW is at least R even before
    its pictures are rated, so a PG browser never meets it."""
    if nsfw:
        return level or int(BrowsingLevel.R)
    return level or int(BrowsingLevel.PG)


@dataclass
class _Versions:
    """What a model's published versions add to its document."""

    base_models: list[str] = field(default_factory=list)
    trained_words: list[str] = field(default_factory=list)
    file_names: list[str] = field(default_factory=list)
    file_formats: list[str] = field(default_factory=list)
    early_access: bool = False
    updated_at: datetime | None = None


class ModelSource:
    index = INDEX

    def ids(self, session: Session, *, after: int = 0, limit: int = 1000) -> list[int]:
        query = (
            select(Model.id)
            .where(Model.status == ModelStatus.Published, Model.id > after)
            .order_by(Model.id)
            .limit(limit)
        )
        return list(session.scalars(query))

    def stamps(self, session: Session, entity_ids: Sequence[int]) -> dict[int, datetime | None]:
        rows = session.execute(
            select(Model.id, Model.updated_at, func.max(ModelVersion.updated_at))
            .outerjoin(
                ModelVersion,
                and_(ModelVersion.model_id == Model.id, ModelVersion.status == ModelStatus.Published),
            )
            .where(Model.id.in_(entity_ids), Model.status == ModelStatus.Published)
            .group_by(Model.id, Model.updated_at)
        )
        return {model_id: latest(updated, versions_updated) for model_id, updated, versions_updated in rows}

    def load(self, session: Session, entity_ids: Sequence[int]) -> dict[int, Document | None]:
        found: dict[int, Document | None] = dict.fromkeys(entity_ids)
        rows = session.execute(
            select(Model, User.username)
            .join(User, User.id == Model.user_id)
            .where(Model.id.in_(entity_ids), Model.status == ModelStatus.Published)
        ).all()
        ids = [model.id for model, _ in rows]
        if not ids:
            return found
        versions = _published_versions(session, ids)
        tags = _tags(session, ids)
        images = _image_counts(session, ids)
        for model, username in rows:
            found[model.id] = _document(model, username, versions[model.id], tags[model.id], images.get(model.id, 0))
        return found


def _published_versions(session: Session, model_ids: list[int]) -> dict[int, _Versions]:
    """Two queries: the published versions of the models, then the live files of those versions."""
    found: dict[int, _Versions] = defaultdict(_Versions)
    now = utcnow()
    owner_of: dict[int, int] = {}
    rows = session.execute(
        select(
            ModelVersion.id,
            ModelVersion.model_id,
            ModelVersion.base_model,
            ModelVersion.trained_words,
            ModelVersion.early_access_ends_at,
            ModelVersion.updated_at,
        )
        .where(ModelVersion.model_id.in_(model_ids), ModelVersion.status == ModelStatus.Published)
        .order_by(ModelVersion.model_id, ModelVersion.index)
    )
    for version_id, model_id, base_model, trained_words, early_access_ends_at, updated_at in rows:
        owner_of[version_id] = model_id
        entry = found[model_id]
        entry.base_models.append(base_model)
        entry.trained_words.extend(word for word in trained_words or () if isinstance(word, str))
        entry.early_access = entry.early_access or (early_access_ends_at is not None and early_access_ends_at > now)
        entry.updated_at = latest(entry.updated_at, updated_at)
    if owner_of:
        files = session.execute(
            select(ModelFile.model_version_id, ModelFile.name, ModelFile.metadata_)
            .where(ModelFile.model_version_id.in_(list(owner_of)), ModelFile.replaced_at.is_(None))
            .order_by(ModelFile.model_version_id, ModelFile.id)
        )
        for version_id, name, metadata in files:
            entry = found[owner_of[version_id]]
            entry.file_names.append(name)
            file_format = (metadata or {}).get("format")
            if isinstance(file_format, str) and file_format:
                entry.file_formats.append(file_format)
    return found


def _tags(session: Session, model_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    rows = session.execute(
        select(TagOnModel.model_id, Tag.name)
        .join(Tag, Tag.id == TagOnModel.tag_id)
        .where(TagOnModel.model_id.in_(model_ids))
        .order_by(TagOnModel.model_id, Tag.name)
    )
    for model_id, name in rows:
        found[model_id].append(name)
    return found


def image_counts_query() -> Any:
    """(model id, published images of its versions): what the `images` metric counts, per model."""
    return (
        select(ModelVersion.model_id, func.count(Image.id))
        .join(Post, Post.model_version_id == ModelVersion.id)
        .join(Image, Image.post_id == Post.id)
        .where(published_posts(), ready_images())
        .group_by(ModelVersion.model_id)
    )


def _image_counts(session: Session, model_ids: list[int]) -> dict[int, int]:
    rows = session.execute(image_counts_query().where(ModelVersion.model_id.in_(model_ids)))
    return {model_id: int(count) for model_id, count in rows}


def _license_terms(model: Model) -> tuple[str, ...]:
    flags = [term for column, term in LICENSE_FLAGS if getattr(model, column)]
    uses = [f"commercial:{use}" for use in model.allow_commercial_use or () if isinstance(use, str)]
    return (*flags, *uses)


def _distinct(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(value for value in values if value))


def _document(model: Model, username: str, versions: _Versions, tags: list[str], images: int) -> Document:
    terms: dict[str, tuple[str, ...]] = {
        "type": (model.type.value,),
        "base_model": _distinct(versions.base_models),
        "creator": (username,),
        "tag": _distinct(tags),
        "file_format": _distinct(versions.file_formats),
        "license": _license_terms(model),
    }
    if model.checkpoint_type is not None:
        terms["checkpoint_type"] = (model.checkpoint_type.value,)
    if versions.early_access:
        terms["early_access"] = ("yes",)
    return Document(
        index=INDEX,
        entity_id=model.id,
        name=model.name,
        created_at=model.published_at or model.created_at,
        keywords=words([*tags, *versions.trained_words, username, *versions.file_names]),
        body=plain_text(model.description_html or model.description),
        nsfw_level=document_level(model.nsfw, model.nsfw_level),
        user_id=model.user_id,
        public=model.availability in PUBLIC_AVAILABILITY,
        source_updated_at=latest(model.updated_at, versions.updated_at),
        metrics={"downloads": model.download_count, "images": images},
        terms={facet: values for facet, values in terms.items() if values},
    )


def listed_models() -> ColumnElement[bool]:
    """The models anyone may list (the catalog's list rule for a visitor): what the users and tags indexes
    count."""
    return browsing.listed_clause(None)
