"""Errors of the Civitai-compatible API in Civitai's shape, `{"error": message}`, which its clients parse:
registered on the app for every path under `/api/v1/`, so each error the site raises there (not found, a
parameter refused, the rate limit, a crash) reaches those clients the way Civitai would send it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from modelyard.core.http import ApiErrorShape, CivitaiErrorBody, register_api_errors

CIVITAI_API_PREFIX = "/api/v1/"


def civitai_error(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """A request the API could not read is a 400 there (never a 422), and a crash keeps its request id."""
    shaped: dict[str, Any] = {"error": body.get("detail") or body.get("error") or "Request failed"}
    if status >= 500:
        shaped = {"message": "An unexpected error occurred", **shaped, "request_id": body.get("request_id")}
    return JSONResponse(
        shaped,
        status_code=400 if status == 422 else status,
        headers={**(headers or {}), "Access-Control-Allow-Origin": "*"},
    )


def register_civitai_errors(app: FastAPI) -> None:
    shape = ApiErrorShape(
        prefix=CIVITAI_API_PREFIX, render=civitai_error, body_model=CivitaiErrorBody, unreadable_status=400
    )
    register_api_errors(app, shape)
