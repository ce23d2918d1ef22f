"""The moderation domain's routes, its place in the administration area, the report button's globals and the
account menu's items, mounted from one place (`app`)."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.orm import Session

from modelyard.accounts import policy
from modelyard.accounts.models import User
from modelyard.accounts.pages.header import MenuItem, add_account_menu_item
from modelyard.moderation import pages, report_pages, routes, tag_pages


def _my_reports_item(session: Session, user: User) -> MenuItem | None:
    return MenuItem("My reports", "/my/reports", "flag")


def _moderation_item(session: Session, user: User) -> MenuItem | None:
    return MenuItem("Moderation", "/moderation", "shield") if policy.is_moderator(user) else None


def mount_moderation(app: FastAPI) -> None:
    app.include_router(routes.router)
    pages.register()
    report_pages.install_report_globals()
    add_account_menu_item(_my_reports_item)
    add_account_menu_item(_moderation_item)
    app.include_router(pages.router)
    app.include_router(report_pages.router)
    app.include_router(tag_pages.router)
