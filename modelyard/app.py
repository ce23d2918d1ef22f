"""The ASGI application: `create_app()` wires the runtime, middleware, error handlers and every domain's routes."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError

from modelyard import __version__
from modelyard.core.bootstrap import init_runtime
from modelyard.core.edge import EdgeMiddleware
from modelyard.core.http import install_error_handlers
from modelyard.core.logging import configure_logging
from modelyard.core.runtime import Runtime, get_runtime, set_runtime
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
        from modelyard.search.indexer import start_applier

        search_applier = start_applier(runtime)
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
            await _announce_demo(runtime)
            _freeze_startup_heap()
        try:
            yield
        finally:
            if search_applier is not None:
                search_applier.stop()
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


async def _announce_demo(runtime: Runtime) -> None:
    """With the demo loaded, how to log in to it, as the last words of start-up: whoever ran `make run` finds
    them right above the request log, however long ago `modelyard demo` printed them."""
    from modelyard.catalog.demo import demo_credentials

    try:
        found = await anyio.to_thread.run_sync(demo_credentials, runtime)
    except SQLAlchemyError:  # a database not migrated yet holds no demo either
        log.debug("could not look for the demo accounts", exc_info=True)
        return
    if found is not None:
        logging.getLogger("modelyard.demo").info(found.describe())


def _freeze_startup_heap() -> None:
    """Move everything built at start-up (modules, routes, ORM mappers, templates: ~180k objects, all living as
    long as the process) out of the garbage collector's sight. A full collection then scans only what requests
    made, instead of pausing every request in flight for ~100 ms: that pause set the p99 latency (decision
    0007)."""
    gc.collect()
    gc.freeze()


def _include_routes(app: FastAPI) -> None:
    from modelyard.accounts.admin_routes import router as users_admin_router
    from modelyard.accounts.oauth_routes import router as oauth_router
    from modelyard.accounts.pages import mount_account_pages
    from modelyard.accounts.routes import hot_reads as account_hot_reads
    from modelyard.accounts.routes import router as accounts_router
    from modelyard.admin.pages import mount_admin
    from modelyard.admin.routes import router as admin_router
    from modelyard.api_v1.mount import include_api_v1
    from modelyard.catalog.pages import mount_catalog_pages
    from modelyard.catalog.routes.downloads import router as downloads_router
    from modelyard.catalog.routes.listing import router as listing_router
    from modelyard.catalog.routes.models import router as catalog_router
    from modelyard.core.ops import router as ops_router
    from modelyard.core.storage.routes import router as files_router
    from modelyard.flags.mount import include_flags
    from modelyard.images.mount import mount_images
    from modelyard.moderation.game.mount import mount_game
    from modelyard.moderation.mount import mount_moderation
    from modelyard.search.mount import mount_search
    from modelyard.web.pages import mount_web
    from modelyard.web.toolkit import install_page_toolkit

    # Routes are matched in order (a few µs each): hot reads (plain Starlette routes, modelyard.core.hot) first,
    # then the JSON API, pages and mounts last.
    app.router.routes[0:0] = account_hot_reads.routes
    app.include_router(accounts_router)
    app.include_router(catalog_router)
    app.include_router(listing_router)
    app.include_router(downloads_router)
    include_api_v1(app)
    mount_images(app)
    mount_search(app)
    mount_game(app)
    app.include_router(ops_router)
    app.include_router(files_router, prefix="/files", include_in_schema=False)
    app.include_router(users_admin_router)
    app.include_router(admin_router)
    include_flags(app)
    app.include_router(oauth_router)
    install_page_toolkit(app)
    mount_account_pages(app)
    mount_catalog_pages(app)
    mount_moderation(app)
    mount_admin(app)
    mount_web(app)


__all__ = ["create_app", "get_runtime"]
