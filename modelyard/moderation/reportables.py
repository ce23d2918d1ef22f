"""What can be reported: each domain registers its entity types here, with how to load one for a viewer.

    register_reportable("comment", Reportable("Comment", load_comment))

`load(session, viewer, entity_id)` returns the `Subject` when `viewer` may see the thing, None otherwise (whether
it does not exist or is hidden from them: a reporter cannot report what they cannot see, and cannot learn that
it exists). It goes through the domain's one visibility rule. Moderators see everything, so the same loader
serves the case pages.

Models, versions, images, posts and users are registered from this domain's `hooks.py`, since the domains below
it cannot import it; domains above it (comments, articles, bounties) register themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from modelyard.accounts import policy
from modelyard.accounts.models import User
from modelyard.catalog.lifecycle import visibility as catalog_visibility
from modelyard.core.errors import AppError, NotFound
from modelyard.core.params import ID_MAX
from modelyard.images import editing
from modelyard.images.models import Image
from modelyard.images.urls import thumbnail_url


@dataclass(frozen=True)
class Subject:
    """A reportable thing as moderation shows it: whose it is, what to call it, where it lives."""

    entity_type: str
    entity_id: int
    owner_id: int | None
    title: str
    url: str | None = None
    # An image to show moderators (blurred above PG-13), and its level.
    picture: str | None = None
    nsfw_level: int = 0


Loader = Callable[[Session, User | None, int], Subject | None]


@dataclass(frozen=True)
class Reportable:
    label: str  # "Model", "Image"…, what people read
    load: Loader


_registry: dict[str, Reportable] = {}


def register_reportable(entity_type: str, reportable: Reportable) -> None:
    """Keyed, so registering again (a second app in one process) replaces the entry."""
    _registry[entity_type] = reportable


def reportable_types() -> dict[str, Reportable]:
    return dict(_registry)


def label_of(entity_type: str) -> str:
    found = _registry.get(entity_type)
    return found.label if found else entity_type


def load_subject(session: Session, viewer: User | None, entity_type: str, entity_id: int) -> Subject | None:
    """The thing if it exists, is of a registered type, and `viewer` may see it."""
    reportable = _registry.get(entity_type)
    if reportable is None or not 0 < entity_id <= ID_MAX:
        return None
    return reportable.load(session, viewer, entity_id)


def require_subject(session: Session, viewer: User | None, entity_type: str, entity_id: int) -> Subject:
    """`load_subject`, or the 404 of a thing that does not exist."""
    subject = load_subject(session, viewer, entity_type, entity_id)
    if subject is None:
        label = label_of(entity_type).lower() if entity_type in _registry else "thing"
        raise NotFound(f"No {label} with id {entity_id}")
    return subject


# --- the types the domains below register through this one -------------------------------------------------------


def load_model(session: Session, viewer: User | None, entity_id: int) -> Subject | None:
    try:
        model = catalog_visibility.get_model(session, viewer, entity_id)
    except NotFound:
        return None
    return Subject("model", model.id, model.user_id, model.name, f"/models/{model.id}", nsfw_level=model.nsfw_level)


def load_version(session: Session, viewer: User | None, entity_id: int) -> Subject | None:
    try:
        version = catalog_visibility.get_version(session, viewer, entity_id)
    except NotFound:
        return None
    model = version.model
    return Subject(
        "version",
        version.id,
        model.user_id,
        f"{model.name} · {version.name}",
        f"/models/{model.id}?modelVersionId={version.id}",
        nsfw_level=version.nsfw_level,
    )


MODERATION_THUMBNAIL = 320  # the queues' thumbnails; the case page links to the full picture


def _picture(image: Image) -> str:
    # Moderators and owners read what others may not: a signed address, not the public one.
    return thumbnail_url(image, MODERATION_THUMBNAIL, public=False)


def load_image(session: Session, viewer: User | None, entity_id: int) -> Subject | None:
    try:
        image = editing.get_image(session, viewer, entity_id)
    except AppError:
        return None
    title = image.name or f"Image {image.id}"
    return Subject(
        "image", image.id, image.user_id, title, f"/images/{image.id}", _picture(image), nsfw_level=image.nsfw_level
    )


def load_post(session: Session, viewer: User | None, entity_id: int) -> Subject | None:
    try:
        post = editing.get_post(session, viewer, entity_id)
    except AppError:
        return None
    cover = post.images[0] if post.images else None
    return Subject(
        "post",
        post.id,
        post.user_id,
        post.title or f"Post {post.id}",
        f"/posts/{post.id}",
        _picture(cover) if cover else None,
        nsfw_level=post.nsfw_level,
    )


def load_user(session: Session, viewer: User | None, entity_id: int) -> Subject | None:
    """A banned account has no public profile: only moderators see it."""
    user = session.get(User, entity_id)
    if user is None or (user.is_banned and not policy.is_moderator(viewer)):
        return None
    return Subject("user", user.id, user.id, user.username, f"/user/{user.username}")


BUILT_IN = {
    "model": Reportable("Model", load_model),
    "version": Reportable("Model version", load_version),
    "image": Reportable("Image", load_image),
    "post": Reportable("Post", load_post),
    "user": Reportable("User", load_user),
}
