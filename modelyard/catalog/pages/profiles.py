"""Pages about who and what models gather around: a creator's profile (`/user/<username>`) and a tag's listing
(`/tag/<name>`). Both are the models page's listing (`browse.listing_context`) with one filter fixed.

A profile belongs to the catalog rather than to accounts because what it shows is the creator's work: accounts
knows nothing of models, and as other domains arrive (images, articles) they add their sections here.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.accounts import avatars
from modelyard.accounts.models import User
from modelyard.accounts.service import username_key
from modelyard.catalog import browsing
from modelyard.catalog.browsing import ModelFilters
from modelyard.catalog.pages.browse import ListingDep, listing_context
from modelyard.catalog.routes.models import Viewer
from modelyard.catalog.service import tag_key
from modelyard.core.errors import NotFound
from modelyard.core.http import SessionDep
from modelyard.web.toolkit import page

router = APIRouter(include_in_schema=False)


def _creator(session: Session, username: str) -> User:
    """The user a profile is about; banned users have none (their work is hidden while the ban lasts)."""
    user = session.scalar(select(User).where(User.username_key == username_key(username)))
    if user is None or user.is_banned:
        raise NotFound(f"No user named {username}")
    return user


@router.get("/user/{username}", response_class=HTMLResponse)
def profile_page(
    request: Request,
    username: Annotated[str, Path(max_length=40)],
    viewer: Viewer,
    session: SessionDep,
    query: ListingDep,
) -> Response:
    """A creator: their picture, name, bio and links, when they joined, their published models and totals."""
    user = _creator(session, username)
    context = listing_context(session, viewer, query, path=f"/user/{user.username}", user_id=user.id)
    context |= {
        "creator": user,
        "avatar_url": avatars.avatar_url(user.avatar_key),
        "totals": browsing.totals(session, viewer, ModelFilters(user_id=user.id)),
        "empty_title": f"{user.display_name or user.username} has not published a model yet",
        "empty_text": "Their models show up here once they publish them.",
        "empty_action": None,
    }
    return page(request, "catalog/profile.html", context)


@router.get("/tag/{name:path}", response_class=HTMLResponse)
def tag_page(
    request: Request,
    name: Annotated[str, Path(max_length=60)],
    viewer: Viewer,
    session: SessionDep,
    query: ListingDep,
) -> Response:
    """The published models with a tag. A tag no model the viewer may see carries is not found."""
    tag = tag_key(name)
    totals = browsing.totals(session, viewer, ModelFilters(tag=tag)) if tag else None
    if totals is None or totals.models == 0:
        raise NotFound(f"No models are tagged {name!r}")
    context = listing_context(session, viewer, query, path=f"/tag/{quote(tag, safe='')}", tag=tag)
    context |= {
        "tag": tag,
        "totals": totals,
        "empty_title": f"No models tagged {tag}",
        "empty_text": "",
        "empty_action": None,
    }
    return page(request, "catalog/tag.html", context)
