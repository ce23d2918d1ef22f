"""Mounting the Civitai-compatible API: its routers, its hot reads, and its error shape."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from modelyard.api_v1 import directory, images, models, versions
from modelyard.api_v1.errors import register_civitai_errors
from modelyard.web.offers import offer


def include_api_v1(app: FastAPI) -> None:
    router = APIRouter()
    router.include_router(models.router)
    router.include_router(versions.router)
    router.include_router(images.router)
    router.include_router(directory.router)
    app.include_router(router)
    # The list and the hash lookup are hot reads (`core.hot`): tried before every other route.
    app.router.routes[0:0] = [*models.hot.routes, *versions.hot.routes]
    register_civitai_errors(app)
    offer(
        "civitai-api",
        title="Use your tools",
        text="A Civitai-compatible API: download managers and A1111 or ComfyUI extensions work by changing one URL.",
        icon="layers",
        order=40,
    )
