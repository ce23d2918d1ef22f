"""Posts go down and come back with their version: the catalog's lifecycle tells the images domain through its
version hook (`catalog.lifecycle.effects.on_version_visibility`, registered in `images.hooks`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.catalog.models import ModelVersion
from modelyard.images import visibility
from modelyard.images.models import Image, Post
from modelyard.search import outbox


class PostsFollowVersions:
    """`effects.VersionContent` for posts and their images."""

    def hide(self, session: Session, version_ids: list[int], actor: User | None, now: datetime) -> None:
        """Posts of these versions lose publishedAt (kept as metadata.prevPublishedAt); search forgets their
        images."""
        posts = session.scalars(
            select(Post).where(Post.model_version_id.in_(version_ids), visibility.published_posts())
        ).all()
        for post in posts:
            assert post.published_at is not None
            post.metadata_ = {
                **(post.metadata_ or {}),
                "prevPublishedAt": post.published_at.isoformat(),
                "unpublishedAt": now.isoformat(),
                "unpublishedBy": actor.id if actor else None,
                "hiddenWithVersion": True,
            }
            post.published_at = None
        outbox.queue(session, "images", images_of_posts(session, [post.id for post in posts]), "delete")

    def show(self, session: Session, versions: list[ModelVersion], owner_id: int, now: datetime) -> None:
        """Posts hidden with these versions come back with their first publication date (anyone's: a reviewer's
        post went down with the version too), and the owner's never-published showcase posts go live."""
        hidden = session.scalars(
            select(Post).where(
                Post.model_version_id.in_([version.id for version in versions]), Post.published_at.is_(None)
            )
        ).all()
        shown = []
        for post in hidden:
            metadata = dict(post.metadata_ or {})
            if not metadata.pop("hiddenWithVersion", False) and (post.user_id != owner_id or metadata.get("draft")):
                continue  # a draft (someone else's, or one its owner keeps in the post editor): theirs to publish
            previous = metadata.pop("prevPublishedAt", None)
            metadata.pop("unpublishedAt", None)
            metadata.pop("unpublishedBy", None)
            post.published_at = datetime.fromisoformat(previous) if previous else now
            post.metadata_ = metadata
            shown.append(post.id)
        outbox.queue(session, "images", images_of_posts(session, shown), "update")


def images_of_posts(session: Session, post_ids: list[int]) -> list[int]:
    if not post_ids:
        return []
    return list(session.scalars(select(Image.id).where(Image.post_id.in_(post_ids))))
