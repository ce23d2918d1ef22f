"""`GET /api/v1/images` (reference §1.6): published images, newest first by default, with id cursors. An image is
listed when its post is published and the version it shows (if any) is visible to the viewer. Images without
generation data are listed like any other; `meta` comes only with `withMeta=true`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import or_, select

from modelyard.accounts.auth import PrincipalDep
from modelyard.accounts.models import User
from modelyard.api_v1.common import (
    ALL_LEVELS,
    NSFW_LEVELS,
    Params,
    next_page_url,
    public_json,
    query_docs,
)
from modelyard.api_v1.models import PERIODS
from modelyard.api_v1.shapes import IMAGE_LEVEL_NAMES
from modelyard.catalog import basemodels
from modelyard.catalog.lifecycle import visibility
from modelyard.catalog.models import Model, ModelVersion
from modelyard.core.db import utcnow
from modelyard.core.errors import BadRequest, RateLimited
from modelyard.core.http import SessionDep, runtime_of
from modelyard.images.models import Image, Post
from modelyard.images.visibility import images_shown

router = APIRouter(tags=["Civitai API v1"])
SORTS = ("Most Reactions", "Most Comments", "Most Collected", "Newest", "Oldest")
LEGACY_LEVELS = {"none": 1, "soft": 3, "mature": 7, "x": ALL_LEVELS}
MAX_OFFSET_ITEMS = 1000
REACTION_STATS = ("cryCount", "laughCount", "likeCount", "dislikeCount", "heartCount", "commentCount")


def images_level(params: Params) -> int:
    """`browsingLevel` wins; `nsfw=true` is NSFW only (Civitai's rule for images), the legacy names are levels."""
    level = params.integer("browsingLevel", low=0, high=63)
    if level:
        return level
    raw = (params.text("nsfw") or "").lower()
    if raw in LEGACY_LEVELS:
        return LEGACY_LEVELS[raw]
    nsfw = params.boolean("nsfw")
    return NSFW_LEVELS if nsfw else 1


def level_name(level: int) -> str:
    highest = max((bit for bit in IMAGE_LEVEL_NAMES if bit and level & bit), default=0)
    return IMAGE_LEVEL_NAMES[highest]


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
    limit = params.integer("limit", low=0, high=200, default=100) or 100
    page = params.integer("page", low=1, high=10**6)
    if page is not None and page * limit > MAX_OFFSET_ITEMS:
        raise RateLimited("You've requested too many pages, please use cursors instead")
    sort = (params.choices("sort", SORTS, split=False) or ["Newest"])[0]
    query = (
        select(Image, Post, ModelVersion, User.username)
        .join(Post, Post.id == Image.post_id)
        .join(User, User.id == Image.user_id)
        .outerjoin(ModelVersion, ModelVersion.id == Post.model_version_id)
        .outerjoin(Model, Model.id == ModelVersion.model_id)
        .where(
            Post.published_at.is_not(None),
            or_(Post.model_version_id.is_(None), visibility.visible_versions(viewer)),
            images_shown(),
            Image.nsfw_level.op("&")(images_level(params)) != 0,
        )
    )
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
    rows = session.execute(query.limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    metadata: dict[str, Any] = {}
    if page is not None:
        metadata.update({"currentPage": page, "pageSize": limit})
        if more:
            metadata["nextPage"] = next_page_url(request, {"page": str(page + 1)})
    elif more:
        metadata["nextCursor"] = rows[-1][0].id
        metadata["nextPage"] = next_page_url(request, {"cursor": str(rows[-1][0].id)})
    with_meta = bool(params.boolean("withMeta"))
    storage = runtime_of(request).storage
    items = [
        _item(storage.download_url(image.storage_key), image, post, version, username, with_meta=with_meta)
        for image, post, version, username in rows
    ]
    return public_json(principal, {"items": items, "metadata": metadata})


def _item(
    url: str, image: Image, post: Post, version: ModelVersion | None, username: str, *, with_meta: bool
) -> dict[str, Any]:
    return {
        "id": image.id,
        "url": url,
        "hash": image.blurhash,
        "width": image.width,
        "height": image.height,
        "nsfwLevel": level_name(image.nsfw_level),
        "type": "image",
        "nsfw": image.nsfw_level > 2,
        "browsingLevel": image.nsfw_level,
        "createdAt": image.created_at,
        "postId": post.id,
        "stats": dict.fromkeys(REACTION_STATS, 0),  # reactions and comments come with the community features
        "meta": image.meta if with_meta else None,
        "username": username,
        "baseModel": version.base_model if version is not None else None,
        "modelVersionIds": [version.id] if version is not None else [],
    }
