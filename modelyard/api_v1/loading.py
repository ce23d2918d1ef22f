"""Everything a page of v1 objects needs, in a fixed number of queries whatever the page size: the visible
versions with their files and hashes, the owners' showcase images at the requested browsing level, creators,
tags and base-model ecosystems."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import ARRAY, ColumnElement, Integer, any_, bindparam, select
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.catalog import visibility
from modelyard.catalog.enums import FileVisibility
from modelyard.catalog.files import primary_file
from modelyard.catalog.models import BaseModel, Model, ModelFile, ModelFileHash, ModelVersion, Tag, TagOnModel
from modelyard.core.runtime import get_runtime
from modelyard.images.models import Image, Post

NSFW_MODEL_LEVEL = 60
IMAGES_PER_VERSION = 20


def model_level(model: Model) -> int:
    """Civitai's model nsfwLevel: 60 when flagged nsfw, else its rated level; unrated content counts as PG until
    a level is computed for it."""
    return NSFW_MODEL_LEVEL if model.nsfw else (model.nsfw_level or 1)


# A file as a plain row (no ORM instance: a page holds hundreds), with the attributes shapes, the primary-file rule
# and download names read.
FILE_COLUMNS = (
    ModelFile.id, ModelFile.model_version_id, ModelFile.name, ModelFile.override_name, ModelFile.size_kb,
    ModelFile.type, ModelFile.metadata_, ModelFile.pickle_scan_result, ModelFile.pickle_scan_message,
    ModelFile.virus_scan_result, ModelFile.virus_scan_message, ModelFile.scanned_at, ModelFile.replaced_at,
)  # fmt: skip


# Models and versions of a list page as plain rows too, with the attributes the shapes and the visibility rule read.
MODEL_COLUMNS = (
    Model.id, Model.user_id, Model.name, Model.description_html, Model.type, Model.status, Model.availability,
    Model.mode, Model.nsfw, Model.nsfw_level, Model.poi, Model.minor, Model.sfw_only, Model.allow_no_credit,
    Model.allow_commercial_use, Model.allow_derivatives, Model.allow_different_license, Model.download_count,
    Model.published_at, Model.created_at,
)  # fmt: skip
VERSION_COLUMNS = (
    ModelVersion.id, ModelVersion.model_id, ModelVersion.index, ModelVersion.name, ModelVersion.description_html,
    ModelVersion.base_model, ModelVersion.base_model_type, ModelVersion.trained_words, ModelVersion.availability,
    ModelVersion.status, ModelVersion.published_at, ModelVersion.early_access_ends_at, ModelVersion.download_count,
    ModelVersion.created_at, ModelVersion.updated_at, ModelVersion.training_status, ModelVersion.upload_type,
    ModelVersion.usage_control, ModelVersion.require_auth,
)  # fmt: skip


@dataclass
class Loaded:
    browsing_level: int
    versions: dict[int, list[Any]] = field(default_factory=dict)  # model id -> rows of VERSION_COLUMNS
    files: dict[int, list[Any]] = field(default_factory=dict)  # version id -> its file rows, with `primary`
    primary: dict[int, Any] = field(default_factory=dict)  # version id -> its primary file row
    hashes: dict[int, dict[str, str]] = field(default_factory=dict)  # file id -> {type: upper-case hex}
    images: dict[int, list[Image]] = field(default_factory=dict)
    image_urls: dict[int, str] = field(default_factory=dict)
    users: dict[int, User] = field(default_factory=dict)
    avatars: dict[int, str | None] = field(default_factory=dict)
    tags: dict[int, list[str]] = field(default_factory=dict)
    ecosystems: dict[str, str] = field(default_factory=dict)

    def versions_of(self, model: Model) -> list[Any]:
        return self.versions.get(model.id, [])

    def files_of(self, version: ModelVersion) -> tuple[list[Any], Any | None]:
        return self.files.get(version.id, []), self.primary.get(version.id)

    def images_of(self, version: ModelVersion) -> list[Image]:
        return self.images.get(version.id, [])

    def version_level(self, version: ModelVersion) -> int:
        level = 0
        for image in self.images.get(version.id, []):
            level |= image.nsfw_level
        return level or 1

    def ecosystem(self, base_model: str) -> str:
        ecosystem = self.ecosystems.get(base_model, "other")
        return "other" if ecosystem.lower() == "upscaler" else ecosystem.lower()


def load(
    session: Session,
    viewer: User | None,
    models: Sequence[Any],
    *,
    browsing_level: int,
    only_versions: set[int] | None = None,
) -> Loaded:
    """What model objects need; with `only_versions`, what those versions' own bodies need (which show neither
    the creator nor the tags, but do show training details)."""
    loaded = Loaded(browsing_level=browsing_level)
    model_ids = [model.id for model in models]
    if not model_ids:
        return loaded
    # Version bodies (`only_versions`) also show training details, a JSON column the lists leave alone.
    columns = VERSION_COLUMNS if only_versions is None else (*VERSION_COLUMNS, ModelVersion.training_details)
    query = (
        select(*columns)
        .where(_among(session, ModelVersion.model_id, model_ids))
        .order_by(ModelVersion.model_id, ModelVersion.index)
    )
    if only_versions is not None:
        query = query.where(ModelVersion.id.in_(only_versions))
    # The visibility rule is applied here, to models already loaded, rather than joined in SQL: a status condition
    # in the query tempts SQLite's planner to walk every published version instead of these models' own.
    by_id = {model.id: model for model in models}
    versions = [
        version
        for version in session.execute(query)
        if visibility.can_view_version(viewer, version, by_id[version.model_id])  # type: ignore[arg-type]
    ]
    _files(session, loaded, [v.id for v in versions])
    for version in versions:
        if version.id in loaded.primary:  # versions without a primary file are left out, as Civitai does
            loaded.versions.setdefault(version.model_id, []).append(version)
    version_ids = [v.id for versions in loaded.versions.values() for v in versions]
    _images(session, loaded, models, version_ids)
    if only_versions is None:
        _people(session, loaded, {model.user_id for model in models})
        tagged = select(TagOnModel.model_id, Tag.name).join(Tag, Tag.id == TagOnModel.tag_id)
        for model_id, name in session.execute(tagged.where(_among(session, TagOnModel.model_id, model_ids))):
            loaded.tags.setdefault(model_id, []).append(name)
    base_models = {v.base_model for versions in loaded.versions.values() for v in versions}
    if base_models:
        rows = session.execute(select(BaseModel.name, BaseModel.ecosystem).where(BaseModel.name.in_(base_models)))
        loaded.ecosystems = {name: ecosystem for name, ecosystem in rows}
    return loaded


def _among(session: Session, column: Any, ids: Collection[int]) -> ColumnElement[bool]:
    """`column IN ids`; on PostgreSQL as one array parameter (`= ANY`), so the statement's text, and the driver's
    parsing of it, stays the same whatever the number of ids."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(ColumnElement[bool], column == any_(bindparam(None, list(ids), type_=ARRAY(Integer))))
    return cast(ColumnElement[bool], column.in_(ids))


def _files(session: Session, loaded: Loaded, version_ids: list[int]) -> None:
    """The live, downloadable files of the versions, their hashes, and each version's primary file."""
    if not version_ids:
        return
    rows = session.execute(
        select(*FILE_COLUMNS)
        .where(
            _among(session, ModelFile.model_version_id, version_ids),
            ModelFile.replaced_at.is_(None),
            ModelFile.visibility != FileVisibility.Private,
        )
        .order_by(ModelFile.id)
    ).all()
    for row in rows:
        loaded.files.setdefault(row.model_version_id, []).append(row)
    for version_id, files in loaded.files.items():
        loaded.primary[version_id] = primary_file(files)
    if rows:
        hashes = select(ModelFileHash.file_id, ModelFileHash.type, ModelFileHash.hash).where(
            _among(session, ModelFileHash.file_id, [row.id for row in rows])
        )
        for file_id, kind, value in session.execute(hashes):
            loaded.hashes.setdefault(file_id, {})[kind.value] = value.upper()


def _images(session: Session, loaded: Loaded, models: Sequence[Any], version_ids: list[int]) -> None:
    """The owners' published showcase posts of each version, at the browsing level asked for."""
    if not version_ids:
        return
    owners = {model.id: model.user_id for model in models}
    rows = session.execute(
        select(Image, Post.model_version_id, ModelVersion.model_id)
        .join(Post, Post.id == Image.post_id)
        .join(ModelVersion, ModelVersion.id == Post.model_version_id)
        .where(
            _among(session, Post.model_version_id, version_ids),
            Post.published_at.is_not(None),
            Image.nsfw_level.op("&")(loaded.browsing_level) != 0,
        )
        .order_by(Post.id, Image.index, Image.id)
    ).all()
    by_version: dict[int, list[Image]] = defaultdict(list)
    storage = get_runtime().storage
    for image, version_id, model_id in rows:
        if version_id is None or image.user_id != owners.get(model_id):
            continue
        if len(by_version[version_id]) < IMAGES_PER_VERSION:
            by_version[version_id].append(image)
            loaded.image_urls[image.id] = storage.download_url(image.storage_key)
    loaded.images = dict(by_version)


def _people(session: Session, loaded: Loaded, user_ids: set[int]) -> None:
    storage = get_runtime().storage
    for user in session.scalars(select(User).where(_among(session, User.id, user_ids))):
        loaded.users[user.id] = user
        loaded.avatars[user.id] = storage.download_url(user.avatar_key) if user.avatar_key else None
