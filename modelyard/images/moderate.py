"""What moderators (and the rating game's consensus) do to an image: set its level, block it, unblock it.

Nothing is logged here: the moderation domain, which calls these, keeps the log of who did what and why. Every
function flushes, updates the levels built on the image (`images.levels`) and tells search; the caller commits.
"""

from __future__ import annotations

import io

from PIL import Image as PILImage
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.core.errors import AppError, Conflict, ValidationFailed
from modelyard.core.nsfw import BrowsingLevel
from modelyard.core.runtime import get_runtime
from modelyard.images import levels
from modelyard.images.ingest import pipeline, process
from modelyard.images.models import BlockedFor, BlockedImageHash, Image, Ingestion, Post
from modelyard.search import outbox

RATABLE = {int(level) for level in BrowsingLevel if level != BrowsingLevel.Blocked}
# Blocks that say "this picture must not come back": its perceptual hash keeps look-alikes out.
REMEMBERED = {BlockedFor.moderated, BlockedFor.tos}


def set_level(session: Session, image: Image, level: int, *, lock: bool = True) -> None:
    """Rate the image one level (PG 1 … XXX 16). Locked, neither the classifier nor tags change it again; not
    locked, its tags may still raise it."""
    if level not in RATABLE:
        raise ValidationFailed("A level is one of 1 (PG), 2 (PG-13), 4 (R), 8 (X) or 16 (XXX)", field="level")
    image.nsfw_level = level
    image.nsfw_level_locked = lock
    session.flush()
    if not lock:
        tagged = levels.tag_level(session, image.id)
        if tagged > image.nsfw_level:
            image.nsfw_level = tagged
            session.flush()
    _levels_moved(session, image, live=True)


def block(session: Session, image: Image, *, reason: BlockedFor, actor: User | None, note: str | None = None) -> None:
    """Never shown again to anyone but moderators and its owner; blocked by a moderator or for the rules, its
    perceptual hash is remembered, so a re-upload of the picture (even altered a little) is blocked too."""
    image.ingestion = Ingestion.Blocked
    image.blocked_for = reason
    if reason in REMEMBERED and image.phash is None:
        image.phash = _hash_of_stored(image)
    if reason in REMEMBERED and image.phash is not None:
        session.add(
            BlockedImageHash(
                phash=image.phash,
                image_id=image.id,
                reason=(note or reason.value)[:500],
                actor_id=actor.id if actor is not None else None,
            )
        )
    session.flush()
    _levels_moved(session, image, live=False)


def unblock(session: Session, image: Image) -> None:
    """Back as it was before the block: Scanned when it had been rated; otherwise its ingestion goes on from where
    the block stopped it. Its remembered hash is forgotten."""
    if image.ingestion != Ingestion.Blocked:
        raise Conflict("That image is not blocked")
    session.execute(delete(BlockedImageHash).where(BlockedImageHash.image_id == image.id))
    image.blocked_for = None
    rated = image.nsfw_score is not None or image.nsfw_level_locked
    if image.phash is not None and rated:
        image.ingestion = Ingestion.Scanned
        session.flush()
        _levels_moved(session, image, live=True)
        return
    image.ingestion = Ingestion.Pending
    session.flush()
    # Processed but blocked as a look-alike before it was rated: the classifier is what is left.
    pipeline.enqueue_step(session, "images.classify" if image.phash is not None else "images.ingest", image.id)


def _hash_of_stored(image: Image) -> int | None:
    """The perceptual hash of an image stored before ingestion computed them (None if it cannot be read)."""
    try:
        with PILImage.open(io.BytesIO(get_runtime().storage.read_bytes(image.storage_key))) as picture:
            picture.load()
            return process.perceptual_hash(picture)
    except (AppError, OSError, ValueError):
        return None


def _levels_moved(session: Session, image: Image, *, live: bool) -> None:
    if image.post_id is None:
        return
    levels.refresh_post_levels(session, [image.post_id])
    published = session.scalar(select(Post.published_at).where(Post.id == image.post_id)) is not None
    if published:
        outbox.queue(session, "images", [image.id], "update" if live else "delete")
