"""Operations endpoints: liveness, readiness (which dependency failed), Prometheus metrics (behind a token)."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelyard import __version__
from modelyard.core.errors import AppError
from modelyard.core.http import RuntimeDep
from modelyard.core.runtime import Runtime

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up and serving requests (no dependency is checked)."""
    return {"status": "ok", "version": __version__}


def check_dependencies(runtime: Runtime) -> dict[str, dict[str, Any]]:
    checks: dict[str, dict[str, Any]] = {}

    def run(name: str, probe: Any, *, required: bool = True) -> None:
        try:
            probe()
            checks[name] = {"ok": True}
        except Exception as exc:  # noqa: BLE001 - readiness reports every failure by name
            log.warning("readiness check failed", extra={"check": name, "error": str(exc)})
            checks[name] = {"ok": False, "error": _short(exc)}
        if not required:
            checks[name]["required"] = False

    run("database", runtime.db.ping)
    if runtime.redis is not None:
        run("redis", runtime.redis.ping)
    run("storage", runtime.storage.check)
    if runtime.settings.clamd_address:
        from modelyard.core.virus import Clamd

        # Reported, but the site serves without it: scans wait for clamd and are retried.
        run("clamd", Clamd(runtime.settings.clamd_address).ping, required=False)
    return checks


def _short(exc: Exception) -> str:
    # These endpoints are public: our own messages are safe to show, a driver's may name hosts and users.
    if isinstance(exc, AppError):
        return exc.detail
    return f"{type(exc).__name__} (details in the server log)"


@router.get("/readyz")
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    """Ready to serve: the database, Redis (when configured) and storage answer. 503 names what failed.
    clamd (when configured) is reported with `"required": false`: the site serves while it is down."""
    checks = await run_in_threadpool(check_dependencies, runtime)
    failed = [name for name, check in checks.items() if not check["ok"] and check.get("required", True)]
    body = {"status": "ok" if not failed else "unavailable", "failed": failed, "checks": checks}
    return JSONResponse(body, status_code=503 if failed else 200)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={404: {"description": "Metrics are off, or the token is missing or wrong"}},
)
async def metrics(request: Request, runtime: RuntimeDep) -> Response:
    """Prometheus metrics of this process (request counts and latency), plus job-table and queue gauges. Only for
    `Authorization: Bearer <MODELYARD_METRICS_TOKEN>`; without that setting they are not served at all."""
    if not metrics_allowed(runtime, request.headers.getlist("authorization")):
        # The answer a path that does not exist gets: the metrics name routes, volumes and queue depths, which no
        # visitor needs, nor to learn that they are there.
        raise StarletteHTTPException(status_code=404)
    body = await run_in_threadpool(runtime.metrics.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def metrics_allowed(runtime: Runtime, authorization: list[str]) -> bool:
    """Whether the one Authorization header carries the configured metrics token (compared in constant time)."""
    token = runtime.settings.metrics_token
    if token is None or len(authorization) != 1:
        return False
    scheme, _, presented = authorization[0].strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.get_secret_value().encode())
