"""The search pages: `/search` (tabs for models, images, creators and tags, a facet sidebar with counts, a sort
menu, infinite scroll), its fragments for htmx, the suggestions the search boxes show as one types, and the
model page's "Similar models" strip.

Everything is in the URL (`?q=&index=&sort=&window=&level=&<facet>=`), read leniently as the catalog's listing
pages do: a value it does not know falls back to the default, so an old shared link still opens. The page works
without JavaScript (a plain GET form, an "Apply" button, a "More results" link); with it, htmx fetches
`/search/results` as one types or ticks a filter and swaps the results in, and the server answers with the page's
own address (`HX-Push-Url`) so the address bar always holds a link to what is shown. Scrolling to the end fetches
the next page with the service's keyset cursor; a cursor from another search or tampered is a 400.

Sorts: the search service knows rating, likes, comments and collected, but the features behind them (reviews,
reactions, comments, collections) arrive in later issues. Until one is offered on this server
(`web.offers.offered`), its sort would order everything by a column of zeros, so the menu leaves it out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from modelyard.accounts import browsing as viewer_levels
from modelyard.accounts.models import User
from modelyard.api_v1.common import Params
from modelyard.catalog import browsing
from modelyard.catalog.enums import ModelType
from modelyard.catalog.routes.models import Viewer
from modelyard.core.http import SessionDep
from modelyard.core.params import Id
from modelyard.images.feed_pages import cards as image_cards
from modelyard.search import routes
from modelyard.search.routes import AskedSearch, read_search, run_search
from modelyard.search.semantic import similar
from modelyard.search.types import MAX_QUERY_CHARS, FacetValue, Mode, SearchPage, Sort, Window
from modelyard.web.offers import offered
from modelyard.web.toolkit import page

router = APIRouter(include_in_schema=False)

PER_PAGE = 24
SIMILAR_MODELS = 8
FACET_VALUES_SHOWN = 8  # per facet; the rest behind "more"
TABS = {"models": "Models", "images": "Images", "users": "Creators", "tags": "Tags"}
NOUNS = {"models": ("model", "models"), "images": ("image", "images"), "users": ("creator", "creators"),
         "tags": ("tag", "tags")}  # fmt: skip
SORT_LABELS = {
    Sort.relevance: "Best match",
    Sort.newest: "Newest",
    Sort.downloads: "Most downloaded",
    Sort.trending: "Trending",
    Sort.rating: "Highest rated",
    Sort.likes: "Most liked",
    Sort.comments: "Most discussed",
    Sort.collected: "Most collected",
}
WINDOW_LABELS = {Window.day: "Today", Window.week: "This week", Window.month: "This month"}
INDEX_SORTS: dict[str, tuple[Sort, ...]] = {
    "models": (Sort.relevance, Sort.newest, Sort.downloads, Sort.trending, Sort.rating, Sort.likes, Sort.comments,
               Sort.collected),
    "images": (Sort.relevance, Sort.newest, Sort.likes, Sort.comments, Sort.collected),
    "users": (Sort.relevance, Sort.newest, Sort.downloads),
    "tags": (Sort.relevance, Sort.newest),
}  # fmt: skip
# The feature (an `offer` name) a sort needs data from; a sort not listed here has its data already.
SORT_FEATURES = {
    Sort.rating: "reviews",
    Sort.likes: "reactions",
    Sort.comments: "comments",
    Sort.collected: "collections",
}
FACET_LABELS = {
    "type": "Model type",
    "base_model": "Base model",
    "tag": "Tags",
    "creator": "Creator",
    "checkpoint_type": "Checkpoint type",
    "file_format": "File format",
    "license": "License",
    "early_access": "Early access",
    "can_generate": "Generation",
}
# The facets the sidebar offers per index, in its order (the images' "model" facet holds ids: not for people).
SIDEBAR_FACETS = {"models": tuple(FACET_LABELS), "images": ("base_model", "tag", "creator")}
LICENSE_LABELS = {
    "no_credit": "No credit needed",
    "derivatives": "Derivatives allowed",
    "different_license": "May relicense merges",
    "commercial:Image": "Sell generated images",
    "commercial:RentCivit": "Run on generation services",
    "commercial:Rent": "Rent out the model",
    "commercial:Sell": "Sell the model",
}
MODEL_TYPES = frozenset(kind.value for kind in ModelType)
YES_LABELS = {"early_access": "In early access", "can_generate": "Can generate here"}


def offered_sorts(index: str) -> list[Sort]:
    return [sort for sort in INDEX_SORTS[index] if sort not in SORT_FEATURES or offered(SORT_FEATURES[sort])]


# --- the page's state, in its URL -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchView:
    """A search as the page shows it, and the addresses of the searches a click on it leads to."""

    asked: AskedSearch

    def pairs(self, **changes: Any) -> list[tuple[str, str]]:
        asked = replace(self.asked, **changes)
        pairs: list[tuple[str, str]] = []
        if asked.text:
            pairs.append(("q", asked.text))
        if asked.index != "models":
            pairs.append(("index", asked.index))
        if asked.sort is not Sort.relevance:
            pairs.append(("sort", asked.sort.value))
        if asked.sort is Sort.trending and asked.window is not Window.week:
            pairs.append(("window", asked.window.value))
        if asked.levels:
            pairs.extend(("level", str(bit)) for bit in level_bits(asked.levels))
        pairs.extend((name, value) for name, values in asked.filters.items() for value in values)
        if asked.cursor:
            pairs.append(("cursor", asked.cursor))
        return pairs

    def url(self, path: str = "/search", **changes: Any) -> str:
        pairs = self.pairs(**changes)
        return f"{path}?{urlencode(pairs)}" if pairs else path

    def link(self, **changes: Any) -> Link:
        """This search with `changes`, from its first result."""
        changes.setdefault("cursor", None)
        return Link(self.url(**changes), self.url("/search/results", **changes))

    def tab_search(self, index: str) -> AskedSearch:
        """Another tab: the same words and levels; the same sort where it has it, no filters."""
        sort = self.asked.sort if self.asked.sort in offered_sorts(index) else Sort.relevance
        return replace(self.asked, index=index, sort=sort, mode=mode_of(sort), filters={}, cursor=None)

    def tab(self, index: str) -> Link:
        other = self.tab_search(index)
        return self.link(index=index, sort=other.sort, filters={})

    def without(self, name: str, value: str) -> Link:
        """This search without one filter value (a chip's remove link)."""
        filters = {key: tuple(v for v in values if not (key == name and v == value)) for key, values in
                   self.asked.filters.items()}  # fmt: skip
        return self.link(filters={key: values for key, values in filters.items() if values})


@dataclass(frozen=True)
class Link:
    """A link within the search page: `url` for a browser without JavaScript, `results` for htmx."""

    url: str
    results: str


def mode_of(sort: Sort) -> Mode:
    """Keywords and meaning for the best matches; a list in another order is filtered by keywords alone, since
    meaning has no edge to cut it at (a loosely related model would sit among the newest by date)."""
    return "hybrid" if sort is Sort.relevance else "keyword"


def level_bits(mask: int) -> list[int]:
    return [choice.bit for choice in viewer_levels.CHOICES if mask & choice.bit]


def read_view(request: Request, viewer: User | None) -> SearchView:
    """The search the page's URL asks for, leniently; `level=` bits are narrowed to the viewer's own."""
    params = Params(request.query_params)
    bits = 0
    for raw in params.strings("level"):
        bits |= int(raw) if raw.isdigit() and len(raw) < 3 else 0
    asked = read_search(params, viewer, strict=False, levels=bits or None)
    if asked.levels == 0 or asked.levels == viewer_levels.browsing_level(viewer):
        asked = replace(asked, levels=None)  # none of what was asked may be shown, or all of it: the default
    sort = asked.sort if asked.sort in offered_sorts(asked.index) else Sort.relevance
    facets = SIDEBAR_FACETS.get(asked.index, ())
    return SearchView(replace(asked, sort=sort, limit=PER_PAGE, mode=mode_of(sort), facets=facets))


# --- what the page shows ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FacetOption:
    value: str
    label: str
    count: int
    selected: bool
    id: str  # the checkbox's, stable across swaps (htmx keeps its focus)


@dataclass(frozen=True)
class FacetGroup:
    name: str
    label: str
    options: list[FacetOption]
    more: list[FacetOption]


@dataclass(frozen=True)
class Tab:
    index: str
    label: str
    link: Link
    count: str | None
    current: bool


def value_label(facet: str, value: str) -> str:
    if facet == "type" and value in MODEL_TYPES:
        return ModelType(value).display_name
    if facet == "license":
        return LICENSE_LABELS.get(value, value.removeprefix("commercial:"))
    if facet in YES_LABELS:
        return YES_LABELS[facet] if value == "yes" else value
    return value


def facet_groups(view: SearchView, found: SearchPage) -> list[FacetGroup]:
    """The sidebar: per facet, the values with matches (most first) and every selected one (it stays shown, so
    it can be unticked, even when nothing matches it any more)."""
    groups = []
    for position, name in enumerate(view.asked.facets):
        selected = view.asked.filters.get(name, ())
        counted: list[FacetValue] = [value for value in found.facets.get(name, []) if value.count > 0]
        seen = {value.value for value in counted}
        counted += [FacetValue(value, 0) for value in selected if value not in seen]
        options = [
            FacetOption(value.value, value_label(name, value.value), value.count, value.value in selected,
                        f"facet-{position}-{number}")
            for number, value in enumerate(counted)
        ]  # fmt: skip
        if not options:
            continue
        shown = [option for option in options if option.selected] + [o for o in options if not o.selected]
        cut = max(FACET_VALUES_SHOWN, sum(option.selected for option in options))
        groups.append(FacetGroup(name, FACET_LABELS.get(name, name), shown[:cut], shown[cut:]))
    return groups


def count_label(total: int, lower_bound: bool) -> str:
    text = f"{total // 1000}k" if total >= 10_000 else f"{total:,}"
    return f"{text}+" if lower_bound else text


def tabs(session: Session, viewer: User | None, view: SearchView, found: SearchPage) -> list[Tab]:
    """The four tabs, each with how many it finds for the same words: the other tabs are counted by the search
    a click on them makes, asking for one row and no facets."""
    found_tabs = []
    for index, label in TABS.items():
        if index == view.asked.index:
            count: str | None = count_label(found.total, found.total_is_lower_bound)
        else:
            counted = run_search(session, viewer, view.tab_search(index), limit=1, facets=())
            count = count_label(counted.total, counted.total_is_lower_bound)
        found_tabs.append(Tab(index, label, view.tab(index), count, index == view.asked.index))
    return found_tabs


def rows_context(session: Session, viewer: User | None, view: SearchView, found: SearchPage) -> dict[str, Any]:
    """One page of results and what comes after it."""
    rows = routes.load_rows(session, viewer, view.asked.index, found.hits)
    next_view = replace(view.asked, cursor=found.next_cursor) if found.next_cursor else None
    return {
        "rows": image_cards(rows, viewer) if view.asked.index == "images" else rows,
        "next_url": SearchView(next_view).url() if next_view else None,
        "more_url": SearchView(next_view).url("/search/results") + "&more=1" if next_view else None,
    }


def body_context(session: Session, viewer: User | None, view: SearchView) -> dict[str, Any]:
    """Everything under the search box: tabs, filters, sort, results."""
    found = run_search(session, viewer, view.asked)
    asked = view.asked
    level = viewer_levels.browsing_level(viewer)
    singular, plural = NOUNS[asked.index]
    return {
        "view": view,
        "asked": asked,
        "found": found,
        "tabs": tabs(session, viewer, view, found),
        "groups": facet_groups(view, found),
        "chips": [
            (FACET_LABELS.get(name, name), value_label(name, value), view.without(name, value))
            for name, values in asked.filters.items()
            for value in values
        ],
        "sorts": [(sort.value, SORT_LABELS[sort]) for sort in offered_sorts(asked.index)],
        "windows": [(window.value, label) for window, label in WINDOW_LABELS.items()],
        "level_choices": [
            (choice, not asked.levels or bool(asked.levels & choice.bit))
            for choice in viewer_levels.CHOICES
            if level & choice.bit
        ],
        "noun": singular if found.total == 1 else plural,
        "plural": plural,
        "corrected": view.link(text=found.corrected_text) if found.corrected_text else None,
        "total": count_label(found.total, found.total_is_lower_bound),
        "clear": view.link(filters={}),
        **rows_context(session, viewer, view, found),
    }


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, viewer: Viewer, session: SessionDep) -> Response:
    """Search models, images, creators and tags."""
    view = read_view(request, viewer)
    return page(request, "search/page.html", body_context(session, viewer, view) | {"max_query": MAX_QUERY_CHARS})


@router.get("/search/results", response_class=HTMLResponse)
def search_results(request: Request, viewer: Viewer, session: SessionDep, more: bool = False) -> Response:
    """What is under the search box (htmx swaps it in as one types or filters), its address pushed to the
    browser's history; `more=1`: only the next page of results (infinite scroll), pushing nothing."""
    view = read_view(request, viewer)
    if more:
        found = run_search(session, viewer, view.asked, facets=())  # the sidebar is not redrawn: nothing to count
        context = {"asked": view.asked} | rows_context(session, viewer, view, found)
        return page(request, "search/_rows.html", context)
    response = page(request, "search/_body.html", body_context(session, viewer, view))
    response.headers["HX-Push-Url"] = view.url()
    return response


@router.get("/search/suggest", response_class=HTMLResponse)
def search_suggest(
    request: Request, viewer: Viewer, session: SessionDep, q: Annotated[str, Query(max_length=2000)] = ""
) -> Response:
    """The suggestions under a search box: models, creators and tags whose names start like `q`."""
    text = " ".join(q.split())[:MAX_QUERY_CHARS]
    found = routes.suggestions(session, viewer, text)
    items = [(item, routes.suggestion_path(item)) for item in found]
    context = {"items": items, "text": text, "search_url": SearchView(AskedSearch(text=text)).url()}
    return page(request, "search/_suggest.html", context)


@router.get("/search/similar/models/{model_id}", response_class=HTMLResponse)
def similar_models(request: Request, model_id: Id, viewer: Viewer, session: SessionDep) -> Response:
    """The model page's "Similar models" strip (loaded when scrolled to): the models whose descriptions mean
    the most alike, as the viewer may see them; nothing at all when there are none."""
    hits = similar(
        session, viewer, "models", model_id, limit=SIMILAR_MODELS, allowed_levels=routes.allowed_levels(viewer)
    )
    cards = browsing.cards_for(session, viewer, [hit.entity_id for hit in hits]) if hits else []
    return page(request, "search/_similar.html", {"cards": cards})
