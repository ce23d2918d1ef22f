"""Civitai's public REST API v1, so that existing clients work by changing only their base URL: a translation
layer over the catalog's services and its one visibility rule, with no rules of its own."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI


def include_api_v1(app: FastAPI) -> None:
    from modelyard.api_v1 import directory, images, models, versions

    router = APIRouter()
    router.include_router(models.router)
    router.include_router(versions.router)
    router.include_router(images.router)
    router.include_router(directory.router)
    app.include_router(router)
    # The list and the hash lookup are hot reads (`core.hot`): tried before every other route.
    app.router.routes[0:0] = [*models.hot.routes, *versions.hot.routes]
