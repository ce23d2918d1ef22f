"""Operations endpoints: liveness, readiness (which dependency failed), Prometheus metrics."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

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
        from modelyard.catalog.virus import Clamd

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


@router.get("/metrics")
async def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus metrics of this process (request counts and latency), plus job-table and queue gauges."""
    body = await run_in_threadpool(runtime.metrics.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
