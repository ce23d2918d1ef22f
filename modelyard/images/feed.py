"""The one listing of images: the public API's `/api/v1/images`, the `/images` feed, an image page's "more from
this creator", a post's page and a model page's "images made with this" all list through `list_images`, as
every list of models goes through `catalog.browsing`.

A listing is a `FeedQuery`: filters, a sort, a period and a page (a keyset cursor, or a page number for the API's
clients that ask by page). It always starts from the images' visibility rule (`images.visibility.shown_images`:
published posts of versions the viewer may see, ingestion finished) and intersects every image's level with the
levels asked for (`level & asked != 0`): the viewer's browsing level (`accounts.browsing`) unless the query names
its own, and never Blocked except for moderators. An unrated image (level 0) matches no mask, so no list shows it.

Sorts: Newest and Oldest, by id (ids grow with time, and the primary key serves every depth); within a period, by
date then id (`_order`). Most Reactions, Most Comments and Most Collected are accepted, as Civitai's clients send
them, and answered as Newest until reactions, comments and collections exist.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, or_, select, union_all
from sqlalchemy.orm import Session

from modelyard.accounts import browsing as viewer_levels
from modelyard.accounts import policy
from modelyard.accounts.models import User
from modelyard.accounts.service import username_key
from modelyard.catalog import basemodels
from modelyard.catalog.browsing import Period, since
from modelyard.catalog.models import ModelVersion
from modelyard.core import paging
from modelyard.core.errors import BadRequest
from modelyard.core.nsfw import ALL_LEVELS, EVERY_LEVEL
from modelyard.core.paging import Page
from modelyard.images import visibility
from modelyard.images.models import Image, ImageResource, Post, TagOnImage
from modelyard.images.resources import versions_of_images

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class ImageSort(enum.StrEnum):
    """Civitai's image sorts, spelled as its API takes them."""

    MostReactions = "Most Reactions"
    MostComments = "Most Comments"
    MostCollected = "Most Collected"
    Newest = "Newest"
    Oldest = "Oldest"


# What the site's pages offer: the sorts whose data exists (the others read as Newest until it does).
OFFERED_SORTS: tuple[ImageSort, ...] = (ImageSort.Newest, ImageSort.Oldest)
MEDIA_TYPES = ("image", "video", "audio")


@dataclass(frozen=True)
class FeedQuery:
    """What a listing keeps and in which order. Empty filters keep everything."""

    post_id: int | None = None
    model_id: int | None = None  # images of posts of the model's versions
    version_id: int | None = None  # images of posts of the version, and images made with it (their resources)
    made_with_version_id: int | None = None  # only images whose resources link to the version
    image_id: int | None = None
    image_ids: tuple[int, ...] = ()  # any of these (a search's hits: `items_for`)
    user_id: int | None = None
    username: str | None = None
    exclude_image_id: int | None = None  # "more from this creator" leaves the image open out
    tag_ids: tuple[int, ...] = ()
    base_models: tuple[str, ...] = ()  # of the post's version; unknown names are a 400
    media_type: str = "image"  # only still and animated images exist so far
    levels: int | None = None  # the levels asked for; None: the viewer's browsing level
    sort: ImageSort = ImageSort.Newest
    period: Period = Period.AllTime
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    page: int | None = None


@dataclass(frozen=True)
class FeedItem:
    image: Image
    post: Post
    username: str
    base_model: str | None  # of the post's version
    public: bool  # shown to anonymous visitors: it gets a stable, cacheable address (`images.urls`)
    version_ids: list[int] = field(default_factory=list)  # made with (`images.resources`), and the post's

    def meta_for(self, viewer: User | None) -> dict[str, Any] | None:
        """The generation data `viewer` may read: hidden by its owner, only they and moderators do."""
        if self.image.hide_meta and not policy.is_owner_or_moderator(viewer, self.image.user_id):
            return None
        return self.image.meta


def asked_levels(viewer: User | None, levels: int | None) -> int:
    """The mask a listing applies: the query's own or the viewer's browsing level; Blocked only for moderators."""
    asked = viewer_levels.browsing_level(viewer) if levels is None else levels
    return asked & (EVERY_LEVEL if policy.is_moderator(viewer) else ALL_LEVELS)


def statement(session: Session, viewer: User | None, query: FeedQuery) -> Select[Any]:
    """The listing's SELECT (image, post, username, base model, public), ordered, without its page bounds."""
    public = case((visibility.public_images(), 1), else_=0)
    statement = visibility.with_versions(
        select(Image, Post, User.username, ModelVersion.base_model, public)
        .join(Post, Post.id == Image.post_id)
        .join(User, User.id == Image.user_id)
    ).where(
        visibility.shown_images(viewer),
        Image.nsfw_level.op("&")(asked_levels(viewer, query.levels)) != 0,
    )
    for condition in _filters(session, query):
        statement = statement.where(condition)
    return statement.order_by(*_order(query))


def _order(query: FeedQuery) -> tuple[Any, ...]:
    """Ids grow with time, so the id orders a listing; within a period the date leads (the date index finds a
    short period's images wherever they are, where walking the ids from one end would read all the others first),
    the id breaking ties."""
    ascending = query.sort is ImageSort.Oldest
    columns = (Image.created_at, Image.id) if query.period is not Period.AllTime else (Image.id,)
    return tuple(column.asc() if ascending else column.desc() for column in columns)


def _filters(session: Session, query: FeedQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    for value, column in (
        (query.post_id, Post.id),
        (query.model_id, ModelVersion.model_id),
        (query.image_id, Image.id),
        (query.user_id, Image.user_id),
    ):
        if value is not None:
            conditions.append(column == value)
    if query.image_ids:
        conditions.append(Image.id.in_(query.image_ids))
    if query.username:
        conditions.append(User.username_key == username_key(query.username))
    if query.exclude_image_id is not None:
        conditions.append(Image.id != query.exclude_image_id)
    if query.version_id is not None:
        posted = select(Image.id).join(Post, Post.id == Image.post_id).where(Post.model_version_id == query.version_id)
        conditions.append(Image.id.in_(union_all(posted, _made_with(query.version_id))))
    if query.made_with_version_id is not None:
        conditions.append(Image.id.in_(_made_with(query.made_with_version_id)))
    if query.tag_ids:
        tagged = select(TagOnImage.image_id).where(TagOnImage.tag_id.in_(query.tag_ids), TagOnImage.disabled.is_(False))
        conditions.append(Image.id.in_(tagged))
    if query.base_models:
        known = set(basemodels.names(session))
        unknown = [name for name in query.base_models if name not in known]
        if unknown:
            raise BadRequest(f"Invalid baseModels: {', '.join(unknown)}")
        conditions.append(ModelVersion.base_model.in_(query.base_models))
    if query.media_type not in MEDIA_TYPES:
        raise BadRequest(f"Invalid type: must be one of {', '.join(MEDIA_TYPES)}")
    if query.media_type != "image":
        conditions.append(Image.id.is_(None))  # no video or audio yet
    start = since(query.period)
    if start is not None:
        conditions.append(Image.created_at >= start)
    return conditions


def _made_with(version_id: int) -> Select[Any]:
    return select(ImageResource.image_id).where(ImageResource.model_version_id == version_id)


def page_statement(session: Session, viewer: User | None, query: FeedQuery) -> Select[Any]:
    """`statement` bounded to the page asked for, one row more than the limit (to know whether more follow)."""
    bounded = statement(session, viewer, query)
    if query.page is not None:
        bounded = bounded.offset((query.page - 1) * query.limit)
    elif query.cursor:
        (after,) = paging.decode_cursor(query.cursor, int)
        bounded = bounded.where(_after(query, after))
    return bounded.limit(query.limit + 1)


def _after(query: FeedQuery, image_id: int) -> ColumnElement[bool]:
    """The keyset bound past the image a page ended with, in the listing's order (`_order`)."""
    ascending = query.sort is ImageSort.Oldest
    if query.period is Period.AllTime:
        return Image.id > image_id if ascending else Image.id < image_id
    moment = select(Image.created_at).where(Image.id == image_id).scalar_subquery()
    later, same = (Image.created_at > moment, Image.created_at == moment)
    earlier = Image.created_at < moment
    if ascending:
        return or_(later, and_(same, Image.id > image_id))
    return or_(earlier, and_(same, Image.id < image_id))


def list_images(session: Session, viewer: User | None, query: FeedQuery) -> Page[FeedItem]:
    """One page of images for `viewer` (`Page.next_cursor`: the last image's id, while more follow)."""
    if not 1 <= query.limit <= MAX_LIMIT:
        raise BadRequest(f"Invalid limit: must be between 1 and {MAX_LIMIT}")
    rows, more = paging.take(session.execute(page_statement(session, viewer, query)).all(), query.limit)
    items = _items(session, rows)
    cursor = str(items[-1].image.id) if more and query.page is None and items else None
    return Page(items=items, has_next=more, next_cursor=cursor, number=query.page)


def items_for(
    session: Session, viewer: User | None, image_ids: Sequence[int], query: FeedQuery | None = None
) -> list[FeedItem]:
    """The items of these images, in this order, leaving out any the listing would not show `viewer`: the
    visibility rule, the levels, and `query`'s filters (its sort and page are not read). For ids found elsewhere:
    a search's hits."""
    if not image_ids:
        return []
    wanted = replace(query or FeedQuery(), image_ids=tuple(image_ids), cursor=None, page=None)
    rows = session.execute(statement(session, viewer, wanted)).all()
    found = {item.image.id: item for item in _items(session, rows)}
    return [found[image_id] for image_id in image_ids if image_id in found]


def _items(session: Session, rows: Sequence[Any]) -> list[FeedItem]:
    made_with = versions_of_images(session, [row[0].id for row in rows])
    return [
        FeedItem(
            image=image,
            post=post,
            username=username,
            base_model=base_model,
            public=bool(public),
            version_ids=made_with.get(image.id, []),
        )
        for image, post, username, base_model, public in rows
    ]
