"""The framework floor for `http_read`: a bare Starlette app answering `GET /api/users/{username}` with one
Core query for the profile's columns, the same engine set-up (driver, pool, SQLite pragmas) and the same JSON
as ours, the same start-up (its heap frozen out of the garbage collector's sight), and nothing else.

    uvicorn --factory bench.floor_app:create_floor_app   (settings from MODELYARD_* like the real app)
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from modelyard.accounts.models import User
from modelyard.accounts.schemas import PublicUser
from modelyard.accounts.service import username_key
from modelyard.core.db import make_engine
from modelyard.core.settings import Settings

# The columns of the public profile, whatever PublicUser holds today, typed as the ORM types them (UTC
# datetimes, JSON, enums) so both servers decode the same values.
FIELDS = tuple(PublicUser.model_fields)
_SELECT_LIST = ", ".join(f'"{name}"' for name in FIELDS)
USER_BY_KEY = text(f'SELECT {_SELECT_LIST} FROM "user" WHERE username_key = :key').columns(
    *(User.__table__.c[name] for name in FIELDS)
)


def _jsonable(value: Any) -> Any:
    return _iso_utc(value) if isinstance(value, datetime) else value


def _iso_utc(moment: datetime) -> str:
    # Pydantic writes UTC as "Z"; matching it keeps the two responses byte-comparable.
    return moment.isoformat().replace("+00:00", "Z")


def create_floor_app(settings: Settings | None = None) -> Starlette:
    engine = make_engine(settings or Settings())

    # A sync endpoint, like ours: Starlette runs it in the same anyio thread pool.
    def get_user(request: Request) -> JSONResponse:
        key = username_key(request.path_params["username"])
        with engine.connect() as connection:
            row = connection.execute(USER_BY_KEY, {"key": key}).first()
        if row is None:
            return JSONResponse({"error": "not_found", "detail": "No such user"}, status_code=404)
        return JSONResponse({name: _jsonable(value) for name, value in zip(FIELDS, row, strict=True)})

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # The same process set-up as ours (modelyard.app): start-up objects frozen out of the collector's sight.
        gc.collect()
        gc.freeze()
        yield
        engine.dispose()

    return Starlette(routes=[Route("/api/users/{username}", get_user)], lifespan=lifespan)
