"""The catalog's web pages: browsing, the owner's dashboard and the moderators' transition log live here, with
what every catalog page shares (flash messages, who may see a page, template helpers). The model page and its
actions are in `model_pages`, the create/edit wizard in `edit_pages` and `publish_pages`.

Pages call the same services, lifecycle, visibility and queries functions as the JSON API: what a visitor may
not see answers the site's ordinary 404 page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelyard.accounts import policy
from modelyard.accounts.auth import PrincipalDep
from modelyard.accounts.models import Role, User
from modelyard.accounts.page_support import LoginRequired, PageModerator, form_failed, page
from modelyard.accounts.redirects import safe_next
from modelyard.accounts.scopes import TokenScope
from modelyard.catalog import lifecycle, queries, scan_review
from modelyard.catalog.enums import ModelStatus, ModelType
from modelyard.catalog.models import Model, ModelVersion
from modelyard.catalog.routes import Viewer
from modelyard.catalog.scan_review import ScanDecision
from modelyard.catalog.visibility import listable_models, visible_versions
from modelyard.core.db import contains_pattern
from modelyard.core.errors import AppError, ValidationFailed
from modelyard.core.http import SessionDep
from modelyard.core.params import Id, id_or_none
from modelyard.images.models import Image, Post
from modelyard.images.service import image_url
from modelyard.images.visibility import images_shown
from modelyard.web.templating import register_nav, templates

router = APIRouter(include_in_schema=False)
T = TypeVar("T")

MODELS_PER_PAGE = 24
MODEL_TYPES = frozenset(kind.value for kind in ModelType)
TRANSITIONS_PER_PAGE = 100
# Flash messages by key (`?done=<key>`), as on the account pages: nothing from the URL is ever shown.
FLASH = {
    "model-created": "Your model is created as a draft. Add a version next.",
    "model-saved": "The model's details are saved.",
    "version-created": "The version is created. Upload its files next.",
    "version-saved": "The version's details are saved.",
    "version-deleted": "The version is deleted.",
    "file-uploaded": "The file is uploaded and hashed.",
    "file-deleted": "The file is deleted.",
    "conversion-requested": "Converting to safetensors: the new file appears here when it is ready.",
    "published": "Published! Everyone can see it now.",
    "scheduled": "Scheduled: it goes live at the time you chose.",
    "schedule-cancelled": "The schedule is cancelled; it is a draft again.",
    "unpublished": "Unpublished: only you and moderators can see it now.",
    "deleted": "The model is deleted.",
    "restored": "The model is restored as unpublished; its owner can publish it again.",
    "file-cleared": "The file is cleared: it can be downloaded and published again.",
    "file-blocked": "The file is blocked, and its version is down as a violation.",
    "file-rescan": "The file is being scanned again; it stays held until the scan is clean.",
}
STATUS_BADGES = {
    ModelStatus.Published: "badge--ok",
    ModelStatus.Scheduled: "badge--accent",
    ModelStatus.Training: "badge--accent",
    ModelStatus.Unpublished: "badge--warn",
    ModelStatus.UnpublishedViolation: "badge--bad",
    ModelStatus.Deleted: "badge--bad",
}
STATUS_LABELS = {ModelStatus.UnpublishedViolation: "Unpublished (violation)", ModelStatus.GatherInterest: "Gathering"}


def mount_catalog_pages(app: FastAPI) -> None:
    """The catalog's pages, their template helpers, and the "Models" link in the header."""
    from modelyard.catalog.edit_pages import router as edit_router
    from modelyard.catalog.model_pages import router as model_router
    from modelyard.catalog.publish_pages import router as publish_router

    templates.env.filters["filesize"] = filesize
    templates.env.filters["status_label"] = lambda status: STATUS_LABELS.get(status, str(status))
    templates.env.filters["status_badge"] = lambda status: STATUS_BADGES.get(status, "badge--muted")
    templates.env.globals["image_url"] = image_url
    app.include_router(router)
    app.include_router(edit_router)
    app.include_router(publish_router)
    app.include_router(model_router)
    register_nav("Models", "/models", order=10)


# --- shared by the catalog's pages ----------------------------------------------------------------------------


def catalog_page(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    flash = FLASH.get(request.query_params.get("done", ""))
    return page(request, template, {"flash": flash, **(context or {})}, status_code=status_code)


def catalog_form_failed(
    request: Request, session: Session, template: str, context: dict[str, Any], error: AppError
) -> HTMLResponse:
    """The form again with what went wrong (the transaction rolled back first)."""
    return form_failed(request, session, template, {"flash": None, **context}, error)


def see_other(path: str, *, done: str | None = None) -> RedirectResponse:
    """Post/Redirect/Get with a catalog flash message."""
    assert done is None or done in FLASH, done
    separator = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{separator}done={done}" if done else path, status_code=303)


def back_to(back: str, default: str) -> str:
    """Where a form asked to go back to (a same-site path only), else `default`."""
    return safe_next(back, default) if back else default


def _signed_in(request: Request, principal: PrincipalDep, scope: TokenScope) -> User:
    if principal.user is None:
        # A GET comes back to itself after logging in; a form post cannot be replayed, so it lands on the dashboard.
        target = str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target if request.method == "GET" else "/my/models")
    return policy.require_scope(principal, scope)


def catalog_reader(request: Request, principal: PrincipalDep) -> User:
    return _signed_in(request, principal, TokenScope.ModelsRead)


def catalog_writer(request: Request, principal: PrincipalDep) -> User:
    return _signed_in(request, principal, TokenScope.ModelsWrite)


CatalogReader = Annotated[User, Depends(catalog_reader)]
CatalogWriter = Annotated[User, Depends(catalog_writer)]


def validated(schema: type[T], data: dict[str, Any]) -> T:
    """A request schema built from form fields; pydantic's complaint becomes a form error naming the field."""
    try:
        return schema(**data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"][:1])
        raise ValidationFailed(f"{field.replace('_', ' ').capitalize()}: {error['msg']}", field=field) from exc


def whole_number(value: str, what: str, field: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 9:
        raise ValidationFailed(f"{what} must be a whole number", field=field)
    return int(value)


def filesize(size_kb: float) -> str:
    """`1.9 GB`, `144 KB`: sizes as people read them (powers of 1024, as downloads are shown everywhere)."""
    size = float(size_kb) * 1024
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit in ("B", "KB") else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover - the loop returns


@dataclass(frozen=True)
class ModelActions:
    """Which buttons a viewer gets for a model in a given status (the lifecycle still decides on submit)."""

    edit: bool = False
    publish: bool = False
    unpublish: bool = False
    moderate: bool = False
    delete: bool = False
    cancel_schedule: bool = False
    restore: bool = False
    history: bool = False

    @classmethod
    def of(cls, viewer: User | None, status: ModelStatus, owner_id: int) -> ModelActions:
        if not policy.is_owner_or_moderator(viewer, owner_id):
            return cls()
        staff = policy.is_moderator(viewer)
        following = lifecycle.allowed_next(status)
        return cls(
            edit=status != ModelStatus.Deleted,
            publish=ModelStatus.Published in following and (staff or status != ModelStatus.UnpublishedViolation),
            unpublish=status == ModelStatus.Published,
            moderate=staff and ModelStatus.UnpublishedViolation in following,
            delete=ModelStatus.Deleted in following,
            cancel_schedule=status == ModelStatus.Scheduled,
            restore=staff and status == ModelStatus.Deleted,
            history=True,
        )


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
    items = queries.owner_models(session, user.id, status=chosen, page=page_number)
    shown_status = chosen.value if chosen else ""
    return {
        "overview": overview,
        "total": sum(count for name, count in overview.items() if name != ModelStatus.Deleted),
        "tabs": DASHBOARD_TABS,
        "status": shown_status,
        "rows": [{"model": item, "actions": ModelActions.of(user, item.status, user.id)} for item in items],
        "page": page_number,
        "has_next": len(items) == queries.DASHBOARD_PAGE,
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
    return catalog_page(request, "catalog/dashboard.html", dashboard_context(session, user, status, page_number))


# --- moderation -----------------------------------------------------------------------------------------------


def model_names(session: Session, model_ids: set[int]) -> dict[int, str]:
    if not model_ids:
        return {}
    rows = session.execute(select(Model.id, Model.name).where(Model.id.in_(model_ids)))
    return {model_id: name for model_id, name in rows}


@router.get("/moderation/transitions", response_class=HTMLResponse)
def transitions_page(
    request: Request,
    actor: PageModerator,
    session: SessionDep,
    model_id: Annotated[str, Query(alias="model", max_length=12)] = "",
    before: Id | None = None,
) -> Response:
    """Every status change, newest first, optionally for one model."""
    wanted = id_or_none(model_id)
    rows = queries.transitions(session, model_id=wanted, before=before, limit=TRANSITIONS_PER_PAGE)
    context = {
        "rows": rows,
        "names": model_names(session, {row.model_id for row in rows}),
        "model_filter": wanted or "",
        "next_before": rows[-1].id if len(rows) == TRANSITIONS_PER_PAGE else None,
        "paged": before is not None,
        "section": "transitions",
        "is_admin": policy.has_role(actor, Role.admin),
    }
    return catalog_page(request, "catalog/transitions.html", context)


HELD_PER_PAGE = 50
HELD_FLASH = {
    ScanDecision.clear: "file-cleared",
    ScanDecision.block: "file-blocked",
    ScanDecision.rescan: "file-rescan",
}


def _held_context(session: Session, actor: User, after: int | None) -> dict[str, Any]:
    files = scan_review.awaiting_decision(session, after=after, limit=HELD_PER_PAGE)
    return {
        "files": files,
        "next_after": files[-1].id if len(files) == HELD_PER_PAGE else None,
        "paged": after is not None,
        "section": "held-files",
        "is_admin": policy.has_role(actor, Role.admin),
    }


@router.get("/moderation/held-files", response_class=HTMLResponse)
def held_files_page(request: Request, actor: PageModerator, session: SessionDep, after: Id | None = None) -> Response:
    """Files held because a scan could not finish, oldest first, with what the scans said and the decisions."""
    return catalog_page(request, "catalog/held_files.html", _held_context(session, actor, after))


@router.post("/moderation/held-files/{file_id:int}", response_class=HTMLResponse)
def decide_held_file(
    request: Request,
    file_id: Id,
    actor: PageModerator,
    session: SessionDep,
    decision: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """A moderator's decision on one held file; a refused one shows the list again with what went wrong."""
    try:
        if decision not in ScanDecision.__members__:
            raise ValidationFailed("Choose to clear the file, block it or scan it again", field="decision")
        scan_review.decide(session, actor, file_id, ScanDecision(decision), reason)
    except AppError as exc:
        session.rollback()
        context = _held_context(session, actor, None)
        return catalog_form_failed(request, session, "catalog/held_files.html", context, exc)
    return see_other("/moderation/held-files", done=HELD_FLASH[ScanDecision(decision)])
