"""The moderators' page of tags that rate content (`moderation.tags`): each tag images carry, how often, and the
level it rates them at."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from modelyard.admin.area import admin_page
from modelyard.core.errors import AppError
from modelyard.core.http import SessionDep
from modelyard.core.params import Id
from modelyard.moderation import tags as tag_levels
from modelyard.moderation.pages import LEVEL_CHOICES, SECTION, moderation_page
from modelyard.web.toolkit import PageModerator, form_failed, register_flash, see_other, whole_number

router = APIRouter(include_in_schema=False)
register_flash({"tag-saved": "The tag is saved; the images carrying it are being rated again."})
TAG_LEVEL_CHOICES = (*LEVEL_CHOICES, (32, "Blocked"))


@router.get("/moderation/tags", response_class=HTMLResponse)
def tags_page(
    request: Request, actor: PageModerator, session: SessionDep, q: Annotated[str, Query(max_length=60)] = ""
) -> Response:
    """The tags images carry, most used first, each with the level it rates content at."""
    context = {"tags": tag_levels.tags_on_images(session, query=q), "q": q, "levels": TAG_LEVEL_CHOICES}
    return admin_page(request, actor, SECTION, "moderation/tags.html", context)


@router.post("/moderation/tags/{tag_id}", response_class=HTMLResponse)
def set_tag(
    request: Request,
    tag_id: Id,
    actor: PageModerator,
    session: SessionDep,
    level: Annotated[str, Form(max_length=3)] = "",
    moderation: Annotated[str, Form(max_length=3)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    q: Annotated[str, Form(max_length=60)] = "",
) -> Response:
    try:
        chosen = whole_number(level, "The level", "level", max_digits=2)
        tag_levels.set_tag_level(
            session, actor, tag_id, level=chosen or 0, moderation=moderation == "on", reason=reason
        )
    except AppError as exc:
        session.rollback()
        context = {"tags": tag_levels.tags_on_images(session, query=q), "q": q, "levels": TAG_LEVEL_CHOICES}
        return form_failed(request, session, "moderation/tags.html", context, exc, render_page=moderation_page(actor))
    return see_other(f"/moderation/tags?{urlencode({'q': q})}" if q else "/moderation/tags", done="tag-saved")
