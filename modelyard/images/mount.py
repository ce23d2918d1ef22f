"""The images domain's routes, mounted from one place (`app`): the JSON API, the stable image addresses and the
wizard's image step."""

from __future__ import annotations

from fastapi import FastAPI

from modelyard.images import media, pages, routes
from modelyard.web.offers import offer


def mount_images(app: FastAPI) -> None:
    app.include_router(routes.router)
    app.include_router(media.router)
    app.include_router(pages.router)
    offer(
        "images",
        title="Showcase images",
        text="Galleries of previews with the prompts and settings that made them, at stable, cacheable addresses.",
        icon="spark",
        order=30,
    )
