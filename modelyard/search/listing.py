"""Listings with a text query, answered by the search: the catalog's listing of models (`catalog.browsing`: the
models page, the site's JSON list, `/api/v1/models?query=`) and the public API's images (`/api/v1/images?query=`).

The search finds one page of ids in its order; the listing loads their rows with its own SQL (`ids` = the hits),
so every filter and the visibility rule still have the last word, even while the index lags a change. A filter
the search cannot express (a version, a post, `periodMode=stats`'s counts) applies in that load alone; hits it
drops are made up by asking the search for as many more from where it stopped (`search_and_load`), a few rounds
at most, so a page comes back short at worst, never overfull, and its cursor is exactly where the search stopped.

How a listing's question reads as a search:
- filters: types -> "type", base models -> "base_model", tag -> "tag", checkpoint types -> "checkpoint_type",
  the creator (by name or id) -> `user_id`, ids and versions -> `entity_ids`, a period of publication -> `since`,
  the browsing level -> `levels` (and the levels allowed: the listing already decided which the viewer gets).
  Several values of one facet are alternatives, so of the license filters only one kind reaches the search: the
  commercial uses asked for (any of), else the first permission required; the rest apply in SQL.
- sorts: without an explicit order, a text search is ordered by relevance, the text match first, as Civitai's
  search ranks when no sort is chosen; Civitai's default sort, Highest Rated, therefore reads as relevance (and
  ratings do not exist yet). Newest and Most Downloaded are the index's own; the sorts whose data does not exist
  yet are answered as their listing answers them without a query (models: by downloads, images: newest first),
  so `query` never changes what a sort means. The index has no oldest-first order: Oldest reads as relevance.
- mode: ordered by relevance, a search is hybrid (keywords and meaning, fused); ordered by anything else it is a
  filter, keyword matches only: meaning has no edge to cut a list ordered by date or downloads.
- paging: the search's own signed cursors (a cursor of another question is a 400), and page numbers by offset,
  which stops at `types.MAX_OFFSET`: a page past it is past the end.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.accounts.service import username_key
from modelyard.catalog import browsing
from modelyard.catalog.browsing import ModelFilters, ModelSort, PeriodMode
from modelyard.catalog.models import ModelVersion, Tag
from modelyard.catalog.service import tag_key
from modelyard.core.paging import Page, PageRequest
from modelyard.images import feed
from modelyard.images.feed import FeedItem, FeedQuery, ImageSort
from modelyard.search import service
from modelyard.search.types import MAX_LIMIT, MAX_OFFSET, Mode, SearchQuery, Sort

T = TypeVar("T")
SEARCH_ROUNDS = 4  # searches one page may take (to make up dropped hits, or a page larger than MAX_LIMIT)

MODEL_SORTS: dict[ModelSort, Sort] = {
    ModelSort.HighestRated: Sort.relevance,
    ModelSort.Newest: Sort.newest,
    ModelSort.Oldest: Sort.relevance,
    ModelSort.MostDownloaded: Sort.downloads,
    # No likes, comments, collections or image counts yet: by downloads, as `browsing.sort_key` orders them.
    ModelSort.MostLiked: Sort.downloads,
    ModelSort.MostDiscussed: Sort.downloads,
    ModelSort.MostCollected: Sort.downloads,
    ModelSort.MostImages: Sort.downloads,
}
# Reactions, comments and collections do not exist yet: newest first, as `images.feed` answers them.
IMAGE_SORTS: dict[ImageSort, Sort] = {sort: Sort.newest for sort in ImageSort} | {ImageSort.Oldest: Sort.relevance}


class ModelSearch:
    """The catalog's text search (`browsing.TextSearch`), registered when the search domain loads."""

    def find(
        self,
        session: Session,
        viewer: User | None,
        filters: ModelFilters,
        sort: ModelSort,
        request: PageRequest,
        load: Callable[[Sequence[int]], Mapping[int, T]],
    ) -> Page[T]:
        question = model_question(session, filters, MODEL_SORTS[sort], request)
        if question is None:
            return Page(items=[], has_next=False, number=request.page)
        levels = filters.browsing_level
        return search_and_load(session, viewer, question, load, page=request.page, allowed_levels=levels)


def model_question(session: Session, filters: ModelFilters, sort: Sort, request: PageRequest) -> SearchQuery | None:
    """The search a listing of models with a text query asks; None when nothing can match."""
    user_id = _creator(session, filters.username, filters.user_id)
    entity_ids = _model_ids(session, filters.ids, filters.version_ids)
    if filters.none or user_id == 0 or entity_ids == ():
        return None
    terms = {
        "type": filters.types,
        "base_model": filters.base_models,
        "tag": (tag_key(filters.tag),) if filters.tag else (),
        "checkpoint_type": filters.checkpoint_types,
        "license": _license(filters),
    }
    published_since = browsing.since(filters.period) if filters.period_mode is PeriodMode.published else None
    return SearchQuery(
        index="models",
        text=filters.text or "",
        filters={facet: values for facet, values in terms.items() if values},
        levels=filters.browsing_level,
        user_id=user_id,
        entity_ids=entity_ids or (),
        since=published_since,
        sort=sort,
        mode=_mode(sort),
        limit=request.limit,
        cursor=request.cursor if request.page is None else None,
        offset=request.offset,
    )


def _creator(session: Session, username: str | None, user_id: int | None) -> int | None:
    """The creator asked for, by id; 0 when the name and the id disagree, or the name is nobody's."""
    if username is None:
        return user_id
    found = session.scalar(select(User.id).where(User.username_key == username_key(username)))
    if found is None or (user_id is not None and found != user_id):
        return 0
    return found


def _model_ids(session: Session, ids: Sequence[int], version_ids: Sequence[int]) -> tuple[int, ...] | None:
    """The models asked for by id and by version (both: those in both); None when neither is asked, () when none
    can match."""
    if not version_ids:
        return tuple(ids) if ids else None
    of_versions = session.scalars(select(ModelVersion.model_id).where(ModelVersion.id.in_(version_ids))).all()
    wanted = set(of_versions) & set(ids) if ids else set(of_versions)
    return tuple(sorted(wanted))


def _license(filters: ModelFilters) -> tuple[str, ...]:
    if filters.commercial_uses:
        return tuple(f"commercial:{use}" for use in filters.commercial_uses)
    required = (
        ("no_credit", filters.allow_no_credit),
        ("derivatives", filters.allow_derivatives),
        ("different_license", filters.allow_different_license),
    )
    return next(((name,) for name, wanted in required if wanted), ())


def _mode(sort: Sort) -> Mode:
    return "hybrid" if sort is Sort.relevance else "keyword"


def find_images(
    session: Session, viewer: User | None, query: FeedQuery, text: str, *, relevance: bool = False
) -> Page[FeedItem]:
    """One page of the images listing (`images.feed`) matching `text` in their prompts, tags and creators: by
    relevance when `relevance` (no sort was asked for), else as `query.sort` reads with a search. The query's
    filters and levels apply as the feed applies them (`feed.items_for`)."""
    question = image_question(session, query, text, Sort.relevance if relevance else IMAGE_SORTS[query.sort])
    if question is None:
        return Page(items=[], has_next=False, number=query.page)

    def load(ids: Sequence[int]) -> dict[int, FeedItem]:
        return {item.image.id: item for item in feed.items_for(session, viewer, ids, query)}

    levels = feed.asked_levels(viewer, query.levels)
    return search_and_load(session, viewer, question, load, page=query.page, allowed_levels=levels)


def image_question(session: Session, query: FeedQuery, text: str, sort: Sort) -> SearchQuery | None:
    """The search an images listing with a text query asks; None when nothing can match."""
    user_id = _creator(session, query.username, query.user_id)
    if user_id == 0:
        return None
    tags = session.scalars(select(Tag.name).where(Tag.id.in_(query.tag_ids))).all() if query.tag_ids else ()
    if query.tag_ids and not tags:
        return None
    terms = {
        "tag": tuple(tags),
        "base_model": query.base_models,
        "model": (str(query.model_id),) if query.model_id is not None else (),
    }
    return SearchQuery(
        index="images",
        text=text,
        filters={facet: values for facet, values in terms.items() if values},
        levels=query.levels,
        user_id=user_id,
        entity_ids=(query.image_id,) if query.image_id is not None else (),
        since=browsing.since(query.period),
        sort=sort,
        mode=_mode(sort),
        limit=query.limit,
        cursor=query.cursor if query.page is None else None,
        offset=(query.page - 1) * query.limit if query.page else 0,
    )


def search_and_load(
    session: Session,
    viewer: User | None,
    question: SearchQuery,
    load: Callable[[Sequence[int]], Mapping[int, T]],
    *,
    page: int | None = None,
    allowed_levels: int | None = None,
) -> Page[T]:
    """One page of `question.limit` rows: the search's hits, loaded by `load` (a hit without a row is left out),
    in the search's order. Asked by cursor (`page` None), hits without rows are made up from where the search
    stopped; asked by number, the page is exactly the hits at its offset (a page larger than the search's limit
    takes more than one search either way)."""
    if question.offset > MAX_OFFSET:
        return Page(items=[], has_next=False, number=page)
    rows: list[T] = []
    seen, cursor, more = 0, question.cursor, False
    for _ in range(SEARCH_ROUNDS):
        wanted = question.limit - (seen if page is not None else len(rows))
        asked = dataclasses.replace(question, limit=min(wanted, MAX_LIMIT), cursor=cursor)
        if page is not None:
            if question.offset + seen > MAX_OFFSET:
                break
            asked = dataclasses.replace(asked, cursor=None, offset=question.offset + seen)
        found = service.search(session, viewer, asked, allowed_levels=allowed_levels)
        ids = [hit.entity_id for hit in found.hits]
        loaded = load(ids) if ids else {}
        rows.extend(loaded[entity_id] for entity_id in ids if entity_id in loaded)
        seen += len(ids)
        cursor, more = found.next_cursor, found.next_cursor is not None
        if not more or (seen if page is not None else len(rows)) >= question.limit:
            break
    return Page(items=rows, has_next=more, next_cursor=cursor if more and page is None else None, number=page)


def register() -> None:
    """Answer the catalog's text queries with the search (called when the search domain loads)."""
    browsing.use_text_search(ModelSearch())
