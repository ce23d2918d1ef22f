"""The account pages, one module per group, mounted from `mount_account_pages`: getting in (`entry`: sign-up,
log-in, log-out, e-mail confirmation, password reset), the account's settings (`settings`), and the users section
of the administration area (`users`). What they share beyond the page toolkit is in `common`; the header's
account menu, on every page of the site, in `header`."""

from __future__ import annotations

from fastapi import FastAPI

from modelyard.accounts.pages import content, entry, header, settings, users


def mount_account_pages(app: FastAPI) -> None:
    header.install_header_account()
    content.install_browsing_globals()
    for group in (entry, settings, content, users):
        app.include_router(group.router)
    users.join_admin_area()
