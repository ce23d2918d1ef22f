"""The owner's dashboard: their models by status, with the actions each allows."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.catalog import queries
from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.pages.common import CatalogReader, ModelActions
from modelyard.core.http import SessionDep
from modelyard.web.toolkit import page

router = APIRouter(include_in_schema=False)


# --- the owner's dashboard ------------------------------------------------------------------------------------

DASHBOARD_TABS = [
    ModelStatus.Published,
    ModelStatus.Draft,
    ModelStatus.Scheduled,
    ModelStatus.Unpublished,
    ModelStatus.UnpublishedViolation,
]


def dashboard_context(session: Session, user: User, status: str, page_number: int) -> dict[str, Any]:
    chosen = ModelStatus(status) if status in DASHBOARD_TABS else None
    overview = queries.content_overview(session, user.id)
    found = queries.owner_models_page(session, user.id, status=chosen, page=page_number)
    shown_status = chosen.value if chosen else ""
    return {
        "overview": overview,
        "total": sum(count for name, count in overview.items() if name != ModelStatus.Deleted),
        "tabs": DASHBOARD_TABS,
        "status": shown_status,
        "rows": [{"model": item, "actions": ModelActions.of(user, item.status, user.id)} for item in found.items],
        "page": page_number,
        "has_next": found.has_next,
        "here": "/my/models" + (f"?status={shown_status}" if shown_status else ""),
    }


@router.get("/my/models", response_class=HTMLResponse)
def dashboard_page(
    request: Request,
    user: CatalogReader,
    session: SessionDep,
    status: Annotated[str, Query(max_length=40)] = "",
    page_number: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    return page(request, "catalog/dashboard.html", dashboard_context(session, user, status, page_number))
