"""What a person chooses to see: the "Content" tab of the account settings (`/account/content`) and the header's
browsing-level toggle, which posts to the same place. Both are plain forms (they work without JavaScript); the
header's sends the visitor back to the page they were on.

The header's toggle reads the Jinja globals installed here: the levels offered (`browsing_choices`) and what an
anonymous visitor sees (`anonymous_level`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from modelyard.accounts import browsing
from modelyard.accounts.models import User
from modelyard.accounts.pages.common import AccountReader, AccountWriter, account_page
from modelyard.accounts.pages.settings import TABS
from modelyard.core.errors import AppError
from modelyard.core.http import SessionDep
from modelyard.core.nsfw import PUBLIC
from modelyard.web.templating import templates
from modelyard.web.toolkit import back_to, form_failed, register_flash, see_other

router = APIRouter(prefix="/account", include_in_schema=False)
TEMPLATE = "accounts/settings_content.html"
register_flash({"browsing-saved": "Your content preferences are saved."})

Levels = Annotated[list[int], Form()]


def _context(user: User, level: int | None = None, blur: bool | None = None) -> dict[str, Any]:
    return {
        "user": user,
        "tab": "content",
        "tabs": TABS,
        "choices": browsing.CHOICES,
        "level": browsing.browsing_level(user) if level is None else level,
        "blur": browsing.blurs_nsfw(user) if blur is None else blur,
        "sees_adult": browsing.sees_adult(user),
    }


@router.get("/content", response_class=HTMLResponse)
def content_page(request: Request, user: AccountReader) -> Response:
    return account_page(request, TEMPLATE, _context(user))


@router.post("/content", response_class=HTMLResponse)
def save_content(
    request: Request,
    user: AccountWriter,
    session: SessionDep,
    levels: Levels = [],  # noqa: B006 - FastAPI copies defaults per request
    blur: Annotated[str, Form()] = "",
    adult: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
) -> Response:
    """Save the browsing level (the checked levels) and the blur preference. `back`: where the header's toggle
    was used (a same-site path); without it, the settings tab again."""
    level = 0
    for bit in levels:
        level |= bit if 0 < bit <= browsing.ALL_LEVELS else browsing.ALL_LEVELS + 1  # junk is refused below
    try:
        browsing.set_preferences(session, user, level=level, blur_nsfw=bool(blur), adult_confirmed=bool(adult))
    except AppError as exc:
        context = _context(user, level=level & browsing.ALL_LEVELS, blur=bool(blur))
        return form_failed(request, session, TEMPLATE, context, exc, render_page=account_page)
    return see_other(back_to(back, "/account/content"), done=None if back else "browsing-saved")


def install_browsing_globals() -> None:
    templates.env.globals["browsing_choices"] = browsing.CHOICES
    templates.env.globals["anonymous_level"] = PUBLIC
    templates.env.filters["bitand"] = _bitand


def _bitand(mask: int, bits: int) -> int:
    """`{{ level|bitand(4) }}`: Jinja has no bitwise operators."""
    return int(mask) & int(bits)
