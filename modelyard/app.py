"""The ASGI application: `create_app()` wires the runtime, middleware, error handlers and every domain's routes."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from modelyard import __version__
from modelyard.core.edge import EdgeMiddleware
from modelyard.core.http import install_error_handlers
from modelyard.core.logging import configure_logging
from modelyard.core.runtime import Runtime, get_runtime, init_runtime, set_runtime
from modelyard.core.settings import Settings

log = logging.getLogger("modelyard")


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    """Build the app. With no arguments it reads settings from the environment (this is what uvicorn's
    `--factory modelyard.app:create_app` calls in each web process)."""
    owns_runtime = runtime is None
    if runtime is None:
        settings = settings or Settings()
        configure_logging(settings.log_level, settings.log_format)
        runtime = init_runtime(settings)
    else:
        set_runtime(runtime)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = None
        runtime.events.start()
        if runtime.settings.run_jobs_in_process:
            from modelyard.core.jobs.consumer import JobWorker

            worker = JobWorker(runtime)
            worker.start()
        log.info(
            "modelyard started",
            extra={
                "version": __version__,
                "database": runtime.db.dialect,
                "storage": runtime.storage.name,
                "redis": runtime.redis is not None,
                "jobs_in_process": worker is not None,
            },
        )
        if owns_runtime:  # this app is the process's: tests and embedders keep their own heap as it is
            _freeze_startup_heap()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop(graceful=True)
            if owns_runtime:  # a runtime handed in (tests, embedding) belongs to whoever made it
                runtime.close()

    app = FastAPI(
        title="Modelyard",
        version=__version__,
        description="A self-hostable platform for AI image models.",
        lifespan=lifespan,
        docs_url=None,  # served by modelyard.web.pages with Swagger UI from our own static files
        redoc_url=None,
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    _include_routes(app)
    # Request id, per-IP rate limit, CSRF, security headers, metrics and access log, in one layer.
    app.add_middleware(EdgeMiddleware, runtime=runtime)
    return app


def _freeze_startup_heap() -> None:
    """Move everything built at start-up (modules, routes, ORM mappers, templates: ~180k objects, all living as
    long as the process) out of the garbage collector's sight. A full collection then scans only what requests
    made, instead of pausing every request in flight for ~100 ms: that pause set the p99 latency (decision
    0007)."""
    gc.collect()
    gc.freeze()


def _include_routes(app: FastAPI) -> None:
    from modelyard.accounts.admin_routes import router as admin_router
    from modelyard.accounts.oauth_routes import router as oauth_router
    from modelyard.accounts.pages import mount_account_pages
    from modelyard.accounts.routes import hot_reads as account_hot_reads
    from modelyard.accounts.routes import router as accounts_router
    from modelyard.api_v1 import include_api_v1
    from modelyard.catalog.pages import mount_catalog_pages
    from modelyard.catalog.routes.downloads import router as downloads_router
    from modelyard.catalog.routes.models import router as catalog_router
    from modelyard.core.ops import router as ops_router
    from modelyard.core.storage.routes import router as files_router
    from modelyard.flags import include_flags
    from modelyard.images.routes import router as images_router
    from modelyard.web.pages import mount_web

    # Routes are matched in order (a few µs each): hot reads (plain Starlette routes, modelyard.core.hot) first,
    # then the JSON API, pages and mounts last.
    app.router.routes[0:0] = account_hot_reads.routes
    app.include_router(accounts_router)
    app.include_router(catalog_router)
    app.include_router(downloads_router)
    include_api_v1(app)
    app.include_router(images_router)
    app.include_router(ops_router)
    app.include_router(files_router, prefix="/files", include_in_schema=False)
    app.include_router(admin_router)
    include_flags(app)
    app.include_router(oauth_router)
    mount_account_pages(app)
    mount_catalog_pages(app)
    mount_web(app)


__all__ = ["create_app", "get_runtime"]
