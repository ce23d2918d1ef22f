"""Who sees which post and image: one rule, its Python and SQL forms side by side, used wherever images are read
(the model page's gallery, the cards of lists, the public API's models, versions, by-hash and images, and the
stable image addresses of `images.media`).

An image is shown to a viewer when
- its ingestion is done and passed (`Ingestion.Scanned`): a Pending, Error or Blocked image is shown to no one but
  its owner (on their own pages) and moderators;
- its post is published (`Post.published_at` set; the lifecycle clears it while the post's version is down),
- the version the post shows, if any, is one the viewer may see (`catalog.lifecycle.visibility`),
- and that version's model is not taken down: a model a moderator took down (`mode = TakenDown`) shows no images,
  to anyone, as on Civitai (reference civitai.md §1.4: "TakenDown → images: []"): the images are often what was
  taken down. The model's page and files stay; downloads are refused separately (`catalog.files.downloads`).

A *public* image is one an anonymous visitor is shown: only those get stable, cacheable addresses. A version's
*showcase* is its model owner's own posts (others' posts of a version are reviews, not its pictures). NSFW
levels filter what a list shows, not who may open an image: `images.nsfw`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from modelyard.accounts.models import User
from modelyard.catalog.enums import ModelModifier
from modelyard.catalog.lifecycle import visibility as catalog_visibility
from modelyard.catalog.models import Model, ModelVersion
from modelyard.images.models import Image, Ingestion, Post


def model_shows_images(mode: ModelModifier | str | None) -> bool:
    """Whether the images of a model in this mode may be shown (a `text(Model.mode)` column gives a string)."""
    return mode != ModelModifier.TakenDown


def image_is_ready(image: Image | Any) -> bool:
    """Ingested and not blocked: the image part of the rule (the rest is its post's and version's)."""
    return bool(image.ingestion == Ingestion.Scanned)


def image_is_public(
    image: Image | Any, post: Post | Any, version: ModelVersion | Any | None, model: Model | Any | None
) -> bool:
    """`is_public` for one image of the post."""
    return image_is_ready(image) and is_public(post, version, model)


def post_is_published(post: Post | Any) -> bool:
    return post.published_at is not None


def is_public(post: Post | Any, version: ModelVersion | Any | None, model: Model | Any | None) -> bool:
    """Whether an anonymous visitor is shown the images of this post (`version` and `model` as ORM objects or
    rows with the columns the catalog's rule reads; both None for a post of no version)."""
    if not post_is_published(post):
        return False
    if version is None or model is None:
        return True
    return model_shows_images(model.mode) and catalog_visibility.can_view_version(None, version, model)


def version_shows_public_images(version: ModelVersion | Any, model: Model | Any) -> bool:
    """`is_public` for the published posts of one version: what a loader that already holds the version and its
    model asks once per version instead of once per image."""
    return model_shows_images(model.mode) and catalog_visibility.can_view_version(None, version, model)


# --- the same rule as SQL ---------------------------------------------------------------------------------------


def ready_images() -> ColumnElement[bool]:
    """`image_is_ready` as a WHERE clause on a query that reads Image."""
    return Image.ingestion == Ingestion.Scanned


def published_posts() -> ColumnElement[bool]:
    return Post.published_at.is_not(None)


def images_shown() -> ColumnElement[bool]:
    """`model_shows_images` as a WHERE clause on a query joined (or outer-joined) to Model: an image of no model
    (a post of no version) is shown."""
    return or_(Model.mode.is_(None), Model.mode != ModelModifier.TakenDown)


def shown_images(viewer: User | None) -> ColumnElement[bool]:
    """The whole rule for `viewer` as a WHERE clause on a query joining Image to Post and outer-joining the post's
    ModelVersion and Model (`with_versions`)."""
    return and_(
        ready_images(),
        published_posts(),
        or_(Post.model_version_id.is_(None), catalog_visibility.visible_versions(viewer)),
        images_shown(),
    )


def public_images() -> ColumnElement[bool]:
    """`is_public` as SQL: what an anonymous visitor is shown."""
    return shown_images(None)


def showcase_posts() -> ColumnElement[bool]:
    """Posts by the owner of the model their version belongs to (a query joined to Model)."""
    return Post.user_id == Model.user_id


def with_versions(query: Any, post_version: InstrumentedAttribute[int | None] = Post.model_version_id) -> Any:
    """`query` outer-joined to each post's version and its model, as `shown_images` reads them."""
    return query.outerjoin(ModelVersion, ModelVersion.id == post_version).outerjoin(
        Model, Model.id == ModelVersion.model_id
    )
