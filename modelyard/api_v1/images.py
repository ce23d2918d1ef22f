"""`GET /api/v1/images` (reference §1.6): published images, newest first by default, with id cursors. An image is
listed when the images domain's rule shows it to the viewer (`images.visibility`) at the levels asked for
(`images.nsfw`). Images without generation data are listed like any other; `meta` comes only with
`withMeta=true`. A public image's `url` is its stable address (`images.urls`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import case, select

from modelyard.accounts.auth import PrincipalDep
from modelyard.accounts.models import User
from modelyard.api_v1.common import (
    Params,
    page_metadata,
    public_json,
    query_docs,
    v1_page_request,
)
from modelyard.api_v1.models import PERIODS
from modelyard.catalog import basemodels
from modelyard.catalog.models import ModelVersion
from modelyard.core import paging
from modelyard.core.db import utcnow
from modelyard.core.errors import BadRequest
from modelyard.core.forwarded import public_url
from modelyard.core.http import SessionDep
from modelyard.images import blurhash, nsfw, visibility
from modelyard.images.models import Image, Post
from modelyard.images.urls import image_url

router = APIRouter(tags=["Civitai API v1"])
SORTS = ("Most Reactions", "Most Comments", "Most Collected", "Newest", "Oldest")
REACTION_STATS = ("cryCount", "laughCount", "likeCount", "dislikeCount", "heartCount", "commentCount")


def images_level(params: Params) -> int:
    """The levels asked for (`nsfw.asked_image_level`); `nsfw` is read as a boolean only when it is not one of
    the legacy level names."""
    level = params.integer("browsingLevel", low=0, high=nsfw.EVERY_LEVEL)
    name = params.text("nsfw")
    if level or (name is not None and name.lower() in nsfw.LEGACY_LEVELS):
        return nsfw.asked_image_level(level, name, None)
    return nsfw.asked_image_level(None, None, params.boolean("nsfw"))


IMAGE_PARAMETERS = query_docs(
    ("limit", "integer", "Items per page, 1-200 (default 100)"),
    ("page", "integer", "Page number; page x limit may not pass 1000 (use cursors)"),
    ("cursor", "integer", "metadata.nextCursor of the previous page"),
    ("postId", "integer", "Images of one post"),
    ("modelId", "integer", "Images of a model's versions"),
    ("modelVersionId", "integer", "Images of one version"),
    ("imageId", "integer", "One image"),
    ("username", "string", "Images by this person"),
    ("userId", "integer", "Images by this person"),
    ("sort", "string", f"One of: {', '.join(SORTS)}"),
    ("period", "string", "AllTime, Year, Month, Week or Day"),
    ("nsfw", "string", "true (R and up only), false, or None, Soft, Mature, X"),
    ("browsingLevel", "integer", "Browsing level bit mask; wins over nsfw"),
    ("type", "string", "image, video or audio"),
    ("baseModels", "list", "Base model names"),
    ("withMeta", "boolean", "Include each image's generation data"),
)


@router.get("/api/v1/images", summary="Published images (Civitai v1)", openapi_extra=IMAGE_PARAMETERS)
def list_images(request: Request, principal: PrincipalDep, session: SessionDep) -> Response:
    """Published images, newest first, `{items, metadata}`."""
    params = Params(request.query_params)
    viewer = principal.user
    asked = v1_page_request(params, default_limit=100, max_limit=200)
    limit, page = asked.limit, asked.page
    sort = (params.choices("sort", SORTS, split=False) or ["Newest"])[0]
    public = case((visibility.public_images(), 1), else_=0)  # which get a stable address
    query = visibility.with_versions(
        select(Image, Post, ModelVersion, User.username, public)
        .join(Post, Post.id == Image.post_id)
        .join(User, User.id == Image.user_id)
    ).where(visibility.shown_images(viewer), nsfw.shown_at(Image.nsfw_level, images_level(params)))
    for name, column in (
        ("postId", Post.id),
        ("modelId", ModelVersion.model_id),
        ("modelVersionId", Post.model_version_id),
        ("imageId", Image.id),
        ("userId", Image.user_id),
    ):
        value = params.integer(name, low=1, high=2**31 - 1)
        if value is not None:
            query = query.where(column == value)
    days = PERIODS[(params.choices("period", PERIODS, split=False) or ["AllTime"])[0]]
    if days is not None:
        query = query.where(Image.created_at >= utcnow() - timedelta(days=days))
    username = params.text("username")
    if username:
        query = query.where(User.username_key == username.casefold())
    kind = params.choices("type", ["image", "video", "audio"], split=False)
    if kind and kind[0] != "image":
        query = query.where(Image.id.is_(None))  # only still images exist so far
    wanted_bases = params.strings("baseModels")
    if wanted_bases:
        known = set(basemodels.names(session))
        unknown = [name for name in wanted_bases if name not in known]
        if unknown:
            raise BadRequest(f"Invalid baseModels: {', '.join(unknown)}")
        query = query.where(ModelVersion.base_model.in_(wanted_bases))
    ascending = sort == "Oldest"
    cursor = params.integer("cursor", low=0, high=2**31 - 1)
    if cursor is not None and page is None:
        query = query.where(Image.id > cursor if ascending else Image.id < cursor)
    query = query.order_by(Image.id.asc() if ascending else Image.id.desc())
    if page is not None:
        query = query.offset((page - 1) * limit)
    rows, more = paging.take(session.execute(query.limit(limit + 1)).all(), limit)
    metadata = page_metadata(request, asked, more=more, cursor=rows[-1][0].id if more else None)
    with_meta = bool(params.boolean("withMeta"))
    base = public_url(request)
    items = [
        _item(image_url(image.storage_key, public=bool(shared), base=base), image, post, version, username, with_meta)
        for image, post, version, username, shared in rows
    ]
    return public_json(principal, {"items": items, "metadata": metadata})


def _item(
    url: str, image: Image, post: Post, version: ModelVersion | None, username: str, with_meta: bool
) -> dict[str, Any]:
    return {
        "id": image.id,
        "url": url,
        "hash": image.blurhash or blurhash.NEUTRAL,  # until the backfill reaches an old image (images.upkeep)
        "width": image.width,
        "height": image.height,
        "nsfwLevel": nsfw.level_name(image.nsfw_level),
        "type": "image",
        "nsfw": nsfw.is_nsfw(image.nsfw_level),
        "browsingLevel": image.nsfw_level,
        "createdAt": image.created_at,
        "postId": post.id,
        "stats": dict.fromkeys(REACTION_STATS, 0),  # reactions and comments come with the community features
        "meta": image.meta if with_meta else None,
        "username": username,
        "baseModel": version.base_model if version is not None else None,
        "modelVersionIds": [version.id] if version is not None else [],
    }
