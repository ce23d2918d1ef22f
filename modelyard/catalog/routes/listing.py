"""The site's JSON list of models, `GET /api/models`: the models page's listing (`catalog.browsing`) as JSON, for
the site's own scripts and for clients that want the catalog's shapes rather than Civitai's (`/api/v1/models`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from modelyard.catalog import browsing
from modelyard.catalog.enums import ModelType
from modelyard.catalog.routes.models import Viewer
from modelyard.catalog.schemas import ModelCardOut, ModelListOut, PictureOut
from modelyard.core import paging
from modelyard.core.errors import ValidationFailed
from modelyard.core.http import SessionDep

router = APIRouter(tags=["catalog"])

LIST_MAX_PAGE = 400


@router.get("/api/models", response_model=ModelListOut)
def list_models(
    viewer: Viewer,
    session: SessionDep,
    query: Annotated[str, Query(max_length=200, description="Words in the model's name")] = "",
    types: Annotated[list[ModelType] | None, Query(max_length=30, description="Model types (repeat)")] = None,
    base_models: Annotated[list[str] | None, Query(max_length=30, description="Base model names (repeat)")] = None,
    tag: Annotated[str, Query(max_length=60)] = "",
    username: Annotated[str, Query(max_length=40, description="The creator")] = "",
    sort: Annotated[str, Query(description=f"One of: {', '.join(browsing.OFFERED_SORTS)}")] = "Newest",
    limit: Annotated[int, Query(ge=1, le=100)] = 24,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")] = None,
    page: Annotated[int | None, Query(ge=1, le=LIST_MAX_PAGE, description="A page number, instead of a cursor")] = None,
) -> ModelListOut:
    """Published models, newest first or by downloads, with the cover of each one's newest version: the listing
    of the models page (`catalog.browsing`). Pages by cursor, or by number when `page` is given."""
    if sort not in browsing.OFFERED_SORTS:
        raise ValidationFailed(f"sort must be one of: {', '.join(browsing.OFFERED_SORTS)}", field="sort")
    filters = browsing.ModelFilters(
        text=query.strip() or None,
        types=tuple(types or ()),
        base_models=tuple(base_models or ()),
        tag=tag.strip() or None,
        username=username.strip() or None,
    )
    asked = paging.page_request(limit=limit, default_limit=24, max_limit=100, page=page, cursor=cursor)
    found = browsing.browse(session, viewer, filters, sort=browsing.ModelSort(sort), request=asked)
    items = [_card_out(card) for card in found.items]
    return ModelListOut(items=items, has_next=found.has_next, next_cursor=found.next_cursor, page=found.number)


def _card_out(card: browsing.ModelCard) -> ModelCardOut:
    model, cover = card.model, card.cover
    return ModelCardOut(
        id=model.id, name=model.name, type=model.type, creator=card.creator, base_model=card.base_model,
        published_at=model.published_at, download_count=model.download_count,
        cover=PictureOut.model_validate(cover) if cover is not None else None,
    )  # fmt: skip
