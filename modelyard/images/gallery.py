"""The images domain's side of `catalog.showcase`: covers for lists, galleries for model pages, the showcase's
size for the wizard, and posts for the demo, each applying `images.visibility` and giving out the right address
(`images.urls`): stable for a public picture, signed for one only its owner and moderators see. A picture not yet
Scanned (or blocked) is in its owner's views only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, selectinload

from modelyard.catalog.models import Model, ModelVersion
from modelyard.catalog.showcase import NewPicture, Picture
from modelyard.core.errors import NotFound
from modelyard.images import ingest, service, showcases, visibility
from modelyard.images.models import Image, Post
from modelyard.images.urls import image_url

GALLERY_POSTS = 30


def picture(image: Image, *, public: bool, caption: str | None = None, published: bool = True) -> Picture:
    return Picture(
        id=image.id,
        url=image_url(image.storage_key, public=public),
        width=image.width,
        height=image.height,
        blurhash=image.blurhash,
        nsfw_level=image.nsfw_level,
        name=image.name,
        meta=image.meta,
        size_kb=image.size_kb,
        published=published,
        caption=caption,
    )


class ImagesShowcase:
    """`catalog.showcase.Showcase`, registered by `images.hooks`."""

    def covers(self, session: Session, version_ids: Sequence[int]) -> dict[int, Picture]:
        """The first image of the creator's first published post of each version, among those shown: two
        queries (a ranking, then the images) whatever the number of versions."""
        ranked = (
            select(
                Image.id.label("image_id"),
                Post.model_version_id.label("version_id"),
                case((visibility.public_images(), 1), else_=0).label("public"),
                func.row_number()
                .over(partition_by=Post.model_version_id, order_by=(Post.id, Image.index, Image.id))
                .label("rank"),
            )
            .join(Post, Post.id == Image.post_id)
            .join(ModelVersion, ModelVersion.id == Post.model_version_id)
            .join(Model, Model.id == ModelVersion.model_id)
            .where(
                Post.model_version_id.in_(list(version_ids)),
                visibility.ready_images(),
                visibility.published_posts(),
                visibility.showcase_posts(),
                visibility.images_shown(),
            )
            .subquery()
        )
        rows = session.execute(
            select(Image, ranked.c.version_id, ranked.c.public)
            .join(ranked, ranked.c.image_id == Image.id)
            .where(ranked.c.rank == 1)
        )
        return {version_id: picture(image, public=bool(public)) for image, version_id, public in rows}

    def gallery(self, session: Session, version_id: int, *, drafts: bool) -> list[Picture]:
        """Posts of the version with their images, published first then by age: two queries (the posts with their
        version and model, for the rule; then their images). With `drafts` (its owner, moderators), images not yet
        Scanned too."""
        query = (
            select(Post, ModelVersion, Model)
            .join(ModelVersion, ModelVersion.id == Post.model_version_id)
            .join(Model, Model.id == ModelVersion.model_id)
            .where(Post.model_version_id == version_id, visibility.images_shown())  # taken down: none
            .options(selectinload(Post.images))
            .order_by(Post.published_at.is_(None), Post.id)
            .limit(GALLERY_POSTS)
        )
        if not drafts:
            query = query.where(visibility.published_posts())
        pictures = []
        for post, version, model in session.execute(query):
            public = visibility.is_public(post, version, model)
            published = visibility.post_is_published(post)
            for image in post.images:
                ready = visibility.image_is_ready(image)
                if ready or drafts:
                    shown = picture(image, public=public and ready, caption=post.title, published=published)
                    pictures.append(shown)
        return pictures

    def picture_counts(self, session: Session, version_ids: Sequence[int]) -> dict[int, int]:
        return showcases.count(session, list(version_ids))

    def add_pictures(
        self, session: Session, *, owner_id: int, version_id: int, pictures: Sequence[NewPicture], title: str | None
    ) -> int:
        version = session.get(ModelVersion, version_id)
        if version is None:
            raise NotFound(f"No model version with id {version_id}")
        post = service.create_version_post(
            session,
            owner_id,
            version,
            title=title,
            images=[item.data for item in pictures],
            names=[item.name for item in pictures],
            metas=[item.meta for item in pictures],
        )
        # The demo shows its pictures at once, without waiting for a worker.
        for image in post.images:
            ingest.ingest_now(session, image.id)
        return len(post.images)

    def manage_url(self, version_id: int) -> str:
        return f"/model-versions/{version_id}/images"

    def date_posts(self, session: Session, version_id: int, moment: datetime) -> None:
        for post in session.scalars(select(Post).where(Post.model_version_id == version_id)):
            post.created_at = moment
            if post.published_at is not None:
                post.published_at = moment
        session.flush()
