"""The search domain's routes, mounted from one place (`app`): the JSON API and the pages."""

from __future__ import annotations

from fastapi import FastAPI

from modelyard.search import pages, routes
from modelyard.web.offers import offer


def mount_search(app: FastAPI) -> None:
    app.include_router(routes.router)
    app.include_router(pages.router)
    offer(
        "search",
        title="Search everything",
        text="Find models, images, creators and tags by what they mean, not just their names, with filters and counts.",
        icon="search",
        order=21,
    )
