"""The web shell: static files with cache headers, the landing page and the self-hoster's status page."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from starlette.responses import Response
from starlette.types import Scope

from modelyard import __version__
from modelyard.catalog import browsing
from modelyard.catalog.routes.models import Viewer
from modelyard.core.http import RuntimeDep, SessionDep
from modelyard.core.jobs.service import count_by_status
from modelyard.core.ops import check_dependencies
from modelyard.core.paging import PageRequest
from modelyard.core.runtime import Runtime
from modelyard.web.offers import offers
from modelyard.web.templating import STATIC_DIR, register_nav, render

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

UNVERSIONED_MAX_AGE_SECONDS = 300
STATUS_REFRESH_SECONDS = 10


class VersionedStaticFiles(StaticFiles):
    """Static files whose `?v=<content hash>` URLs (see `static_url`) are cached for good; anything requested
    without a version is cached briefly, so a new release shows up within minutes."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = _cache_control(scope)
        return response


def _cache_control(scope: Scope) -> str:
    if parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v"):
        max_age = scope["app"].state.runtime.settings.static_max_age_seconds
        return f"public, max-age={max_age}, immutable"
    return f"public, max-age={UNVERSIONED_MAX_AGE_SECONDS}"


HOME_MODELS = 12


@router.get("/", response_class=HTMLResponse)
def home_page(
    request: Request, viewer: Viewer, session: SessionDep, q: str = Query("", max_length=200)
) -> HTMLResponse:
    """The landing page: the pitch, a search box, the latest models and what the platform offers. A search shows
    its results first, where the eye is, through the same listing as the models page."""
    query = " ".join(q.split())
    filters = browsing.ModelFilters(text=query or None)
    found = browsing.browse(session, viewer, filters, request=PageRequest(limit=HOME_MODELS))
    context = {"query": query, "features": offers(), "cards": found.items, "more": found.has_next}
    return render(request, "home.html", context)


def _job_counts(session: Session) -> dict[str, int] | None:
    try:
        return count_by_status(session)
    except DBAPIError:
        # Self-hosters open this page when things break: it must render with the database down.
        log.warning("status page could not count jobs", exc_info=True)
        session.rollback()
        return None


def _checks_context(checks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "checks": checks,
        "all_ok": all(check["ok"] for check in checks.values()),
        "refresh_seconds": STATUS_REFRESH_SECONDS,
        "checked_at": datetime.now(UTC),
    }


@router.get("/status", response_class=HTMLResponse)
async def status_page(request: Request, runtime: RuntimeDep, session: SessionDep) -> HTMLResponse:
    """How this installation is set up and whether its dependencies answer, for the people who run it."""
    checks = await run_in_threadpool(check_dependencies, runtime)
    job_counts = await run_in_threadpool(_job_counts, session)
    context = {
        **_checks_context(checks),
        "setup": _setup(runtime),
        "job_counts": job_counts,
    }
    return render(request, "status.html", context)


@router.get("/status/checks", response_class=HTMLResponse)
async def status_checks_fragment(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    """Just the dependency-checks panel of the status page; htmx polls it."""
    checks = await run_in_threadpool(check_dependencies, runtime)
    return render(request, "_status_checks.html", _checks_context(checks), headers={"Cache-Control": "no-store"})


def _setup(runtime: Runtime) -> list[tuple[str, str]]:
    settings = runtime.settings
    return [
        ("Version", __version__),
        ("Database", runtime.db.dialect),
        ("File storage", runtime.storage.name),
        ("Redis", "configured" if runtime.redis is not None else "not configured (in-process cache and events)"),
        (
            "Background jobs",
            "run inside the web process"
            if settings.run_jobs_in_process
            else "run by separate worker processes (modelyard worker)",
        ),
    ]


@router.get("/docs", response_class=HTMLResponse)
async def api_docs(request: Request) -> HTMLResponse:
    """Interactive API documentation. Swagger UI is served from this server, so it works offline, and is
    started by a static script, so the page passes the Content-Security-Policy without inline code."""
    return render(request, "api_docs.html", {"openapi_url": request.app.openapi_url})


def mount_web(app: FastAPI) -> None:
    """Serve `/static` and the shell's pages, and put them in the site navigation."""
    register_nav("Home", "/", order=0)
    register_nav("Status", "/status", order=900)
    register_nav("API", "/docs", order=910)
    app.mount("/static", VersionedStaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
