"""Browsing the catalog: the models page, with the model cards every listing of models shows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.catalog.enums import ModelStatus, ModelType
from modelyard.catalog.lifecycle.visibility import listable_models, visible_versions
from modelyard.catalog.models import Model, ModelVersion
from modelyard.catalog.pages.common import catalog_page
from modelyard.catalog.routes.models import Viewer
from modelyard.core.db import contains_pattern
from modelyard.core.http import SessionDep
from modelyard.images.models import Image, Post
from modelyard.images.visibility import images_shown

router = APIRouter(include_in_schema=False)
MODELS_PER_PAGE = 24
MODEL_TYPES = frozenset(kind.value for kind in ModelType)


# --- browsing -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelCard:
    model: Model
    creator: str
    base_model: str | None
    cover: Image | None


def browse_models(
    session: Session,
    viewer: User | None,
    *,
    model_type: ModelType | None = None,
    page_number: int = 1,
    text: str = "",
    per_page: int | None = None,
) -> tuple[list[ModelCard], bool]:
    """One page of published, listable models, newest first, each with the cover of its latest version: three
    queries whatever the page holds. `text` matches model names (a plain substring match; full-text and semantic
    search belong to the search domain)."""
    per_page = per_page or MODELS_PER_PAGE
    query = (
        select(Model, User.username)
        .join(User, User.id == Model.user_id)
        .where(listable_models(viewer), Model.status == ModelStatus.Published)
        .order_by(Model.published_at.desc(), Model.id.desc())
        .limit(per_page + 1)
        .offset((page_number - 1) * per_page)
    )
    if model_type is not None:
        query = query.where(Model.type == model_type)
    if text:
        query = query.where(func.lower(Model.name).like(contains_pattern(text), escape="\\"))
    rows = session.execute(query).all()
    models = [(model, username) for model, username in rows[:per_page]]
    latest = _latest_versions(session, viewer, [model.id for model, _ in models])
    covers = _covers(session, [version_id for version_id, _ in latest.values()])
    cards = []
    for model, username in models:
        version_id, base_model = latest.get(model.id, (None, None))
        cover = covers.get(version_id) if version_id is not None else None
        cards.append(ModelCard(model=model, creator=username, base_model=base_model, cover=cover))
    return cards, len(rows) > per_page


def _latest_versions(session: Session, viewer: User | None, model_ids: list[int]) -> dict[int, tuple[int, str]]:
    """Each model's first published version the viewer may see (the one its page opens on)."""
    if not model_ids:
        return {}
    rows = session.execute(
        select(ModelVersion.model_id, ModelVersion.id, ModelVersion.base_model)
        .join(Model, Model.id == ModelVersion.model_id)
        .where(
            ModelVersion.model_id.in_(model_ids),
            ModelVersion.status == ModelStatus.Published,
            visible_versions(viewer),
        )
        .order_by(ModelVersion.model_id, ModelVersion.index.desc())
    )
    # Ordered so the lowest index (the newest version) is written last per model.
    return {model_id: (version_id, base_model) for model_id, version_id, base_model in rows}


def _covers(session: Session, version_ids: list[int]) -> dict[int, Image]:
    """The first image of the creator's first published post of each version."""
    if not version_ids:
        return {}
    ranked = (
        select(
            Image.id.label("image_id"),
            Post.model_version_id.label("version_id"),
            func.row_number()
            .over(partition_by=Post.model_version_id, order_by=(Post.id, Image.index, Image.id))
            .label("rank"),
        )
        .join(Post, Post.id == Image.post_id)
        .join(ModelVersion, ModelVersion.id == Post.model_version_id)
        .join(Model, Model.id == ModelVersion.model_id)
        .where(
            Post.model_version_id.in_(version_ids),
            Post.published_at.is_not(None),
            Post.user_id == Model.user_id,
            images_shown(),
        )
        .subquery()
    )
    rows = session.execute(
        select(Image, ranked.c.version_id).join(ranked, ranked.c.image_id == Image.id).where(ranked.c.rank == 1)
    )
    return {version_id: image for image, version_id in rows}


@router.get("/models", response_class=HTMLResponse)
def browse_page(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    type: Annotated[str, Query(max_length=40)] = "",
    page_number: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    model_type = ModelType(type) if type in MODEL_TYPES else None
    cards, has_next = browse_models(session, viewer, model_type=model_type, page_number=page_number)
    context = {
        "cards": cards,
        "types": list(ModelType),
        "selected_type": model_type.value if model_type else "",
        "page": page_number,
        "has_next": has_next,
        "signed_in": viewer is not None,
    }
    return catalog_page(request, "catalog/browse.html", context)
