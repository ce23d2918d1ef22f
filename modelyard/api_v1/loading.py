"""Everything a page of v1 objects needs, in a fixed number of queries whatever the page size: the visible
versions with their files and hashes, the owners' showcase images at the requested browsing level, creators,
tags and base-model ecosystems.

A list page is hundreds of rows, so rows are plain named tuples (`api_v1.rows`), and each statement is built
once per database dialect with its ids as one parameter: a request only binds and runs them.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import ARRAY, ColumnElement, Integer, String, any_, bindparam, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.api_v1.rows import AnySelect, Query, plain, text, utc_naive
from modelyard.catalog import browsing
from modelyard.catalog.enums import FileVisibility
from modelyard.catalog.files.service import primary_file
from modelyard.catalog.lifecycle import visibility
from modelyard.catalog.models import BaseModel, Model, ModelFile, ModelFileHash, ModelVersion, Tag, TagOnModel
from modelyard.core.runtime import get_runtime
from modelyard.images import nsfw
from modelyard.images import visibility as image_visibility
from modelyard.images.models import Image, Post
from modelyard.images.urls import image_url

NSFW_MODEL_LEVEL = browsing.NSFW_MODEL_LEVEL
IMAGES_PER_VERSION = 20


def model_level(model: Model) -> int:
    """Civitai's model nsfwLevel: 60 when flagged nsfw, else its rated level; unrated content counts as PG until
    a level is computed for it (`browsing.level_of_model` is the same rule in SQL)."""
    return NSFW_MODEL_LEVEL if model.nsfw else (model.nsfw_level or 1)


# A file as a plain row, with the attributes shapes, the primary-file rule and download names read.
FILE_COLUMNS = (
    ModelFile.id, ModelFile.model_version_id, ModelFile.name, ModelFile.override_name, ModelFile.size_kb,
    ModelFile.type, ModelFile.metadata_.label("metadata_"), text(ModelFile.pickle_scan_result),
    ModelFile.pickle_scan_message, text(ModelFile.virus_scan_result), ModelFile.virus_scan_message,
    utc_naive(ModelFile.scanned_at), utc_naive(ModelFile.replaced_at),
)  # fmt: skip
# Models and versions of a list page as plain rows too, with the attributes the shapes and the visibility rule read.
MODEL_COLUMNS = (
    Model.id, Model.user_id, Model.name, Model.description_html, text(Model.type), text(Model.status),
    text(Model.availability), text(Model.mode), Model.nsfw, Model.nsfw_level, Model.poi, Model.minor,
    Model.sfw_only, Model.allow_no_credit, Model.allow_commercial_use, Model.allow_derivatives,
    Model.allow_different_license, Model.download_count, Model.published_at, Model.created_at,
)  # fmt: skip
VERSION_COLUMNS = (
    ModelVersion.id, ModelVersion.model_id, ModelVersion.index, ModelVersion.name, ModelVersion.description_html,
    ModelVersion.base_model, text(ModelVersion.base_model_type), ModelVersion.trained_words,
    text(ModelVersion.availability), text(ModelVersion.status), utc_naive(ModelVersion.published_at),
    utc_naive(ModelVersion.early_access_ends_at), ModelVersion.download_count, utc_naive(ModelVersion.created_at),
    utc_naive(ModelVersion.updated_at),
    text(ModelVersion.training_status), text(ModelVersion.upload_type), text(ModelVersion.usage_control),
    ModelVersion.require_auth,
)  # fmt: skip
IMAGE_COLUMNS = (
    Image.id, Image.user_id, Image.storage_key, Image.width, Image.height, Image.blurhash, Image.nsfw_level, Image.meta,
)  # fmt: skip


def model_row(session: Session, model_id: int) -> Any:
    """A model as a row of MODEL_COLUMNS (it exists: the caller found it by a join)."""
    return plain(session.connection().execute(_MODEL, {"id": model_id}))[0]


_MODEL = select(*MODEL_COLUMNS).where(Model.id == bindparam("id"))


@dataclass
class Loaded:
    browsing_level: int
    versions: dict[int, list[Any]] = field(default_factory=dict)  # model id -> rows of VERSION_COLUMNS
    files: dict[int, list[Any]] = field(default_factory=dict)  # version id -> its rows of FILE_COLUMNS
    primary: dict[int, Any] = field(default_factory=dict)  # version id -> its primary file row
    hashes: dict[int, dict[str, str]] = field(default_factory=dict)  # file id -> {type: upper-case hex}
    images: dict[int, list[Any]] = field(default_factory=dict)  # version id -> rows of IMAGE_COLUMNS
    public_versions: set[int] = field(default_factory=set)  # versions whose images have stable addresses
    creators: dict[int, dict[str, str | None]] = field(default_factory=dict)  # user id -> {username, image}
    tags: dict[int, list[str]] = field(default_factory=dict)
    ecosystems: dict[str, str] = field(default_factory=dict)

    def versions_of(self, model: Any) -> list[Any]:
        return self.versions.get(model.id, [])

    def files_of(self, version: Any) -> tuple[list[Any], Any | None]:
        return self.files.get(version.id, []), self.primary.get(version.id)

    def images_of(self, version: Any) -> list[Any]:
        return self.images.get(version.id, [])

    def image_url(self, image: Any, base: str) -> str:
        """`image` is a row of IMAGE_COLUMNS with its version's id: a stable address on `base` when the image is
        public, else a signed URL."""
        return image_url(image.storage_key, public=image.model_version_id in self.public_versions, base=base)

    def version_level(self, version: Any) -> int:
        level = 0
        for image in self.images.get(version.id, ()):
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
    run = _Runner(session)
    # The visibility rule is applied here, to models already loaded, rather than joined in SQL: a status condition
    # in the query tempts SQLite's planner to walk every published version instead of these models' own.
    by_id = {model.id: model for model in models}
    found = (
        run("versions", model_ids)
        if only_versions is None
        else run("version bodies", model_ids, versions=only_versions)
    )
    versions = [version for version in found if visibility.can_view_version(viewer, version, by_id[version.model_id])]
    _files(run, loaded, [v.id for v in versions])
    for version in versions:
        if version.id in loaded.primary:  # versions without a primary file are left out, as Civitai does
            loaded.versions.setdefault(version.model_id, []).append(version)
    version_ids = [
        v.id
        for model_id, versions in loaded.versions.items()
        if image_visibility.model_shows_images(by_id[model_id].mode)  # a model taken down shows no images
        for v in versions
    ]
    if version_ids:
        _images(run, loaded, models, version_ids)
    if only_versions is None:
        storage = get_runtime().storage
        for user_id, username, avatar_key in run.tuples("creators", {model.user_id for model in models}):
            avatar = storage.download_url(avatar_key) if avatar_key else None
            loaded.creators[user_id] = {"username": username, "image": avatar}
        for model_id, name in run.tuples("tags", model_ids):
            loaded.tags.setdefault(model_id, []).append(name)
    base_models = {v.base_model for versions in loaded.versions.values() for v in versions}
    if base_models:
        loaded.ecosystems = dict(run.tuples("ecosystems", (), names=list(base_models)))
    return loaded


class _Runner:
    """Runs the loader's statements on the session's connection, in its transaction."""

    def __init__(self, session: Session) -> None:
        self.connection = session.connection()
        self.dialect = self.connection.dialect.name

    def __call__(self, name: str, ids: Collection[int], **parameters: Any) -> list[Any]:
        """Rows as named tuples."""
        return _statement(name, self.dialect).rows(self.connection, self.values(ids, parameters))

    def tuples(self, name: str, ids: Collection[int], **parameters: Any) -> Sequence[Any]:
        """Rows to unpack by position: cheaper still, for rows read once."""
        return _statement(name, self.dialect).tuples(self.connection, self.values(ids, parameters))

    def values(self, ids: Collection[int], parameters: dict[str, Any]) -> dict[str, Any]:
        """The parameters with `ids` (and `versions`), as `among` takes them."""
        values = {**parameters, "ids": ids}
        for name in ("ids", "versions"):
            if name in values:
                values[name] = list(values[name])
                if self.dialect == "postgresql":  # an array literal: psycopg dumps a list of ints number by number
                    values[name] = "{" + ",".join(map(str, values[name])) + "}"
        return values


@functools.cache
def _statement(name: str, dialect: str) -> Query:
    return Query(_select(name, dialect))


def _select(name: str, dialect: str) -> AnySelect:
    def among(column: Any, parameter: str = "ids", element: Any = Integer) -> ColumnElement[bool]:
        """`column IN (:parameter)`; on PostgreSQL one array parameter (`= ANY`), so the statement's text, and
        the server's plan for it, stay the same whatever the number of values. Integers are bound as one array
        literal (`_Runner.values`), other values as a list."""
        if dialect == "postgresql":
            values: Any
            if element is Integer:
                values = sql_cast(bindparam(parameter, type_=String), ARRAY(Integer))
            else:
                values = bindparam(parameter, type_=ARRAY(element))
            return cast(ColumnElement[bool], column == any_(values))
        return cast(ColumnElement[bool], column.in_(bindparam(parameter, expanding=True)))

    if name == "versions":
        return (
            select(*VERSION_COLUMNS)
            .where(among(ModelVersion.model_id))
            .order_by(ModelVersion.model_id, ModelVersion.index)
        )
    if name == "version bodies":  # the versions asked for, with what lists leave alone (training details, early access)
        body_only = (ModelVersion.training_details, ModelVersion.early_access_days, ModelVersion.early_access_price)
        return select(*VERSION_COLUMNS, *body_only).where(
            among(ModelVersion.model_id), among(ModelVersion.id, "versions")
        )
    if name == "files":
        live = (ModelFile.replaced_at.is_(None), ModelFile.visibility != FileVisibility.Private)
        return select(*FILE_COLUMNS).where(among(ModelFile.model_version_id), *live).order_by(ModelFile.id)
    if name == "hashes":
        return select(ModelFileHash.file_id, text(ModelFileHash.type), ModelFileHash.hash).where(
            among(ModelFileHash.file_id)
        )
    if name == "images":
        return (
            select(*IMAGE_COLUMNS, Post.model_version_id, ModelVersion.model_id)
            .join(Post, Post.id == Image.post_id)
            .join(ModelVersion, ModelVersion.id == Post.model_version_id)
            .where(
                among(Post.model_version_id),
                image_visibility.ready_images(),
                image_visibility.published_posts(),
                nsfw.shown_at(Image.nsfw_level, bindparam("level")),
            )
            .order_by(Post.id, Image.index, Image.id)
        )
    if name == "creators":
        return select(User.id, User.username, User.avatar_key).where(among(User.id))
    if name == "tags":
        return (
            select(TagOnModel.model_id, Tag.name)
            .join(Tag, Tag.id == TagOnModel.tag_id)
            .where(among(TagOnModel.model_id))
        )
    if name == "ecosystems":  # of base models, by name
        return select(BaseModel.name, BaseModel.ecosystem).where(among(BaseModel.name, "names", String))
    raise ValueError(f"no statement {name!r}")


def _files(run: _Runner, loaded: Loaded, version_ids: list[int]) -> None:
    """The live, downloadable files of the versions, their hashes, and each version's primary file."""
    if not version_ids:
        return
    rows = run("files", version_ids)
    for row in rows:
        loaded.files.setdefault(row.model_version_id, []).append(row)
    for version_id, files in loaded.files.items():
        loaded.primary[version_id] = primary_file(files)
    if rows:
        hashes = loaded.hashes
        for file_id, kind, value in run.tuples("hashes", [row.id for row in rows]):
            hashes.setdefault(file_id, {})[kind] = value.upper()


def _images(run: _Runner, loaded: Loaded, models: Sequence[Any], version_ids: list[int]) -> None:
    """The owners' published showcase posts of each version, at the browsing level asked for; which versions'
    images anyone may see (`images.visibility`), so that they are given their stable addresses."""
    owners = {model.id: model.user_id for model in models}
    by_version: dict[int, list[Any]] = defaultdict(list)
    for image in run("images", version_ids, level=loaded.browsing_level):
        version_id = image.model_version_id
        if version_id is None or image.user_id != owners.get(image.model_id):
            continue
        if len(by_version[version_id]) < IMAGES_PER_VERSION:
            by_version[version_id].append(image)
    loaded.images = dict(by_version)
    loaded.public_versions = {
        version.id
        for model in models
        for version in loaded.versions_of(model)
        if version.id in loaded.images and image_visibility.version_shows_public_images(version, model)
    }
