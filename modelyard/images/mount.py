"""The images domain's routes, mounted from one place (`app`): the JSON API, the stable image addresses and the
wizard's image step."""

from __future__ import annotations

from fastapi import FastAPI

from modelyard.images import feed_pages, media, pages, post_pages, post_routes, routes
from modelyard.web.offers import offer


def mount_images(app: FastAPI) -> None:
    app.include_router(routes.router)
    app.include_router(media.router)
    app.include_router(pages.router)
    app.include_router(post_routes.router)
    app.include_router(post_pages.router)
    app.include_router(feed_pages.router)
    feed_pages.install_feed_pages()
    offer(
        "images",
        title="Showcase images",
        text="Galleries of previews with the prompts and settings that made them, at stable, cacheable addresses.",
        icon="spark",
        order=30,
    )
    offer(
        "image-feed",
        title="Browse the image feed",
        text="Every published image, newest first, at the ratings you choose, with the prompts and models behind them.",
        icon="layers",
        order=32,
    )
    offer(
        "posts",
        title="Post your images",
        text="Share what you made, with its prompt and settings, under the model version that made it.",
        icon="upload",
        order=31,
    )
