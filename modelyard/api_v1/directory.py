"""The v1 API's directory endpoints: `/enums`, `/tags`, `/creators` (offset pages with totals, as Civitai still
sends them there) and `/me`."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from modelyard.accounts.auth import PrincipalDep
from modelyard.accounts.models import User
from modelyard.accounts.scopes import TokenScope
from modelyard.api_v1.common import Params, next_page_url, public_json, query_docs
from modelyard.catalog import basemodels, browsing
from modelyard.catalog.enums import FILE_TYPES, BaseModelType, ModelType
from modelyard.catalog.models import Model, Tag, TagOnModel
from modelyard.core import paging
from modelyard.core.db import contains_pattern
from modelyard.core.errors import Unauthorized
from modelyard.core.forwarded import public_url
from modelyard.core.http import SessionDep, runtime_of

router = APIRouter(tags=["Civitai API v1"])


@router.get("/api/v1/enums", summary="The enumerations clients offer as choices (Civitai v1)")
def enums(principal: PrincipalDep, session: SessionDep) -> Response:
    return public_json(
        principal,
        {
            "ModelType": [kind.value for kind in ModelType],
            "ModelFileType": list(FILE_TYPES),
            "ActiveBaseModel": basemodels.names(session, include_hidden=False),
            "BaseModel": basemodels.names(session),
            "BaseModelType": [kind.value for kind in BaseModelType],
        },
    )


def _listed_models() -> ColumnElement[bool]:
    """Published models anyone may list."""
    return browsing.listed_clause(None)


def _offset_page(
    request: Request, session: Session, query: Select[Any, Any], count: Select[Any], *, default_limit: int
) -> tuple[list[Any], dict[str, Any]]:
    params = Params(request.query_params)
    asked = paging.page_request(
        limit=params.integer("limit", low=1, high=200),
        default_limit=default_limit,
        max_limit=200,
        page=params.integer("page", low=1, high=paging.MAX_OFFSET, default=1),
    )
    limit, page = asked.limit, asked.page or 1
    total = session.scalar(count) or 0
    rows = list(session.execute(query.offset(asked.offset).limit(limit)))
    pages = -(-total // limit)
    metadata: dict[str, Any] = {"totalItems": total, "currentPage": page, "pageSize": limit, "totalPages": pages}
    if page < pages:
        metadata["nextPage"] = next_page_url(request, {"page": str(page + 1)})
    if page > 1:
        metadata["prevPage"] = next_page_url(request, {"page": str(page - 1)})
    return rows, metadata


PAGE_PARAMETERS = query_docs(
    ("limit", "integer", "Items per page, 1-200 (default 20)"),
    ("page", "integer", "Page number"),
    ("query", "string", "Part of the name"),
)


@router.get("/api/v1/tags", summary="Tags of published models (Civitai v1)", openapi_extra=PAGE_PARAMETERS)
def tags(request: Request, principal: PrincipalDep, session: SessionDep) -> Response:
    """`limit` (1-200, default 20), `page`, `query` (part of the name)."""
    count = func.count(TagOnModel.model_id).label("models")
    query = (
        select(Tag.name, count)
        .join(TagOnModel, TagOnModel.tag_id == Tag.id)
        .join(Model, Model.id == TagOnModel.model_id)
        .where(_listed_models())
        .group_by(Tag.id, Tag.name)
    )
    text = Params(request.query_params).text("query", max_length=100)
    if text:
        query = query.where(Tag.name.ilike(contains_pattern(text), escape="\\"))
    total = select(func.count()).select_from(query.subquery())
    rows, metadata = _offset_page(request, session, query.order_by(count.desc(), Tag.name), total, default_limit=20)
    base = public_url(request)
    items = [
        {"name": name, "modelCount": models, "link": f"{base}/api/v1/models?tag={quote(name)}"} for name, models in rows
    ]
    return public_json(principal, {"items": items, "metadata": metadata})


@router.get("/api/v1/creators", summary="People with published models (Civitai v1)", openapi_extra=PAGE_PARAMETERS)
def creators(request: Request, principal: PrincipalDep, session: SessionDep) -> Response:
    """`limit` (1-200, default 20), `page`, `query` (part of the username)."""
    count = func.count(Model.id).label("models")
    query = select(User, count).join(Model, Model.user_id == User.id).where(_listed_models()).group_by(User.id)
    text = Params(request.query_params).text("query", max_length=100)
    if text:
        query = query.where(User.username.ilike(contains_pattern(text), escape="\\"))
    total = select(func.count()).select_from(query.subquery())
    rows, metadata = _offset_page(request, session, query.order_by(count.desc(), User.id), total, default_limit=20)
    base = public_url(request)
    storage = runtime_of(request).storage
    items = [
        {
            "username": user.username,
            "modelCount": models,
            "link": f"{base}/api/v1/models?username={quote(user.username)}",
            "image": storage.download_url(user.avatar_key) if user.avatar_key else None,
        }
        for user, models in rows
    ]
    return public_json(principal, {"items": items, "metadata": metadata})


@router.get("/api/v1/me", summary="Who the key or session belongs to (Civitai v1)")
def me(principal: PrincipalDep) -> Response:
    user = principal.user
    if user is None:
        raise Unauthorized("Unauthorized")
    status = "banned" if user.is_banned else "muted" if user.is_muted else "active"
    body: dict[str, Any] = {
        "id": user.id,
        "username": user.username,
        "tier": None,
        "status": status,
        "isMember": False,
        "subscriptions": [],
    }
    if principal.api_key is None or principal.allows(TokenScope.UserRead):
        body.update({"email": user.email, "emailVerified": user.email_verified_at is not None})
    if principal.api_key is not None:
        body.update(
            {
                "tokenScope": int(principal.scopes),
                "buzzLimit": None,
                "subject": {"type": "apiKey", "id": principal.api_key.id},
            }
        )
    return public_json(principal, body)
