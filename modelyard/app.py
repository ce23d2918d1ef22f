"""The ASGI application: `create_app()` wires the runtime, middleware, error handlers and every domain's routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from modelyard import __version__
from modelyard.core.csrf import CsrfMiddleware
from modelyard.core.http import RequestContextMiddleware, install_error_handlers
from modelyard.core.logging import configure_logging
from modelyard.core.runtime import Runtime, get_runtime, init_runtime, set_runtime
from modelyard.core.security_headers import install_security
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
    # Outermost first: security headers, request id + metrics + logs, per-IP rate limit, CSRF, the app.
    app.add_middleware(CsrfMiddleware, runtime=runtime)
    app.add_middleware(RequestContextMiddleware, runtime=runtime)
    install_security(app, runtime)
    return app


def _include_routes(app: FastAPI) -> None:
    from modelyard.accounts.admin_routes import router as admin_router
    from modelyard.accounts.oauth_routes import router as oauth_router
    from modelyard.accounts.pages import mount_account_pages
    from modelyard.accounts.routes import router as accounts_router
    from modelyard.catalog.download_routes import router as downloads_router
    from modelyard.catalog.pages import mount_catalog_pages
    from modelyard.catalog.routes import router as catalog_router
    from modelyard.core.ops import router as ops_router
    from modelyard.core.storage.routes import router as files_router
    from modelyard.flags import include_flags
    from modelyard.images.routes import router as images_router
    from modelyard.web.pages import mount_web

    # Routes are matched in order (a few µs each): the JSON API first, pages and mounts last.
    app.include_router(accounts_router)
    app.include_router(catalog_router)
    app.include_router(downloads_router)
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
