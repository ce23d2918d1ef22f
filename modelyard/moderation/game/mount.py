"""The rating game's routes, mounted from one place (`app`), and its item in the account menu, shown only to
members who may play."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.accounts.pages.header import MenuItem, add_account_menu_item
from modelyard.moderation.game import pages, players, routes

GAME_ITEM = MenuItem(label="Rating game", path="/game", icon="flag")


def game_menu_item(session: Session, user: User) -> MenuItem | None:
    return GAME_ITEM if players.may_play(session, user) else None


def mount_game(app: FastAPI) -> None:
    app.include_router(routes.router)
    app.include_router(pages.router)
    add_account_menu_item(game_menu_item)
