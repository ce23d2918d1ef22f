"""`GET /api/v1/images` (reference §1.6): published images of every post (not only showcases), newest first by
default, with id cursors, listed by the images domain's one listing service (`images.feed`), so the API shows
exactly what the site's feed would under the same filters and levels.

With `query` the images index is searched (prompts, tags and creators; `search.listing.find_images`), best match
first unless a sort is asked for, and the hits are loaded through the same listing (`feed.items_for`): its
filters, levels and visibility rule have the last word. Such a list pages by the search's signed cursor, not an
image id."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from modelyard.accounts.auth import PrincipalDep
from modelyard.accounts.models import User
from modelyard.api_v1.common import Params, page_metadata, public_json, query_docs, v1_page_request
from modelyard.catalog.browsing import Period
from modelyard.core.forwarded import public_url
from modelyard.core.http import SessionDep
from modelyard.images import blurhash, nsfw
from modelyard.images.feed import FeedItem, FeedQuery, ImageSort
from modelyard.images.feed import list_images as list_feed
from modelyard.images.urls import image_url
from modelyard.search.listing import find_images
from modelyard.search.types import MAX_QUERY_CHARS

router = APIRouter(tags=["Civitai API v1"])
SORTS = tuple(sort.value for sort in ImageSort)
PERIODS = tuple(period.value for period in Period)
REACTION_STATS = ("cryCount", "laughCount", "likeCount", "dislikeCount", "heartCount", "commentCount")
ID_RANGE = {"low": 1, "high": 2**31 - 1}


def images_level(params: Params) -> int | None:
    """The levels asked for (`nsfw.asked_image_level`), or None when the request names none: then the caller's
    own browsing level applies (PG for anonymous callers). `nsfw` is read as a boolean only when it is not one of
    the legacy level names."""
    level = params.integer("browsingLevel", low=0, high=nsfw.EVERY_LEVEL)
    name = params.text("nsfw")
    if level or (name is not None and name.lower() in nsfw.LEGACY_LEVELS):
        return nsfw.asked_image_level(level, name, None)
    flag = params.boolean("nsfw")
    return None if flag is None else nsfw.asked_image_level(None, None, flag)


IMAGE_PARAMETERS = query_docs(
    ("limit", "integer", "Items per page, 1-200 (default 100)"),
    ("page", "integer", "Page number; page x limit may not pass 1000 (use cursors)"),
    ("cursor", "string", "metadata.nextCursor of the previous page (an image id, or a search's cursor with query)"),
    (
        "query",
        "string",
        f"Search words (at most {MAX_QUERY_CHARS} characters) in prompts, tags and creators, by meaning as well; "
        "best match first unless a sort is given",
    ),
    ("postId", "integer", "Images of one post"),
    ("modelId", "integer", "Images posted to a model's versions"),
    ("modelVersionId", "integer", "Images posted to one version, or made with it"),
    ("imageId", "integer", "One image"),
    ("username", "string", "Images by this person"),
    ("userId", "integer", "Images by this person"),
    ("tags", "list", "Tag ids: images carrying any of them"),
    (
        "sort",
        "string",
        f"One of: {', '.join(SORTS)}. Reactions, comments and collections do not exist yet: those three sorts "
        "answer as Newest",
    ),
    ("period", "string", "AllTime, Year, Month, Week or Day (images created within it)"),
    ("nsfw", "string", "true (R and up only), false (PG), or None, Soft, Mature, X"),
    ("browsingLevel", "integer", "Browsing level bit mask; wins over nsfw. With neither, the caller's own level"),
    ("type", "string", "image, video or audio"),
    ("baseModels", "list", "Base model names (of the post's version); an unknown name is a 400"),
    ("withMeta", "boolean", "Include each image's generation data (unless its owner hid it)"),
)


def feed_query(
    params: Params, *, limit: int, page: int | None, cursor: str | None, searching: bool = False
) -> FeedQuery:
    """The listing a v1 query asks for, read with Civitai's parsing rules. `searching`: the cursor is a search's
    (`query`), checked by the search."""
    if cursor is not None and page is None and not searching:
        params.integer("cursor", low=0, high=2**31 - 1)  # Civitai's image cursors are ids: a 400 otherwise
    return FeedQuery(
        post_id=params.integer("postId", **ID_RANGE),
        model_id=params.integer("modelId", **ID_RANGE),
        version_id=params.integer("modelVersionId", **ID_RANGE),
        image_id=params.integer("imageId", **ID_RANGE),
        user_id=params.integer("userId", **ID_RANGE),
        username=params.text("username", max_length=100),
        tag_ids=tuple(params.integers("tags", limit=100)),
        base_models=tuple(params.strings("baseModels")),
        media_type=(params.choices("type", ["image", "video", "audio"], split=False) or ["image"])[0],
        levels=images_level(params),
        sort=ImageSort((params.choices("sort", SORTS, split=False) or ["Newest"])[0]),
        period=Period((params.choices("period", PERIODS, split=False) or ["AllTime"])[0]),
        limit=limit,
        cursor=cursor if page is None else None,
        page=page,
    )


@router.get("/api/v1/images", summary="Published images (Civitai v1)", openapi_extra=IMAGE_PARAMETERS)
def list_images(request: Request, principal: PrincipalDep, session: SessionDep) -> Response:
    """Published images, newest first, `{items, metadata}`: each with its blurhash (`hash`), level (`nsfwLevel`
    by name, `browsingLevel` as a bit), `stats` (zeros until reactions and comments exist), and `meta` only with
    `withMeta=true` and when its owner did not hide it. `modelVersionIds`: the post's version and the versions
    the image's generation data names."""
    params = Params(request.query_params)
    viewer = principal.user
    asked = v1_page_request(params, default_limit=100, max_limit=200)
    text = params.text("query", max_length=MAX_QUERY_CHARS)
    query = feed_query(params, limit=asked.limit, page=asked.page, cursor=asked.cursor, searching=text is not None)
    with_meta = bool(params.boolean("withMeta"))
    if text is not None:
        found = find_images(session, viewer, query, text, relevance=params.text("sort") is None)
    else:
        found = list_feed(session, viewer, query)
    metadata = page_metadata(request, asked, more=found.has_next, cursor=found.next_cursor)
    base = public_url(request)
    items = [_item(item, viewer, base, with_meta) for item in found.items]
    return public_json(principal, {"items": items, "metadata": metadata})


def _item(item: FeedItem, viewer: User | None, base: str, with_meta: bool) -> dict[str, Any]:
    image = item.image
    return {
        "id": image.id,
        "url": image_url(image.storage_key, public=item.public, base=base),
        "hash": image.blurhash or blurhash.NEUTRAL,  # until the backfill reaches an old image (images.upkeep)
        "width": image.width,
        "height": image.height,
        "nsfwLevel": nsfw.level_name(image.nsfw_level),
        "type": "image",
        "nsfw": nsfw.is_nsfw(image.nsfw_level),
        "browsingLevel": image.nsfw_level,
        "createdAt": image.created_at,
        "postId": item.post.id,
        "stats": dict.fromkeys(REACTION_STATS, 0),  # reactions and comments come with the community features
        "meta": item.meta_for(viewer) if with_meta else None,
        "username": item.username,
        "baseModel": item.base_model,
        "modelVersionIds": item.version_ids,
    }
