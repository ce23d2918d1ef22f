"""What the search domain registers with the domains below it, imported at start (`core.bootstrap`): changes
that move documents of other indexes than their own queue them too (a model appearing makes its creator and its
tags findable; a ban hides a creator; a take-down hides a model's images)."""

from __future__ import annotations

from sqlalchemy import event, select
from sqlalchemy.orm import Session, object_session

from modelyard.accounts.models import User
from modelyard.accounts.moderation import on_user_banned
from modelyard.catalog.enums import ModelModifier
from modelyard.catalog.lifecycle import effects
from modelyard.catalog.models import Model, ModelVersion, TagOnModel
from modelyard.images.models import Image, Post
from modelyard.search import listing, outbox


@effects.on_model_visibility_changed
def creator_and_tags_follow_model(session: Session, model: Model) -> None:
    """A model listed or unlisted changes its creator's and its tags' place in their indexes (and counts)."""
    outbox.queue(session, "users", [model.user_id], "update")
    tag_ids = session.scalars(select(TagOnModel.tag_id).where(TagOnModel.model_id == model.id)).all()
    outbox.queue(session, "tags", tag_ids, "update")


@event.listens_for(Model.mode, "set")
def images_follow_take_down(model: Model, value: object, previous: object, _initiator: object) -> None:
    """A model taken down shows no images (`images.visibility`), and one whose take-down is lifted shows them
    again: its images' documents go or come back with the change."""
    session = object_session(model)
    if session is None or model.id is None or ModelModifier.TakenDown not in (value, previous) or value == previous:
        return
    with session.no_autoflush:
        image_ids = session.scalars(
            select(Image.id)
            .join(Post, Post.id == Image.post_id)
            .join(ModelVersion, ModelVersion.id == Post.model_version_id)
            .where(ModelVersion.model_id == model.id)
        ).all()
    outbox.queue(session, "images", image_ids, "update")


@on_user_banned
def banned_creator_leaves(session: Session, user: User, actor: User, reason: str) -> None:
    outbox.queue(session, "users", [user.id], "delete")


listing.register()  # the catalog's text queries are answered by the search
