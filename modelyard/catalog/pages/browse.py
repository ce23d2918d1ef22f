"""The models page, and the listing every page of model cards shares (the tag and creator pages reuse it): a search
box, a sort, filters by type, base model and tag, all kept in the URL, over `catalog.browsing`.

Without a sort chosen, a listing is newest first, and a search is best match first (the search's relevance:
`search.listing` reads Civitai's Highest Rated so with text); the sort menu offers the default as its first choice,
with no value, so that typing words into a listing sorted by default gets the best match.

Pages are lenient readers of their URL: a type or sort they do not know is ignored (the page shows everything),
as a shared link from an older version of the site should still open. An overlong value is a 422 (and a NUL
character never gets past the edge, `core.inbound`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.catalog import browsing, facets
from modelyard.catalog.browsing import ModelFilters, ModelSort
from modelyard.catalog.enums import ModelType
from modelyard.catalog.routes.models import Viewer
from modelyard.core.http import SessionDep
from modelyard.core.paging import PageRequest
from modelyard.web.toolkit import page

router = APIRouter(include_in_schema=False)
MODELS_PER_PAGE = 24
MAX_PAGE = 10_000
MODEL_TYPES = frozenset(kind.value for kind in ModelType)
# The sorts the site offers, by the words in their URLs.
SORTS: dict[str, ModelSort] = {sort.value.lower().replace(" ", "-"): sort for sort in browsing.OFFERED_SORTS}
SORT_LABELS = {ModelSort.Newest: "Newest", ModelSort.MostDownloaded: "Most downloaded"}
DEFAULT_SORT = ""  # newest first; a search's best match first
BEST_MATCH = ModelSort.HighestRated  # with text, the search's relevance (`search.listing`)


@dataclass(frozen=True)
class ListingQuery:
    """What a listing page's URL asks for: `?q=&type=&base=&tag=&sort=&page=`."""

    q: str = ""
    type: str = ""
    base: str = ""
    tag: str = ""
    sort: str = DEFAULT_SORT
    page: int = 1

    @property
    def model_sort(self) -> ModelSort:
        """The listing's order: the one chosen, else the default (best match for a search, newest otherwise)."""
        if self.sort:
            return SORTS[self.sort]
        return BEST_MATCH if self.q else ModelSort.Newest

    @property
    def sort_choices(self) -> list[tuple[str, str]]:
        """The sort menu: (value, label), the default first with no value."""
        default = ("", "Best match") if self.q else ("", SORT_LABELS[ModelSort.Newest])
        others = [(slug, SORT_LABELS[sort]) for slug, sort in SORTS.items() if self.q or sort is not ModelSort.Newest]
        return [default, *others]

    def filters(self, **fixed: Any) -> ModelFilters:
        """The listing's filters; `fixed` are the page's own (a tag page's tag, a profile's creator)."""
        wanted = ModelFilters(
            text=self.q or None,
            types=(self.type,) if self.type else (),
            base_models=(self.base,) if self.base else (),
            tag=self.tag or None,
        )
        return replace(wanted, **fixed)

    @property
    def filtered(self) -> bool:
        return bool(self.q or self.type or self.base or self.tag)

    def url(self, path: str, **changes: Any) -> str:
        """This listing's URL with `changes`; a change to anything but the page goes back to page 1."""
        if "page" not in changes:
            changes["page"] = 1
        chosen = replace(self, **changes)
        defaults = ListingQuery()
        params = [(name, getattr(chosen, name)) for name in ("q", "type", "base", "tag", "sort", "page")]
        kept = [(name, value) for name, value in params if value != getattr(defaults, name)]
        return f"{path}?{urlencode(kept)}" if kept else path


def _words(value: str) -> str:
    return " ".join(value.split())


def listing_query(
    q: Annotated[str, Query(max_length=200)] = "",
    type: Annotated[str, Query(max_length=40)] = "",
    base: Annotated[str, Query(max_length=60)] = "",
    tag: Annotated[str, Query(max_length=60)] = "",
    sort: Annotated[str, Query(max_length=40)] = "",
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> ListingQuery:
    return ListingQuery(
        q=_words(q),
        type=type if type in MODEL_TYPES else "",
        base=_words(base),
        tag=_words(tag),
        sort=sort if sort in SORTS else DEFAULT_SORT,
        page=page,
    )


ListingDep = Annotated[ListingQuery, Depends(listing_query)]


def listing_context(
    session: Session, viewer: User | None, query: ListingQuery, *, path: str, **fixed: Any
) -> dict[str, Any]:
    """What `catalog/_listing.html` shows: the filter bar, one page of cards, the pager, and what to say when the
    page is empty or past the end. `fixed` filters belong to the page (a tag page's tag, a profile's creator): they
    are not offered, and the other filters offer what there is within them."""
    request = PageRequest(limit=MODELS_PER_PAGE, page=query.page)
    found = browsing.browse(session, viewer, query.filters(**fixed), sort=query.model_sort, request=request)
    types = facets.offered_types(session, within=fixed)
    if query.type and ModelType(query.type) not in types:  # asked for by URL: keep it visible and clearable
        types = [*types, ModelType(query.type)]
    families = facets.offered_base_models(session, within=fixed)
    return {
        "query": query,
        "here": path,
        "found": found,
        "cards": found.items,
        "types": types,
        "families": families,
        "unlisted_base": bool(query.base) and all(query.base not in family.names for family in families),
        "sorts": query.sort_choices,
        "fixed": fixed,
    }


@router.get("/models", response_class=HTMLResponse)
def browse_page(request: Request, viewer: Viewer, session: SessionDep, query: ListingDep) -> Response:
    """Published models, newest first, with a search box, sorts and filters."""
    context = listing_context(session, viewer, query, path="/models")
    return page(request, "catalog/browse.html", {**context, "signed_in": viewer is not None})
