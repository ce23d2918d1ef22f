"""The image pages: the feed (`/images`, every published image the viewer's browsing level shows, newest first)
and an image's own page (`/images/{id}`: the picture, its generation data, the resources it was made with, its
post and more from its creator). Both list through `images.feed`.

The feed works without JavaScript: its "More images" link is the next page (a keyset cursor); `feed.js` turns it
into infinite scroll by fetching the same URL with `partial=1` (the cards and the next link only), lays the cards
out as a masonry, paints blurhash placeholders and reveals blurred pictures on a click.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.accounts import browsing as viewer_levels
from modelyard.accounts import policy
from modelyard.accounts.models import User
from modelyard.catalog.browsing import Period
from modelyard.catalog.lifecycle.visibility import visible_versions
from modelyard.catalog.models import Model, ModelVersion
from modelyard.catalog.routes.models import Viewer
from modelyard.core.errors import NotFound
from modelyard.core.http import SessionDep
from modelyard.core.nsfw import EVERY_LEVEL
from modelyard.core.paging import CURSOR_MAX_LENGTH
from modelyard.core.params import Id
from modelyard.images import visibility
from modelyard.images.feed import FeedItem, FeedQuery, ImageSort, list_images
from modelyard.images.models import Image, ImageResource, Post
from modelyard.images.urls import image_url, thumbnail_url
from modelyard.web.templating import register_nav, templates
from modelyard.web.toolkit import page

router = APIRouter(include_in_schema=False)
PER_PAGE = 40
MORE_FROM_CREATOR = 12
MADE_WITH = 12
CARD_WIDTH = 450  # px: a feed column at most, on a double-density screen
LARGE_WIDTH = 1600
SORTS = {"newest": ImageSort.Newest, "oldest": ImageSort.Oldest}
PERIODS = {period.value.lower(): period for period in Period}
PERIOD_LABELS = {"alltime": "All time", "year": "Past year", "month": "Past month", "week": "Past week", "day": "Today"}
# Generation data the image page lays out, in this order, each with a copy button.
META_FIELDS = (
    ("prompt", "Prompt"),
    ("negativePrompt", "Negative prompt"),
    ("Model", "Model"),
    ("sampler", "Sampler"),
    ("steps", "Steps"),
    ("cfgScale", "CFG scale"),
    ("seed", "Seed"),
    ("Size", "Size"),
    ("clipSkip", "Clip skip"),
)


@dataclass(frozen=True)
class FeedParams:
    """What the feed's URL asks for: `?sort=&period=&user=&version=&cursor=`."""

    sort: str = "newest"
    period: str = "alltime"
    user: str = ""
    version: int | None = None
    cursor: str = ""

    def url(self, **changes: Any) -> str:
        chosen = replace(self, **changes)
        defaults = FeedParams()
        fields = ("sort", "period", "user", "version", "cursor")
        kept = [(name, getattr(chosen, name)) for name in fields if getattr(chosen, name) != getattr(defaults, name)]
        return f"/images?{urlencode(kept)}" if kept else "/images"

    def query(self, limit: int) -> FeedQuery:
        return FeedQuery(
            username=self.user or None,
            version_id=self.version,
            sort=SORTS[self.sort],
            period=PERIODS[self.period],
            cursor=self.cursor or None,
            limit=limit,
        )


@dataclass(frozen=True)
class Card:
    """An image as a card shows it."""

    item: FeedItem
    url: str
    blurred: bool

    @property
    def image(self) -> Image:
        return self.item.image


def cards(items: list[FeedItem], viewer: User | None) -> list[Card]:
    return [
        Card(
            item=item,
            url=thumbnail_url(item.image, CARD_WIDTH, public=item.public),
            blurred=viewer_levels.should_blur(item.image.nsfw_level, viewer),
        )
        for item in items
    ]


@router.get("/images", response_class=HTMLResponse)
def feed_page(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    sort: Annotated[str, Query(max_length=20)] = "newest",
    period: Annotated[str, Query(max_length=20)] = "alltime",
    user: Annotated[str, Query(max_length=40)] = "",
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    cursor: Annotated[str, Query(max_length=CURSOR_MAX_LENGTH)] = "",
    partial: bool = False,
) -> Response:
    """Published images the viewer's browsing level shows, newest first; `partial=1` answers the cards and the
    next page's link only (infinite scroll)."""
    params = FeedParams(
        sort=sort if sort in SORTS else "newest",
        period=period if period in PERIODS else "alltime",
        user=user.strip(),
        version=version,
        cursor=cursor,
    )
    found = list_images(session, viewer, params.query(PER_PAGE))
    context = {
        "params": params,
        "cards": cards(found.items, viewer),
        "next_url": params.url(cursor=found.next_cursor) if found.next_cursor else None,
        "sorts": [("newest", "Newest"), ("oldest", "Oldest")],
        "periods": list(PERIOD_LABELS.items()),
        "level_labels": viewer_levels.level_labels(viewer_levels.browsing_level(viewer)),
        "signed_in": viewer is not None,
    }
    return page(request, "images/_feed_page.html" if partial else "images/feed.html", context)


@router.get("/images/made-with/{version_id:int}", response_class=HTMLResponse)
def made_with(request: Request, version_id: Id, viewer: Viewer, session: SessionDep) -> Response:
    """The model page's "images made with this" (a fragment it loads when scrolled to)."""
    found = list_images(session, viewer, FeedQuery(made_with_version_id=version_id, limit=MADE_WITH))
    context = {"cards": cards(found.items, viewer), "more_url": FeedParams(version=version_id).url()}
    return page(request, "images/_made_with.html", context)


@router.get("/images/{image_id:int}", response_class=HTMLResponse)
def image_page(request: Request, image_id: Id, viewer: Viewer, session: SessionDep, reveal: bool = False) -> Response:
    """One image: large, with its generation data, the resources it was made with, its post and more from its
    creator. Rated outside the viewer's browsing level, it shows a notice instead of the picture."""
    item = _find(session, viewer, image_id)
    image = item.image
    owner = policy.is_owner_or_moderator(viewer, image.user_id)
    level = viewer_levels.browsing_level(viewer)
    hidden = not owner and not image.nsfw_level & level
    more = list_images(
        session,
        viewer,
        FeedQuery(user_id=image.user_id, exclude_image_id=image.id, limit=MORE_FROM_CREATOR),
    )
    meta = item.meta_for(viewer) if not hidden else None  # a prompt tells what the picture shows
    context = {
        "item": item,
        "image": image,
        "url": thumbnail_url(image, LARGE_WIDTH, public=item.public),
        "full_url": image_url(image.storage_key, public=item.public),
        "hidden": hidden,
        "blurred": not reveal and viewer_levels.should_blur(image.nsfw_level, viewer),
        "meta": meta,
        "meta_hidden": image.hide_meta and meta is None,
        "meta_fields": [(key, label, meta[key]) for key, label in META_FIELDS if meta and _shown(meta.get(key))],
        "resources": _resources(session, viewer, image.id),
        "more": cards(more.items, viewer) if not hidden else [],
        "owner_view": owner and not item.public,
        "owner": owner,
        "signed_in": viewer is not None,
    }
    return page(request, "images/image.html", context)


def _shown(value: Any) -> bool:
    return value is not None and value != "" and isinstance(value, str | int | float)


def _find(session: Session, viewer: User | None, image_id: int) -> FeedItem:
    """The image as the feed shows it (at any level: the page gates by level itself); its owner and moderators
    also open it while its post is a draft or it is unrated. Anyone else: the site's 404."""
    found = list_images(session, viewer, FeedQuery(image_id=image_id, levels=EVERY_LEVEL, limit=1)).items
    if found:
        return found[0]
    row = session.execute(
        visibility.with_versions(
            select(Image, Post, User.username, ModelVersion.base_model)
            .join(Post, Post.id == Image.post_id)
            .join(User, User.id == Image.user_id)
        ).where(Image.id == image_id, visibility.images_shown())
    ).first()
    if row is None or not policy.is_owner_or_moderator(viewer, row[0].user_id):
        raise NotFound(f"No image with id {image_id}")
    image, post, username, base_model = row
    return FeedItem(image=image, post=post, username=username, base_model=base_model, public=False)


@dataclass(frozen=True)
class Resource:
    name: str
    kind: str | None
    strength: float | None
    url: str | None  # the catalog version's page, when linked and visible to the viewer


def _resources(session: Session, viewer: User | None, image_id: int) -> list[Resource]:
    rows = session.execute(
        select(ImageResource, ModelVersion.name, Model.id, Model.name)
        .outerjoin(ModelVersion, ModelVersion.id == ImageResource.model_version_id)
        .outerjoin(Model, Model.id == ModelVersion.model_id)
        .where(ImageResource.image_id == image_id)
        .order_by(ImageResource.id)
    ).all()
    seen = _visible_versions(session, viewer, [row[0].model_version_id for row in rows if row[0].model_version_id])
    found = []
    for resource, version_name, model_id, model_name in rows:
        linked = resource.model_version_id in seen
        name = f"{model_name} · {version_name}" if linked else (resource.name or resource.hash or "Unknown resource")
        url = f"/models/{model_id}?modelVersionId={resource.model_version_id}" if linked else None
        found.append(Resource(name=name, kind=resource.kind, strength=resource.strength, url=url))
    return found


def _visible_versions(session: Session, viewer: User | None, version_ids: list[int]) -> set[int]:
    if not version_ids:
        return set()
    query = (
        select(ModelVersion.id)
        .join(Model, Model.id == ModelVersion.model_id)
        .where(ModelVersion.id.in_(version_ids), visible_versions(viewer))
    )
    return set(session.scalars(query))


def level_label(level: int) -> str:
    """An image's rating as people name it (its highest bit): PG, PG-13, R, X, XXX."""
    labels = viewer_levels.level_labels(level)
    return labels[-1] if labels else "Unrated"


def install_feed_pages() -> None:
    register_nav("Images", "/images", order=20)
    templates.env.globals["level_label"] = level_label
