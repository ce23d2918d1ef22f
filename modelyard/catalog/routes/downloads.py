"""`GET /api/download/models/{modelVersionId}`: Civitai's download endpoint, which download managers, A1111/ComfyUI
extensions and scripts call with `?token=` or a Bearer key."""

from __future__ import annotations

import hashlib
import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from modelyard.accounts.auth import PrincipalDep
from modelyard.accounts.models import User
from modelyard.accounts.scopes import TokenScope
from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.files import downloads
from modelyard.core.http import CivitaiErrorBody, SessionDep, is_head, runtime_of
from modelyard.core.params import Id
from modelyard.core.ratelimit import client_bucket, rate_limiter
from modelyard.core.runtime import Runtime

log = logging.getLogger("modelyard.catalog")
router = APIRouter(tags=["downloads"])
NO_STORE = {"Cache-Control": "no-store"}


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _refuse(request: Request, refusal: downloads.Refusal) -> Response:
    if refusal.browser_redirect and _wants_html(request):
        return RedirectResponse(refusal.browser_redirect, status_code=302, headers=NO_STORE)
    return JSONResponse(refusal.body, status_code=refusal.status, headers=NO_STORE)


def _downloader_key(request: Request, user: User | None, secret: str) -> str:
    if user is not None:
        return f"user:{user.id}"
    ip = client_bucket(request.client.host if request.client else "unknown")
    # Addresses are kept only as a keyed hash: enough to count each downloader once a day, nothing more.
    return "ip:" + hashlib.sha256(f"{secret}:{ip}".encode()).hexdigest()[:32]


def _count(runtime: Runtime, version_id: int, who: str) -> None:
    """Record the download as an event (in memory, written within a second); the job `catalog.aggregate_stats`
    counts it. Nothing here touches the database or can fail the download."""
    downloads.record_download(runtime, version_id, who)


@router.get(
    "/api/download/models/{version_id}",
    response_class=Response,
    status_code=307,
    responses={
        307: {"description": "Redirect to a short-lived signed URL of the file"},
        400: {"description": "Bad parameters", "model": CivitaiErrorBody},
        401: {"description": "Log-in required, or downloads disabled by the creator", "model": CivitaiErrorBody},
        403: {"description": "Early access", "model": CivitaiErrorBody},
        404: {"description": "File not found", "model": CivitaiErrorBody},
        410: {"description": "Model archived, or taken down (but for moderators)", "model": CivitaiErrorBody},
        429: {"description": "Too many downloads", "model": CivitaiErrorBody},
    },
)
def download(
    version_id: Id,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    file_id: Annotated[Id | None, Query(alias="fileId")] = None,
) -> Response:
    """Download a version's file: the primary one, or the one `type`, `format`, `size`, `fp`, `quantType` or
    `fileId` names. Authenticate with `?token=<API key>` or `Authorization: Bearer <key>` when the creator requires
    it. Answers 307 to the file itself, saved under Civitai's download file name."""
    runtime = runtime_of(request)
    settings = runtime.settings
    user = principal.user if principal.allows(TokenScope.ModelsRead) else None
    who = _downloader_key(request, user, settings.secret)
    limiter = rate_limiter(runtime)
    spend = limiter.peek if is_head(request) else limiter.hit  # a HEAD (a link checker) downloads nothing
    decision = spend(f"download:{who}", limit=settings.downloads_per_hour, window_seconds=3600)
    if not decision.allowed:
        message = "We've noticed an unusual amount of downloading from your account. Please try again later."
        return JSONResponse(
            {"error": message}, status_code=429, headers={**NO_STORE, "Retry-After": str(decision.retry_after)}
        )
    filters = downloads.parse_filters(request.query_params)
    if isinstance(filters, downloads.Refusal):
        return _refuse(request, filters)
    outcome = downloads.resolve_download(
        session,
        user,
        version_id,
        filters=filters,
        file_id=file_id,
        anonymous_downloads=settings.anonymous_downloads,
    )
    if isinstance(outcome, downloads.Refusal):
        return _refuse(request, outcome)
    url = runtime.storage.download_url(outcome.file.storage_key, filename=outcome.filename)
    if outcome.version.status == ModelStatus.Published and not is_head(request):
        _count(runtime, outcome.version.id, who)
    return RedirectResponse(url, status_code=307, headers=NO_STORE)
