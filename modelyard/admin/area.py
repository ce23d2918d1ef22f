"""What the administration area is made of, and how a domain joins it.

A domain registers a section (a link in the area's navigation and a card on its home page, shown to moderators
or only to administrators) and, if it likes, figures for the home page; its pages render with `admin_page` so they
share the area's layout (`admin/_admin.html`). The area imports no domain: they come to it.

    register_admin_section(AdminSection("users", "Users", "/admin/users", icon="users", order=10,
                                        blurb="Find people, read their moderation history, mute or ban them."))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from modelyard.accounts import policy
from modelyard.accounts.models import Role, User
from modelyard.web.templating import templates
from modelyard.web.toolkit import page


@dataclass(frozen=True)
class AdminSection:
    key: str  # what a page passes as `section` to be marked current in the navigation
    label: str
    path: str
    icon: str = "shield"  # a name of accounts/_icons.html
    blurb: str = ""  # the home page's card says this; no card without it
    title: str | None = None  # the card's title, when it differs from the navigation's label
    accent: str = ""  # the card icon's colour: "jobs", "mail" or "flags" (app.css), else the site's accent
    order: int = 100
    admins_only: bool = False

    @property
    def card_title(self) -> str:
        return self.title or self.label


@dataclass(frozen=True)
class Figure:
    """A number on the area's home page ("3 banned"); `tone` is "warn" or "bad" when it needs attention."""

    value: int
    label: str
    tone: str = ""


FigureSource = Callable[[Session, bool], list[Figure]]  # (session, the viewer is an administrator) -> figures

_sections: dict[str, AdminSection] = {}
_figures: dict[str, FigureSource] = {}


def register_admin_section(*sections: AdminSection) -> None:
    """Keyed, so registering again (a second app in the same process) replaces the entry."""
    for section in sections:
        _sections[section.key] = section


def register_admin_figures(name: str, source: FigureSource) -> None:
    _figures[name] = source


def admin_sections(is_admin: bool) -> list[AdminSection]:
    """The sections a moderator (or, with `is_admin`, an administrator) may open, in navigation order."""
    shown = (section for section in _sections.values() if is_admin or not section.admins_only)
    return sorted(shown, key=lambda section: (section.order, section.key))


def admin_figures(session: Session, is_admin: bool) -> list[Figure]:
    return [figure for source in _figures.values() for figure in source(session, is_admin)]


def admin_page(
    request: Request, actor: User, section: str, template: str, context: dict[str, Any], **options: Any
) -> HTMLResponse:
    """A page of the area: what its layout reads (who is looking, which section is theirs), then the page's own."""
    base = {"actor": actor, "section": section, "is_admin": policy.has_role(actor, Role.admin)}
    return page(request, template, {**base, **context}, **options)


templates.env.globals["admin_sections"] = admin_sections
